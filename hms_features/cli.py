"""The ``hms-features`` command: from a Kaggle-layout folder to a submission and a report.

Subcommands (``hms-features COMMAND --help`` for each)::

    demo       synthetic data -> features -> patient-grouped CV -> final model -> submission, report
    synth      write the built-in synthetic dataset in the Kaggle layout
    validate   check a folder against the Kaggle layout
    features   feature table of a split (parquet)
    cv         patient-grouped cross-validation: per-fold KL, out-of-fold predictions
    train      fit the final model on every label row and save it (no pickle)
    predict    predict the test split with a saved model and write submission.csv
    report     pictures and one HTML page from a cv folder (and optionally a model)
    scan       slide the 50 s window along a whole recording (parquet or EDF)

Exit codes: 0 success; 2 bad usage or bad input, with ONE line on stderr::

    hms-features: <file, flag, column or row>: <what is wrong> (<what was done>)

1 an unexpected failure (with its traceback). No output file is left half-written: outputs are
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from .data import VOTE_COLUMNS, HMSDataset, HMSError, vote_weights
from .metrics import CLASSES, kl_table


class UsageError(Exception):
    """A command-line argument or input the user can fix; exit code 2."""


def _say(args, *msg) -> None:
    if not getattr(args, "quiet", False):
        print(*msg, flush=True)


# ------------------------------------------------------------------------------------- helpers
def _write_atomic(path, write) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``: a failure
    never leaves a half-written output (the temporary file is removed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _label_rows(ds: HMSDataset, by_eeg: bool) -> pd.DataFrame:
    return ds.eeg_labels() if by_eeg else ds.labels


def _build_kwargs(args) -> dict:
    """``build_features`` arguments from ``--n-jobs``, ``--cache-dir``, ``--quiet``,
    ``--scheduler``."""
    return dict(n_jobs=args.n_jobs, cache_dir=args.cache_dir or None, progress=not args.quiet,
                backend="dask" if getattr(args, "scheduler", None) else "loky")


def _on_cluster(args, fn):
    """``fn()``, inside a Dask client when ``--scheduler`` is given."""
    return _with_dask(args.scheduler, fn) if getattr(args, "scheduler", None) else fn()


def _features(ds: HMSDataset, rows: pd.DataFrame, args) -> pd.DataFrame:
    """The feature table of ``rows`` (cached under ``--cache-dir``)."""
    from .build import build_features

    return _on_cluster(args, lambda: build_features(ds, args.feature_set, labels=rows,
                                                    **_build_kwargs(args)))


def _with_dask(address, fn):
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask: python3 -m pip install 'hms-features[dask]'") \
            from None
    with Client(address):
        return fn()


def _feature_set(value: str):
    """``--feature-set``: ``default`` / ``fast`` or a comma-separated list of family names,
    checked against the registry."""
    from .features.registry import resolve_families

    value = value.strip()
    fs = value if value in ("default", "fast") else [v.strip() for v in value.split(",")
                                                     if v.strip()]
    try:
        resolve_families(fs)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r}: {str(err).removeprefix('feature_set: ')}") \
            from None
    return fs


def _number(text: str, kind, lo, *, lo_open: bool, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    if value < lo or (lo_open and value == lo):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1."""
    return _number(text, int, 1, lo_open=False, what="an integer >= 1")


def non_negative_int(text: str) -> int:
    """argparse ``type=``: an integer >= 0."""
    return _number(text, int, 0, lo_open=False, what="an integer >= 0")


def at_least_two(text: str) -> int:
    """argparse ``type=``: an integer >= 2 (number of folds)."""
    return _number(text, int, 2, lo_open=False, what="an integer >= 2")


def positive_float(text: str) -> float:
    """argparse ``type=``: a finite number > 0."""
    return _number(text, float, 0.0, lo_open=True, what="a finite number > 0")


def n_jobs(text: str) -> int:
    """argparse ``type=``: a number of workers, >= 1 or negative (-1: all cores), not 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError("'0' workers: use >= 1, or -1 for all cores")
    return value


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are the one line of the exit-code contract."""

    def error(self, message):
        m = re.match(r"argument ([^:]+): (.*)", message)
        where, what = ((m.group(1).split("/")[-1], m.group(2)) if m
                       else (self.prog.removeprefix("hms-features").strip() or "usage", message))
        sys.stderr.write(f"hms-features: {where}: {what} (nothing was run; see "
                         f"{self.prog} --help)\n")
        sys.exit(2)


