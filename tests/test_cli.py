"""The hms-features command, end to end on a tiny synthetic dataset and on the real hms_mini."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hms_features.cli import main
from hms_features.data import VOTE_COLUMNS, HMSDataset
from hms_features.metrics import CLASSES
from hms_features.models import load

FAST = ["--feature-set", "spectral,temporal,spectrogram", "--n-jobs", "1", "--quiet"]
JOBS = ["--n-jobs", "1", "--quiet"]  # predict: the feature set is the one the model records
MODEL = ["--n-estimators", "30", "--learning-rate", "0.1"]  # the demo's rate: train = demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--out", str(out), "--patients", "6", "--folds", "3", *FAST, *MODEL])
    assert code == 0
    return out


@pytest.mark.slow
def test_demo_writes_everything(demo, capsys):
    ds = HMSDataset(demo / "data")
    sub = pd.read_csv(demo / "submission.csv")
    sample = pd.read_csv(demo / "data" / "sample_submission.csv")
    assert sub["eeg_id"].tolist() == sample["eeg_id"].tolist()
    assert list(sub.columns) == list(sample.columns)
    np.testing.assert_allclose(sub.iloc[:, 1:].sum(axis=1), 1.0, rtol=1e-12)
    oof = pd.read_csv(demo / "cv" / "oof.csv")
    assert oof["label_id"].tolist() == ds.labels["label_id"].tolist()
    # no patient in two folds
    assert (oof.groupby("patient_id")["fold"].nunique() == 1).all()
    summary = json.loads((demo / "cv" / "cv.json").read_text())
    assert len(summary["fold_kl"]) == 3 and np.isfinite(summary["fold_kl"]).all()
    html = (demo / "report" / "report.html").read_text()
    assert "<img" in html and (demo / "report" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert (demo / "model" / "manifest.json").is_file()


def test_demo_prints_the_kl_table_once_and_round_bars(demo, tmp_path, capsys):
    out = tmp_path / "demo"
    shutil.copytree(demo, out)  # reuses the dataset and the cached features
    fast = [a for a in FAST if a != "--quiet"]
    assert main(["demo", "--out", str(out), "--folds", "3", *fast, *MODEL]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("model (out-of-fold)") == 1
    assert "oracle (true distributions)" in captured.out
    # tqdm bars of the boosting rounds, inside the folds and in the final training
    assert "fold: boosting rounds" in captured.err and "training: boosting rounds" in captured.err


def test_features_and_cv_from_a_table(demo, tmp_path):
    table = tmp_path / "f.parquet"
    code = main(["features", str(demo / "data"), "--out", str(table), "--cache-dir", "", *FAST])
    assert code == 0
    df = pd.read_parquet(table)
    ds = HMSDataset(demo / "data")
    assert df.index.name == "label_id" and len(df) == len(ds.labels)
    assert np.isfinite(df.to_numpy()).all()
    cv = tmp_path / "cv"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(cv),
                 "--folds", "3", *FAST, *MODEL]) == 0
    oof = pd.read_csv(cv / "oof.csv")
    # the same table and folds as the demo's cv give the same out-of-fold predictions
    ref = pd.read_csv(demo / "cv" / "oof.csv")
    np.testing.assert_allclose(oof[list(CLASSES)], ref[list(CLASSES)], rtol=1e-6, atol=1e-9)


def test_train_predict_round_trip(demo, tmp_path):
    model = tmp_path / "m"
    assert main(["train", str(demo / "data"), "--out", str(model), *FAST, *MODEL,
                 "--cache-dir", str(demo / "cache")]) == 0
    out = tmp_path / "sub.csv"
    assert main(["predict", str(model), str(demo / "data"), "--out", str(out), *JOBS,
                 "--cache-dir", ""]) == 0
    ref = pd.read_csv(demo / "submission.csv")
    np.testing.assert_allclose(pd.read_csv(out).iloc[:, 1:], ref.iloc[:, 1:], rtol=1e-6)


def test_model_trained_in_python_predicts_from_the_command_line(demo, tmp_path):
    # the README's quick start with the settings the demo's CLI used gives the CLI's model
    from hms_features import build_features, make_hms_pipeline, vote_weights

    ds = HMSDataset(demo / "data")
    X = build_features(ds, ["spectral", "temporal", "spectrogram"], n_jobs=1, progress=False)
    votes = ds.votes()
    model = make_hms_pipeline(n_estimators=30, learning_rate=0.1, random_state=0, n_jobs=1)
    model.fit(X, votes, sample_weight=vote_weights(votes), groups=ds.labels["patient_id"])
    model.save(tmp_path / "py")
    out = tmp_path / "sub.csv"
    assert main(["predict", str(tmp_path / "py"), str(demo / "data"), "--out", str(out), *JOBS,
                 "--cache-dir", ""]) == 0
    sub = pd.read_csv(out)
    np.testing.assert_allclose(sub.iloc[:, 1:], pd.read_csv(demo / "submission.csv").iloc[:, 1:],
                               rtol=1e-9, atol=1e-12)
    test = HMSDataset(demo / "data", "test")
    proba = model.predict_proba(model.feature_table(test, n_jobs=1, progress=False))
    assert sub["eeg_id"].tolist() == test.labels["eeg_id"].tolist()
    np.testing.assert_allclose(sub[list(VOTE_COLUMNS)], proba, rtol=1e-9, atol=1e-12)


def test_model_trained_from_the_command_line_predicts_in_python(demo):
    model = load(demo / "model")  # written by hms-features train inside the demo
    assert model.input_spec() == {
        "feature_set": ["spectral", "temporal", "spectrogram"],
        "families": ["spectral", "temporal", "spectrogram"], "spectrogram": True,
        "sequence": None, "n_features": model.steps[-1][1].n_features_in_,
        "preprocess": {"l_freq": 0.5, "h_freq": 40.0, "notch": 60.0, "order": 4,
                       "clip_uv": 1024.0, "max_gap_s": 1.0, "flat_uv": 1e-3}}
    test = HMSDataset(demo / "data", "test")
    X = model.feature_table(test, n_jobs=1, progress=False)
    sub = pd.read_csv(demo / "submission.csv")
    assert sub["eeg_id"].tolist() == test.labels["eeg_id"].tolist()
    np.testing.assert_allclose(sub[list(VOTE_COLUMNS)], model.predict_proba(X), rtol=1e-9,
                               atol=1e-12)
    # arrays without the spectrogram the model needs: the message says so
    with pytest.raises(ValueError, match="pass spectrogram windows"):
        model.feature_table(test.eeg_windows(), n_jobs=1, progress=False)


@pytest.mark.slow
def test_lstm_and_mlp_embedders_from_the_command_line(demo, tmp_path, capsys):
    # --embedders lstm adds the opt-in seq family (the LSTM's 10 x 5 s input sequence) to the
    # computed features; train records it, so predict recomputes the same columns
    model = tmp_path / "m"
    assert main(["train", str(demo / "data"), "--out", str(model), *FAST, *MODEL,
                 "--cache-dir", "", "--embedders", "mlp,lstm"]) == 0
    inputs = json.loads((model / "manifest.json").read_text())["inputs"]
    assert inputs["families"] == ["spectral", "temporal", "spectrogram", "seq"]
    assert inputs["sequence"] == {"prefix": "seq_", "n_steps": 10, "n_per_step": 30}
    assert inputs["spectrogram"] is True
    pipe = load(model)
    union = pipe.named_steps["embed"]
    assert [n for n, _ in union.embedders_] == ["mlp", "lstm"]
    assert dict(union.embedders_)["lstm"].n_steps == 10
    assert union.columns["mlp"] == {"exclude_prefix": "seq_"}
    mlp_inputs = dict(union.embedders_)["mlp"].feature_names_in_
    assert len(mlp_inputs) > 0 and not any(c.startswith("seq_") for c in mlp_inputs)
    out = tmp_path / "sub.csv"
    assert main(["predict", str(model), str(demo / "data"), "--out", str(out), *JOBS,
                 "--cache-dir", ""]) == 0
    np.testing.assert_allclose(pd.read_csv(out).iloc[:, 1:].sum(axis=1), 1.0, rtol=1e-9)
    # a precomputed table without the sequence columns is bad input, with the fix in the message
    table = tmp_path / "f.parquet"
    assert main(["features", str(demo / "data"), "--out", str(table), "--cache-dir", "",
                 *FAST]) == 0
    capsys.readouterr()
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out",
                 str(tmp_path / "cv"), "--folds", "3", "--embedders", "lstm", *FAST,
                 *MODEL]) == 2
    assert "--feature-set default,seq" in capsys.readouterr().err
    # ... and the advice works: a table with the seq columns feeds the LSTM
    assert main(["features", str(demo / "data"), "--out", str(table), "--cache-dir", "",
                 *FAST[:1], FAST[1] + ",seq", *FAST[2:]]) == 0
    assert any(c.startswith("seq_") for c in pd.read_parquet(table).columns)
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out",
                 str(tmp_path / "cv"), "--folds", "3", "--embedders", "lstm", *FAST,
                 *MODEL]) == 0


def test_seed_makes_embedder_training_repeatable(demo, tmp_path):
    subs = []
    for k in range(2):
        model = tmp_path / f"m{k}"
        assert main(["train", str(demo / "data"), "--out", str(model), *FAST, *MODEL,
                     "--cache-dir", str(demo / "cache"), "--embedders", "mlp",
                     "--seed", "3"]) == 0
        out = tmp_path / f"sub{k}.csv"
        assert main(["predict", str(model), str(demo / "data"), "--out", str(out), *JOBS,
                     "--cache-dir", ""]) == 0
        subs.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(subs[0], subs[1])


def test_predict_on_real_test_split(demo, hms_mini, tmp_path):
    out = tmp_path / "submission.csv"
    assert main(["predict", str(demo / "model"), str(hms_mini), "--out", str(out), *JOBS,
                 "--cache-dir", ""]) == 0
    sub = pd.read_csv(out)
    assert sub["eeg_id"].tolist() == [3911565283]
    assert sub.iloc[0, 1:].sum() == pytest.approx(1.0)


def test_features_on_real_train_split(hms_mini, tmp_path):
    out = tmp_path / "f.parquet"
    assert main(["features", str(hms_mini), "--out", str(out), "--cache-dir", "", *FAST]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 9 and np.isfinite(df.to_numpy()).all()


def test_cv_on_one_patient_is_bad_input(hms_mini, tmp_path, capsys):
    code = main(["cv", str(hms_mini), "--out", str(tmp_path / "cv"), *FAST, "--cache-dir", ""])
    assert code == 2
    assert "n_splits=5" in capsys.readouterr().err


def test_report_from_cv_folder(demo, tmp_path):
    out = tmp_path / "rep"
    assert main(["report", str(demo / "cv"), "--out", str(out), "--model-dir",
                 str(demo / "model"), "--examples", "1", "--quiet"]) == 0
    assert (out / "importances.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "eeg_window_0.png").is_file()


def test_scan_whole_recording(demo, tmp_path):
    ds = HMSDataset(demo / "data")
    eeg_id = ds.labels["eeg_id"].iloc[0]
    rec = tmp_path / "rec.parquet"
    shutil.copy(ds.eeg_path(eeg_id), rec)
    n_s = len(ds.read_eeg_parquet(eeg_id)) / 200
    out = tmp_path / "scan.csv"
    assert main(["scan", str(demo / "model"), str(rec), "--step", "5", "--out", str(out),
                 "--quiet"]) == 0
    df = pd.read_csv(out)
    assert len(df) == int((n_s - 50) // 5) + 1
    np.testing.assert_allclose(df[list(CLASSES)].sum(axis=1), 1.0, atol=1e-5)  # 6 digits in CSV
    assert out.with_suffix(".png").is_file()


# ---------------------------------------------------------------------------- bad input


def test_missing_folder_and_existing_output(tmp_path, demo, capsys):
    assert main(["features", str(tmp_path / "nope"), "--out", str(tmp_path / "f.parquet")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["synth", "--out", str(demo / "data"), "--patients", "2", "--quiet"]) == 2
    assert "data" in capsys.readouterr().err


def test_wrong_file_type_for_scan(demo, tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not an EEG")
    assert main(["scan", str(demo / "model"), str(bad), "--quiet"]) == 2
    assert "notes.txt" in capsys.readouterr().err


def test_scan_recording_missing_channels(demo, tmp_path, capsys):
    ds = HMSDataset(demo / "data")
    rec = tmp_path / "short.parquet"
    ds_eeg = pd.read_parquet(ds.eeg_path(ds.labels["eeg_id"].iloc[0]))
    ds_eeg.drop(columns=["O1", "O2"]).to_parquet(rec, index=False)
    assert main(["scan", str(demo / "model"), str(rec), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "O1" in err and "short.parquet" in err


def test_tampered_model_manifest(demo, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(demo / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["kind"] = "os.system"
    (model / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", str(model), str(demo / "data"), "--out", str(tmp_path / "s.csv"),
                 *JOBS, "--cache-dir", ""]) == 2
    assert "manifest" in capsys.readouterr().err


def test_unexpected_failure_exits_1(monkeypatch, demo, tmp_path):
    import hms_features.cli as cli

    def boom(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run_cv", boom)
    assert main(["cv", str(demo / "data"), "--out", str(tmp_path)]) == 1


def test_help_on_every_subcommand(capsys):
    for cmd in ["demo", "synth", "validate", "features", "cv", "train", "predict", "report",
                "scan", "blend"]:
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
    assert VOTE_COLUMNS[0] == "seizure_vote"


# ---------------------------------------------------------------- library pieces the CLI calls


def test_vote_weights_and_kl_table():
    from hms_features.data import vote_weights
    from hms_features.metrics import kl_table

    votes = np.array([[1, 0, 0, 0, 0, 0], [3, 3, 3, 3, 3, 0], [0, 2, 0, 0, 0, 2]], float)
    np.testing.assert_allclose(vote_weights(votes), [0.1, 1.0, 0.4])
    np.testing.assert_allclose(vote_weights(votes, cap=2), [0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \(n_rows, 6\)"):
        vote_weights(votes[:, :5])
    y = votes / votes.sum(axis=1, keepdims=True)
    t = kl_table(votes, {"truth": y})
    assert list(t.index) == ["uniform", "class prior (in-sample)", "truth"]
    assert list(t.columns) == ["KL", "KL >=10 votes", "KL <10 votes"]
    # hand-computed: KL(y || uniform) = ln 6 - H(y); H = 0, ln 5, ln 2 for the three rows
    ln = np.log
    expect = ln(6) - np.array([0, ln(5), ln(2)])
    assert t.loc["uniform", "KL"] == pytest.approx(expect.mean(), rel=1e-12)
    assert t.loc["uniform", "KL >=10 votes"] == pytest.approx(expect[1], rel=1e-12)
    assert t.loc["uniform", "KL <10 votes"] == pytest.approx(expect[[0, 2]].mean(), rel=1e-12)
    assert t.loc["truth", "KL"] == pytest.approx(0.0, abs=1e-12)


def test_recording_spectrogram_rows():
    from hms_features.recording import recording_spectrogram
    from hms_features.signal import eeg_to_spectrogram

    rng = np.random.default_rng(0)
    eeg = rng.normal(scale=20, size=(20, 100 * 200)).astype(np.float32)  # 100 s at 200 Hz
    time_s, values = recording_spectrogram(eeg, 200.0)
    np.testing.assert_array_equal(time_s, np.arange(1, 100, 2))  # the Kaggle 2 s rows
    assert values.shape == (50, 400) and values.dtype == np.float32
    # a row needs its whole 1024-sample window: 1 s (centre 200) and 99 s (19,800 + 512 >
    # 20,000) fall outside, 3 s and 97 s inside
    assert np.isnan(values[[0, -1]]).all() and np.isfinite(values[1:-1]).all()
    np.testing.assert_array_equal(values[[1, -2]], eeg_to_spectrogram(eeg.T, [600, 19400], 200.0))
    with pytest.raises(ValueError, match=r"\(20, n_samples\)"):
        recording_spectrogram(eeg.T)


# ------------------------------------------------------- vote-aware training, folds, blending


@pytest.fixture(scope="module")
def table(demo, tmp_path_factory):
    """The demo's feature table (from its cache), as ``hms-features features`` writes it."""
    out = tmp_path_factory.mktemp("table") / "f.parquet"
    assert main(["features", str(demo / "data"), "--out", str(out), "--cache-dir",
                 str(demo / "cache"), *FAST]) == 0
    return out


