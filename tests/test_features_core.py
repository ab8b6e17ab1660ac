"""Core feature families (spectral, temporal, entropy) against independent references."""

from __future__ import annotations

import antropy as ant
import numpy as np
import pytest
import scipy.stats
from scipy import signal as sps

from hms_features.features import entropy, registry, spectral, temporal
from hms_features.features.base import (
    FeatureContext,
    aggregate,
    chain_groups,
    segment_spectra,
    welch_psd,
)
from hms_features.signal import BIPOLAR_NAMES, EEG_COLUMNS, FS, preprocess

RNG = np.random.default_rng(42)


def _tone(freq, seconds=50.0, amp=50.0, noise=0.0, n=1, chans=18):
    t = np.arange(int(seconds * FS)) / FS
    x = amp * np.sin(2 * np.pi * freq * t) + noise * RNG.standard_normal((n, chans, t.size))
    return x.astype(np.float32)


def _pink(n_samples, shape=(1,), exponent=1.0):
    spec = np.fft.rfft(RNG.standard_normal(shape + (n_samples,)))
    f = np.fft.rfftfreq(n_samples, 1 / FS)
    f[0] = f[1]
    return np.fft.irfft(spec / f ** (exponent / 2), n_samples).astype(np.float64)


# ----------------------------------------------------------------------------- base


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [10000, 2000, 333])
def test_welch_psd_equals_scipy(dtype, n):
    x = RNG.standard_normal((2, 3, n)).astype(dtype)
    f, p = welch_psd(x, FS)
    nper = min(400, n)
    f2, p2 = sps.welch(x.astype(np.float64), FS, window="hann", nperseg=nper,
                       noverlap=nper // 2, detrend=False)
    np.testing.assert_allclose(f, f2)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(p, p2, rtol=tol, atol=tol * p2.max())


def test_segment_spectra_average_to_welch_of_any_grid_subwindow():
    x = RNG.standard_normal((18, 6000))
    f, seg = segment_spectra(x, FS)  # hop 1 s
    start, length = 800, 2000  # a window starting on the 1 s grid
    sub = welch_psd(x[:, start:start + length], FS)[1]
    k0 = start // 200
    np.testing.assert_allclose(seg[:, k0:k0 + 9].mean(axis=1), sub, rtol=1e-12)


def test_aggregate_means_over_chains_and_hemispheres():
    vals = RNG.standard_normal((3, 18))
    out = aggregate("fam", "m", vals, "50s")
    groups = chain_groups()
    assert list(out) == [f"fam_m_{g}_50s" for g in ("LL", "LP", "RP", "RL", "C", "L", "R")]
    ll = [i for i, n in enumerate(BIPOLAR_NAMES) if n in ("Fp1-F7", "F7-T3", "T3-T5", "T5-O1")]
    np.testing.assert_allclose(out["fam_m_LL_50s"], vals[:, ll].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["fam_m_L_50s"], vals[:, groups["L"]].mean(axis=1), rtol=1e-6)
    assert len(groups["L"]) == 8 and len(groups["C"]) == 2


# ----------------------------------------------------------------------------- spectral


def test_pure_alpha_tone_has_alpha_power_and_peak_at_10hz():
    x = _tone(10.0, noise=1.0)
    f, p = welch_psd(x, FS)
    bp = spectral.band_powers(f, p)
    rel = bp / bp.sum(axis=-1, keepdims=True)
    assert (rel[..., list(spectral.BANDS).index("alpha")] > 0.97).all()
    np.testing.assert_allclose(spectral.peak_frequency(f, p), 10.0)
    np.testing.assert_allclose(spectral.spectral_edge(f, p, 0.5), 10.0)
    assert (spectral.spectral_entropy(f, p, 0.5, 40) < 0.3).all()


def test_band_powers_add_up_to_the_variance():
    x = RNG.standard_normal((4, 10000)) * 7.0
    f, p = welch_psd(x, FS)
    total = spectral.band_powers(f, p, {"all": (0.0, 101.0)})[..., 0]
    np.testing.assert_allclose(total, x.var(axis=-1), rtol=0.05)
    # hand-computed rectangle rule over the half-open band
    m = (f >= 8) & (f < 13)
    np.testing.assert_allclose(spectral.band_powers(f, p, {"a": (8, 13)})[..., 0],
                               p[:, m].sum(axis=-1) * 0.5)


def test_white_noise_spectral_entropy_near_one_and_matches_antropy():
    x = RNG.standard_normal((3, 10000))
    f, p = welch_psd(x, FS)
    assert (spectral.spectral_entropy(f, p, 0.5, 40) > 0.98).all()
    # same formula as antropy given antropy's PSD (welch, nperseg=400, constant detrend)
    f2, p2 = sps.welch(x, FS, nperseg=400)
    ref = [ant.spectral_entropy(row, FS, method="welch", nperseg=400, normalize=True)
           for row in x]
    np.testing.assert_allclose(spectral.spectral_entropy(f2, p2), ref, rtol=1e-10)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_aperiodic_slope_recovers_power_law(exponent):
    x = _pink(10000, (8,), exponent)
    f, p = welch_psd(x, FS)
    slope = spectral.aperiodic_slope(f, p)
    np.testing.assert_allclose(slope.mean(), -exponent, atol=0.1)


def test_spectral_family_names_values_and_fills():
    x = np.zeros((2, 20, 10000), np.float32)
    # channel-dependent amplitudes, so the bipolar differences are not zero
    x[0, :19] = _tone(10.0, n=1, chans=19)[0] * np.arange(1, 20, dtype=np.float32)[:, None]
    x[0, 3] += _tone(3.0, n=1, chans=1)[0, 0]
    out = spectral.compute_spectral(FeatureContext(x, span="50s"))
    assert all(k.startswith("spectral_") and k.endswith("_50s") for k in out)
    assert len(out) == 20 * 7
    assert all(v.shape == (2,) and v.dtype == np.float32 and np.isfinite(v).all()
               for v in out.values())
    # window 1 is silent: documented fills
    assert out["spectral_relpower_alpha_L_50s"][1] == 0
    assert out["spectral_abspower_alpha_L_50s"][1] == pytest.approx(-6)
    assert out["spectral_peakfreq_RP_50s"][1] == 0 and out["spectral_entropy_C_50s"][1] == 0
    # relative powers sum to 1 (the six bands tile 0.5-40 Hz)
    rel = sum(out[f"spectral_relpower_{b}_LL_50s"][0] for b in spectral.BANDS)
    assert rel == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- temporal


def test_moments_match_scipy_stats():
    x = (RNG.standard_normal((3, 5, 2000)) ** 3).astype(np.float32)
    var, skew, kurt = temporal.moments(x)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=-1), rtol=1e-4)
    np.testing.assert_allclose(skew, scipy.stats.skew(x.astype(np.float64), axis=-1), rtol=1e-3)
    np.testing.assert_allclose(kurt, scipy.stats.kurtosis(x.astype(np.float64), axis=-1),
                               rtol=1e-3)