def _with_seq(feature_set):
    """``feature_set`` plus the opt-in ``seq`` family, the LSTM embedder's input sequence."""
    from .features.registry import resolve_families

    families = resolve_families(feature_set)
    return families if "seq" in families else families + ["seq"]


def _model(args, X: pd.DataFrame, patients):
    """The pipeline the command line trains (:func:`~hms_features.models.make_hms_pipeline`
    with ``--embedders``, ``--n-estimators``, ``--learning-rate``, ``--seed``, ``--n-jobs``),
    after the checks whose failure is the user's to fix."""
    from .models import SEQUENCE_PREFIX, make_hms_pipeline

    wanted = list(dict.fromkeys(args.embedders or []))
    if wanted and len(np.unique(patients)) < 2:
        raise UsageError(f"--embedders needs at least 2 patients, got "
                         f"{len(np.unique(patients))}")
    if "lstm" in wanted and not any(str(c).startswith(SEQUENCE_PREFIX) for c in X.columns):
        raise UsageError("--embedders lstm: the feature table has no seq_* columns (the "
                         "LSTM's input sequence); compute the features with "
                         "--feature-set default,seq")
    return make_hms_pipeline(embedders=wanted or None, n_estimators=args.n_estimators,
                             learning_rate=args.learning_rate, random_state=args.seed,
                             n_jobs=args.n_jobs)


def _weights(votes: np.ndarray, mode: str):
    """``--weights``: None, or :func:`~hms_features.data.vote_weights` of ``votes``."""
    return None if mode == "none" else vote_weights(votes)


# ------------------------------------------------------------------------------------- commands
def cmd_synth(args) -> None:
    from .synthetic import make_synthetic_hms

    root = make_synthetic_hms(args.out, n_patients=args.patients, seed=args.seed,
                              n_test=args.n_test, overwrite=args.overwrite,
                              progress=not args.quiet)
    _say(args, HMSDataset(root), "\n", HMSDataset(root, "test"))


def cmd_validate(args) -> None:
    for split in args.splits:
        ds = HMSDataset(args.data_dir, split=split)
        ds.validate(progress=not args.quiet)
        print(ds)


def cmd_features(args) -> None:
    ds = HMSDataset(args.data_dir, args.split)
    rows = _label_rows(ds, args.by_eeg)
    table = _features(ds, rows, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, table.to_parquet)
    _say(args, f"{out}: {table.shape[0]} rows x {table.shape[1]} features")


def _load_or_build(ds, rows, args) -> pd.DataFrame:
    if "lstm" in (getattr(args, "embedders", None) or []) and not args.features:
        args.feature_set = _with_seq(args.feature_set)  # also what train records for predict
    if args.features:
        return read_feature_table(args.features, rows)
    return _features(ds, rows, args)


