"""Partial recordings (some of the 18 derivations missing): every feature column is computed
from the present derivations only, or is NaN. Checked on the real HMS recording with scalp
electrodes dropped: against numpy computations on the present rows, and by the values not
moving when the absent derivations' content changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_features.data import read_eeg_parquet, read_spectrogram_file
from hms_features.features.ekg import QRS_HALF_WIDTH_S, detect_r_peaks
from hms_features.features.periodicity import (
    ENVELOPE_FS,
    LAG_RANGE_S,
    acf_peak,
    autocorrelation,
    band_envelope,
)
from hms_features.features.registry import compute_features, span_slices
from hms_features.montage import referential
from hms_features.signal import BIPOLAR_NAMES, BIPOLAR_PAIRS, EEG_COLUMNS, preprocess

THREE = ["Fp1", "F7", "T3", "T5"]  # Fp1-F7, F7-T3, T3-T5: three derivations of LL
LATERAL = ["Fp1", "F7", "T3", "T5", "O1", "Fp2", "F8", "T4", "T6", "O2"]  # LL and RL whole


@pytest.fixture(scope="module")
def real(hms_mini):
    """50 s of a real HMS recording (20, 10000) µV and a 10 min Kaggle spectrogram window."""
    eeg = read_eeg_parquet(hms_mini / "train_eegs" / "1628180742.parquet").T[:, :10000]
    _, spec = read_spectrogram_file(hms_mini / "train_spectrograms" / "353733.parquet")
    return np.ascontiguousarray(eeg), np.asarray(spec)[None, :300].astype(np.float32)


def _partial(eeg, electrodes, fill=None):
    """The recording with only ``electrodes`` (and the EKG), as ``referential`` gives it: the
    missing electrodes are zeros, or ``fill`` (another content for the absent derivations)."""
    names = electrodes + ["EKG"]
    x, _, present = referential(eeg[[EEG_COLUMNS.index(c) for c in names]], names,
                                allow_missing=True)
    if fill is not None:
        missing = [EEG_COLUMNS.index(c) for c in EEG_COLUMNS[:19] if c not in electrodes]
        x[missing] = fill[missing]
    return x, present


def _features(x, present, spec):
    clean, q = preprocess(x[None])
    return compute_features(clean, feature_set=["default", "seq"], spectrogram=spec,
                            quality=q, present=present), clean[0]


@pytest.mark.parametrize("electrodes", [THREE, LATERAL])
def test_no_column_reads_an_absent_derivation(real, electrodes):
    """Whatever the absent derivations hold (zeros, or loud noise), every column is the same:
    none reads them. The quality family is the exception: it counts referential channels."""
    eeg, spec = real
    x0, present = _partial(eeg, electrodes)
    noise = np.random.default_rng(1).standard_normal(eeg.shape).astype(np.float32) * 300
    x1, _ = _partial(eeg, electrodes, fill=noise)
    assert not np.allclose(x0, x1)
    f0, _ = _features(x0, present, spec)
    f1, _ = _features(x1, present, spec)
    a, b = pd.Series({k: v[0] for k, v in f0.items()}), pd.Series({k: v[0] for k, v in f1.items()})
    keep = ~a.index.str.startswith("quality_")
    pd.testing.assert_series_equal(a[keep], b[keep])
    assert a[keep].notna().sum() > 100
    if electrodes == LATERAL:  # pair measures of two whole chains are kept
        assert np.isfinite(a[[c for c in a.index if "_LLRL_" in c]]).all()


def test_three_derivations_against_numpy(real):
    eeg, spec = real
    x, present = _partial(eeg, THREE)
    assert [n for n, ok in zip(BIPOLAR_NAMES, present) if ok] == ["Fp1-F7", "F7-T3", "T3-T5"]
    f, clean = _features(x, present, spec)
    rows = np.flatnonzero(present)
    bip = np.stack([clean[EEG_COLUMNS.index(a)] - clean[EEG_COLUMNS.index(c)]
                    for _, a, c in (BIPOLAR_PAIRS[k] for k in rows)]).astype(np.float64)
    ekg = clean[-1].astype(np.float64)
    fs = 200.0

    # periodicity: the highest single-derivation ACF peak among the three, per span
    for span, sl in span_slices(clean.shape[-1], fs).items():
        env = band_envelope(bip[None, :, sl], fs)
        lag = min(int(np.floor(LAG_RANGE_S[1] * ENVELOPE_FS)) + 1, env.shape[-1] - 1)
        peaks = [acf_peak(autocorrelation(env[:, [k]], lag), ENVELOPE_FS)[0][0, 0]
                 for k in range(3)]
        np.testing.assert_allclose(f[f"periodicity_acfpeak_max_{span}"][0], max(peaks),
                                   rtol=1e-5)

    # ekg leakage: |Pearson r| with the EKG (np.corrcoef) and the amplitude near R peaks
    corr = np.array([abs(np.corrcoef(b, ekg)[0, 1]) for b in bip])
    r = detect_r_peaks(clean[-1][None], fs)[0]
    half = int(round(QRS_HALF_WIDTH_S * fs))
    near = np.convolve(r.astype(float), np.ones(2 * half + 1), "same") > 0
    amp = np.abs(bip - bip.mean(axis=1, keepdims=True))
    assert near.any()
    ratio = amp[:, near].mean(axis=1) / amp.mean(axis=1)
    for name, ref in [("leakcorr_max", corr.max()), ("leakcorr_mean", corr.mean()),
                      ("leakratio_max", ratio.max()), ("leakratio_mean", ratio.mean())]:
        np.testing.assert_allclose(f[f"ekg_{name}_50s"][0], ref, rtol=1e-4, err_msg=name)

    # absent-only columns are NaN: the sequence of chains without a derivation, and the
    # spectrogram chains (LL is not whole: its spectrogram row also holds T5-O1)
    seq_absent = [k for k in f if k.startswith("seq_") and "_LL_" not in k]
    assert seq_absent and all(np.isnan(f[k][0]) for k in seq_absent)
    assert all(np.isfinite(f[k][0]) for k in f if k.startswith("seq_") and "_LL_" in k)
    chains = [k for k in f if k.startswith("spectrogram_") and "_all_" not in k]
    assert len(chains) == 2496 and all(np.isnan(f[k][0]) for k in chains)
    assert np.isfinite(f["spectrogram_nanfrac_all_600s"][0])


def test_whole_chains_keep_their_spectrogram_and_full_input_is_unchanged(real):
    eeg, spec = real
    x, present = _partial(eeg, LATERAL)
    f, _ = _features(x, present, spec)
    full, _ = _features(eeg, None, spec)
    for k in f:
        if k.startswith("spectrogram_"):
            whole = any(f"_{c}_" in k for c in ("LL", "RL", "all"))
            assert np.isnan(f[k][0]) != whole, k
            if whole:  # the Kaggle rows of a whole chain are that chain's
                assert f[k][0] == full[k][0], k
    # all 18 present is the full montage, to the bit
    same, _ = _features(eeg, np.ones(18, bool), spec)
    assert list(same) == list(full)
    for k in full:
        np.testing.assert_array_equal(same[k], full[k], err_msg=k)
