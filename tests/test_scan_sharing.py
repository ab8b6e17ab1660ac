"""Work shared by the overlapping windows of one recording equals the per-window computation.

The scan (and build_features' recording context) cuts overlapping windows out of a recording
preprocessed once; what the windows have in common is computed once: the quality indicators
from running counts (:func:`hms_features._build.chunks._shared_quality`), the ``evolution``
family's sub-window measures once per distinct sub-window
(:func:`hms_features.recording._shared_evolution`), the ``temporal`` family's sums and the
``spatial`` family's correlation moments and delta decimation once per distinct 10 s piece
(:func:`~hms_features.recording._shared_temporal`,
:func:`~hms_features.recording._shared_spatial`). Each is checked against the unshared
computation on the same windows (:func:`hms_features.signal.window_quality`, the family through
:func:`~hms_features.features.registry.compute_features`).
"""

import antropy as ant
import numpy as np
import pytest
import scipy.stats

from hms_features._build.chunks import recording_windows
from hms_features.features import evolution, spatial, temporal
from hms_features.features.base import GROUPS
from hms_features.features.registry import compute_features
from hms_features.recording import (
    _bipolar_windows,
    _pieces,
    _shared_evolution,
    _shared_spatial,
    _shared_temporal,
    _temporal_pieces,
    recording_features,
)
from hms_features.signal import FS, bipolar, window_quality
from hms_features.synthetic_long import make_long_recording
from hms_features.windows import cut_windows


def _recording(seconds=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = rng.normal(0, 20, (20, len(t))) + 40 * np.sin(2 * np.pi * (2 + t / 40)[None] * t)
    return x.astype(np.float32)


@pytest.mark.parametrize("clip_uv", [1024.0, 60.0, None])
def test_shared_quality_is_window_quality_of_every_overlapping_window(clip_uv):
    rec = _recording()
    rec[2, 6000:6500] = np.nan  # a NaN gap in one scalp channel (seconds 30-32.5)
    rec[9] = np.nan  # one channel missing throughout: zeroed, flat in every window
    rec[7, 30000:31000] *= 100  # a burst clipped at 1024 µV
    # overlapping windows every 10 s, others off any grid, one running past the end and one
    # starting after it (moved to the end, all padding)
    offsets = np.concatenate([np.arange(0, 151, 10.0), [3.3, 57.85, 170.0, 400.0]])
    prep = {"clip_uv": clip_uv}
    parts = list(recording_windows(rec, offsets, FS, prep, 6))
    windows = np.concatenate([w for _, w, _, _ in parts])
    quality = {k: np.concatenate([q[k] for _, _, q, _ in parts]) for k in parts[0][2]}
    starts = np.minimum(offsets, rec.shape[1] / FS)
    padded = np.concatenate([rec, np.full((20, 10000), np.nan, np.float32)], axis=1)
    ref = window_quality(cut_windows(padded, starts, 50.0, FS), windows, clip_uv)
    for k in ref:
        np.testing.assert_array_equal(quality[k], ref[k], err_msg=k)
    # hand-checked: the missing channel in every window, the window of padding
    inside = starts + 50 <= 200
    np.testing.assert_array_equal(quality["bad_channels"][inside], 1.0)
    assert quality["nan_fraction"][offsets == 400.0] == 1.0
    assert quality["nan_fraction"][offsets == 0.0] == (500 + 10000) / (19 * 10000)
    if clip_uv == 60.0:
        assert (quality["clipped_fraction"][inside] > 0).all()  # a ~50 µV EEG clipped at 60


def _family(windows, family="evolution"):
    return compute_features(windows, FS, feature_set=[family])


@pytest.mark.parametrize("centre_psd", [False, True])
@pytest.mark.parametrize("step_s", [10.0, 5.0, 7.0])
def test_shared_evolution_equals_the_family_on_the_same_windows(step_s, centre_psd):
    rec = _recording(seconds=300, seed=1)
    offsets = np.arange(0, 250, step_s)
    (_, windows, _, psd), = recording_windows(rec, offsets, FS, {}, len(offsets))
    starts = np.rint(offsets * FS).astype(np.int64)
    # with centre_psd the middle sub-windows' PSDs come from the shared 10 s span PSDs
    got = _shared_evolution(windows, starts, FS, centre_psd=psd["10s"] if centre_psd else None)
    ref = _family(windows)
    assert sorted(got) == sorted(ref) and len(got) == 72
    for k in ref:
        scale = max(np.abs(ref[k]).max(), 1.0)
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=2e-6 * scale, err_msg=k)
    assert got[k].dtype == np.float32


