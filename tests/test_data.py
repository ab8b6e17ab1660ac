import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hms_features.data import (
    EEG_WINDOW_S,
    SPEC_COLUMNS,
    TRAIN_COLUMNS,
    VOTE_COLUMNS,
    HMSDataset,
    HMSError,
    count_nan,
    patient_folds,
    read_spectrogram_file,
)
from hms_features.signal import EEG_COLUMNS

# ----------------------------------------------------------------------------- a tiny layout


def _write_tiny(root, n_eegs=3, seconds=70, spec_seconds=700, rows_per_eeg=3, seed=0):
    """A minimal dataset in the Kaggle layout, written independently of the library."""
    rng = np.random.default_rng(seed)
    (root / "train_eegs").mkdir(parents=True)
    (root / "train_spectrograms").mkdir()
    rows = []
    for e in range(n_eegs):
        eeg_id, spec_id, patient = 1000 + e, 2000 + e, 10 + e % 2
        data = rng.normal(0, 30, (seconds * 200, 20)).astype(np.float32)
        pd.DataFrame(data, columns=list(EEG_COLUMNS)).to_parquet(
            root / "train_eegs" / f"{eeg_id}.parquet", index=False)
        spec = pd.DataFrame(rng.gamma(2, 5, (spec_seconds // 2, 400)).astype(np.float32),
                            columns=list(SPEC_COLUMNS))
        spec.insert(0, "time", np.arange(1, spec_seconds, 2, dtype=np.int64))
        spec.to_parquet(root / "train_spectrograms" / f"{spec_id}.parquet", index=False)
        for k in range(rows_per_eeg):
            votes = rng.multinomial(3, np.ones(6) / 6)
            rows.append([eeg_id, k, 2.0 * k, spec_id, k, 2.0 * k + 40, 10_000 + 10 * e + k, patient,
                         "Other", *votes])
    pd.DataFrame(rows, columns=list(TRAIN_COLUMNS)).to_csv(root / "train.csv", index=False)
    return root


@pytest.fixture
def tiny(tmp_path):
    return _write_tiny(tmp_path / "tiny")


# ----------------------------------------------------------------------------- real files


def test_real_eeg_windows_match_file_values(hms_mini):
    ds = HMSDataset(hms_mini)
    ds.validate()
    raw = pd.read_parquet(hms_mini / "train_eegs" / "1628180742.parquet")
    assert len(ds.labels) == 9 and ds.labels["n_votes"].tolist() == [3] * 9
    w = ds.eeg_windows()
    assert w.shape == (9, 20, 10_000) and w.dtype == np.float32
    for i, off in enumerate(ds.labels["eeg_label_offset_seconds"]):
        a = int(off * 200)
        np.testing.assert_array_equal(w[i], raw.iloc[a:a + 10_000].to_numpy(np.float32).T)
    # the central 10 s: [offset + 20 s, offset + 30 s)
    c = ds.eeg_windows(seconds=10)
    np.testing.assert_array_equal(c, w[:, :, 4000:6000])
    assert ds.targets()[:, 0].tolist() == [1.0] * 9


def test_real_spectrogram_windows(hms_mini):
    ds = HMSDataset(hms_mini)
    time, values = ds.read_spectrogram(353733)
    s = ds.spectrogram_windows()
    assert s.shape == (9, 300, 400)
    for i, off in enumerate(ds.labels["spectrogram_label_offset_seconds"]):
        sel = (time >= off) & (time < off + 600)
        np.testing.assert_array_equal(s[i], values[sel])
    # centre 10 s and 20 s: 5 and 10 rows around offset + 300 s
    s10 = ds.spectrogram_windows(seconds=10)
    s20 = ds.spectrogram_windows(seconds=20)
    np.testing.assert_array_equal(s10, s[:, 147:152])
    np.testing.assert_array_equal(s20, s[:, 145:155])


def test_real_test_split_int16_time_and_whole_file_windows(hms_mini):
    schema = pq.read_schema(hms_mini / "test_spectrograms/853520.parquet")
    assert schema.field("time").type == pa.int16()
    ds = HMSDataset(hms_mini, split="test")
    assert ds.labels["label_id"].tolist() == ds.labels["eeg_id"].tolist() == [3911565283]
    time, _ = ds.read_spectrogram(853520)
    assert time.dtype == np.int64 and time[0] == 1 and len(time) == 300
    assert ds.eeg_windows().shape == (1, 20, 10_000)
    assert ds.spectrogram_windows().shape == (1, 300, 400)
    with pytest.raises(HMSError, match="no votes"):
        ds.votes()


def test_real_spectrogram_nan_is_kept(hms_mini):
    time, values = read_spectrogram_file(hms_mini / "train_spectrograms/1000086677.parquet")
    raw = pd.read_parquet(hms_mini / "train_spectrograms/1000086677.parquet")
    assert np.isnan(values).mean() == pytest.approx(raw.iloc[:, 1:].isna().to_numpy().mean())
    assert 0.08 < np.isnan(values).mean() < 0.09


# ----------------------------------------------------------------------------- behaviour


def test_eeg_labels_sums_votes_and_keeps_middle_window(tiny):
    ds = HMSDataset(tiny)
    by_eeg = ds.eeg_labels()
    assert len(by_eeg) == 3 and by_eeg["eeg_id"].tolist() == [1000, 1001, 1002]
    for _, row in by_eeg.iterrows():
        sub = ds.labels[ds.labels["eeg_id"] == row["eeg_id"]]
        assert row[list(VOTE_COLUMNS)].tolist() == sub[list(VOTE_COLUMNS)].sum().tolist()
        assert row["eeg_label_offset_seconds"] == 2.0  # offsets 0, 2, 4 -> middle is 2
        assert row["n_labels"] == 3


def test_each_parquet_read_once(tiny, monkeypatch):
    import hms_features.data as data

    calls = []
    real = data.read_eeg_parquet
    monkeypatch.setattr(data, "read_eeg_parquet", lambda p: calls.append(p) or real(p))
    HMSDataset(tiny).eeg_windows()
    assert len(calls) == 3  # 9 windows, 3 files


def test_nan_gaps_are_kept_and_counted(tiny):
    path = tiny / "train_eegs" / "1001.parquet"
    df = pd.read_parquet(path)
    df.iloc[100:150, 2] = np.nan
    df.to_parquet(path, index=False)
    w = HMSDataset(tiny).eeg_windows()
    counts = count_nan(w)
    # only the window at offset 0 holds rows 100:150; the others of eeg 1001 start at rows 400, 800
    assert counts[3, 2] == 50 and counts.sum() == 50


def test_patient_folds_group_patients_deterministically(tiny):
    ds = HMSDataset(tiny)
    f1, f2 = patient_folds(ds.labels, 2), patient_folds(ds.labels, 2)
    np.testing.assert_array_equal(f1, f2)
    for p in ds.labels["patient_id"].unique():
        assert len(set(f1[ds.labels["patient_id"] == p])) == 1
    assert set(f1) == {0, 1}
    with pytest.raises(HMSError, match="n_splits=3"):
        patient_folds(ds.labels, 3)


def test_window_past_end_raises_with_ids_or_pads(tiny):
    df = pd.read_csv(tiny / "train.csv")
    df.loc[4, "eeg_label_offset_seconds"] = 30.0  # 30 + 50 > 70 s
    df.to_csv(tiny / "train.csv", index=False)
    ds = HMSDataset(tiny)
    with pytest.raises(HMSError, match=r"eeg_id 1001, label_id 10011.*past the end.*70 s"):
        ds.eeg_windows()
    w = ds.eeg_windows(pad=True)
    assert np.isnan(w[4, :, 8000:]).all() and not np.isnan(w[4, :, :8000]).any()
    assert EEG_WINDOW_S == 50


def test_spectrogram_window_past_end(tiny):
    df = pd.read_csv(tiny / "train.csv")
    df.loc[0, "spectrogram_label_offset_seconds"] = 200.0  # 200 + 600 > 700 s
    df.to_csv(tiny / "train.csv", index=False)
    ds = HMSDataset(tiny)
    with pytest.raises(HMSError, match=r"spectrogram_id 2000, label_id 10000.*past the end"):
        ds.spectrogram_windows()
    s = ds.spectrogram_windows(pad=True)
    assert np.isnan(s[0, 250:]).all() and not np.isnan(s[0, :250]).any()


# ----------------------------------------------------------------------------- bad input


def _edit_csv(root, fn):
    df = pd.read_csv(root / "train.csv")
    df = fn(df)
    df.to_csv(root / "train.csv", index=False)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.drop(columns="spectrogram_label_offset_seconds"),
         r"train.csv: missing column\(s\) \['spectrogram_label_offset_seconds'\]"),
        (lambda d: d.assign(lpd_vote=d["lpd_vote"].where(d.index != 2, -1)),
         r"column 'lpd_vote', row 2 \(line 4\): -1 is not a vote count"),
        (lambda d: d.assign(**{c: d[c].where(d.index != 4, 0) for c in VOTE_COLUMNS}),
         r"label_id 10011 \(row 4\) has zero votes"),
        (lambda d: d.assign(eeg_label_offset_seconds=d["eeg_label_offset_seconds"].astype(object)
                            .where(d.index != 1, "abc")),
         r"column 'eeg_label_offset_seconds', row 1 \(line 3\): 'abc' is not a finite number"),
        (lambda d: d.iloc[:0], r"train.csv: no rows"),
        (lambda d: d.assign(eeg_id=d["eeg_id"].where(d.index != 0, 4242)),
         r"train_eegs: no parquet file for 1 eeg_id\(s\).*4242.parquet"),
    ],
)
def test_bad_label_file(tiny, edit, message):
    _edit_csv(tiny, edit)
    with pytest.raises(HMSError, match=message):
        HMSDataset(tiny)