def read_feature_table(path, rows: pd.DataFrame) -> pd.DataFrame:
    """The ``--features`` table (from ``hms-features features``) for the label ``rows``.

    Checks, each failure a :class:`UsageError` naming the file and the column or row: the file
    exists and is parquet, its index is ``label_id`` or ``eeg_id`` without duplicates, every
    column is numeric (bool and strings refused) without infinities (NaN is allowed: the
    booster handles it), and it has a row for every label row.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such feature table (--features; write one with "
                         "hms-features features)")
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a foreign file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:100]
        raise UsageError(f"{path}: not a parquet feature table (--features: {first})") \
            from None
    if table.index.name not in ("label_id", "eeg_id"):
        raise UsageError(f"{path}: index is {table.index.name!r}, expected 'label_id' or "
                         "'eeg_id' (the table hms-features features writes)")
    if table.index.duplicated().any():
        dup = table.index[table.index.duplicated()][0]
        raise UsageError(f"{path}: {table.index.name} {dup} has more than one row")
    if table.shape[1] == 0:
        raise UsageError(f"{path}: no feature columns")
    for col in table.columns:
        dtype = table[col].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
            raise UsageError(f"{path}: column {col!r} holds {dtype} values, expected numbers")
    values = table.to_numpy(dtype=np.float64)
    bad = np.isinf(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise UsageError(f"{path}: column {table.columns[c]!r}, {table.index.name} "
                         f"{table.index[r]}: infinite value ({int(bad.sum())} in the table)")
    key = rows[table.index.name]
    missing = ~key.isin(table.index)
    if missing.any():
        raise UsageError(f"{path}: no feature row for {table.index.name} "
                         f"{key[missing].iloc[0]} ({int(missing.sum())} of {len(key)} label rows "
                         "missing)")
    return table.loc[key.to_numpy()]


def run_cv(args) -> dict:
    """Cross-validate and write ``oof.csv`` and ``cv.json`` into ``args.out``; return a summary."""
    from .models import cross_validate_by_patient

    ds = HMSDataset(args.data_dir)
    rows = _label_rows(ds, args.by_eeg)
    X = _load_or_build(ds, rows, args)
    votes = ds.votes(rows)
    t0 = time.perf_counter()
    patients = rows["patient_id"].to_numpy()
    res = cross_validate_by_patient(_model(args, X, patients), X, votes, patients,
                                    n_splits=args.folds,
                                    sample_weight=_weights(votes, args.weights),
                                    progress=not args.quiet)
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oof = rows[["label_id", "eeg_id", "patient_id"]].reset_index(drop=True).copy()
    oof["fold"] = res.folds
    oof[list(VOTE_COLUMNS)] = votes
    oof[list(CLASSES)] = res.oof
    _write_atomic(out / "oof.csv", lambda tmp: oof.to_csv(tmp, index=False))
    table = kl_table(votes, {"model (out-of-fold)": res.oof})
    summary = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "by_eeg": bool(args.by_eeg),
        "feature_set": args.feature_set,
        "n_rows": int(len(rows)),
        "n_features": int(X.shape[1]),
        "n_folds": int(args.folds),
        "fold_kl": [float(k) for k in res.fold_kl],
        "report": res.report,
        "kl_table": table.to_dict(orient="index"),
        "seconds": wall,
    }
    _write_atomic(out / "cv.json",
                  lambda tmp: tmp.write_text(json.dumps(summary, indent=2, allow_nan=True)))
    _say(args, f"\n{len(rows)} rows, {X.shape[1]} features, {args.folds} patient-grouped folds "
               f"({wall:.0f} s); per-fold KL: " + ", ".join(f"{k:.3f}" for k in res.fold_kl))
    _say(args, table.to_string(float_format=lambda v: f"{v:.4f}"))
    return summary


def run_train(args):
    ds = HMSDataset(args.data_dir)
    rows = _label_rows(ds, args.by_eeg)
    X = _load_or_build(ds, rows, args)
    votes = ds.votes(rows)
    patients = rows["patient_id"].to_numpy()
    model = _model(args, X, patients)
    model.fit(X, votes, sample_weight=_weights(votes, args.weights), groups=patients)
    out = Path(args.out)
    model.save(out)
    _say(args, f"{out}: model trained on {len(rows)} rows x {X.shape[1]} features")
    return model


def load_model(model_dir, *, recompute: bool = True):
    """A saved :class:`~hms_features.models.HMSPipeline` (from ``hms-features train`` or
    ``model.save`` in Python); with ``recompute``, one whose manifest says how to recompute its
    input features."""
    from .models import HMSPipeline

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UsageError(f"{model_dir}: no such model folder (write one with hms-features train)")
    model = HMSPipeline.load(model_dir)
    if recompute and model.input_spec() is None:
        raise UsageError(f"{model_dir}: the model was fitted on a table of other columns than a "
                         "feature set of build_features, so its input cannot be recomputed")
    return model


def run_predict(args) -> pd.DataFrame:
    from .submission import check_sample_submission, write_submission

    model = load_model(args.model_dir)
    ds = HMSDataset(args.data_dir, "test")
    sample = Path(args.data_dir) / "sample_submission.csv"
    if sample.is_file():  # before any feature is computed
        check_sample_submission(sample, ds.labels["eeg_id"].to_numpy())
    X = _on_cluster(args, lambda: model.feature_table(ds, labels=ds.labels,
                                                      **_build_kwargs(args)))
    proba = model.predict_proba(X)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sub = write_submission(ds.labels["eeg_id"].to_numpy(), proba, out,
                           sample_submission=sample if sample.is_file() else None)
    _say(args, f"{out}: {len(sub)} rows")
    return sub


def run_report(args) -> Path:
    from .report import fold_kl_reports, pick_example_windows, write_report

    cv_dir = Path(args.cv_dir)
    try:
        oof = pd.read_csv(cv_dir / "oof.csv")
        summary = json.loads((cv_dir / "cv.json").read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"{cv_dir}: not a cv folder written by hms-features cv ({err})") \
            from None
    votes = oof[list(VOTE_COLUMNS)].to_numpy(float)
    proba = oof[list(CLASSES)].to_numpy(float)
    names = importances = None
    if args.model_dir:
        model = load_model(args.model_dir, recompute=False)
        booster = model.steps[-1][1]
        importances = booster.feature_importances_
        names = list(getattr(booster, "feature_names_in_", range(len(importances))))
    data_dir = args.data_dir or summary.get("data_dir")
    examples = []
    if args.examples and data_dir and Path(data_dir).is_dir():
        ds = HMSDataset(data_dir)
        rows = _label_rows(ds, summary.get("by_eeg", False))
        if rows["label_id"].tolist() != oof["label_id"].tolist():
            raise UsageError(f"{data_dir}: its label rows are not those of {cv_dir / 'oof.csv'}")
        examples = pick_example_windows(ds, proba, rows, n=args.examples)
    html = write_report(args.out, oof_proba=proba, votes=votes,
                        fold_reports=fold_kl_reports(votes, proba, oof["fold"].to_numpy()),
                        feature_names=names, importances=importances, example_windows=examples,
                        title=args.title)
    _say(args, f"{html}")
    return html


def cmd_scan(args) -> None:
    from .recording import read_recording, recording_spectrogram, scan_file

    model = load_model(args.model_dir)
    path = Path(args.recording)
    if not path.is_file():
        raise UsageError(f"{path}: no such recording")

    def predict(windows, spectrograms=None):
        data = windows if spectrograms is None else {"eeg": windows, "spectrogram": spectrograms}
        return model.predict_proba(model.feature_table(data, n_jobs=1, progress=False))

    spectrogram = (recording_spectrogram(*read_recording(path))
                   if model.input_spec()["spectrogram"] else None)
    out = Path(args.out) if args.out else path.with_name(path.stem + "_scan.csv")
    df = scan_file(path, predict, out, step_s=args.step, spectrogram=spectrogram,
                   progress=not args.quiet)
    top = df[list(CLASSES)].to_numpy().argmax(axis=1)
    _say(args, f"{out}: {len(df)} windows; most probable class over time: "
               + ", ".join(f"{c} {np.mean(top == i):.0%}" for i, c in enumerate(CLASSES)))


def cmd_demo(args) -> None:
    """Synthetic data -> features -> CV -> final model -> submission -> report."""
    from .synthetic import make_synthetic_hms

    t_start = time.perf_counter()
    out = Path(args.out)
    data = out / "data"
    if not (data / "train.csv").is_file():
        _say(args, f"[1/6] writing a synthetic dataset ({args.patients} patients) to {data}")
        make_synthetic_hms(data, n_patients=args.patients, seed=args.seed,
                           progress=not args.quiet)
    else:
        _say(args, f"[1/6] reusing the synthetic dataset in {data}")
    ns = argparse.Namespace(**vars(args))
    ns.data_dir = str(data)
    ns.cache_dir = str(out / "cache")
    ns.features = None
    _say(args, "[2/6] features + [3/6] patient-grouped cross-validation")
    ns.out = str(out / "cv")
    summary = run_cv(ns)
    _say(args, "[4/6] training the final model on every row")
    ns.out = str(out / "model")
    run_train(ns)
    _say(args, "[5/6] predicting the test split")
    ns.model_dir = str(out / "model")
    ns.out = str(out / "submission.csv")
    run_predict(ns)
    _say(args, "[6/6] writing the report")
    ns.cv_dir = str(out / "cv")
    ns.out = str(out / "report")
    ns.data_dir = str(data)
    ns.examples = 3
    ns.title = "hms_features demo (synthetic data)"
    html = run_report(ns)
    truth = _oracle_kl(data, out / "cv" / "oof.csv")
    wall = time.perf_counter() - t_start
    print(f"\nKL divergence, {summary['n_rows']} label rows, {summary['n_folds']}-fold CV by "
          "patient (lower is better):")
    table = pd.DataFrame(summary["kl_table"]).T
    if truth is not None:
        table.loc["oracle (true distributions)"] = truth
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nsubmission: {out / 'submission.csv'}\nmodel:      {out / 'model'}\n"
          f"report:     {html}\ntime:       {wall:.0f} s")


def _oracle_kl(data_dir, oof_csv):
    """KL of the generator's true distributions (the floor no model can beat), if known."""
    from .metrics import kl_report

    truth_csv = Path(data_dir) / "synthetic_truth.csv"
    if not truth_csv.is_file():
        return None
    truth = pd.read_csv(truth_csv)
    truth = truth[truth["split"] == "train"].set_index("label_id")
    oof = pd.read_csv(oof_csv)
    if not oof["label_id"].isin(truth.index).all():
        return None
    p = truth.loc[oof["label_id"], list(CLASSES)].to_numpy(float)
    p = p / p.sum(axis=1, keepdims=True)
    r = kl_report(oof[list(VOTE_COLUMNS)].to_numpy(float), p)
    return [r["kl"], r["kl_many_votes"], r["kl_few_votes"]]