def _python_cv(demo, table, **kwargs):
    from hms_features import cross_validate_by_patient, make_hms_pipeline, vote_weights

    ds = HMSDataset(demo / "data")
    X = pd.read_parquet(table).loc[ds.labels["label_id"].to_numpy()]
    votes = ds.votes()
    model = make_hms_pipeline(n_estimators=30, learning_rate=0.1, random_state=0, n_jobs=1,
                              two_stage=kwargs.pop("two_stage", None))
    return cross_validate_by_patient(model, X, votes, ds.labels["patient_id"], n_splits=3,
                                     sample_weight=vote_weights(votes), **kwargs), votes


def test_min_votes_trains_on_many_vote_rows_and_scores_every_row(demo, table, tmp_path):
    out = tmp_path / "cv"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(out),
                 "--folds", "3", "--min-votes", "10", *FAST, *MODEL]) == 0
    oof = pd.read_csv(out / "oof.csv")
    assert np.isfinite(oof[list(CLASSES)].to_numpy()).all()  # every row predicted
    ref, votes = _python_cv(demo, table, train_mask=HMSDataset(demo / "data").votes().sum(1) >= 10)
    np.testing.assert_allclose(oof[list(CLASSES)], ref.oof, rtol=1e-6, atol=1e-9)
    plain = pd.read_csv(demo / "cv" / "oof.csv")[list(CLASSES)].to_numpy()
    assert np.abs(plain - ref.oof).max() > 1e-3  # selecting rows changed the models
    prov = json.loads((out / "cv.json").read_text())["provenance"]
    assert prov["min_votes"] == 10 and prov["n_rows"] == len(votes)
    assert prov["n_train_rows"] == int((votes.sum(axis=1) >= 10).sum()) < len(votes)