def test_empty_csv_file(tiny):
    (tiny / "train.csv").write_text("")
    with pytest.raises(HMSError, match="train.csv: empty file"):
        HMSDataset(tiny)


def test_missing_folder(tmp_path):
    with pytest.raises(HMSError, match="no such folder"):
        HMSDataset(tmp_path / "nope")


def test_misspelled_channel(tiny):
    path = tiny / "train_eegs" / "1002.parquet"
    pd.read_parquet(path).rename(columns={"T3": "T7"}).to_parquet(path, index=False)
    ds = HMSDataset(tiny)
    msg = r"1002.parquet: EEG columns .*missing \['T3'\].*unexpected \['T7'\]"
    with pytest.raises(HMSError, match=msg):
        ds.eeg_windows()
    with pytest.raises(HMSError, match=r"1002.parquet"):
        ds.validate()


def test_extra_channel(tiny):
    path = tiny / "train_eegs" / "1000.parquet"
    pd.read_parquet(path).assign(A1=0.0).to_parquet(path, index=False)
    with pytest.raises(HMSError, match=r"1000.parquet: EEG columns .*unexpected \['A1'\]"):
        HMSDataset(tiny).read_eeg_parquet(1000)


def test_truncated_and_non_parquet_files(tiny):
    path = tiny / "train_eegs" / "1000.parquet"
    path.write_bytes(path.read_bytes()[:500])
    ds = HMSDataset(tiny)
    with pytest.raises(HMSError, match=r"1000.parquet: not a readable parquet file"):
        ds.read_eeg_parquet(1000)
    spec = tiny / "train_spectrograms" / "2001.parquet"
    spec.write_text("time,LL_0.59\n1,2\n")
    with pytest.raises(HMSError, match=r"2001.parquet: not a readable parquet file"):
        ds.read_spectrogram(2001)


