"""Tests of the synthetic HMS dataset: layout, determinism, vote statistics, signal properties.

Every check uses an independent computation (scipy.signal, numpy FFTs written here, pyarrow,
pandas) rather than the generator's own helpers.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.signal import butter, find_peaks, get_window, hilbert, sosfiltfilt, welch

from hms_features.data import SPEC_COLUMNS, TRAIN_COLUMNS, VOTE_COLUMNS, HMSDataset
from hms_features.metrics import CLASSES
from hms_features.signal import EEG_COLUMNS
from hms_features.synthetic import (
    TRUTH_FILE,
    draw_recordings,
    make_synthetic_hms,
    synthesize_eeg,
    synthetic_labels,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "hms_mini"
FS = 200.0
CH = {c: i for i, c in enumerate(EEG_COLUMNS)}
LEFT_PAIRS = [("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
              ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1")]
RIGHT_PAIRS = [(a.replace("1", "2").replace("3", "4").replace("7", "8").replace("5", "6"),
                b.replace("1", "2").replace("3", "4").replace("7", "8").replace("5", "6"))
               for a, b in LEFT_PAIRS]
CONSENSUS = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
REAL_PRIOR = np.array([0.204, 0.162, 0.103, 0.066, 0.097, 0.367])


def _pairs(x, pairs):
    """Bipolar derivations of (n_samples, 20) file-layout EEG, (n_pairs, n_samples)."""
    return np.stack([x[:, CH[a]] - x[:, CH[b]] for a, b in pairs])


def _band_power(x, lo, hi):
    f, p = welch(x, FS, nperseg=int(4 * FS), axis=-1)
    m = (f >= lo) & (f <= hi)
    return p[..., m].sum(axis=-1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "hms"
    out = make_synthetic_hms(root, n_patients=6, seed=11, n_test=3)
    return out


@pytest.fixture(scope="module")
def recordings():
    """Parameters of many recordings (no signal): cheap; tests synthesise the few they need."""
    return draw_recordings(n_patients=150, seed=5, n_test=1)


def _pick(recs, cls, n, cond=lambda r: True):
    clean = [r for r in recs  # no NaN gap or broken electrode to get in the way
             if not any(e[0] in ("nan_gap", "bad_channel") for e in r["artifacts"])]
    out = [r for r in clean if not r["test"] and r["main"]["cls"] == CLASSES.index(cls)
           and r["second"] is None and cond(r)]
    assert len(out) >= n, f"only {len(out)} {cls} recordings drawn"
    return out[:n]


def _signal(rec, seed=0):
    return synthesize_eeg(rec, np.random.default_rng(seed)).astype(np.float64)


# ------------------------------------------------------------------ layout and determinism
def test_returns_root_and_layout(dataset):
    names = sorted(p.name for p in dataset.iterdir())
    assert names == sorted(["train.csv", "test.csv", "sample_submission.csv", TRUTH_FILE,
                            "train_eegs", "train_spectrograms", "test_eegs",
                            "test_spectrograms"])


def test_deterministic_bytes(tmp_path):
    def digest(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    a = digest(make_synthetic_hms(tmp_path / "a", n_patients=1, seed=3, n_test=1))
    b = digest(make_synthetic_hms(tmp_path / "b", n_patients=1, seed=3, n_test=1))
    c = digest(make_synthetic_hms(tmp_path / "c", n_patients=1, seed=4, n_test=1))
    assert a == b
    assert a["train.csv"] != c["train.csv"]


def test_refuses_non_empty_folder(tmp_path):
    root = tmp_path / "busy"
    root.mkdir()
    (root / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="busy"):
        make_synthetic_hms(root, n_patients=1, n_test=1)
    make_synthetic_hms(root, n_patients=1, n_test=1, overwrite=True)
    assert (root / "train.csv").is_file() and (root / "keep.txt").is_file()


@pytest.mark.parametrize("kwargs", [{"n_patients": 0}, {"seed": -1}, {"n_test": 0},
                                    {"n_patients": 2.5}])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make_synthetic_hms(tmp_path / "x", **kwargs)


def test_train_csv_schema(dataset):
    df = pd.read_csv(dataset / "train.csv")
    assert tuple(df.columns) == TRAIN_COLUMNS
    if REAL.is_dir():
        real = pd.read_csv(REAL / "train.csv")
        assert [str(t) for t in df.dtypes] == [str(t) for t in real.dtypes]
    votes = df[list(VOTE_COLUMNS)].to_numpy()
    assert (votes.sum(axis=1) >= 1).all() and votes.sum(axis=1).max() <= 28
    # expert_consensus is the argmax of the votes (first class on a tie)
    assert (df["expert_consensus"] == [CONSENSUS[i] for i in votes.argmax(axis=1)]).all()
    assert df["label_id"].is_unique
    # sub ids count rows within each EEG; offsets start at 0 and mostly step by even seconds
    for _, g in df.groupby("eeg_id"):
        assert (g["eeg_sub_id"].to_numpy() == np.arange(len(g))).all()
        assert g["eeg_label_offset_seconds"].iloc[0] == 0
        assert (np.diff(g["eeg_label_offset_seconds"]) > 0).all()
    steps = df.groupby("eeg_id")["eeg_label_offset_seconds"].diff().dropna()
    assert (steps % 2 == 0).mean() > 0.6
    # the spectrogram window centre is the EEG window centre: a constant shift per recording
    shift = df["spectrogram_label_offset_seconds"] - df["eeg_label_offset_seconds"]
    assert (shift.groupby(df["eeg_id"]).nunique() == 1).all()
    assert (df["spectrogram_label_offset_seconds"] >= 0).all()


def test_test_and_submission_csv(dataset):
    test = pd.read_csv(dataset / "test.csv")
    sub = pd.read_csv(dataset / "sample_submission.csv")
    assert list(test.columns) == ["spectrogram_id", "eeg_id", "patient_id"]
    assert list(sub.columns) == ["eeg_id", *VOTE_COLUMNS]
    assert (sub["eeg_id"].to_numpy() == test["eeg_id"].to_numpy()).all()
    np.testing.assert_allclose(sub[list(VOTE_COLUMNS)].to_numpy(), 1 / 6)
    if REAL.is_dir():
        for name in ("test.csv", "sample_submission.csv"):
            real = pd.read_csv(REAL / name)
            mine = pd.read_csv(dataset / name)
            assert [str(t) for t in mine.dtypes] == [str(t) for t in real.dtypes]


def test_parquet_schema_matches_real_files(dataset):
    train = pd.read_csv(dataset / "train.csv")
    test = pd.read_csv(dataset / "test.csv")
    eeg = pq.read_schema(dataset / "train_eegs" / f"{train.eeg_id.iloc[0]}.parquet")
    spec = pq.read_schema(
        dataset / "train_spectrograms" / f"{train.spectrogram_id.iloc[0]}.parquet")
    tspec = pq.read_schema(
        dataset / "test_spectrograms" / f"{test.spectrogram_id.iloc[0]}.parquet")
    assert eeg.names == list(EEG_COLUMNS)
    assert all(str(t) == "float" for t in eeg.types)
    assert spec.names == ["time", *SPEC_COLUMNS] == tspec.names
    assert str(spec.field("time").type) == "int64"
    assert str(tspec.field("time").type) == "int16"
    assert all(str(t) == "float" for t in spec.types[1:])
    if REAL.is_dir():
        real = {p.parent.name: pq.read_schema(p) for p in REAL.glob("*/*.parquet")}
        assert eeg.remove_metadata().equals(real["train_eegs"].remove_metadata())
        assert spec.remove_metadata().equals(real["train_spectrograms"].remove_metadata())
        assert tspec.remove_metadata().equals(real["test_spectrograms"].remove_metadata())


def test_test_split_lengths(dataset):
    test = pd.read_csv(dataset / "test.csv")
    for _, r in test.iterrows():
        eeg = pq.read_table(dataset / "test_eegs" / f"{r.eeg_id}.parquet")
        spec = pq.read_table(dataset / "test_spectrograms" / f"{r.spectrogram_id}.parquet")
        assert eeg.num_rows == 50 * 200
        np.testing.assert_array_equal(spec.column("time").to_numpy(), np.arange(1, 600, 2))


def test_reader_reads_everything(dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = HMSDataset(dataset)
        ds.validate()
        eeg = ds.eeg_windows()
        spec = ds.spectrogram_windows()
        test = HMSDataset(dataset, split="test")
        test_eeg = test.eeg_windows()
        test_spec = test.spectrogram_windows()
    n = len(ds.labels)
    assert eeg.shape == (n, 20, 10_000) and spec.shape == (n, 300, 400)
    assert test_eeg.shape == (len(test.labels), 20, 10_000)
    assert test_spec.shape == (len(test.labels), 300, 400)
    # NaN only in rows whose truth lists a NaN gap
    truth = pd.read_csv(dataset / TRUTH_FILE).set_index("label_id")
    for d, w in ((ds, eeg), (test, test_eeg)):
        flagged = truth.loc[d.labels.label_id, "artifacts"].fillna("").str.contains("nan_gap")
        np.testing.assert_array_equal(np.isnan(w).any(axis=(1, 2)), flagged.to_numpy())
    assert np.isnan(eeg).mean() < 0.01
    targets = ds.targets()
    np.testing.assert_allclose(targets.sum(axis=1), 1)


def test_truth_file(dataset):
    truth = pd.read_csv(dataset / TRUTH_FILE)
    train = pd.read_csv(dataset / "train.csv")
    test = pd.read_csv(dataset / "test.csv")
    tr = truth[truth["split"] == "train"]
    te = truth[truth["split"] == "test"]
    assert list(tr["label_id"]) == list(train["label_id"])
    assert list(te["eeg_id"]) == list(test["eeg_id"]) == list(te["label_id"])
    p = truth[list(CLASSES)].to_numpy()
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-9)
    assert {"pattern", "side", "laterality", "intensity", "frequency_hz",
            "artifacts"} <= set(truth.columns)
    # synthetic_labels draws exactly the written tables
    tl, te_l, truth_l = synthetic_labels(6, 11, n_test=3)
    pd.testing.assert_frame_equal(tl, train, check_dtype=False)
    np.testing.assert_allclose(truth_l[list(CLASSES)].to_numpy(), p)


# ------------------------------------------------------------------ vote statistics
def test_vote_statistics_match_real_data():
    train, _, truth = synthetic_labels(300, seed=21, n_test=1)
    votes = train[list(VOTE_COLUMNS)].to_numpy(float)
    n = votes.sum(axis=1)
    y = votes / n[:, None]
    assert 5000 < len(y) < 7000  # about 20 rows per patient
    assert np.abs(y.mean(axis=0) - REAL_PRIOR).max() < 0.03
    assert abs((y == 1).any(axis=1).mean() - 0.557) < 0.06
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(y > 0, y * np.log(y), 0.0).sum(axis=1)
    assert abs(ent.mean() - 0.326) < 0.05
    assert 0.4 < (n <= 3).mean() < 0.7 and 0.25 < (n >= 10).mean() < 0.5
    assert n.min() >= 1 and n.max() <= 28
    # votes are multinomial draws from the truth: the vote prior follows the truth's mean, and
    # rows with many annotators are close to their truth
    p = truth.loc[truth["split"] == "train", list(CLASSES)].to_numpy()
    assert np.abs(y.mean(axis=0) - p.mean(axis=0)).max() < 0.015
    many = n >= 15
    assert np.abs(y[many] - p[many]).sum(axis=1).mean() < 0.35
    # several overlapping label rows per EEG, as in the real train.csv
    rows_per_eeg = train.groupby("eeg_id").size()
    assert 4 < rows_per_eeg.mean() < 8 and rows_per_eeg.max() <= 30


def test_truth_depends_on_visible_parameters():
    _, _, truth = synthetic_labels(150, seed=5, n_test=1)
    t = truth[(truth["split"] == "train") & (truth["pattern2"].fillna("") == "")]
    pd_rows = t[t["pattern"].isin(["lpd", "gpd"]) & (t["strength"] > 3)
                & (t["frequency_hz"] < 1.8)]
    lat = pd_rows["laterality"] > 0.7
    gen = pd_rows["laterality"] < 0.3
    assert (pd_rows.loc[lat, "lpd"] > pd_rows.loc[lat, "gpd"]).all()
    assert (pd_rows.loc[gen, "gpd"] > pd_rows.loc[gen, "lpd"]).all()
    # fainter patterns lean to "other"
    faint = t[t["pattern"].isin(["lrda", "grda", "lpd", "gpd"]) & (t["strength"] < 1.3)]
    assert len(faint) >= 10
    strong = t[t["pattern"].isin(["lrda", "grda", "lpd", "gpd"]) & (t["strength"] > 3)]
    assert faint["other"].mean() > 0.6 > 0.2 > strong["other"].mean()


# ------------------------------------------------------------------ signal properties
def test_lrda_is_lateralised(recordings):
    recs = _pick(recordings, "lrda", 5,
                 lambda r: r["main"]["lam"] > 0.8 and r["main"]["intensity"] > 2.5)
    for i, rec in enumerate(recs):
        x = _signal(rec, i)
        f0 = rec["main"]["freq"]
        left = _band_power(_pairs(x, LEFT_PAIRS), f0 - 0.4, f0 + 0.4).mean()
        right = _band_power(_pairs(x, RIGHT_PAIRS), f0 - 0.4, f0 + 0.4).mean()
        ratio = left / right if rec["main"]["side"] == "left" else right / left
        assert ratio > 2.0, (rec["eeg_id"], ratio)


def test_grda_is_symmetric_and_frontal(recordings):
    recs = _pick(recordings, "grda", 5,
                 lambda r: r["main"]["lam"] < 0.25 and r["main"]["intensity"] > 2.5)
    front = [("Fp1", "F7"), ("F7", "T3"), ("Fp1", "F3"), ("F3", "C3"),
             ("Fp2", "F8"), ("F8", "T4"), ("Fp2", "F4"), ("F4", "C4")]
    back = [("T3", "T5"), ("T5", "O1"), ("C3", "P3"), ("P3", "O1"),
            ("T4", "T6"), ("T6", "O2"), ("C4", "P4"), ("P4", "O2")]
    for i, rec in enumerate(recs):
        x = _signal(rec, i)
        f0 = rec["main"]["freq"]
        left = _band_power(_pairs(x, LEFT_PAIRS), f0 - 0.4, f0 + 0.4).mean()
        right = _band_power(_pairs(x, RIGHT_PAIRS), f0 - 0.4, f0 + 0.4).mean()
        assert 0.5 < left / right < 2.0, (rec["eeg_id"], left / right)
        anterior = _band_power(_pairs(x, front), f0 - 0.4, f0 + 0.4).mean()
        posterior = _band_power(_pairs(x, back), f0 - 0.4, f0 + 0.4).mean()
        assert anterior > 1.5 * posterior, (rec["eeg_id"], anterior / posterior)


def test_periodic_discharges_at_drawn_rate(recordings):
    recs = _pick(recordings, "lpd", 4, lambda r: r["main"]["intensity"] > 2.5
                 and r["main"]["lam"] > 0.7) + _pick(
        recordings, "gpd", 3, lambda r: r["main"]["intensity"] > 2.5)
    sos = butter(4, [2.0, 30.0], btype="band", fs=FS, output="sos")
    hits = 0
    for i, rec in enumerate(recs):
        x = _signal(rec, i)
        pairs = LEFT_PAIRS if rec["main"]["side"] == "left" else RIGHT_PAIRS
        env = np.abs(hilbert(sosfiltfilt(sos, _pairs(x, pairs), axis=-1), axis=-1)).mean(0)
        env = env - env.mean()
        spec = np.fft.rfft(env, n=2 * env.size)  # autocorrelation by Wiener-Khinchin
        ac = np.fft.irfft(np.abs(spec) ** 2)[: int(5 * FS)]
        ac /= ac[0]
        period = 1.0 / rec["main"]["freq"]
        lags = np.arange(ac.size) / FS
        window = (lags > 0.6 * period) & (lags < 1.4 * period)
        best = lags[window][np.argmax(ac[window])]
        hits += abs(best - period) < 0.1 * period and ac[window].max() > 0.2
    assert hits >= len(recs) - 1


def test_seizures_evolve(recordings):
    def freq(r, t):
        m = r["main"]
        return m["freq0"] + (m["freq1"] - m["freq0"]) * np.clip((t - m["onset"]) / m["evo"], 0, 1)

    recs = _pick(recordings, "seizure", 6, lambda r: r["main"]["onset"] < -2
                 and abs(freq(r, 39.0) - freq(r, 6.0)) > 1.0 and r["main"]["intensity"] > 2.0)
    hits = 0
    for i, rec in enumerate(recs):
        x = _signal(rec, i)
        car = x[:, :19] - x[:, :19].mean(axis=1, keepdims=True)
        a, b = car[: int(12 * FS)], car[int(33 * FS): int(45 * FS)]
        f, pa = welch(a.T, FS, nperseg=int(4 * FS))
        _, pb = welch(b.T, FS, nperseg=int(4 * FS))
        m = (f >= 0.75) & (f <= 12)
        peak_a = f[m][np.argmax(pa[:, m].sum(0))]
        peak_b = f[m][np.argmax(pb[:, m].sum(0))]
        rising = freq(rec, 39.0) > freq(rec, 6.0)
        amp_up = pb[:, m].sum() > 1.3 * pa[:, m].sum()
        hits += ((peak_b > peak_a) == rising and peak_a != peak_b) or amp_up
    assert hits >= len(recs) - 1


def test_artifacts_where_placed(recordings):
    def first(kind, cond=lambda e: True):
        for r in recordings:
            for e in r["artifacts"]:
                if e[0] == kind and cond(e) and e[1] < r["length_s"] - 5:
                    return r, e
        raise AssertionError(kind)

    # eye blink: positive frontal-polar deflection at its time, absent at O1
    rec, (_, a, b, ex) = first("blink", lambda e: e[3]["amp"] > 150)
    x = _signal(rec)
    i = int((a + 0.2) * FS)
    base = np.median(x[max(0, i - 400): i + 400], axis=0)
    assert x[i, CH["Fp1"]] - base[CH["Fp1"]] > 0.5 * ex["amp"]
    assert x[i, CH["Fp2"]] - base[CH["Fp2"]] > 0.5 * ex["amp"]
    # muscle: 20-90 Hz power on temporal channels rises during the burst
    rec, (_, a, b, ex) = first("muscle", lambda e: e[2] - e[1] > 1.5 and e[3]["amp"] > 25)
    x = _signal(rec)
    ch = CH["T3"] if ex["side"] != 1 else CH["T4"]
    emg = sosfiltfilt(butter(4, [25, 55], btype="band", fs=FS, output="sos"), x[:, ch])
    mid = slice(int((a + 0.3 * (b - a)) * FS), int((a + 0.7 * (b - a)) * FS))
    before = slice(max(0, int((a - 3) * FS)), int((a - 0.5) * FS))
    after = slice(int((b + 0.5) * FS), int((b + 3) * FS))
    quiet = before if a > 3 else after
    assert emg[mid].std() > 2 * emg[quiet].std()
    # electrode pop: a step at its time on its channel
    rec, (_, a, b, ex) = first("pop", lambda e: abs(e[3]["amp"]) > 200)
    x = _signal(rec)
    i = int(np.ceil(a * FS))
    jump = x[i + 1, ex["ch"]] - x[i - 3, ex["ch"]]
    assert np.sign(jump) == np.sign(ex["amp"]) and abs(jump) > 0.5 * abs(ex["amp"])
    # flat channel
    rec, (_, a, b, ex) = first("bad_channel", lambda e: e[3]["kind"] == "flat")
    x = _signal(rec)
    assert np.nanstd(x[:, ex["ch"]]) < 0.5 < np.nanstd(x[:, (ex["ch"] + 1) % 19])
    # NaN gap: all channels, exactly where placed
    rec, (_, a, b, ex) = first("nan_gap")
    x = _signal(rec)
    nan_rows = np.flatnonzero(np.isnan(x).all(axis=1))
    assert nan_rows[0] == int(a * FS) and np.isnan(x).any(axis=1).sum() == nan_rows.size


def test_ekg_heart_rate_and_amplitude(recordings):
    rec = next(r for r in recordings if r["length_s"] >= 60)
    x = _signal(rec)
    ekg = x[:, CH["EKG"]] - np.median(x[:, CH["EKG"]])
    peaks, _ = find_peaks(ekg, height=0.5 * ekg.max(), distance=int(0.3 * FS))
    bpm = 60.0 * FS / np.median(np.diff(peaks))
    assert abs(bpm - rec["patient"]["hr_bpm"]) < 0.05 * rec["patient"]["hr_bpm"]


def test_amplitudes_like_real_eeg(recordings):
    x = np.stack([_signal(r, i)[: 10_000] for i, r in enumerate(recordings[:12])])
    bip = np.stack([_pairs(xi, LEFT_PAIRS + RIGHT_PAIRS) for xi in x])
    med = np.nanmedian(np.nanstd(bip, axis=-1))
    assert 10 < med < 45  # µV; the real files in hms_mini: 14-23 µV median
    f, p = welch(np.nan_to_num(bip), FS, nperseg=400, axis=-1)
    line = p[..., (f >= 58) & (f <= 62)].sum(-1)
    neighbours = p[..., (f >= 50) & (f <= 56)].sum(-1)
    assert np.median(line) > 2 * np.median(neighbours)  # 60 Hz line noise
    if REAL.is_dir():
        real = pd.read_parquet(REAL / "test_eegs" / "3911565283.parquet")
        real_bip = _pairs(real[list(EEG_COLUMNS)].to_numpy(np.float64), LEFT_PAIRS)
        assert 0.3 < med / np.median(real_bip.std(axis=-1)) < 3


# ------------------------------------------------------------------ spectrograms
def test_spectrogram_aligned_with_eeg(dataset):
    train = pd.read_csv(dataset / "train.csv")
    row = train.iloc[0]
    eeg = pd.read_parquet(dataset / "train_eegs" / f"{row.eeg_id}.parquet")
    x = eeg[list(EEG_COLUMNS)].to_numpy(np.float64)
    spec = pd.read_parquet(dataset / "train_spectrograms" / f"{row.spectrogram_id}.parquet")
    # spectrogram time t is EEG time t - shift
    shift = row.spectrogram_label_offset_seconds + 300 - (row.eeg_label_offset_seconds + 25)
    time = spec["time"].to_numpy()
    assert (time % 2 == 1).all() and (np.diff(time) == 2).all() and time[0] == 1
    assert time[-1] >= row.spectrogram_label_offset_seconds + 600
    centres = ((time - shift) * FS).astype(int)
    inside = (centres >= 512) & (centres + 512 <= len(x)) & ~np.isnan(spec["LL_0.59"])
    assert inside.sum() >= 20
    win = get_window("hann", 1024, fftbins=False)
    ll = [("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1")]
    ref = []
    for c in centres[inside]:
        seg = _pairs(x[c - 512: c + 512], ll)
        seg = seg - seg.mean(axis=1, keepdims=True)
        ref.append(np.abs(np.fft.rfft(seg * win, axis=1))[:, 3:103].mean(0))
    ref = np.array(ref)
    mine = spec[[c for c in SPEC_COLUMNS if c.startswith("LL_")]].to_numpy()[inside]
    # equal up to a fixed per-frequency gain: the ratio is constant over time
    ratio = mine / ref
    assert np.median(np.abs(ratio / np.median(ratio, axis=0) - 1)) < 0.02
    # and misaligning by one step breaks that
    ratio_off = mine[1:] / ref[:-1]
    assert np.median(np.abs(ratio_off / np.median(ratio_off, axis=0) - 1)) > 0.1


def test_spectrogram_value_range_like_real(dataset):
    ds = HMSDataset(dataset)
    spec = ds.spectrogram_windows(ds.labels.iloc[:40])
    med = np.nanmedian(spec)
    assert 0.05 < med < 5 and np.nanpercentile(spec, 99) < 500 and np.nanmin(spec) >= 0
    if REAL.is_dir():
        real = pd.read_parquet(REAL / "train_spectrograms" / "353733.parquet")
        real_med = np.nanmedian(real[list(SPEC_COLUMNS)].to_numpy())
        assert 0.2 < med / real_med < 5
