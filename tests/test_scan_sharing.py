"""Work shared by the overlapping windows of one recording equals the per-window computation.

The scan (and build_features' recording context) cuts overlapping windows out of a recording
preprocessed once; what the windows have in common is computed once: the quality indicators
from running counts (:func:`hms_features._build.chunks._shared_quality`), the ``evolution``
family's sub-window measures once per distinct sub-window
(:func:`hms_features.recording._shared_evolution`). Each is checked against the unshared
computation on the same windows (:func:`hms_features.signal.window_quality`, the family through
:func:`~hms_features.features.registry.compute_features`).
"""

import numpy as np
import pytest

from hms_features._build.chunks import recording_windows
from hms_features.features import evolution
from hms_features.features.registry import compute_features
from hms_features.recording import _shared_evolution, recording_features
from hms_features.signal import FS, window_quality
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


def _family(windows):
    return compute_features(windows, FS, feature_set=["evolution"])


@pytest.mark.parametrize("step_s", [10.0, 5.0, 7.0])
def test_shared_evolution_equals_the_family_on_the_same_windows(step_s):
    rec = _recording(seconds=300, seed=1)
    offsets = np.arange(0, 250, step_s)
    (_, windows, _, _), = recording_windows(rec, offsets, FS, {}, len(offsets))
    starts = np.rint(offsets * FS).astype(np.int64)
    got = _shared_evolution(windows, starts, FS)
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
    (_, windows, _, _), = recording_windows(rec, offsets, FS, {}, 25)
    _shared_evolution(windows, np.rint(offsets * FS).astype(np.int64), FS)
    assert calls == [29]


def test_recording_features_use_the_shared_evolution_of_the_family(tmp_path):
    rec = make_long_recording(tmp_path, hours=0.1, seed=5, seizures=1, patterns=0,
                              seizure_s=(40.0, 50.0), min_gap_s=100.0)
    tab = recording_features(rec["edf"], ["evolution", "quality"], block_s=100.0)
    # the family, per window, on the windows of the recording preprocessed whole (the blocks'
    # 10 s of context change the filtered signal near block edges: compare away from them)
    from hms_features.recording import read_recording

    eeg, fs = read_recording(rec["edf"])
    offsets = tab.index.to_numpy()
    (_, windows, quality, _), = recording_windows(eeg, offsets, fs, {"clip_uv": 1024.0},
                                                   len(offsets))
    ref = compute_features(windows, fs, feature_set=["evolution", "quality"], quality=quality)
    ref = np.column_stack([ref[c] for c in tab.columns])
    rel = np.abs(tab.to_numpy() - ref) / (np.abs(ref) + 1e-3)
    assert np.median(rel) < 1e-4 and np.quantile(rel, 0.99) < 0.02
    one_block = recording_features(rec["edf"], ["evolution", "quality"], block_s=1000.0)
    np.testing.assert_allclose(one_block.to_numpy(), ref, rtol=1e-4, atol=1e-5)
