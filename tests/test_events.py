"""Events from per-window probabilities, their file formats, and SzCORE event scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_features.data import HMSError, read_eeg_parquet
from hms_features.event_scoring import SCORE_COLUMNS, evaluate
from hms_features.events import (
    EVENT_COLUMNS,
    detect_events,
    read_events,
    to_annotations,
    write_annotated_fif,
    write_annotations,
    write_bids_events,
    write_szcore_tsv,
)
from hms_features.metrics import CLASSES
from hms_features.signal import EEG_COLUMNS


def _proba(centres, **cols):
    df = pd.DataFrame({"start_s": np.asarray(centres, float) - 25.0,
                       "centre_s": np.asarray(centres, float)})
    for c in CLASSES:
        df[c] = np.asarray(cols.get(c, np.zeros(len(centres))), float)
    return df


CENTRES = 5.0 + 10.0 * np.arange(8)
SZ = [0.1, 0.6, 0.4, 0.35, 0.2, 0.45, 0.55, 0.1]


# ----------------------------------------------------------------------------- detection

def test_hysteresis_by_hand():
    ev = detect_events(_proba(CENTRES, seizure=SZ), on=0.5, off=0.3)
    assert list(ev.columns) == list(EVENT_COLUMNS)
    # run 1: windows 1-3 (>= 0.3), starts at window 1 (0.6 >= 0.5): [15-5, 35+5]
    # run 2: windows 5-6, starts at window 6 (0.45 < 0.5 does not start it): [65-5, 65+5]
    assert ev[["onset", "duration"]].to_numpy().tolist() == [[10.0, 30.0], [60.0, 10.0]]
    assert ev["trial_type"].tolist() == ["seizure", "seizure"]
    assert ev["peak_probability"].tolist() == [0.6, 0.55]
    assert ev["peak_s"].tolist() == [15.0, 65.0]


def test_merge_then_min_duration():
    merged = detect_events(_proba(CENTRES, seizure=SZ), on=0.5, off=0.3, min_gap_s=25.0)
    assert merged[["onset", "duration", "peak_probability"]].to_numpy().tolist() == [
        [10.0, 60.0, 0.6]]
    short = detect_events(_proba(CENTRES, seizure=SZ), on=0.5, off=0.3, min_duration_s=15.0)
    assert short[["onset", "duration"]].to_numpy().tolist() == [[10.0, 30.0]]
    # no hysteresis (off = on): window 3 (0.35) and 2 (0.4) no longer hold the event
    strict = detect_events(_proba(CENTRES, seizure=SZ), on=0.5, off=0.5)
    assert strict[["onset", "duration"]].to_numpy().tolist() == [[10.0, 10.0], [60.0, 10.0]]


def test_scan_gap_ends_an_event_and_classes_are_separate():
    centres = [5.0, 15.0, 25.0, 65.0, 75.0]
    ev = detect_events(_proba(centres, seizure=[0.9] * 5, lpd=[0, 0, 0.7, 0.7, 0],
                              other=[1.0] * 5))
    assert ev[["onset", "duration", "trial_type"]].values.tolist() == [
        [0.0, 30.0, "seizure"], [20.0, 10.0, "lpd"], [60.0, 20.0, "seizure"],
        [60.0, 10.0, "lpd"]]
    assert "other" not in set(ev["trial_type"])


def test_start_end_columns_and_errors():
    df = pd.DataFrame({"start_s": [0.0, 10.0], "end_s": [10.0, 20.0], "seizure": [0.8, 0.1]})
    ev = detect_events(df, classes=("seizure",))
    assert ev[["onset", "duration"]].to_numpy().tolist() == [[0.0, 10.0]]
    assert detect_events(df.iloc[:0], classes=("seizure",)).empty
    with pytest.raises(ValueError, match="off <= on"):
        detect_events(df, classes=("seizure",), on=0.3, off=0.5)
    with pytest.raises(ValueError, match="lacks class column"):
        detect_events(df)
    with pytest.raises(ValueError, match="centre_s"):
        detect_events(df[["seizure"]], classes=("seizure",))


# ----------------------------------------------------------------------------- formats

@pytest.fixture
def events():
    return detect_events(_proba(CENTRES, seizure=SZ, grda=[0, 0, 0, 0, 0.9, 0.9, 0, 0]))


def test_bids_events_round_trip(events, tmp_path):
    path = write_bids_events(events, tmp_path / "sub-01_task-rest_events.tsv")
    lines = path.read_text().splitlines()
    assert lines[0] == "onset\tduration\ttrial_type\tvalue"
    assert lines[1] == "10.000\t30.000\tseizure\t0.6000"
    back = read_events(path)
    pd.testing.assert_frame_equal(back.drop(columns="peak_s"), events.drop(columns="peak_s"))
    assert back["peak_s"].isna().all()


def test_bids_events_na_values(tmp_path):
    path = tmp_path / "x_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tvalue\n3.5\tn/a\tSZ\tn/a\n1\t2\tgpd\t0.5\n")
    back = read_events(path)
    assert back[["onset", "duration"]].to_numpy().tolist() == [[1.0, 2.0], [3.5, 0.0]]
    assert back["trial_type"].tolist() == ["gpd", "seizure"]
    assert np.isnan(back["peak_probability"][1]) and back["peak_probability"][0] == 0.5


@pytest.mark.parametrize("name", ["det-annot.fif", "det.txt"])
def test_mne_annotation_files_load_in_mne(events, tmp_path, name):
    import mne

    path = write_annotations(events, tmp_path / name)
    ann = mne.read_annotations(path)
    np.testing.assert_allclose(ann.onset, events["onset"], atol=1e-6)
    np.testing.assert_allclose(ann.duration, events["duration"], atol=1e-6)
    assert list(ann.description) == events["trial_type"].tolist()
    back = read_events(path)
    np.testing.assert_allclose(back["onset"], events["onset"], atol=1e-6)
    assert back["trial_type"].tolist() == events["trial_type"].tolist()


def test_write_annotations_rejects_csv(events, tmp_path):
    with pytest.raises(ValueError, match="det.csv: use a .fif"):
        write_annotations(events, tmp_path / "det.csv")


def test_annotated_fif_of_a_real_recording(events, tmp_path, hms_mini):
    import mne

    eeg = read_eeg_parquet(hms_mini / "train_eegs" / "1628180742.parquet").T
    info = mne.create_info(list(EEG_COLUMNS), 200.0, ["eeg"] * 19 + ["ecg"])
    raw = mne.io.RawArray(eeg * 1e-6, info, verbose="error")
    raw.set_meas_date(1_700_000_000)
    raw.annotations.append(1.0, 0.5, "BAD_existing")
    raw.crop(tmin=5.0)  # first_samp = 1000: onsets must still count from the first sample
    assert raw.first_samp == 1000
    path = write_annotated_fif(raw, events, tmp_path / "rec_raw.fif")
    back = mne.io.read_raw_fif(path, verbose="error")
    found, ids = mne.events_from_annotations(back, event_id={"seizure": 1, "grda": 2},
                                             verbose="error")
    onsets = (found[:, 0] - back.first_samp) / 200.0
    np.testing.assert_allclose(onsets, events["onset"], atol=1e-6)
    assert ids == {"seizure": 1, "grda": 2}
    assert len(mne.read_annotations(path)) == len(events)  # the cropped-away one is gone
    np.testing.assert_allclose(back.get_data(), raw.get_data(), rtol=1e-6)
    assert len(to_annotations(events)) == len(events)


def test_szcore_tsv_read_by_epilepsy2bids_and_timescoring(events, tmp_path):
    from epilepsy2bids.annotations import Annotations
    from timescoring.annotations import Annotation

    path = write_szcore_tsv(events, tmp_path / "sub-01_ses-01_task-szMonitoring_run-00_events.tsv",
                            duration_s=3600.0)
    header = path.read_text().splitlines()[0].split("\t")
    assert header == ["onset", "duration", "eventType", "confidence", "channels", "dateTime",
                      "recordingDuration"]
    ann = Annotations.loadTsv(str(path))
    assert ann.getEvents() == [(10.0, 40.0), (60.0, 70.0)]  # seizures only, not the grda event
    assert [e["confidence"] for e in ann.events] == [0.6, 0.55]
    mask = Annotation(ann.getEvents(), 1, 3600).mask
    assert mask.sum() == 40 and mask[10] and not mask[40]
    back = read_events(path)
    assert back[["onset", "duration"]].to_numpy().tolist() == [[10.0, 30.0], [60.0, 10.0]]
    assert back.attrs["recording_duration_s"] == 3600.0


def test_szcore_no_seizure_and_foreign_file(tmp_path):
    from epilepsy2bids.annotations import Annotations

    path = write_szcore_tsv(pd.DataFrame(columns=["onset", "duration", "trial_type"]),
                            tmp_path / "none.tsv", duration_s=100.0)
    assert path.read_text().splitlines()[1].split("\t")[:3] == ["0.00", "100.00", "bckg"]
    assert read_events(path).empty
    # a file written by epilepsy2bids itself
    theirs = tmp_path / "theirs.tsv"
    Annotations.loadEvents([(5.0, 25.5), (100.0, 130.0)], 600.0).saveTsv(str(theirs))
    back = read_events(theirs)
    assert back[["onset", "duration"]].to_numpy().tolist() == [[5.0, 20.5], [100.0, 30.0]]
    assert back["trial_type"].tolist() == ["seizure", "seizure"]


def test_read_events_errors(tmp_path):
    with pytest.raises(HMSError, match="gone.tsv: annotation file not found"):
        read_events(tmp_path / "gone.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(HMSError, match="empty.tsv: empty annotation file"):
        read_events(empty)
    cols = tmp_path / "cols.tsv"
    cols.write_text("start\tstop\n1\t2\n")
    with pytest.raises(HMSError, match="cols.tsv: missing column.*onset, duration"):
        read_events(cols)
    bad = tmp_path / "bad.tsv"
    bad.write_text("onset\tduration\teventType\trecordingDuration\n1\t2\tspike\t10\n")
    with pytest.raises(HMSError, match=r"bad.tsv: unknown eventType.*spike"):
        read_events(bad)
    nonnum = tmp_path / "nonnum.tsv"
    nonnum.write_text("onset\tduration\nabc\t2\n")
    with pytest.raises(HMSError, match="nonnum.tsv: line 2: onset"):
        read_events(nonnum)


# ----------------------------------------------------------------------------- scoring

def test_evaluate_by_hand():
    ref = pd.DataFrame({"onset": [100.0, 1000.0], "duration": [60.0, 60.0],
                        "trial_type": "seizure"})
    det = pd.DataFrame({"onset": [110.0, 2000.0, 500.0], "duration": [40.0, 30.0, 20.0],
                        "trial_type": ["seizure", "seizure", "lpd"]})
    res = evaluate(ref, det, 3600.0)
    assert list(res.columns) == list(SCORE_COLUMNS) and len(res) == 1
    r = res.iloc[0]
    # events: the first reference is hit, the second missed; the detection at 2000 s is false
    assert (r.event_tp, r.event_fp, r.event_n_ref) == (1, 1, 2)
    assert r.event_sensitivity == 0.5 and r.event_precision == 0.5
    assert r.event_f1 == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert r.event_fp_per_24h == pytest.approx(24.0)  # 1 false alarm in 1 h
    # samples (1 Hz): reference 120 s, detected 70 s, overlap 40 s (the lpd event is ignored)
    assert (r.sample_tp, r.sample_fp, r.sample_n_ref) == (40, 30, 120)
    assert r.sample_sensitivity == pytest.approx(40 / 120)
    assert r.sample_precision == pytest.approx(40 / 70)
    assert r.sample_f1 == pytest.approx(80 / (80 + 30 + 80))


def test_evaluate_tolerance_merge_and_pooling():
    # 25 s before the reference onset (within the 30 s start tolerance) counts as a hit;
    # two detections 20 s apart are merged (< 90 s) into one
    ref1, det1 = [(100.0, 160.0)], [(70.0, 80.0), (100.0, 110.0)]
    # nothing to find, one false alarm; 2 h
    ref2, det2 = [], [(3000.0, 3010.0)]
    res = evaluate([ref1, ref2], [det1, det2], [3600.0, 7200.0], recordings=["a", "b"])
    assert res["recording"].tolist() == ["a", "b", "pooled"]
    a, b, pooled = res.itertuples(index=False)
    assert (a.event_tp, a.event_fp, a.event_n_ref) == (1, 0, 1)
    assert a.event_sensitivity == 1.0 and a.event_precision == 1.0 and a.event_f1 == 1.0
    assert np.isnan(b.event_sensitivity) and b.event_precision == 0.0 and b.event_f1 == 0.0
    assert b.event_fp_per_24h == pytest.approx(12.0)
    assert (pooled.event_tp, pooled.event_fp, pooled.event_n_ref) == (1, 1, 1)
    assert pooled.duration_s == 10800.0
    assert pooled.event_precision == 0.5 and pooled.event_f1 == pytest.approx(2 / 3)
    assert pooled.event_fp_per_24h == pytest.approx(8.0)  # 1 false alarm in 3 h


def test_evaluate_detected_file_against_reference_file(events, tmp_path):
    ref = write_szcore_tsv(events.iloc[:1], tmp_path / "ref.tsv", duration_s=3600.0)
    det = write_bids_events(events, tmp_path / "det_events.tsv")
    res = evaluate(read_events(ref), read_events(det), 3600.0).iloc[0]
    # detections at 10-40 s and 60-70 s are merged (20 s apart) and hit the reference
    assert (res.event_tp, res.event_fp, res.event_n_ref) == (1, 0, 1)
    with pytest.raises(ValueError, match="one each per recording"):
        evaluate([ref], [], [3600.0])
    with pytest.raises(ValueError, match="durations must be > 0"):
        evaluate([], [], 0.0)