def test_evolution_sub_windows_are_measured_once(monkeypatch):
    calls = []
    measure = evolution.subwindow_measures

    def counting(x, *args, **kwargs):
        calls.append(x.shape[0])
        return measure(x, *args, **kwargs)

    monkeypatch.setattr(evolution, "subwindow_measures", counting)
    rec = _recording(seconds=300, seed=2)
    offsets = np.arange(0, 250, 10.0)  # 25 windows of 5 sub-windows: 29 distinct ones
    (_, windows, _, psd), = recording_windows(rec, offsets, FS, {}, 25)
    starts = np.rint(offsets * FS).astype(np.int64)
    _shared_evolution(windows, starts, FS)
    assert calls == [29]
    # given the 10 s spans' PSDs, only the 4 sub-windows that are no window's middle get one
    spectra = []
    direct = evolution.subwindow_psd
    monkeypatch.setattr(evolution, "subwindow_psd",
                        lambda x, *a, **k: spectra.append(x.shape[0]) or direct(x, *a, **k))
    _shared_evolution(windows, starts, FS, centre_psd=psd["10s"])
    assert calls == [29, 29] and spectra == [4]


def _hostile(seconds, seed):
    """A recording with a silent derivation, a clipped burst, a DC step and sharp transients."""
    rec = _recording(seconds=seconds, seed=seed)
    rec[4] = rec[0]  # F7 = Fp1: Fp1-F7 silent (the family's fills, log10(EPS) and 0)
    rec[7, 20000:21000] *= 100  # a burst clipped at 1024 µV
    rec[11, 30000:] += 500.0  # a DC step (high-passed into a slow transient)
    rec[15, 4000::1400] += 400.0  # F8: sharp transients every 7 s, across piece boundaries
    return rec


@pytest.mark.parametrize("step_s,window_s,fs", [(10.0, 50.0, FS), (5.0, 50.0, FS),
                                                (7.0, 50.0, FS), (10.0, 30.0, FS),
                                                (10.0, 50.0, 201.0)])  # 2010-sample pieces
def test_shared_temporal_equals_the_family_on_the_same_windows(step_s, window_s, fs):
    rec = _hostile(300, seed=3)
    offsets = np.arange(0, 290 - window_s, step_s)
    (_, windows, _, _), = recording_windows(rec, offsets, fs, {}, len(offsets), window_s)
    starts = np.rint(offsets * fs).astype(np.int64)
    got = _shared_temporal(windows, starts, fs)
    # the family on each window, nothing shared
    ref = compute_features(windows, fs, feature_set=["temporal"])
    # the family accumulates its sums in the input's precision: on float64 windows it is exact
    # to ~1e-12, the reference the pooled float64 sums are held to
    ref64 = compute_features(np.asarray(windows, np.float64), fs, feature_set=["temporal"])
    assert sorted(got) == sorted(ref) and len(got) == 2 * 10 * len(GROUPS)  # spans x measures
    exact = ("_maxabs_", "_zerocross_", "_spikecount_", "_spikerate_")  # no sums of floats
    for k in ref:
        assert got[k].dtype == np.float32
        # the 10 s span is the middle piece measured as the family measures it
        if k.endswith("_10s") or any(m in k for m in exact):
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
            continue
        # the kurtosis is m4 / m2^2 - 3: its rounding is relative to m4 / m2^2
        scale = max(np.abs(ref[k]).max() + 3.0 * ("_kurtosis_" in k), 1.0)
        np.testing.assert_allclose(got[k], ref64[k], rtol=2e-6, atol=1e-6 * scale, err_msg=k)
        # the float32 family: its own float32 sums over 10,000 samples err by up to ~1e-5
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-5 * scale, err_msg=k)
    # the hostile parts show: the silent derivation's fill in its chain, transients counted
    assert np.median(ref["temporal_logvar_LL_50s"]) < 1 < 2 < ref["temporal_logvar_RL_50s"].min()
    assert (ref["temporal_spikecount_RL_50s"] >= 1).all()  # F8-side derivations: 2 of 4


