"""Whole recordings end to end: scan (streamed, one read) -> events -> files -> evaluate, the
command line's messages and exit codes, and any recording into build_features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_features.build import HMSFeatureExtractor, build_features
from hms_features.cli import main
from hms_features.data import HMSError, read_eeg_parquet
from hms_features.event_scoring import evaluate
from hms_features.events import read_events
from hms_features.metrics import CLASSES
from hms_features.recording import recording_features, scan_file
from hms_features.signal import BIPOLAR_NAMES, EEG_COLUMNS, bipolar
from hms_features.synthetic_long import LONG_LABELS, make_long_recording

FAST = ["quality", "spectral", "temporal"]


def write_edf(path, data_uv, labels, fs):
    """An EDF of ``data_uv`` (channels, samples) µV at 0.1 µV resolution (edfio)."""
    import edfio

    lim = max(3276.7, float(np.abs(data_uv).max()) + 1)
    edfio.Edf([edfio.EdfSignal(np.asarray(x, np.float64), fs, label=lab,
                               physical_dimension="uV", physical_range=(-lim, lim))
               for x, lab in zip(data_uv, labels)]).write(path)
    return path


@pytest.fixture(scope="module")
def long_rec(tmp_path_factory):
    """15 min of synthetic 19-channel EEG (EDF) with one 70-90 s seizure at a known time."""
    out = tmp_path_factory.mktemp("long")
    return make_long_recording(out, hours=0.25, seed=3, seizures=1, patterns=0,
                               seizure_s=(70.0, 90.0), min_gap_s=200.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small model on a few families, trained on the synthetic Kaggle windows and saved."""
    from hms_features.data import HMSDataset
    from hms_features.models import make_hms_pipeline
    from hms_features.synthetic import make_synthetic_hms

    root = tmp_path_factory.mktemp("synth")
    make_synthetic_hms(root / "data", n_patients=6, seed=0, n_test=1, progress=False)
    ds = HMSDataset(root / "data")
    X = build_features(ds, FAST, n_jobs=1, progress=False)
    model = make_hms_pipeline(n_estimators=20, random_state=0, n_jobs=1)
    model.fit(X, ds.votes(ds.labels), groups=ds.labels["patient_id"].to_numpy())
    return model.save(root / "model")