def test_two_stage_cv_train_and_predict(demo, table, tmp_path):
    from hms_features.models import TwoStageClassifier

    out = tmp_path / "cv"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(out),
                 "--folds", "3", "--two-stage", "10", *FAST, *MODEL]) == 0
    ref, _ = _python_cv(demo, table, two_stage=10)
    np.testing.assert_allclose(pd.read_csv(out / "oof.csv")[list(CLASSES)], ref.oof,
                               rtol=1e-6, atol=1e-9)
    model = tmp_path / "m"
    assert main(["train", str(demo / "data"), "--features", str(table), "--out", str(model),
                 "--two-stage", "10", *FAST, *MODEL]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["steps"][-1]["kind"] == "TwoStageClassifier"
    assert manifest["provenance"]["params"]["min_votes"] == 10
    assert manifest["provenance"]["two_stage"] == 10
    loaded = load(model)  # registered at import of hms_features.models
    assert isinstance(loaded.steps[-1][1], TwoStageClassifier)
    assert loaded.steps[-1][1].n_stage2_rows_ == int(
        (HMSDataset(demo / "data").votes().sum(axis=1) >= 10).sum())
    sub = tmp_path / "sub.csv"
    assert main(["predict", str(model), str(demo / "data"), "--out", str(sub), *JOBS,
                 "--cache-dir", ""]) == 0
    test = HMSDataset(demo / "data", "test")
    expect = loaded.predict_proba(loaded.feature_table(test, n_jobs=1, progress=False))
    np.testing.assert_allclose(pd.read_csv(sub)[list(VOTE_COLUMNS)], expect, rtol=1e-9)


def test_by_eeg_with_min_votes_and_two_stage(demo, table, tmp_path):
    out = tmp_path / "cv"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(out),
                 "--folds", "3", "--by-eeg", "--min-votes", "3", "--two-stage", "20",
                 "--stratified", *FAST, *MODEL]) == 0
    oof = pd.read_csv(out / "oof.csv")
    by_eeg = HMSDataset(demo / "data").eeg_labels()
    assert oof["label_id"].tolist() == by_eeg["label_id"].tolist()
    np.testing.assert_array_equal(oof[list(VOTE_COLUMNS)], by_eeg[list(VOTE_COLUMNS)])
    assert np.isfinite(oof[list(CLASSES)].to_numpy()).all()
    prov = json.loads((out / "cv.json").read_text())["provenance"]
    assert prov["by_eeg"] and prov["folds"]["scheme"] == "stratified"


