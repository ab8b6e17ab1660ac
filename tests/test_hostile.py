"""Hostile but realistic inputs to the command line and the Python API (issue 12, model files
and command line): each gives exit code 2 and ONE line on stderr naming the flag, file, column
or row, or a one-line exception from the API, and never a half-written output.

The contract (``hms_features.cli``): ``hms-features: <what>: <problem> (<what was done>)``.

=============================================  =================================================
input                                          expected behaviour
=============================================  =================================================
``--feature-set nope`` / ``,,,``               exit 2, one line naming ``--feature-set``
``--n-estimators 0`` / ``-5`` / ``x``          exit 2, one line naming ``--n-estimators``
``--learning-rate nan`` / ``-0.1`` / ``inf``   exit 2, one line naming ``--learning-rate``
``scan --step 0`` / ``-1`` / ``nan``           exit 2, one line naming ``--step``
``--folds 1``, ``--n-jobs 0``                  exit 2, one line naming the flag
``--features`` missing file                    exit 2, names the file
``--features`` not parquet (garbage bytes)     exit 2, names the file, "not a parquet"
``--features`` holding inf                     exit 2, names file, column and label_id
``--features`` with a string column            exit 2, names file and column
``--features`` lacking rows                    exit 2, names file and the first label_id missing
``--features`` without a label_id index        exit 2, names the file and the index
model given a table of other columns          API: FeatureMismatchError; CLI: exit 2; one
                                               line: counts, first missing and unexpected names
manifest ``inputs`` edited                     exit 2, names manifest.json
manifest ``files`` -> ``/etc/passwd``          exit 2, "outside the model folder", not opened
step ``"dir": "."``                            exit 2 (no RecursionError), names manifest.json
booster edited, checksum updated               exit 2, names booster.txt (no native crash)
``sample_submission.csv`` with other columns   exit 2 before any feature is computed
``sample_submission.csv`` lacking an eeg_id    exit 2 before any feature is computed
submission order                               test.csv order (Kaggle joins on eeg_id)
``write_submission`` with a NaN row            ValueError, nothing written (no temp file)
failed output write (cv)                       no oof.csv / cv.json left behind
=============================================  =================================================

Native crashes of tampered boosters are tested in a guarded subprocess in ``test_persist.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_features.cli import main
from hms_features.data import HMSDataset, HMSError
from hms_features.models import HMSPipeline, load
from hms_features.models.persist import MANIFEST, FeatureMismatchError
from hms_features.submission import write_submission

JOBS = ["--n-jobs", "1", "--quiet", "--cache-dir", ""]
FSET = ["--feature-set", "temporal"]


def _one_line(capsys, *needles) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hms-features: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err
    return lines[0]


def _no_leftovers(folder: Path) -> None:
    """No temporary output files (``.name.PID.tmp``) in ``folder``."""
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small synthetic dataset, its feature table and a model trained from it (by the CLI)."""
    from hms_features.synthetic import make_synthetic_hms

    base = tmp_path_factory.mktemp("hostile")
    data = make_synthetic_hms(base / "data", n_patients=4, n_test=3, seed=0)
    table = base / "features.parquet"
    assert main(["features", str(data), "--out", str(table), *FSET, *JOBS]) == 0
    model = base / "model"
    assert main(["train", str(data), "--features", str(table), "--out", str(model),
                 "--n-estimators", "5", *FSET, *JOBS]) == 0
    return {"data": Path(data), "table": table, "model": model, "base": base}


# ------------------------------------------------------------------------------ flags
BAD_FLAGS = [
    (["features", "{data}", "--out", "{out}", "--feature-set", "nope"], "--feature-set"),
    (["features", "{data}", "--out", "{out}", "--feature-set", ",,,"], "--feature-set"),
    (["train", "{data}", "--out", "{out}", "--n-estimators", "0"], "--n-estimators"),
    (["train", "{data}", "--out", "{out}", "--n-estimators", "-5"], "--n-estimators"),
    (["train", "{data}", "--out", "{out}", "--n-estimators", "x"], "--n-estimators"),
    (["cv", "{data}", "--out", "{out}", "--learning-rate", "nan"], "--learning-rate"),
    (["cv", "{data}", "--out", "{out}", "--learning-rate", "-0.1"], "--learning-rate"),
    (["cv", "{data}", "--out", "{out}", "--learning-rate", "inf"], "--learning-rate"),
    (["cv", "{data}", "--out", "{out}", "--folds", "1"], "--folds"),
    (["features", "{data}", "--out", "{out}", "--n-jobs", "0"], "--n-jobs"),
    (["scan", "{model}", "{rec}", "--out", "{out}", "--step", "0"], "--step"),
    (["scan", "{model}", "{rec}", "--out", "{out}", "--step", "-1"], "--step"),
    (["scan", "{model}", "{rec}", "--out", "{out}", "--step", "nan"], "--step"),
]