def test_pooled_temporal_sums_equal_float64_definitions_of_the_joined_span():
    rng = np.random.default_rng(4)
    fs = 200.0
    # 6 pieces of 3 signals, offsets differing between pieces (the pooled mean must move)
    x = (rng.normal(0, 10, (6, 3, 400)) + rng.normal(0, 30, (6, 3, 1))
         + 5 * rng.standard_exponential((6, 3, 400))).astype(np.float32)
    which = np.array([[0, 1, 2], [1, 2, 3], [3, 4, 5], [2, 3, 4]])
    vals = temporal.finish(temporal.pool(temporal.sums(x), which, 400), 1200, fs,
                           np.zeros((4, 3)))
    got = dict(zip(temporal.MEASURES, vals))
    for i, pieces in enumerate(which):
        span = np.concatenate(list(x[pieces].astype(np.float64)), axis=-1)  # (3, 1200)
        for j, sig in enumerate(span):
            mob, comp = ant.hjorth_params(sig)
            expect = {"logvar": np.log10(np.var(sig)),
                      "linelength": np.abs(np.diff(sig)).mean() * fs,
                      "skewness": scipy.stats.skew(sig), "kurtosis": scipy.stats.kurtosis(sig),
                      "mobility": mob * fs, "complexity": comp,
                      "zerocross": ant.num_zerocross(sig) / (len(sig) / fs),
                      "maxabs": np.abs(sig).max()}
            for name, v in expect.items():
                np.testing.assert_allclose(got[name][i, j], v, rtol=2e-6, atol=1e-9,
                                           err_msg=f"{name} span {i} signal {j}")


def test_temporal_pieces_need_the_10s_span_in_the_middle():
    assert _temporal_pieces(10000, FS) == 5 and _temporal_pieces(6000, FS) == 3
    assert _temporal_pieces(9000, FS) is None  # 45 s: the centre 10 s starts at 17.5 s
    assert _temporal_pieces(8000, FS) is None  # 40 s: an even number of pieces
    windows = np.zeros((2, 20, 9000), np.float32)
    with pytest.raises(ValueError, match="10 s pieces"):
        _shared_temporal(windows, np.array([0, 2000]), FS)


def test_pieces_are_cut_once_per_distinct_start():
    rec = _recording(seconds=120, seed=6)
    offsets = np.arange(0, 70, 10.0)  # 7 windows, 11 distinct 10 s pieces
    (_, windows, _, _), = recording_windows(rec, offsets, FS, {}, len(offsets))
    chunks, which = _pieces(windows, np.rint(offsets * FS).astype(np.int64), 5)
    assert chunks.shape == (11, 20, 2000) and chunks.flags.c_contiguous
    np.testing.assert_array_equal(which, np.arange(7)[:, None] + np.arange(5))
    for i, j in [(0, 0), (3, 2), (6, 4)]:
        np.testing.assert_array_equal(chunks[which[i, j]],
                                      windows[i, :, j * 2000:(j + 1) * 2000])


@pytest.mark.parametrize("offsets", [np.arange(0, 70, 10.0), np.arange(0, 70, 7.0),
                                     np.array([0.0, 3.0, 20.0, 21.5]),  # uneven steps
                                     np.array([0.0, 60.0, 65.0])])  # a gap: per window