def test_hjorth_and_zero_crossings_match_antropy():
    x = np.cumsum(RNG.standard_normal((4, 3000)), axis=-1).astype(np.float32)
    x -= x.mean(axis=-1, keepdims=True)
    mob, comp = temporal.hjorth(x, FS)
    ref = ant.hjorth_params(x.astype(np.float64), sf=FS, axis=-1)
    np.testing.assert_allclose(mob, ref[0], rtol=1e-3)
    np.testing.assert_allclose(comp, ref[1], rtol=1e-3)
    zc = temporal.zero_crossings(x, FS)
    np.testing.assert_allclose(zc, ant.num_zerocross(x, axis=-1) / (3000 / FS))


def test_hjorth_mobility_of_a_sine_is_its_frequency():
    mob, comp = temporal.hjorth(_tone(5.0, seconds=20, chans=1)[0], FS)
    # sqrt(var(dx) / var(x)) * fs -> 2 fs sin(pi f / fs) ~ 2 pi f for f << fs; complexity -> 1
    np.testing.assert_allclose(mob, 2 * FS * np.sin(np.pi * 5.0 / FS), rtol=1e-3)
    np.testing.assert_allclose(comp, 1.0, atol=1e-2)


def test_line_length_and_sharp_transients():
    x = np.zeros((1, 2, 10000), np.float32)
    x[0, 0] = RNG.standard_normal(10000) * 5
    x[0, 0, 100::200] += 200  # a 1 Hz spike train: 50 spikes
    x[0, 1] = np.arange(10000) % 2  # 0,1,0,1: |dx| = 1 everywhere
    np.testing.assert_allclose(temporal.line_length(x, FS)[0, 1], FS)
    count = temporal.sharp_transients(x, FS)
    assert count[0, 0] == 50