@pytest.mark.parametrize("argv,flag", BAD_FLAGS, ids=[" ".join(a[-2:]) for a, _ in BAD_FLAGS])
def test_bad_flag_values_exit_2_with_one_line(world, tmp_path, capsys, argv, flag):
    out = tmp_path / "out"
    rec = next((world["data"] / "test_eegs").iterdir())
    argv = [a.format(data=world["data"], out=out, model=world["model"], rec=rec) for a in argv]
    assert main(argv) == 2
    line = _one_line(capsys, flag)
    assert line.startswith(f"hms-features: {flag}: ")
    assert not out.exists()


# ------------------------------------------------------------------------------ --features
def _features_argv(world, table, out):
    return ["cv", str(world["data"]), "--features", str(table), "--out", str(out), "--folds",
            "2", "--n-estimators", "3", *JOBS]


def _write_bad_table(world, tmp_path, kind) -> tuple[Path, tuple]:
    path = tmp_path / "bad.parquet"
    table = pd.read_parquet(world["table"])
    first = table.columns[0]
    if kind == "missing":
        return tmp_path / "nope.parquet", ("nope.parquet", "no such feature table")
    if kind == "garbage":
        path.write_bytes(b"PAR1 this is not parquet at all" * 10)
        return path, ("bad.parquet", "not a parquet")
    if kind == "inf":
        table.iloc[3, 0] = np.inf
        table.to_parquet(path)
        return path, ("bad.parquet", repr(first), f"label_id {table.index[3]}", "infinite")
    if kind == "strings":
        table[first] = table[first].astype(str)
        table.to_parquet(path)
        return path, ("bad.parquet", repr(first), "expected numbers")
    if kind == "lacks_rows":
        table.iloc[2:].to_parquet(path)
        return path, ("bad.parquet", f"label_id {table.index[0]}", "2 of")
    if kind == "no_index":
        table.reset_index(drop=True).to_parquet(path)
        return path, ("bad.parquet", "index is None")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "garbage", "inf", "strings", "lacks_rows",
                                  "no_index"])
def test_bad_feature_tables(world, tmp_path, capsys, kind):
    table, needles = _write_bad_table(world, tmp_path, kind)
    out = tmp_path / "cv"
    assert main(_features_argv(world, table, out)) == 2
    _one_line(capsys, *needles)
    assert not (out / "oof.csv").exists() and not (out / "cv.json").exists()


def test_feature_table_of_other_columns_api(world):
    model = HMSPipeline.load(world["model"])
    table = pd.read_parquet(world["table"])
    other = table.drop(columns=table.columns[:2]).assign(extra_a=1.0, extra_b=2.0)
    with pytest.raises(FeatureMismatchError) as info:
        model.predict_proba(other)
    msg = str(info.value)
    assert "\n" not in msg
    assert "2 missing" in msg and repr(table.columns[0]) in msg
    assert "2 unexpected" in msg and "'extra_a'" in msg
    assert f"expected {table.shape[1]} features, got {table.shape[1]}" in msg
    with pytest.raises(FeatureMismatchError, match="1 missing"):
        HMSPipeline.load(world["model"], feature_names=list(table.columns[1:]))


def test_feature_table_of_other_columns_cli(world, tmp_path, capsys, monkeypatch):
    """predict when the features computed for the test split are not the model's columns (a
    stand-in for a library change or an edited feature set): exit 2, one line."""
    real = HMSPipeline.feature_table

    def other_columns(self, *a, **k):
        table = real(self, *a, **k)
        return table.drop(columns=table.columns[:3]).assign(extra=0.0)

    monkeypatch.setattr(HMSPipeline, "feature_table", other_columns)
    out = tmp_path / "submission.csv"
    assert _predict(world, world["model"], out) == 2
    _one_line(capsys, "3 missing", "1 unexpected", "['extra']", "predict stopped")
    assert not out.exists()


