"""The feature glossary decodes every column name the registry produces."""

from __future__ import annotations

import pytest

from hms_features.features.glossary import GLOSSARY_COLUMNS, describe_features
from hms_features.features.registry import feature_names


@pytest.mark.parametrize("feature_set", ["default", "fast", ["seq"]])
def test_every_registered_name_decodes(feature_set):
    names = feature_names(feature_set)
    table = describe_features(names, strict=True)
    assert list(table.columns) == list(GLOSSARY_COLUMNS)
    assert table["feature"].tolist() == names
    assert not (table == "unknown").any().any()
    assert (table.drop(columns="feature") != "").all().all()
    # one pattern per measure: the default set's 3274 columns come from a few dozen patterns
    assert table["pattern"].nunique() < len(table) / 10 or len(table) < 400


def test_hand_checked_rows():
    t = describe_features([
        "spectral_relpower_alpha_LP_10s",
        "evolution_domfreq_slope_all_50s",
        "spectrogram_min_12.5_RL_20s",
        "ekg_sdnn_all_50s",
        "spatial_asym_delta_maxpair_50s",
        "temporal_mobility_C_50s",
        "seq_logrelpower_theta_RP_5s_t03",
    ]).set_index("feature")
    r = t.loc["spectral_relpower_alpha_LP_10s"]
    assert (r.family, r.measure, r.band, r.unit) == ("spectral", "relpower", "alpha (8–13 Hz)",
                                                     "fraction")
    assert r.group.startswith("LP chain (Fp1-F3-C3-P3-O1)") and "4 derivations" in r.group
    assert r.span == "central 10 s (the labelled part)"
    assert r.pattern == "spectral_relpower_{band}_{group}_{span}"
    r = t.loc["evolution_domfreq_slope_all_50s"]
    assert (r.measure, r.band, r.unit, r.group) == ("domfreq_slope", "0.5–20 Hz", "Hz per s",
                                                    "all 18 derivations")
    assert r.span == "whole 50 s window" and r.definition.startswith("least-squares slope")
    r = t.loc["spectrogram_min_12.5_RL_20s"]
    assert (r.measure, r.band, r.span) == ("min", "bin at 12.5 Hz",
                                           "central 20 s of the spectrogram")
    assert r.unit.startswith("ln(1 + power)")
    r = t.loc["ekg_sdnn_all_50s"]
    assert (r.unit, r.group, r.band) == ("ms", "EKG channel", "EKG")
    r = t.loc["spatial_asym_delta_maxpair_50s"]
    assert (r.band, r.unit) == ("delta (0.5–4 Hz)", "index, -1 to 1")
    assert "largest |asymmetry|" in r.group
    assert t.loc["temporal_mobility_C_50s"].unit == "1/s"
    r = t.loc["seq_logrelpower_theta_RP_5s_t03"]
    assert (r.band, r.span, r.unit) == ("theta (4–8 Hz)", "sub-window 3 (15–20 s)", "ln fraction")


def test_unknown_names_are_marked_or_raise():
    t = describe_features(["spectral_frobnicate_LL_50s", "nofamily", "temporal_logvar_XX_50s"])
    assert (t["measure"] == "unknown").all() and (t["pattern"] == "unknown").all()
    assert t.loc[0, "family"] == "spectral" and t.loc[0, "span"] == "whole 50 s window"
    with pytest.raises(ValueError, match="spectral_frobnicate_LL_50s"):
        describe_features(["spectral_relpower_alpha_LL_50s", "spectral_frobnicate_LL_50s"],
                          strict=True)