def test_stratified_and_fold_file(demo, table, tmp_path):
    from hms_features import stratified_patient_folds

    ds = HMSDataset(demo / "data")
    out = tmp_path / "strat"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(out),
                 "--folds", "3", "--stratified", "--seed", "2", *FAST, *MODEL]) == 0
    oof = pd.read_csv(out / "oof.csv")
    np.testing.assert_array_equal(oof["fold"], stratified_patient_folds(ds.labels, 3, seed=2))
    # a fold file by eeg_id: patient p -> fold p % 2
    patients = sorted(ds.labels["patient_id"].unique())
    eegs = ds.labels.drop_duplicates("eeg_id")
    folds = eegs["patient_id"].map({p: i % 2 for i, p in enumerate(patients)})
    fold_csv = tmp_path / "folds.csv"
    pd.DataFrame({"eeg_id": eegs["eeg_id"], "fold": folds}).to_csv(fold_csv, index=False)
    out = tmp_path / "file"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(out),
                 "--fold-file", str(fold_csv), *FAST, *MODEL]) == 0
    oof = pd.read_csv(out / "oof.csv")
    expect = ds.labels["patient_id"].map({p: i % 2 for i, p in enumerate(patients)})
    np.testing.assert_array_equal(oof["fold"], expect)
    summary = json.loads((out / "cv.json").read_text())
    assert summary["n_folds"] == 2 and len(summary["fold_kl"]) == 2
    import hashlib

    assert summary["provenance"]["folds"] == {
        "scheme": "file", "file": str(fold_csv.resolve()), "n_folds": 2,
        "sha256": hashlib.sha256(fold_csv.read_bytes()).hexdigest()}