def test_bipolar_windows_are_the_montage_of_each_window(offsets):
    rec = _recording(seconds=130, seed=7)
    (_, windows, _, _), = recording_windows(rec, offsets, FS, {}, len(offsets))
    got = _bipolar_windows(windows, np.rint(offsets * FS).astype(np.int64))
    np.testing.assert_array_equal(got, bipolar(np.ascontiguousarray(windows)))
    if np.ptp(np.diff(offsets)) == 0:  # a scan's even steps: views, each sample computed once
        assert np.shares_memory(got[0], got[1])  # overlapping windows: the same samples


def test_features_on_shared_bipolar_windows_equal_the_families_own():
    rec = _hostile(200, seed=8)
    offsets = np.arange(0, 150, 10.0)
    (_, windows, quality, psd), = recording_windows(rec, offsets, FS, {}, len(offsets))
    kw = dict(feature_set="fast", quality=quality, psd=psd)
    ref = compute_features(windows, FS, **kw)
    got = compute_features(windows, FS, bipolar=_bipolar_windows(
        windows, np.rint(offsets * FS).astype(np.int64)), **kw)
    assert sorted(got) == sorted(ref)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_recording_features_use_the_shared_families(tmp_path):
    rec = make_long_recording(tmp_path, hours=0.1, seed=5, seizures=1, patterns=0,
                              seizure_s=(40.0, 50.0), min_gap_s=100.0)
    fams = ["temporal", "evolution", "quality"]
    tab = recording_features(rec["edf"], fams, block_s=100.0)
    # the family, per window, on the windows of the recording preprocessed whole (the blocks'
    # 10 s of context change the filtered signal near block edges: compare away from them)
    from hms_features.recording import read_recording

    eeg, fs = read_recording(rec["edf"])
    offsets = tab.index.to_numpy()
    (_, windows, quality, _), = recording_windows(eeg, offsets, fs, {"clip_uv": 1024.0},
                                                   len(offsets))
    ref = compute_features(windows, fs, feature_set=fams, quality=quality)
    ref = np.column_stack([ref[c] for c in tab.columns])
    rel = np.abs(tab.to_numpy() - ref) / (np.abs(ref) + 1e-3)
    assert np.median(rel) < 1e-4 and np.quantile(rel, 0.99) < 0.02
    one_block = recording_features(rec["edf"], fams, block_s=1000.0)
    np.testing.assert_allclose(one_block.to_numpy(), ref, rtol=1e-4, atol=1e-5)


CORRELATION = ("_corr_", "_sync_", "_synceig_")  # the broadband correlation's columns
DELTA = ("spatial_deltacoh_", "spatial_deltacorr_", "spatial_deltasync_")  # delta CSD's


@pytest.mark.parametrize("step_s,window_s,fs", [(10.0, 50.0, FS), (5.0, 50.0, FS),
                                                (7.0, 50.0, FS), (10.0, 30.0, FS),
                                                (10.0, 50.0, 201.0)])  # 2010-sample pieces
def test_shared_spatial_equals_the_family_on_the_same_windows(step_s, window_s, fs):
    rec = _hostile(300, seed=9)
    offsets = np.arange(0, 290 - window_s, step_s)
    (_, windows, quality, psd), = recording_windows(rec, offsets, fs, {}, len(offsets),
                                                    window_s)
    starts = np.rint(offsets * fs).astype(np.int64)
    got = _shared_spatial(windows, starts, fs, _bipolar_windows(windows, starts),
                          quality=quality, psd=psd)
    ref = compute_features(windows, fs, feature_set=["spatial"], quality=quality, psd=psd)
    assert sorted(got) == sorted(ref) and len(got) == 2 * 58  # spans x columns
    exact = 0
    for k in ref:
        assert got[k].dtype == np.float32
        # pooled float64 moments against the family's float32 centred products, pooled
        # complex128 segment cross-products against its complex64 ones (not at 201 Hz, whose
        # 402-sample decimated pieces are no whole number of 40-sample hops: the family's own
        # delta path): float32 rounding of values in [0, 1] (measured: at most 4.5e-8)
        if any(m in k for m in CORRELATION) or (k.startswith(DELTA) and fs == FS):
            np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-7, err_msg=k)
        else:  # asymmetries and gradients from the same PSDs
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
            exact += 1
    assert exact == 2 * (32 + 12 + 7 * (fs != FS))
    # the silent derivation (Fp1-F7, in LL) correlates 0: the family's flat-channel rule
    assert (ref["spatial_sync_L_50s"] < ref["spatial_sync_R_50s"]).all()