@pytest.mark.parametrize("n", [1, 2, 500, 501, 2500])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_median_equals_numpy_median(n, dtype):
    # the robust spread of sharp_transients: bit-identical to np.median, ties and NaN included
    a = np.abs(RNG.standard_normal((6, n))).astype(dtype)
    a[0, : n // 2] = 1.0  # ties across the middle
    a[1, n // 3] = np.nan
    a[2, -1] = np.inf
    got = temporal._median(a[:, ::1])
    ref = np.median(a, axis=-1, keepdims=True)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)
    # a strided view, as sharp_transients passes it
    np.testing.assert_array_equal(temporal._median(a[:, ::2]),
                                  np.median(a[:, ::2], axis=-1, keepdims=True))


def test_temporal_family_fills_for_flat_windows():
    x = np.zeros((1, 20, 4000), np.float32)
    out = temporal.compute_temporal(FeatureContext(x, span="10s"))
    assert len(out) == 10 * 7
    assert all(np.isfinite(v).all() for v in out.values())
    assert out["temporal_kurtosis_LL_10s"][0] == 0 and out["temporal_mobility_R_10s"][0] == 0


# ----------------------------------------------------------------------------- registry


def test_feature_sets_and_names_are_stable():
    default = registry.feature_names("default")
    fast = registry.feature_names("fast")
    assert set(fast) <= set(default) and len(fast) < len(default) or fast == default
    assert registry.feature_names(["temporal", "spectral"]) == (
        [n for n in default if n.startswith("spectral_")]
        + [n for n in default if n.startswith("temporal_")])
    assert len(default) == len(set(default))
    with pytest.raises(ValueError, match="unknown families"):
        registry.resolve_families(["spectral", "nope"])
    with pytest.raises(ValueError, match="feature_set"):
        registry.resolve_families("everything")


def test_compute_features_central_span_is_the_middle_10s():
    x = np.zeros((1, 20, 10000), np.float32)
    t = np.arange(10000) / FS
    x[0, :19] = np.where((t >= 20) & (t < 30), np.sin(2 * np.pi * 10 * t) * 50,
                         np.sin(2 * np.pi * 3 * t) * 50) * np.arange(1, 20)[:, None]
    out = registry.compute_features(x, FS, feature_set=["spectral"])
    assert out["spectral_peakfreq_LL_10s"][0] == 10.0
    assert out["spectral_peakfreq_LL_50s"][0] == 3.0


def test_real_windows_from_hms_mini(hms_mini):
    from hms_features.data import HMSDataset

    ds = HMSDataset(hms_mini)
    eeg = ds.eeg_windows(ds.labels.iloc[:3])
    clean, q = preprocess(eeg, FS)
    out = registry.compute_features(clean, FS, feature_set=["spectral", "temporal"], quality=q)
    vals = np.column_stack(list(out.values()))
    assert vals.shape == (3, len(registry.feature_names(["spectral", "temporal"])))
    assert np.isfinite(vals).all()
    rel = sum(out[f"spectral_relpower_{b}_all_50s"] if f"spectral_relpower_{b}_all_50s" in out
              else out[f"spectral_relpower_{b}_L_50s"] for b in spectral.BANDS)
    np.testing.assert_allclose(rel, 1.0, atol=1e-4)
    # real EEG: amplitude in the tens of µV, most power below 13 Hz
    assert (out["temporal_logvar_L_50s"] > 0).all() and (out["temporal_logvar_L_50s"] < 5).all()
    assert (out["spectral_sef50_L_50s"] < 13).all()
    assert len(EEG_COLUMNS) == eeg.shape[1]


# ----------------------------------------------------------------------------- entropy


def _mixed(shape, n):
    walk = np.cumsum(RNG.standard_normal(shape + (n,)), axis=-1) * 0.3
    return (walk + RNG.standard_normal(shape + (n,))).astype(np.float32)


def _per_window(fn, x, **kw):
    return np.array([[fn(row.astype(np.float64), **kw) for row in w] for w in x])


@pytest.mark.parametrize("name, ours, ref, kw", [
    ("perm", entropy.perm_entropy, ant.perm_entropy, dict(normalize=True)),
    ("svd", entropy.svd_entropy, ant.svd_entropy, dict(normalize=True)),
    ("higuchi", entropy.higuchi_fd, ant.higuchi_fd, {}),
    ("katz", entropy.katz_fd, ant.katz_fd, {}),
    ("petrosian", entropy.petrosian_fd, ant.petrosian_fd, {}),
    ("dfa", entropy.dfa, ant.detrended_fluctuation, {}),
    ("sample", entropy.sample_entropy, ant.sample_entropy, {}),
    ("approximate", entropy.approximate_entropy, ant.app_entropy, {}),
])
def test_entropy_measures_equal_antropy_per_window(name, ours, ref, kw):
    x = _mixed((2, 3), 500 if name in ("sample", "approximate") else 2000)
    np.testing.assert_allclose(ours(x), _per_window(ref, x, **kw), rtol=1e-3)


def test_perm_entropy_general_order_and_ties_match_antropy():
    x = np.round(_mixed((1, 2), 600)).astype(np.float32)  # many ties
    np.testing.assert_allclose(entropy.perm_entropy(x, order=3),
                               _per_window(ant.perm_entropy, x, normalize=True), rtol=1e-9)
    np.testing.assert_allclose(entropy.perm_entropy(x, order=4, delay=2),
                               _per_window(ant.perm_entropy, x, order=4, delay=2,
                                           normalize=True), rtol=1e-9)


@pytest.mark.parametrize("order", [2, 3])
def test_template_entropies_count_ties_like_antropy(order):
    # values +-1 (14 of 80) and +-11 (66 of 80): mean 0 and SD exactly 10, so the tolerance
    # 0.2 SD is exactly 2 = |1 - (-1)| and many template distances sit on it. Sample entropy
    # counts "< r" (antropy's numba kernel), approximate entropy "<= r" (its KD-tree); with the
    # other convention approximate entropy moves from 1.005 to 1.081 on such a signal.
    base = np.repeat([1.0, -1.0, 11.0, -11.0], [7, 7, 33, 33])
    x = np.stack([RNG.permutation(np.tile(base, 4)) for _ in range(3)]).astype(np.float32)
    assert np.allclose(x.std(axis=-1), 10.0)
    np.testing.assert_allclose(entropy.sample_entropy(x, order=order),
                               _per_window(ant.sample_entropy, x[None], order=order)[0],
                               rtol=1e-9)
    np.testing.assert_allclose(entropy.approximate_entropy(x, order=order),
                               _per_window(ant.app_entropy, x[None], order=order)[0],
                               rtol=1e-9)


def test_approximate_entropy_regular_below_irregular_and_checks_length():
    t = np.arange(1000) / FS
    sine = np.sin(2 * np.pi * 3 * t)[None]
    noise = RNG.standard_normal((1, 1000))
    assert entropy.approximate_entropy(noise)[0] > 3 * entropy.approximate_entropy(sine)[0]
    assert entropy.approximate_entropy(np.zeros((2, 50)))[0] == 0.0  # constant: all match
    with pytest.raises(ValueError, match="order \\+ 1 = 3"):
        entropy.approximate_entropy(np.zeros((1, 2)))


def test_entropy_known_answers():
    t = np.arange(5000) / FS
    sine = np.sin(2 * np.pi * 2 * t)[None]
    noise = RNG.standard_normal((1, 5000))
    # white noise: permutation entropy ~1, DFA ~0.5, Higuchi ~2; a slow sine: regular
    assert entropy.perm_entropy(noise)[0] > 0.99 and entropy.perm_entropy(sine)[0] < 0.5
    assert entropy.dfa(noise)[0] == pytest.approx(0.5, abs=0.1)
    assert entropy.higuchi_fd(noise)[0] == pytest.approx(2.0, abs=0.05)
    assert entropy.higuchi_fd(sine)[0] == pytest.approx(1.0, abs=0.05)
    assert entropy.sample_entropy(noise[:, :800])[0] > 2 * entropy.sample_entropy(
        sine[:, :800])[0]


def test_entropy_family_fills_and_spans():
    x = np.zeros((2, 20, 10000), np.float32)
    x[1] = _mixed((20,), 10000) * 10
    ctx50 = FeatureContext(x, span="50s")
    ctx10 = FeatureContext(x[..., 4000:6000], span="10s")
    out50, out10 = entropy.compute_entropy(ctx50), entropy.compute_entropy(ctx10)
    assert not any("sample" in k for k in out50)
    assert len(out10) == len(out50) + 7
    for out in (out50, out10):
        vals = np.column_stack(list(out.values()))
        assert np.isfinite(vals).all() and (vals[0] == 0).all() and (vals[1] != 0).any()


def test_seq_family_is_opt_in_and_equals_the_sequence_builder():
    from hms_features.features.sequence import sequence_table, subwindow_sequence

    assert "seq" not in registry.resolve_families("default")
    assert "seq" not in registry.resolve_families("fast")
    assert registry.resolve_families(["seq", "spectral"]) == ["spectral", "seq"]
    assert registry.resolve_families(["default", "seq"]) == registry.resolve_families(
        "default") + ["seq"]
    with pytest.raises(ValueError, match="unknown families \\['sequence'\\]"):
        registry.resolve_families(["default", "sequence"])
    rng = np.random.default_rng(4)
    clean, _ = preprocess((rng.standard_normal((3, 20, 10000)) * 20).astype(np.float32), FS)
    clean[1, 5] = 0.0  # a dead channel: still finite
    out = registry.compute_features(clean, FS, feature_set=["seq"])
    seq, names = subwindow_sequence(clean, fs=FS, step_s=5.0, return_names=True)
    ref = sequence_table(seq, names)
    assert list(out) == list(ref.columns) and len(out) == 10 * 30
    assert all(c.startswith("seq_") and c.endswith(f"_t{t:02d}")
               for c, t in zip(ref.columns, np.repeat(np.arange(10), 30)))
    np.testing.assert_array_equal(np.column_stack(list(out.values())), ref.to_numpy())
    assert np.isfinite(ref.to_numpy()).all()


# ----------------------------------------------------------------------- one vocabulary


def test_every_family_derives_its_bands_from_the_one_definition():
    from hms_features.features import base, evolution, sequence, spatial, spectrogram
    from hms_features.signal import SPEC_FMAX

    canon = base.BANDS
    assert canon["beta"] == (13.0, 30.0) and base.BROADBAND == (0.5, 40.0)
    assert spectral.BANDS == {"delta1": (0.5, 2.0), "delta2": (2.0, 4.0),
                              **{b: canon[b] for b in ("theta", "alpha", "beta", "lowgamma")}}
    assert spatial.BANDS == {b: canon[b] for b in ("delta", "theta", "alpha", "beta")}
    assert evolution.REL_BANDS == {b: canon[b] for b in ("delta", "theta", "alpha")}
    # the Kaggle spectrogram stops at 20 Hz: its beta (and the sequences') is clipped there
    clipped = {**spatial.BANDS, "beta": (13.0, SPEC_FMAX)}
    assert spectrogram.SPEC_BANDS == clipped
    assert dict((n, (lo, hi)) for n, lo, hi in sequence.BANDS) == clipped
    assert base.select_bands(["lowgamma"], fmax=SPEC_FMAX) == {}
    with pytest.raises(ValueError, match="unknown band"):
        base.select_bands(["gamma"])


def test_chains_and_groups_come_from_signal():
    from hms_features.features import base, evolution, sequence
    from hms_features.signal import CHAINS, HEMISPHERES

    assert base.GROUPS == ("LL", "LP", "RP", "RL", "C", "L", "R")
    assert base.GROUPS == tuple(CHAINS) + tuple(HEMISPHERES)
    assert sequence.SUBWINDOW_CHAINS == tuple(CHAINS)
    assert evolution.EVOLUTION_GROUPS == tuple(CHAINS) + ("all",)
    groups = chain_groups()
    for h, members in HEMISPHERES.items():
        assert sorted(groups[h]) == sorted(np.concatenate([groups[c] for c in members]))


def test_no_module_under_features_imports_models():
    import ast
    import pathlib

    import hms_features.features as pkg

    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                assert "models" not in mod.split("."), f"{path.name} imports {mod}"


def test_kaggle_names_are_defined_once():
    from hms_features import data, submission, synthetic
    from hms_features import signal as sig
    from hms_features.metrics import CLASSES

    assert data.VOTE_COLUMNS == tuple(f"{c}_vote" for c in CLASSES)
    assert submission.SUBMISSION_COLUMNS == ("eeg_id",) + data.VOTE_COLUMNS
    assert [c.lower() for c in data.CONSENSUS_NAMES] == list(CLASSES)
    assert data.SPEC_COLUMNS is sig.SPEC_COLUMNS and data.SPEC_STEP_S is sig.SPEC_STEP_S
    assert not hasattr(synthetic, "_CONSENSUS") and not hasattr(data, "_CONSENSUS")


@pytest.mark.parametrize("q", [1, 4, 7])
def test_context_decimated_is_the_block_mean(q):
    eeg = RNG.standard_normal((2, 20, 1003)).astype(np.float32) * 40
    ctx = FeatureContext(eeg)
    b = ctx.bipolar
    m = b.shape[-1] // q
    ref = b[..., :m * q].reshape(2, 18, m, q).mean(axis=-1, dtype=np.float64)
    out = ctx.decimated(q)
    assert out.dtype == np.float64 and out.shape == (2, 18, m)
    np.testing.assert_allclose(out, ref, rtol=1e-15, atol=1e-12)
    assert ctx.decimated(q) is out  # cached


def test_centre_span_slices_the_whole_windows_spectra_bit_for_bit():
    # the 10 s context takes the 50 s context's derivations and Welch segments (same samples,
    # same arithmetic) instead of recomputing them: the same values as its own computation
    from hms_features.features.base import FeatureContext
    from hms_features.features.registry import span_slices

    eeg = np.random.default_rng(3).normal(0, 30, (3, 20, 10_000)).astype(np.float32)
    sl = span_slices(eeg.shape[-1])["10s"]
    whole = FeatureContext(eeg)
    alone = FeatureContext(eeg[..., sl], span="10s")
    assert whole.segments is not None and whole.bipolar is not None  # computed first
    part = FeatureContext(eeg[..., sl], span="10s", parent=whole, within=sl)
    np.testing.assert_array_equal(part.bipolar, alone.bipolar)
    np.testing.assert_array_equal(part.segments[1], alone.segments[1])
    np.testing.assert_array_equal(part.psd[1], alone.psd[1])
    assert np.shares_memory(part.segments[1], whole.segments[1])  # really taken from the parent
    # off the segment grid: computed on its own
    off = slice(sl.start + 7, sl.stop + 7)
    shifted = FeatureContext(eeg[..., off], span="10s", parent=whole, within=off)
    assert not np.shares_memory(shifted.segments[1], whole.segments[1])
    np.testing.assert_array_equal(shifted.psd[1], FeatureContext(eeg[..., off]).psd[1])


def test_given_bipolar_derivations_are_used_and_checked():
    rng = np.random.default_rng(5)
    clean, _ = preprocess((rng.standard_normal((2, 20, 2000)) * 20).astype(np.float32), FS)
    from hms_features.signal import bipolar

    ref = registry.compute_features(clean, FS, feature_set=["temporal"])
    given = registry.compute_features(clean, FS, feature_set=["temporal"],
                                      bipolar=bipolar(clean))
    assert all(np.array_equal(ref[k], given[k]) for k in ref)
    # derivations that are not those of eeg are what the families see
    doubled = registry.compute_features(clean, FS, feature_set=["temporal"],
                                        bipolar=2 * bipolar(clean))
    for k in ("temporal_maxabs_LL_50s", "temporal_maxabs_R_10s"):
        np.testing.assert_allclose(doubled[k], 2 * ref[k], rtol=1e-6)
    with pytest.raises(ValueError, match=r"bipolar must have shape \(2, 18, 2000\)"):
        registry.compute_features(clean, FS, feature_set=["temporal"],
                                  bipolar=bipolar(clean)[:, :17])
    # checked whole, not only block by block (a block of 1 window would not see the extra one)
    extra = np.concatenate([bipolar(clean), bipolar(clean)[:1]])
    with pytest.raises(ValueError, match=r"bipolar must have shape \(2, 18, 2000\)"):
        registry.compute_features(clean, FS, feature_set=["temporal"], bipolar=extra, block=1)