def test_spectrogram_bad_time_column(tiny):
    path = tiny / "train_spectrograms" / "2000.parquet"
    df = pd.read_parquet(path)
    df["time"] = df["time"].astype(float)
    df.to_parquet(path, index=False)
    with pytest.raises(HMSError, match=r"2000.parquet: column 'time' has type double"):
        HMSDataset(tiny).read_spectrogram(2000)


def test_missing_spectrogram_folder(tiny):
    shutil.rmtree(tiny / "train_spectrograms")
    with pytest.raises(HMSError, match="train_spectrograms: no such folder"):
        HMSDataset(tiny)


def test_file_layout_reader_and_its_deprecated_aliases(tiny):
    import hms_features.data as data

    ds = HMSDataset(tiny)
    path = ds.eeg_path(1001)
    ref = pd.read_parquet(path)[list(EEG_COLUMNS)].to_numpy(np.float32)  # the file as stored
    arr = data.read_eeg_parquet(path)
    assert arr.shape == (len(ref), 20)  # (n_samples, channels): the file layout
    np.testing.assert_array_equal(arr, ref)
    np.testing.assert_array_equal(ds.read_eeg_parquet(1001), ref)
    with pytest.warns(DeprecationWarning, match="read_eeg_parquet"):
        np.testing.assert_array_equal(data.read_eeg_file(path), ref)
    with pytest.warns(DeprecationWarning, match="HMSDataset.read_eeg_parquet"):
        np.testing.assert_array_equal(ds.read_eeg(1001), ref)
    # everything else is in the library's layout: a recording is (channels, samples)
    (eeg_id, rec, rows), = [r for r in ds.iter_recordings() if r[0] == 1001]
    assert rec.shape == (20, len(ref))
    np.testing.assert_array_equal(rec, ref.T)
    w = ds.eeg_windows(rows)
    a = int(rows["eeg_label_offset_seconds"].iloc[0] * 200)
    np.testing.assert_array_equal(w[0], ref[a:a + 10_000].T)