def test_pooled_correlation_is_numpy_corrcoef_of_the_joined_pieces():
    rng = np.random.default_rng(10)
    # 6 pieces of 4 signals with offsets differing between pieces (the pooled mean must move),
    # the third signal a mix of the first two, the last one flat (a constant, not zero)
    x = rng.normal(0, 10, (6, 4, 300)) + rng.normal(0, 50, (6, 4, 1))
    x[:, 2] = x[:, 0] - 0.5 * x[:, 1]
    x[:, 3] = 7.0
    x = x.astype(np.float32)
    which = np.array([[0, 1, 2], [1, 2, 3], [3, 4, 5], [2, 3, 4]])
    sums, cross = spatial.piece_moments(x)
    cov = spatial.covariance_from_moments(sums[which].sum(axis=1), cross[which].sum(axis=1),
                                          900)
    corr = spatial.correlation_from_covariance(cov)
    for i, pieces in enumerate(which):
        joined = np.concatenate(list(x[pieces].astype(np.float64)), axis=-1)  # (4, 900)
        np.testing.assert_allclose(cov[i, :3, :3], np.cov(joined[:3]) * 899, rtol=1e-9)
        np.testing.assert_allclose(corr[i, :3, :3], np.corrcoef(joined[:3]), atol=1e-12)
        # the flat signal: 0 with the others, 1 with itself (correlation_matrix's rule)
        np.testing.assert_array_equal(corr[i, 3], [0.0, 0.0, 0.0, 1.0])
        np.testing.assert_allclose(corr[i], spatial.correlation_matrix(joined[None])[0],
                                   atol=1e-6)


def test_spatial_pieces_are_summed_and_decimated_once(monkeypatch):
    from hms_features.features import base

    calls = {"moments": [], "decimate": [], "ffts": []}
    moments, decimate, ffts = spatial.piece_moments, spatial.boxcar_decimate, base.segment_spectra
    monkeypatch.setattr(spatial, "piece_moments",
                        lambda x: calls["moments"].append(x.shape[0]) or moments(x))
    monkeypatch.setattr(spatial, "boxcar_decimate",
                        lambda x, q: calls["decimate"].append(x.shape[:2]) or decimate(x, q))
    monkeypatch.setattr(spatial, "segment_ffts", None)  # the family's path: not taken
    monkeypatch.setattr(base, "segment_spectra",
                        lambda x, *a, **kw: calls["ffts"].append(
                            (x.shape, len(kw["starts"]))) or ffts(x, *a, **kw))
    rec = _recording(seconds=300, seed=11)
    offsets = np.arange(0, 250, 10.0)  # 25 windows of 5 pieces: 29 distinct ones
    (_, windows, quality, psd), = recording_windows(rec, offsets, FS, {}, 25)
    starts = np.rint(offsets * FS).astype(np.int64)
    _shared_spatial(windows, starts, FS, _bipolar_windows(windows, starts), quality=quality,
                    psd=psd)
    # the 2 s segments every 1 s starting in each piece (10; 40 Hz), each piece with the
    # second the last one takes from the piece after it: each transformed once (the 10 s
    # spans' are among the 50 s windows')
    assert calls == {"moments": [29], "decimate": [(29, 18)], "ffts": [((29, 18, 440), 10)]}