# ------------------------------------------------------------------------------------- parser
def _add_common(p, *, features=True, model=False, feature_set=True):
    p.add_argument("--quiet", action="store_true", help="no progress bars or chatter")
    p.add_argument("--n-jobs", type=n_jobs, default=-1,
                   help="parallel workers (-1: all cores; default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    if features and feature_set:
        p.add_argument("--feature-set", type=_feature_set, default="default",
                       help="'default', 'fast' or comma-separated families (default %(default)s)")
    if features:
        p.add_argument("--cache-dir", default=".hms_features_cache",
                       help="resumable feature cache ('' for none; default %(default)s)")
        p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="compute features on this Dask scheduler (needs the dask extra)")
    if model:
        p.add_argument("--features", default=None, metavar="PARQUET",
                       help="precomputed feature table from 'hms-features features'")
        p.add_argument("--by-eeg", action="store_true",
                       help="one row per eeg_id with votes summed (default: every label row)")
        p.add_argument("--embedders", nargs="*", choices=["mlp", "lstm"], default=[],
                       help="numpy embedders whose out-of-fold embeddings feed the booster: "
                            "'mlp' on the features, 'lstm' on the 5 s sub-window sequence "
                            "(the 'seq' family, added to the computed features by itself)")
        p.add_argument("--n-estimators", type=positive_int, default=400,
                       help="boosting rounds (default %(default)s)")
        p.add_argument("--learning-rate", type=positive_float, default=0.05,
                       help="LightGBM learning rate (default %(default)s)")
        p.add_argument("--weights", choices=["none", "votes"], default="votes",
                       help="row weights: by number of votes (capped at 10) or none "
                            "(default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hms-features",
        description="Features and torch-free models for the HMS harmful brain activity EEG data.",
        epilog="Exit codes: 0 success, 2 bad usage or input, 1 unexpected failure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run everything on the built-in synthetic data",
                       description=cmd_demo.__doc__)
    p.add_argument("--out", default="hms_demo", help="output folder (default %(default)s)")
    p.add_argument("--patients", type=positive_int, default=40,
                   help="synthetic patients, ~20 label rows each (default %(default)s)")
    p.add_argument("--folds", type=at_least_two, default=5,
                   help="CV folds (default %(default)s)")
    _add_common(p, model=True)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("synth", help="write the synthetic dataset in the Kaggle layout",
                       description="Write a realistic synthetic HMS dataset (train.csv, test.csv, "
                                   "sample_submission.csv, parquet folders, synthetic_truth.csv).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--patients", type=positive_int, default=100,
                   help="training patients, ~20 label rows each (default %(default)s)")
    p.add_argument("--n-test", type=positive_int, default=8,
                   help="test recordings (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("validate", help="check a dataset folder against the Kaggle HMS layout",
                       description="Check train.csv/test.csv and every parquet file they name.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--splits", nargs="+", default=["train"], choices=["train", "test"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("features", help="compute the feature table of a split",
                       description="Featurise every label row (or eeg_id) of a split.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--out", required=True, help="output parquet file")
    p.add_argument("--split", choices=["train", "test"], default="train")
    p.add_argument("--by-eeg", action="store_true", help="one row per eeg_id")
    _add_common(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("cv", help="patient-grouped cross-validation",
                       description="Cross-validate the standard model by patient; writes "
                                   "oof.csv and cv.json into --out and prints the KL table.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--out", default="hms_cv", help="output folder (default %(default)s)")
    p.add_argument("--folds", type=at_least_two, default=5,
                   help="number of folds (default %(default)s)")
    _add_common(p, model=True)
    p.set_defaults(func=run_cv)

    p = sub.add_parser("train", help="train the final model and save it",
                       description="Fit the standard model on every training row and save it "
                                   "(LightGBM text, .npz, JSON; no pickle).")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--out", required=True, help="model folder")
    _add_common(p, model=True)
    p.set_defaults(func=run_train)

    p = sub.add_parser("predict", help="write submission.csv for the test split",
                       description="Predict every test eeg_id with a saved model (from "
                                   "'hms-features train' or model.save in Python); the "
                                   "features it needs are the ones its manifest records.")
    p.add_argument("model_dir", help="folder written by hms-features train")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout (test.csv, test_eegs/, ...)")
    p.add_argument("--out", default="submission.csv", help="output CSV (default %(default)s)")
    _add_common(p, feature_set=False)
    p.set_defaults(func=run_predict)

    p = sub.add_parser("report", help="pictures and an HTML page from a cv folder",
                       description="KL by class and vote count per fold, reliability, confusion, "
                                   "feature importances and EEG examples.")
    p.add_argument("cv_dir", help="folder written by hms-features cv")
    p.add_argument("--out", default="hms_report", help="output folder (default %(default)s)")
    p.add_argument("--model-dir", default=None, help="saved model, for feature importances")
    p.add_argument("--data-dir", default=None,
                   help="dataset for example EEG windows (default: the one the cv used)")
    p.add_argument("--examples", type=non_negative_int, default=3,
                   help="EEG examples: the worst and best predicted windows (default %(default)s)")
    p.add_argument("--title", default="hms_features report")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_report)

    p = sub.add_parser("scan", help="class probabilities along a whole recording",
                       description="Slide the 50 s window along a recording (Kaggle parquet or "
                                   "EDF; 10-20 aliases matched, resampled to 200 Hz) and write "
                                   "the probabilities over time as CSV + PNG.")
    p.add_argument("model_dir", help="folder written by hms-features train")
    p.add_argument("recording", help="EEG parquet or EDF file")
    p.add_argument("--step", type=positive_float, default=10.0, help="step between windows, s "
                                                            "(default %(default)s)")
    p.add_argument("--out", default=None, help="output CSV (default RECORDING_scan.csv)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_scan)
    return parser


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (an exception naming a file keeps its name first)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    return text


def _bad_input_types() -> tuple:
    """Exceptions that mean bad input or usage (exit 2), not a bug."""
    from .models.persist import FeatureMismatchError, ModelFileError
    from .submission import SubmissionError

    return (HMSError, UsageError, ModelFileError, FeatureMismatchError, SubmissionError,
            FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError)


def main(argv=None) -> int:
    """Entry point of ``hms-features``; returns the exit code.

    0 success; 2 bad usage or input (one line ``hms-features: <what>: <problem> (<done>)`` on
    stderr); 1 an unexpected failure (the traceback); 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) stays an exit; a usage error returns its code
        if exc.code in (0, None):
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        args.func(args)  # each command returns what it made (for use from Python), or None
        return 0
    except KeyboardInterrupt:
        print(f"hms-features: {args.command}: interrupted (finished feature chunks are cached)",
              file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the catch-all that turns a crash into exit code 1
        if isinstance(err, _bad_input_types()):
            print(f"hms-features: {_one_line(err)} ({args.command} stopped)",
                  file=sys.stderr)
            return 2
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
