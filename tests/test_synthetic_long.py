"""Synthetic whole recordings as EDF with events at known times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.signal import welch

from hms_features.events import read_events
from hms_features.montage import double_banana, read_any
from hms_features.synthetic_long import LONG_LABELS, make_long_recording


@pytest.fixture(scope="module", params=[1, 2])
def long_rec(request, tmp_path_factory):
    out = make_long_recording(tmp_path_factory.mktemp("long"), hours=0.5, seed=request.param)
    data, names, fs = read_any(out["edf"])
    return out, data, names, fs


def test_files_and_truth(long_rec):
    out, data, names, fs = long_rec
    assert names == list(LONG_LABELS) and fs == 200.0 and data.shape == (20, 360_000)
    ev = out["events"]
    assert sorted(ev["trial_type"].map(lambda t: t == "seizure")) == [False, True]
    ends = ev["onset"] + ev["duration"]
    assert (ev["onset"].iloc[1:].to_numpy() - ends.iloc[:-1].to_numpy() >= 300).all()
    assert ev["onset"].min() >= 150 and ends.max() <= 1800 - 150
    bids = read_events(out["events_tsv"])
    np.testing.assert_allclose(bids["onset"], ev["onset"], atol=5e-4)
    np.testing.assert_allclose(bids["duration"], ev["duration"], atol=5e-4)
    assert bids["trial_type"].tolist() == ev["trial_type"].tolist()
    embedded = read_events(out["edf"])  # EDF+ annotations, through mne.read_annotations
    np.testing.assert_allclose(embedded["onset"], ev["onset"], atol=1e-6)
    np.testing.assert_allclose(embedded["duration"], ev["duration"], atol=1e-6)
    assert embedded["trial_type"].tolist() == ev["trial_type"].tolist()
    sz = read_events(out["szcore_tsv"])
    truth = ev[ev["trial_type"] == "seizure"]
    np.testing.assert_allclose(sz["onset"], truth["onset"], atol=5e-3)
    assert sz.attrs["recording_duration_s"] == 1800.0


def test_events_are_visible_in_the_eeg(long_rec):
    out, data, names, fs = long_rec
    x = double_banana(data, names).data
    seg = x.reshape(18, -1, 2000).transpose(1, 0, 2)  # 10 s segments
    f, p = welch(seg, fs=fs, nperseg=400)
    band = p[..., (f >= 0.5) & (f <= 8)].sum(-1).mean(-1)  # 0.5-8 Hz power per segment
    for onset, duration, _ in out["events"].itertuples(index=False):
        inside = band[int(np.ceil(onset / 10)) + 1: int((onset + duration) // 10) - 1]
        assert inside.mean() > 1.4 * np.median(band)


def test_no_step_at_block_joins(long_rec):
    _, data, _, fs = long_rec
    jump = np.abs(np.diff(data[:19], axis=1)).mean(axis=0)  # mean over channels, per sample
    joins = (np.array([600, 1200]) * fs).astype(int)
    # (without the cross-fade, crossfade_s=0, both joins of both seeds exceed this quantile)
    assert (jump[joins - 1] < np.quantile(jump, 0.99)).all()
    assert np.abs(data[:19].mean(axis=1)).max() < 400  # fixed DC offsets, no drift by block


def test_same_seed_same_file(tmp_path):
    a = make_long_recording(tmp_path / "a", hours=0.1, seed=5, seizures=1, patterns=0,
                            min_gap_s=60)
    b = make_long_recording(tmp_path / "b", hours=0.1, seed=5, seizures=1, patterns=0,
                            min_gap_s=60)
    assert a["edf"].read_bytes() == b["edf"].read_bytes()
    pd.testing.assert_frame_equal(a["events"], b["events"])
    with pytest.raises(ValueError, match="do not fit"):
        make_long_recording(tmp_path / "c", hours=0.05, seizures=3, patterns=0)


def test_windows_to_events_to_files_to_scores(long_rec, tmp_path):
    """The plumbing a scan uses, with an oracle detector whose scores are known exactly."""
    from hms_features.event_scoring import evaluate
    from hms_features.events import detect_events, write_bids_events, write_szcore_tsv
    from hms_features.metrics import CLASSES
    from hms_features.recording import sliding_windows

    out, data, names, fs = long_rec
    _, starts = sliding_windows(data, fs, window_s=50.0, step_s=10.0)
    centres = starts + 25.0
    truth = out["events"]
    proba = pd.DataFrame({"start_s": starts, "centre_s": centres})
    for c in CLASSES:
        proba[c] = 0.02
    for onset, duration, cls in truth.itertuples(index=False):
        proba.loc[(centres > onset) & (centres < onset + duration), cls] = 0.9
    false_alarm = (centres > 20.0) & (centres < 50.0)  # 20-50 s: no event there
    proba.loc[false_alarm, "seizure"] = 0.8
    detected = detect_events(proba, min_duration_s=10.0)
    assert set(detected["trial_type"]) == set(truth["trial_type"])
    ref = read_events(out["szcore_tsv"])
    det = read_events(write_szcore_tsv(detected, tmp_path / "det.tsv", out["duration_s"]))
    r = evaluate(ref, det, out["duration_s"]).iloc[0]
    assert (r.event_tp, r.event_fp, r.event_n_ref) == (1, 1, 1)
    assert r.event_sensitivity == 1.0 and r.event_precision == 0.5
    assert r.event_fp_per_24h == pytest.approx(48.0)  # 1 false alarm in 0.5 h
    # the other patterns round-trip through the BIDS file and score per class
    bids = read_events(write_bids_events(detected, tmp_path / "det_events.tsv"))
    other = truth["trial_type"][truth["trial_type"] != "seizure"].iloc[0]
    r = evaluate(truth, bids, out["duration_s"], trial_type=other).iloc[0]
    assert (r.event_tp, r.event_fp, r.event_n_ref) == (1, 0, 1)
