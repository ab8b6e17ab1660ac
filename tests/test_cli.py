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
MODEL = ["--n-estimators", "30"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--out", str(out), "--patients", "6", "--folds", "3", *FAST, *MODEL])
    assert code == 0
    return out


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
    model = make_hms_pipeline(n_estimators=30, learning_rate=0.05, random_state=0, n_jobs=1)
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
        "sequence": None, "n_features": model.steps[-1][1].n_features_in_}
    test = HMSDataset(demo / "data", "test")
    X = model.feature_table(test, n_jobs=1, progress=False)
    sub = pd.read_csv(demo / "submission.csv")
    assert sub["eeg_id"].tolist() == test.labels["eeg_id"].tolist()
    np.testing.assert_allclose(sub[list(VOTE_COLUMNS)], model.predict_proba(X), rtol=1e-9,
                               atol=1e-12)
    # arrays without the spectrogram the model needs: the message says so
    with pytest.raises(ValueError, match="pass spectrogram windows"):
        model.feature_table(test.eeg_windows(), n_jobs=1, progress=False)


def test_lstm_and_mlp_embedders_from_the_command_line(demo, tmp_path, capsys):
    # --embedders lstm adds the opt-in seq family (the LSTM's 10 x 5 s input sequence) to the
    # computed features; train records it, so predict recomputes the same columns
    model = tmp_path / "m"
    assert main(["train", str(demo / "data"), "--out", str(model), *FAST, *MODEL,
                 "--cache-dir", "", "--embedders", "mlp", "lstm"]) == 0
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
                "scan"]:
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