@pytest.mark.parametrize("argv, flag", [
    (["--min-votes", "0"], "--min-votes"),
    (["--min-votes", "ten"], "--min-votes"),
    (["--min-votes", "1000"], "--min-votes"),
    (["--two-stage", "-1"], "--two-stage"),
    (["--two-stage", "1000"], "--two-stage"),
    (["--folds", "1"], "--folds"),
    (["--n-estimators", "0"], "--n-estimators"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--weights", "counts"], "--weights"),
    (["--stratified", "--fold-file", "f.csv"], "--fold-file"),
    (["--folds", "3", "--fold-file", "f.csv"], "--fold-file"),
    (["--fold-file", "nope.csv"], "nope.csv"),
])
def test_bad_flag_values_exit_2_with_one_line(demo, table, tmp_path, capsys, argv, flag):
    with pytest.raises(SystemExit) as exc:  # argparse's own errors exit from main
        code = main(["cv", str(demo / "data"), "--features", str(table), "--out",
                     str(tmp_path / "cv"), *FAST, *MODEL, *argv])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err, err


def test_blend_two_oof_files_and_submissions(demo, table, tmp_path, capsys):
    from hms_features import blend_oof

    other = tmp_path / "cv2"
    assert main(["cv", str(demo / "data"), "--features", str(table), "--out", str(other),
                 "--folds", "3", "--weights", "none", "--n-estimators", "10", *FAST]) == 0
    # the other model's file as a CNN would write it: label_id and probabilities only
    slim = tmp_path / "other_oof.csv"
    pd.read_csv(other / "oof.csv")[["label_id", *CLASSES]].to_csv(slim, index=False)
    first = pd.read_csv(demo / "cv" / "oof.csv")[["label_id", *CLASSES]]
    first_csv = tmp_path / "first_oof.csv"
    first.to_csv(first_csv, index=False)  # votes and patients come from --data
    sub2 = tmp_path / "sub2.csv"
    model2 = tmp_path / "m2"
    assert main(["train", str(demo / "data"), "--features", str(table), "--out", str(model2),
                 "--weights", "none", "--n-estimators", "10", *FAST]) == 0
    assert main(["predict", str(model2), str(demo / "data"), "--out", str(sub2), *JOBS,
                 "--cache-dir", ""]) == 0
    out = tmp_path / "blend"
    capsys.readouterr()
    assert main(["blend", str(first_csv), str(slim), "--data", str(demo / "data"), "--subs",
                 str(demo / "submission.csv"), str(sub2), "--folds", "3", "--out", str(out)]) == 0
    assert "blend (CV)" in capsys.readouterr().out
    report = json.loads((out / "blend.json").read_text())
    ref = blend_oof([demo / "cv" / "oof.csv", other / "oof.csv"], n_splits=3)
    np.testing.assert_allclose(report["weights"], ref.weights, rtol=1e-6, atol=1e-9)
    assert report["kl_table"]["blend (CV)"]["KL"] == pytest.approx(ref.kl["blend (CV)"])
    sub = pd.read_csv(out / "submission.csv")
    s1, s2 = pd.read_csv(demo / "submission.csv"), pd.read_csv(sub2)
    w = np.asarray(report["weights"])
    np.testing.assert_allclose(sub[list(VOTE_COLUMNS)], w[0] * s1[list(VOTE_COLUMNS)]
                               + w[1] * s2[list(VOTE_COLUMNS)], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(pd.read_csv(out / "oof.csv")[list(CLASSES)], ref.oof, rtol=1e-6)
    # one submission for two models, and a file of other rows: one-line errors
    assert main(["blend", str(first_csv), str(slim), "--data", str(demo / "data"), "--subs",
                 str(sub2), "--out", str(out)]) == 2
    assert "--subs" in capsys.readouterr().err
    pd.read_csv(slim).iloc[:-1].to_csv(slim, index=False)
    assert main(["blend", str(first_csv), str(slim), "--data", str(demo / "data"), "--folds",
                 "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other_oof.csv" in err and "label_id" in err


# ------------------------------------------------------------------------------ provenance


def test_provenance_in_cv_json_model_manifest_and_report(demo, tmp_path):
    from hms_features import __version__
    from hms_features.cli import data_fingerprint

    prov = json.loads((demo / "cv" / "cv.json").read_text())["provenance"]
    assert prov["library_version"] == __version__
    assert prov["params"]["final_step"] == "SoftLabelLGBMClassifier"
    assert prov["params"]["n_estimators"] == 30 and prov["params"]["learning_rate"] == 0.1
    assert prov["params"]["random_state"] == prov["seed"] == 0
    assert prov["families"] == ["spectral", "temporal", "spectrogram"]
    assert prov["weights"] == "votes" and prov["min_votes"] is None
    assert prov["context"] == "window"
    assert prov["two_stage"] is None and prov["embedders"] == []
    assert prov["folds"] == {"scheme": "patient", "n_folds": 3}
    ds = HMSDataset(demo / "data")
    fp = prov["data"]
    assert fp == {"dir": str((demo / "data").resolve()), **data_fingerprint(ds)}
    files = list(ds.eeg_dir.glob("*.parquet")) + list(ds.spec_dir.glob("*.parquet"))
    assert fp["n_parquet"] == len(files)
    assert fp["parquet_bytes"] == sum(f.stat().st_size for f in files)
    # the fingerprint changes with train.csv and with a parquet file's size
    copy = tmp_path / "data"
    shutil.copytree(demo / "data", copy)
    assert data_fingerprint(HMSDataset(copy)) == data_fingerprint(ds)
    (copy / "train.csv").write_text((copy / "train.csv").read_text().replace(",1,", ",2,", 1))
    assert data_fingerprint(HMSDataset(copy))["labels_sha256"] != fp["labels_sha256"]
    victim = next((copy / "train_eegs").glob("*.parquet"))
    victim.write_bytes(victim.read_bytes() + b"\0")
    assert data_fingerprint(HMSDataset(copy))["parquet_sha256"] != fp["parquet_sha256"]
    # the model: the same record, minus the folds
    manifest = json.loads((demo / "model" / "manifest.json").read_text())["provenance"]
    assert manifest["command"] == "demo" and manifest["folds"] is None
    assert {k: v for k, v in manifest.items() if k not in ("folds", "n_rows")} == \
        {k: v for k, v in prov.items() if k not in ("folds", "n_rows")}
    assert load(demo / "model").provenance_ == manifest
    # the report keeps the settings of the cv it shows
    settings = json.loads((demo / "report" / "settings.json").read_text())
    assert settings == prov
    assert "labels_sha256" in (demo / "report" / "report.html").read_text()


def test_predict_refuses_a_table_of_other_columns(demo, table, tmp_path, capsys):
    test_table = tmp_path / "test.parquet"
    assert main(["features", str(demo / "data"), "--split", "test", "--out", str(test_table),
                 "--cache-dir", "", *FAST]) == 0
    out = tmp_path / "sub.csv"
    assert main(["predict", str(demo / "model"), str(demo / "data"), "--features",
                 str(test_table), "--out", str(out), *JOBS]) == 0
    np.testing.assert_allclose(pd.read_csv(out).iloc[:, 1:],
                               pd.read_csv(demo / "submission.csv").iloc[:, 1:], rtol=1e-9)
    X = pd.read_parquet(test_table)
    X.iloc[:, ::-1].to_parquet(test_table)  # other order: reordered by name, same result
    assert main(["predict", str(demo / "model"), str(demo / "data"), "--features",
                 str(test_table), "--out", str(out), *JOBS]) == 0
    gone = X.columns[5]
    pd.concat([X.drop(columns=[gone]), pd.DataFrame({"extra_feature": 1.0}, index=X.index)],
              axis=1).to_parquet(test_table)
    capsys.readouterr()
    assert main(["predict", str(demo / "model"), str(demo / "data"), "--features",
                 str(test_table), "--out", str(out), *JOBS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert gone in err and "extra_feature" in err and "1 missing" in err and "1 unexpected" in err


def test_context_recording_from_the_command_line(demo, table, tmp_path, capsys):
    from hms_features import build_features

    out = tmp_path / "rec.parquet"
    assert main(["features", str(demo / "data"), "--out", str(out), "--context", "recording",
                 "--cache-dir", "", *FAST]) == 0
    ds = HMSDataset(demo / "data")
    ref = build_features(ds, ["spectral", "temporal", "spectrogram"], n_jobs=1, progress=False,
                         context="recording")
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref)
    window = pd.read_parquet(table)  # the default context
    assert (np.abs(window.to_numpy() - ref.to_numpy()) > 1e-3).any()
    cv = tmp_path / "cv"
    assert main(["cv", str(demo / "data"), "--out", str(cv), "--folds", "3", "--context",
                 "recording", "--cache-dir", str(demo / "cache"), *FAST, *MODEL]) == 0
    assert json.loads((cv / "cv.json").read_text())["provenance"]["context"] == "recording"
    capsys.readouterr()
    assert main(["features", str(demo / "data"), "--out", str(out), "--context", "file"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--context" in err