# ------------------------------------------------------------------ scan + evaluate, end to end
def test_scan_then_evaluate_on_a_long_recording(long_rec, model_dir, tmp_path, monkeypatch,
                                                capsys):
    import mne
    from epilepsy2bids.annotations import Annotations

    monkeypatch.chdir(tmp_path)  # --out defaults to the current folder, not the recording's
    edf = long_rec["edf"]
    assert main(["scan", str(model_dir), str(edf), "--fif", "--reference",
                 str(long_rec["szcore_tsv"]), "--quiet"]) == 0
    stem = tmp_path / "sub-01_eeg_scan"
    df = pd.read_csv(f"{stem}.csv")
    assert list(df.columns) == ["start_s", "centre_s", *CLASSES]
    assert len(df) == (900 - 50) // 10 + 1
    np.testing.assert_allclose(df[list(CLASSES)].sum(axis=1), 1.0, atol=1e-5)
    detected = read_events(f"{stem}_events.tsv")
    # every written annotation file loads back, with the same events
    ann = mne.read_annotations(f"{stem}_annot.txt")
    np.testing.assert_allclose(ann.onset, detected["onset"], atol=1e-3)
    assert list(ann.description) == detected["trial_type"].tolist()
    raw = mne.io.read_raw_fif(f"{stem}_raw.fif", verbose="error")
    truth = mne.read_annotations(edf)  # the EDF+ annotations the recording came with
    assert len(raw.annotations) == len(truth) + len(detected)
    added = sorted(set(zip(np.round(raw.annotations.onset, 3), raw.annotations.description))
                   - set(zip(np.round(truth.onset, 3), truth.description)))
    assert [d for _, d in added] == detected["trial_type"].tolist()
    sz = Annotations.loadTsv(f"{stem}_sz.tsv")  # the SzCORE reader of epilepsy2bids
    assert sz.events[0]["recordingDuration"] == 900.0
    for f in ("png", "html"):
        assert (tmp_path / f"sub-01_eeg_scan.{f}").stat().st_size > 1000
    assert not list(edf.parent.glob("*_scan*"))  # nothing written beside the recording
    capsys.readouterr()
    # evaluate reads the formats scan wrote; duration from the SzCORE file
    out = tmp_path / "scores.csv"
    assert main(["evaluate", str(long_rec["szcore_tsv"]), f"{stem}_sz.tsv",
                 str(long_rec["events_tsv"]), f"{stem}_events.tsv", "--duration", "900",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "event_sensitivity" in printed and "pooled" in printed
    table = pd.read_csv(out)
    expected = evaluate([read_events(long_rec["szcore_tsv"]), read_events(long_rec["events_tsv"])],
                        [read_events(f"{stem}_sz.tsv"), detected], [900.0, 900.0],
                        recordings=["a", "b"])
    np.testing.assert_allclose(table["event_tp"], expected["event_tp"])
    np.testing.assert_allclose(table["event_fp_per_24h"], expected["event_fp_per_24h"])
    assert table["recording"].iloc[-1] == "pooled"


def test_scan_file_finds_the_seizure_of_a_long_recording(long_rec, tmp_path):
    """An oracle that knows the truth: each window's probability is 1 when its central 10 s
    lie inside the seizure. The scan must hand it every window once, in order, in batches,
    and turn its answers into the one true event and perfect scores."""
    truth = long_rec["events"].iloc[0]
    a, b = truth["onset"], truth["onset"] + truth["duration"]
    shapes = []

    def predict(windows):
        k0 = sum(s[0] for s in shapes)
        shapes.append(windows.shape)
        centre = 25.0 + 10.0 * np.arange(k0, k0 + len(windows))
        p = np.zeros((len(windows), len(CLASSES)))
        p[:, 0] = (centre - 5 >= a) & (centre + 5 <= b)
        p[:, -1] = 1 - p[:, 0]
        return p

    res = scan_file(long_rec["edf"], predict, tmp_path, block_s=200)
    assert sum(s[0] for s in shapes) == len(res.proba) == 86 and res.duration_s == 900.0
    assert max(s[0] for s in shapes) <= 64 and all(s[1:] == (20, 10000) for s in shapes)
    np.testing.assert_array_equal(res.proba["centre_s"], 25.0 + 10.0 * np.arange(86))
    sz = res.events[res.events["trial_type"] == "seizure"]
    assert len(sz) == 1 and len(res.events) == 1
    inside = res.proba.loc[res.proba["seizure"] == 1, "centre_s"]
    assert sz["onset"].iloc[0] == inside.min() - 5
    assert sz["duration"].iloc[0] == inside.max() - inside.min() + 10
    back = read_events(res.files["szcore_tsv"])
    np.testing.assert_allclose(back[["onset", "duration"]], sz[["onset", "duration"]])
    scores = evaluate(long_rec["events"], back, 900.0)
    assert scores["event_sensitivity"].iloc[0] == 1.0 and scores["event_fp"].iloc[0] == 0


def test_streaming_blocks_give_the_features_of_the_whole_recording(long_rec):
    # one block (the whole 900 s recording preprocessed at once, like build_features' dataset
    # path) against 100 s blocks with 10 s of context on each side of their windows
    whole = recording_features(long_rec["edf"], FAST, block_s=1000)
    blocks = recording_features(long_rec["edf"], FAST, block_s=100)
    assert whole.shape == blocks.shape == (86, len(whole.columns))
    np.testing.assert_array_equal(whole.index, blocks.index)
    rel = np.abs(whole - blocks) / (np.abs(whole) + 1e-3)
    assert np.median(rel.to_numpy()) < 1e-4
    assert np.quantile(rel.to_numpy(), 0.99) < 0.02
    assert whole.attrs["preprocess"]["clip_uv"] == 1024.0


def test_window_length_and_clip_level_are_parameters(long_rec):
    short = recording_features(long_rec["edf"], ["quality", "spectral"], window_s=30.0,
                               step_s=30.0, preprocess_kwargs={"clip_uv": 20.0})
    assert len(short) == 30 and short.attrs["window_s"] == 30.0
    assert all(not c.endswith("_50s") for c in short.columns)
    assert "spectral_logpower_total_LL_30s" in short.columns or any(
        c.endswith("_30s") for c in short.columns)
    assert short.attrs["preprocess"]["clip_uv"] == 20.0
    clipped = short.filter(like="quality_clippedfraction").iloc[:, 0]
    assert (clipped > 0).all()  # a 20 µV clip cuts every window of a ~50 µV EEG


# ------------------------------------------------------------------ messages and exit codes
def _short_edf(tmp_path, name, *, fs=200, seconds=120, labels=None, ekg=True):
    rng = np.random.default_rng(0)
    labels = list(labels or (LONG_LABELS if ekg else LONG_LABELS[:-1]))
    data = rng.normal(0, 20, (len(labels), int(fs * seconds)))
    return write_edf(tmp_path / name, data, labels, fs)


def test_scan_warns_once_per_problem_in_one_line(model_dir, tmp_path, capsys):
    edf = _short_edf(tmp_path, "no_ekg.edf", seconds=700, ekg=False)  # two 600 s blocks
    assert main(["scan", str(model_dir), str(edf), "--out", str(tmp_path / "o"), "--quiet",
                 "--no-plot"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hms-features: {edf}: no EKG/ECG channel (EKG set to zeros)"]


def test_scan_of_a_partial_recording_reports_what_is_dropped(model_dir, tmp_path, capsys):
    left = [lab for lab in LONG_LABELS if any(f" {c}-" in lab for c in
                                              ("Fp1", "F7", "T3", "T5", "O1", "F3", "C3", "P3"))]
    edf = _short_edf(tmp_path, "left.edf", labels=left)
    out = tmp_path / "scan.csv"
    assert main(["scan", str(model_dir), str(edf), "--out", str(out), "--quiet",
                 "--no-plot"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no EKG/ECG channel" in err[0]
    assert err[1].startswith(f"hms-features: {edf}: derivation(s) Fp2-F4, ")
    assert "missing electrode(s) Fp2, F4, C4, P4, O2, F8, T4, T6, Fz, Cz, Pz)" in err[1]
    df = pd.read_csv(out)
    assert len(df) == (120 - 50) // 10 + 1
    np.testing.assert_allclose(df[list(CLASSES)].sum(axis=1), 1.0, atol=1e-5)
    feats = recording_features(edf, FAST)
    assert feats.attrs["dropped_derivations"] == list(BIPOLAR_NAMES[8:])
    assert feats.filter(like="_RP_").isna().all().all()
    assert np.isfinite(feats.filter(like="_LP_").to_numpy()).all()


@pytest.mark.parametrize("case, expected", [
    ("names", "no_names.edf: no double-banana derivation can be built; missing electrode(s) "
              "Fp1"),
    ("short", "short.edf: the recording lasts 30 s, shorter than one 50 s window"),
    ("slow", "slow.edf: sampling rate 64 Hz is below 100 Hz"),
    ("window", "--window-s 30: the model was trained on 50 s windows"),
])
def test_scan_bad_inputs_exit_2_with_one_line(model_dir, tmp_path, capsys, case, expected):
    extra = []
    if case == "names":
        edf = _short_edf(tmp_path, "no_names.edf", labels=[f"X{i}" for i in range(20)])
    elif case == "short":
        edf = _short_edf(tmp_path, "short.edf", seconds=30)
    elif case == "slow":
        edf = _short_edf(tmp_path, "slow.edf", fs=64)
    else:
        edf = _short_edf(tmp_path, "ok.edf")
        extra = ["--window-s", "30"]
    assert main(["scan", str(model_dir), str(edf), "--out", str(tmp_path), "--quiet",
                 *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_evaluate_bad_inputs_exit_2(tmp_path, capsys, long_rec):
    empty = tmp_path / "empty_events.tsv"
    empty.write_text("")
    assert main(["evaluate", str(long_rec["szcore_tsv"]), str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty_events.tsv: empty annotation file" in err[0]
    assert main(["evaluate", str(long_rec["events_tsv"]), str(long_rec["events_tsv"])]) == 2
    assert "give --duration" in capsys.readouterr().err
    assert main(["evaluate", str(long_rec["events_tsv"])]) == 2
    assert "pairs" in capsys.readouterr().err


# ------------------------------------------------------------------ any recording in
@pytest.fixture(scope="module")
def real(hms_mini):
    """The first 60 s of a real HMS recording, (20, 12000) float32 µV at 200 Hz."""
    eeg = read_eeg_parquet(hms_mini / "train_eegs" / "1628180742.parquet").T[:, :12000]
    return np.ascontiguousarray(eeg)


def _raw(eeg, fs=200.0):
    import mne

    info = mne.create_info([f"EEG {c}-REF" for c in EEG_COLUMNS[:19]] + ["ECG"], fs,
                           ["eeg"] * 19 + ["ecg"])
    return mne.io.RawArray(eeg.astype(np.float64) * 1e-6, info, verbose="error")


def test_build_features_takes_raw_epochs_files_and_named_arrays(real, tmp_path):
    import mne

    ref = build_features(real[None], FAST, n_jobs=1, progress=False)
    raw = _raw(real)
    named = {"eeg": real[[19] + list(range(19))], "sfreq": 200.0,
             "ch_names": ["EKG"] + [c.lower() for c in EEG_COLUMNS[:19]]}
    for data in (raw, named):
        got = build_features(data, FAST, n_jobs=1, progress=False)
        assert list(got.columns) == [c.replace("_50s", "_60s") for c in ref.columns]
        np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-4, atol=1e-4)
    # FIF written and read back: float32 storage
    fif = tmp_path / "rec_raw.fif"
    raw.save(fif, verbose="error")
    got = build_features(fif, FAST, n_jobs=1, progress=False)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-3, atol=1e-3)
    # Epochs: one row per epoch, equal to the array path on the same 20 s windows
    epochs = mne.make_fixed_length_epochs(raw, duration=20.0, preload=True, verbose="error")
    got = build_features(epochs, FAST, n_jobs=1, progress=False)
    windows = real.reshape(20, 3, 4000).transpose(1, 0, 2)
    arr = build_features(np.ascontiguousarray(windows), FAST, n_jobs=1, progress=False)
    assert len(got) == 3 and all(c.endswith(("_20s", "_10s")) for c in got.columns)
    np.testing.assert_allclose(got.to_numpy(), arr.to_numpy(), rtol=1e-4, atol=1e-4)
    ext = HMSFeatureExtractor(feature_set=FAST).fit(raw)
    np.testing.assert_allclose(ext.transform(raw), build_features(raw, FAST, n_jobs=1,
                                                                  progress=False).to_numpy())


def test_build_features_edf_at_another_rate(real, tmp_path):
    # the real EEG written as EDF at 200 Hz: the same features to the EDF's 0.1 µV quantisation
    edf = write_edf(tmp_path / "real.edf", real.astype(np.float64), LONG_LABELS, 200)
    ref = build_features(real[None], FAST, n_jobs=1, progress=False)
    got = build_features(edf, FAST, n_jobs=1, progress=False)
    rel = ((got - ref).abs() / (ref.abs() + 1e-3)).to_numpy()[0]  # see the bipolar test
    assert np.median(rel) < 2e-4
    counts = got.columns.str.contains("zerocross|spike")
    assert rel[~counts].max() < 0.015 and rel[counts].max() < 0.03
    with pytest.raises(HMSError, match="below 100 Hz"):
        build_features({"eeg": real[:, :2000], "ch_names": EEG_COLUMNS, "sfreq": 50.0},
                       FAST, n_jobs=1, progress=False)


def test_scan_kaggle_parquet_writes_the_annotated_fif(hms_mini, tmp_path):
    import mne

    path = hms_mini / "train_eegs" / "1628180742.parquet"
    n = len(read_eeg_parquet(path))

    def predict(windows):
        p = np.zeros((len(windows), len(CLASSES)))
        p[:, 2] = 1.0  # gpd everywhere: one event over the whole scan
        return p

    res = scan_file(path, predict, tmp_path, step_s=5.0, plot=False)
    assert len(res.proba) == (n // 200 - 50) // 5 + 1
    assert res.events[["onset", "trial_type"]].values.tolist() == [[22.5, "gpd"]]
    res = scan_file(path, predict, tmp_path, step_s=5.0, plot=False, fif=True)
    raw = mne.io.read_raw_fif(res.files["fif"], preload=True, verbose="error")
    assert raw.ch_names == list(EEG_COLUMNS) and raw.n_times == n
    np.testing.assert_allclose(raw.get_data()[0] * 1e6, read_eeg_parquet(path)[:, 0],
                               rtol=1e-5, atol=1e-3)
    assert list(raw.annotations.description) == ["gpd"]


#: CHB-MIT's bipolar labels (modern names T7/P7/T8/P8) in BIPOLAR_NAMES order.
CHB_LABELS = [n.upper().replace("T3", "T7").replace("T5", "P7").replace("T4", "T8")
              .replace("T6", "P8") for n in BIPOLAR_NAMES]


def test_bipolar_edf_gives_the_features_of_the_referential_recording(real, tmp_path):
    from hms_features.montage import referential

    # the real EEG as a CHB-MIT-style bipolar EDF (18 derivations + ECG), 0.1 µV resolution
    edf = write_edf(tmp_path / "chb.edf", np.vstack([bipolar(real.astype(np.float64)),
                                                    real[-1:]]), CHB_LABELS + ["ECG"], 200)
    ref = build_features(real[None], FAST, n_jobs=1, progress=False)
    with pytest.warns(UserWarning, match="bipolar montage"):
        got = build_features(edf, FAST, n_jobs=1, progress=False)
    # to the EDF's quantisation: ~1e-4 relative for most columns; up to 1 % for the weakest
    # band (low gamma, past the 40 Hz low-pass), skewness and kurtosis; a count (spikes, zero
    # crossings) may move by one
    rel = ((got - ref).abs() / (ref.abs() + 1e-3)).to_numpy()[0]
    assert np.median(rel) < 2e-4
    counts = got.columns.str.contains("zerocross|spike")
    assert rel[~counts].max() < 0.015 and rel[counts].max() < 0.03
    # the reconstruction's double banana is the recorded one
    d = bipolar(real.astype(np.float64))
    eeg, notes, present = referential(np.vstack([d, real[-1:]]), CHB_LABELS + ["ECG"])
    assert present.all()
    np.testing.assert_allclose(bipolar(eeg.astype(np.float64)), d, atol=1e-3)
    np.testing.assert_array_equal(eeg[-1], real[-1])
    assert notes == ["bipolar montage (scalp electrodes reconstructed from the derivations; "
                     "the features read the derivations)"]
    # an inconsistent montage is said so
    d2 = d.copy()
    d2[0] += 100.0 * np.sin(np.arange(d.shape[1]) / 7)
    _, notes, _ = referential(d2, CHB_LABELS)
    assert any("not consistent" in n for n in notes) and any("no EKG" in n for n in notes)


def _chain_copies(real, derivations):
    """A full 20-channel recording whose LL chain repeats ``derivations`` (Fp1-F7, F7-T3, ...
    in turn), the other channels as in ``real``: its LL and L features average exactly the
    derivations given, the independent reference of a recording that has only those."""
    x = real.astype(np.float64).copy()
    chain = [EEG_COLUMNS.index(c) for c in ("Fp1", "F7", "T3", "T5", "O1")]
    for k in range(4):
        x[chain[k + 1]] = x[chain[k]] - derivations[k % len(derivations)]
    return x.astype(np.float32)


def test_partial_recordings_report_dropped_derivations_and_average_what_exists(real):
    fp1, f7, t3 = (real[EEG_COLUMNS.index(c)].astype(np.float64) for c in ("Fp1", "F7", "T3"))
    three = {"eeg": np.stack([fp1, f7, t3]), "ch_names": ["Fp1", "F7", "T7"], "sfreq": 200.0}
    with pytest.warns(UserWarning, match=r"array: derivation\(s\) T3-T5, .* cannot be built"):
        got = build_features(three, FAST, n_jobs=1, progress=False)
    assert got.attrs["dropped_derivations"] == [n for n in BIPOLAR_NAMES
                                                if n not in ("Fp1-F7", "F7-T3")]
    ref = build_features(_chain_copies(real, [fp1 - f7, f7 - t3])[None], FAST, n_jobs=1,
                         progress=False)
    ll = [c for c in got.columns if "_LL_" in c]
    np.testing.assert_allclose(got[ll], ref[ll], rtol=1e-4, atol=1e-4)
    left = [c.replace("_LL_", "_L_") for c in ll]  # the left hemisphere has only LL's two
    np.testing.assert_array_equal(got[left].to_numpy(), got[ll].to_numpy())
    empty = [c for c in got.columns if any(f"_{g}_" in c for g in ("LP", "RP", "RL", "C", "R"))]
    assert empty and got[empty].isna().all().all()  # no derivation: missing, never zeros
    # one bipolar channel: the per-derivation features of that derivation
    one = {"eeg": (fp1 - f7)[None], "ch_names": ["EEG FP1-F7"], "sfreq": 200.0}
    with pytest.warns(UserWarning, match="cannot be built"):
        got = build_features(one, FAST, n_jobs=1, progress=False)
    assert len(got.attrs["dropped_derivations"]) == 17
    ref = build_features(_chain_copies(real, [fp1 - f7])[None], FAST, n_jobs=1, progress=False)
    np.testing.assert_allclose(got[ll], ref[ll], rtol=1e-4, atol=1e-4)
    assert got[empty].isna().all().all()


def test_evaluate_reads_files_and_takes_the_szcore_duration(long_rec):
    by_files = evaluate(long_rec["szcore_tsv"], long_rec["events_tsv"])
    by_frames = evaluate(read_events(long_rec["szcore_tsv"]), long_rec["events"], 900.0)
    pd.testing.assert_frame_equal(by_files, by_frames)
    assert by_files["event_sensitivity"].iloc[0] == 1.0 and by_files["event_fp"].iloc[0] == 0
    pooled = evaluate([long_rec["szcore_tsv"]] * 2, [long_rec["events_tsv"]] * 2,
                      recordings=["a", "b"])
    assert pooled["recording"].tolist() == ["a", "b", "pooled"]
    assert pooled["duration_s"].tolist() == [900.0, 900.0, 1800.0]
    with pytest.raises(ValueError, match="duration is unknown"):
        evaluate(long_rec["events_tsv"], long_rec["events_tsv"])


def test_streaming_memory_is_bounded_by_the_block_not_the_recording(long_rec):
    import tracemalloc

    def peak(block_s):
        tracemalloc.start()
        try:
            recording_features(long_rec["edf"], ["quality", "spectral"], block_s=block_s,
                               batch_size=8)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, blocks = peak(1000.0), peak(100.0)  # the 900 s file at once / in 100 s blocks
    # the whole recording as float64 (20 x 180,000 samples) is 29 MB; its filtering several
    # times that. Blocks hold 160 s at a time.
    assert whole > 100e6 and blocks < 0.4 * whole, (whole, blocks)


def test_scan_spectrogram_of_a_partial_recording_is_nan_for_chains_not_whole(tmp_path):
    left = [lab for lab in LONG_LABELS if any(f" {c}-" in lab for c in
                                              ("Fp1", "F7", "T3", "T5", "O1", "F3", "C3", "P3"))]
    edf = _short_edf(tmp_path, "left.edf", labels=left)
    with pytest.warns(UserWarning, match="cannot be built"):
        f = recording_features(edf, ["spectrogram"])
    for chain in ("LL", "LP"):  # whole: the EEG-computed spectrogram of that chain
        assert np.isfinite(f.filter(like=f"_{chain}_").to_numpy()).all()
    for chain in ("RL", "RP"):  # no derivation: missing, not the spectrogram of zeros
        assert np.isnan(f.filter(like=f"_{chain}_").to_numpy()).all()