# ------------------------------------------------------------------------------ model folders
def _copy_model(world, tmp_path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(world["model"], model)
    return model


def _predict(world, model, out):
    return main(["predict", str(model), str(world["data"]), "--out", str(out), *JOBS])


def _edit(path: Path, edit) -> None:
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def test_edited_inputs_in_manifest(world, tmp_path, capsys):
    model = _copy_model(world, tmp_path)
    _edit(model / MANIFEST, lambda m: m["inputs"].update(feature_set="fast",
                                                         families=["quality"]))
    out = tmp_path / "submission.csv"
    assert _predict(world, model, out) == 2
    _one_line(capsys, "manifest.json", "'inputs'")
    assert not out.exists()


def test_files_entry_outside_the_folder(world, tmp_path, capsys):
    model = _copy_model(world, tmp_path)
    _edit(model / MANIFEST, lambda m: m["files"].update({"/etc/passwd": "0" * 64}))
    out = tmp_path / "submission.csv"
    assert _predict(world, model, out) == 2
    line = _one_line(capsys, "/etc/passwd", "outside the model folder")
    assert "SHA-256" not in line
    assert not out.exists()


def test_step_dir_dot(world, tmp_path, capsys):
    model = _copy_model(world, tmp_path)
    _edit(model / MANIFEST, lambda m: m["steps"][0].update(dir="."))
    out = tmp_path / "submission.csv"
    assert _predict(world, model, out) == 2
    _one_line(capsys, "manifest.json", "'.'")
    assert not out.exists()


def test_tampered_booster_via_cli(world, tmp_path, capsys):
    import hashlib

    model = _copy_model(world, tmp_path)
    step = next(p for p in model.iterdir() if p.is_dir())
    booster = step / "booster.txt"
    booster.write_text(booster.read_text().replace("num_leaves=", "num_leaves=9", 1))
    _edit(step / MANIFEST, lambda m: m["files"].update(
        {"booster.txt": hashlib.sha256(booster.read_bytes()).hexdigest()}))
    _edit(model / MANIFEST, lambda m: m["files"].update(
        {f"{step.name}/{MANIFEST}": hashlib.sha256((step / MANIFEST).read_bytes()).hexdigest()}))
    out = tmp_path / "submission.csv"
    assert _predict(world, model, out) == 2
    _one_line(capsys, "booster.txt", "tree_sizes")
    assert not out.exists()


# ------------------------------------------------------------------------------ submission
def _data_copy(world, tmp_path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    return data


@pytest.mark.parametrize("kind", ["columns", "missing_id"])
def test_bad_sample_submission_found_before_features(world, tmp_path, capsys, monkeypatch,
                                                     kind):
    import hms_features.models.pipeline as pipeline

    data = _data_copy(world, tmp_path)
    sample = pd.read_csv(data / "sample_submission.csv")
    if kind == "columns":
        sample = sample.rename(columns={"lpd_vote": "lpd"})
    else:
        sample = sample.iloc[1:]
    sample.to_csv(data / "sample_submission.csv", index=False)

    def no_features(*a, **k):
        raise AssertionError("features computed before the sample submission was checked")

    monkeypatch.setattr(pipeline, "build_features", no_features)
    out = tmp_path / "submission.csv"
    assert main(["predict", str(world["model"]), str(data), "--out", str(out), *JOBS]) == 2
    _one_line(capsys, "sample_submission.csv",
              "columns" if kind == "columns" else "1 missing")
    assert not out.exists()


def test_submission_rows_in_test_csv_order(world, tmp_path, capsys):
    data = _data_copy(world, tmp_path)
    sample = pd.read_csv(data / "sample_submission.csv")
    sample.iloc[::-1].to_csv(data / "sample_submission.csv", index=False)  # another order
    out = tmp_path / "submission.csv"
    assert main(["predict", str(world["model"]), str(data), "--out", str(out), *JOBS]) == 0
    sub = pd.read_csv(out)
    test_ids = HMSDataset(data, "test").labels["eeg_id"].tolist()
    assert sub["eeg_id"].tolist() == test_ids != sample["eeg_id"].tolist()[::-1]
    np.testing.assert_allclose(sub.iloc[:, 1:].sum(axis=1), 1.0, rtol=1e-12)
    _no_leftovers(tmp_path)


def test_write_submission_failure_leaves_nothing(tmp_path):
    P = np.full((2, 6), 1 / 6)
    P[1, 0] = np.nan
    out = tmp_path / "submission.csv"
    with pytest.raises(ValueError, match="eeg_id 20"):
        write_submission([10, 20], P, out)
    sample = pd.DataFrame({"eeg_id": [10, 30], **{f"c{i}": 0.0 for i in range(6)}})
    with pytest.raises(HMSError, match="sample submission: columns"):
        write_submission([10, 20], np.full((2, 6), 1 / 6), out, sample_submission=sample)
    assert not out.exists()
    _no_leftovers(tmp_path)
    out.write_text("previous submission\n")  # a failed write keeps the old file intact
    with pytest.raises(ValueError):
        write_submission([10, 20], P, out)
    assert out.read_text() == "previous submission\n"


def test_failed_cv_output_write_leaves_no_file(world, tmp_path, monkeypatch):
    out = tmp_path / "cv"

    def broken(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    code = main(["cv", str(world["data"]), "--features", str(world["table"]), "--out", str(out),
                 "--folds", "2", "--n-estimators", "3", *JOBS])
    assert code == 1  # an OS failure is not the user's input: traceback, exit 1
    assert not (out / "oof.csv").exists() and not (out / "cv.json").exists()
    _no_leftovers(out)


def test_model_from_cli_still_loads(world):
    assert isinstance(load(world["model"]), HMSPipeline)
