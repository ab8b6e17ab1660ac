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
    scan       probabilities, events and annotation files along a whole recording
    evaluate   event-level seizure scores of detected against reference events (SzCORE)
    blend      fit blend weights on out-of-fold files, score the blend by CV, blend submissions

Exit codes: 0 success; 2 bad usage or bad input, with ONE line on stderr::

    hms-features: <file, flag, column or row>: <what is wrong> (<what was done>)

1 an unexpected failure (with its traceback). No output file is left half-written: outputs are
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import write_atomic as _write_atomic
from .data import VOTE_COLUMNS, HMSDataset, HMSError, patient_folds, vote_weights
from .metrics import CLASSES, kl_table


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` while :func:`main` runs: one line ``hms-features: <message>``
    (no source line; the category named unless it is a plain UserWarning)."""
    text = " ".join(str(message).splitlines())
    if not issubclass(category, UserWarning) or issubclass(category, FutureWarning):
        text = f"{category.__name__}: {text}"
    print(f"hms-features: {text}", file=sys.stderr if file is None else file, flush=True)


class UsageError(Exception):
    """A command-line argument or input the user can fix; exit code 2."""


def _say(args, *msg) -> None:
    if not getattr(args, "quiet", False):
        print(*msg, flush=True)


# ------------------------------------------------------------------------------------- helpers
def _label_rows(ds: HMSDataset, by_eeg: bool) -> pd.DataFrame:
    return ds.eeg_labels() if by_eeg else ds.labels


def _build_kwargs(args) -> dict:
    """``build_features`` arguments from ``--n-jobs``, ``--cache-dir``, ``--quiet``,
    ``--scheduler``, ``--pad-outside``, ``--clip-uv``, ``--context``."""
    kwargs = dict(n_jobs=args.n_jobs, cache_dir=args.cache_dir or None, progress=not args.quiet,
                  backend="dask" if getattr(args, "scheduler", None) else "loky",
                  pad=getattr(args, "pad_outside", False),
                  context=getattr(args, "context", "window"))
    if getattr(args, "clip_uv", 1024.0) != 1024.0:  # --clip-uv: preprocess's clipping level
        kwargs["preprocess_kwargs"] = {"clip_uv": args.clip_uv}
    return kwargs


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


def _model(args, X: pd.DataFrame, patients, votes):
    """The pipeline the command line trains (:func:`~hms_features.models.make_hms_pipeline`
    with ``--embedders``, ``--n-estimators``, ``--learning-rate``, ``--two-stage``, ``--seed``,
    ``--n-jobs``), after the checks whose failure is the user's to fix."""
    from .models import SEQUENCE_PREFIX, make_hms_pipeline

    wanted = list(dict.fromkeys(args.embedders or []))
    if wanted and len(np.unique(patients)) < 2:
        raise UsageError(f"--embedders needs at least 2 patients, got "
                         f"{len(np.unique(patients))}")
    if "lstm" in wanted and not any(str(c).startswith(SEQUENCE_PREFIX) for c in X.columns):
        raise UsageError("--embedders lstm: the feature table has no seq_* columns (the "
                         "LSTM's input sequence); compute the features with "
                         "--feature-set default,seq")
    if args.two_stage is not None:
        n_many = int((votes.sum(axis=1) >= args.two_stage).sum())
        if n_many < 2:
            raise UsageError(f"--two-stage {args.two_stage:g}: only {n_many} training rows have "
                             f"that many votes (the most is {votes.sum(axis=1).max():g}); "
                             "stage 2 needs at least 2")
    return make_hms_pipeline(embedders=wanted or None, n_estimators=args.n_estimators,
                             learning_rate=args.learning_rate, random_state=args.seed,
                             n_jobs=args.n_jobs, two_stage=args.two_stage)


def _clip(value: str):
    """``--clip-uv``: µV, or ``none``/``0`` for no clipping."""
    if value.lower() in ("none", "0", "off"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected µV or 'none', got {value!r}") from None


def _weights(votes: np.ndarray, mode: str):
    """``--weights``: None, or :func:`~hms_features.data.vote_weights` of ``votes``."""
    return None if mode == "none" else vote_weights(votes)


def _train_mask(args, votes: np.ndarray) -> np.ndarray | None:
    """``--min-votes``: the rows a model may train on (None: every row)."""
    if args.min_votes is None:
        return None
    mask = votes.sum(axis=1) >= args.min_votes
    if mask.sum() < 2:
        raise UsageError(f"--min-votes {args.min_votes:g}: only {int(mask.sum())} rows have that "
                         f"many votes (the most is {votes.sum(axis=1).max():g})")
    return mask


def _folds(args, rows: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The fold of each row and how it was made (``--folds``, ``--stratified``,
    ``--fold-file``)."""
    from .folds import read_fold_file, stratified_patient_folds

    if args.fold_file and args.folds is not None:
        raise UsageError("--folds and --fold-file: give one (the file says the folds)")
    n_folds = 5 if args.folds is None else args.folds
    if args.fold_file:
        path = Path(args.fold_file)
        folds = read_fold_file(path, rows, allow_unknown=bool(args.by_eeg),
                               split_patients="error")
        return folds, {"scheme": "file", "file": str(path.resolve()),
                       "sha256": _sha256(path), "n_folds": int(len(np.unique(folds)))}
    if args.stratified:
        folds = stratified_patient_folds(rows, n_folds, seed=args.seed)
        return folds, {"scheme": "stratified", "n_folds": int(n_folds), "seed": args.seed}
    # the split cross_validate_by_patient makes by itself (data.patient_folds)
    return patient_folds(rows, n_folds), {"scheme": "patient", "n_folds": int(n_folds)}


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(ds: HMSDataset) -> dict:
    """A cheap fingerprint of a dataset folder (no signal read).

    Returns
    -------
    dict
        ``split``, ``labels_sha256`` (SHA-256 of ``{split}.csv``), ``n_parquet`` and
        ``parquet_bytes`` (the ``{split}_eegs/`` and ``{split}_spectrograms/`` files), and
        ``parquet_sha256``, the SHA-256 of their sorted ``folder/name size`` list.
    """
    files = sorted(f"{p.parent.name}/{p.name} {p.stat().st_size}"
                   for d in (ds.eeg_dir, ds.spec_dir) if d.is_dir() for p in d.glob("*.parquet"))
    return {
        "split": ds.split,
        "labels_sha256": _sha256(ds.root / f"{ds.split}.csv"),
        "n_parquet": len(files),
        "parquet_bytes": int(sum(int(f.rsplit(" ", 1)[1]) for f in files)),
        "parquet_sha256": hashlib.sha256("\n".join(files).encode()).hexdigest(),
    }


def provenance(args, ds: HMSDataset, X: pd.DataFrame, model, n_rows: int,
               n_train_rows: int, folds: dict | None = None) -> dict:
    """What produced a cv folder or a model: recorded in ``cv.json``, the model manifest and the
    report's settings.

    Returns
    -------
    dict
        ``library_version`` and ``params`` (every scalar parameter of the final estimator:
        :meth:`~hms_features.models.HMSPipeline.provenance`), ``command``, ``data`` (folder
        and :func:`data_fingerprint`),
        ``feature_set``, ``families`` (None for a table that is no feature set),
        ``n_features``, ``features_file``, ``context`` (of the computed features; None for a
        ``--features`` table), ``by_eeg``, ``n_rows``, ``min_votes``,
        ``n_train_rows``, ``weights``, ``two_stage``, ``embedders``, ``n_estimators``,
        ``learning_rate``, ``seed`` and ``folds`` (scheme, number, file and its SHA-256; cv
        only).
    """
    from .models import input_spec

    spec = input_spec(X.columns)
    return model.provenance({
        "command": args.command,
        "data": {"dir": str(Path(ds.root).resolve()), **data_fingerprint(ds)},
        "feature_set": spec["feature_set"] if spec else None,
        "families": spec["families"] if spec else None,
        "n_features": int(X.shape[1]),
        "features_file": str(Path(args.features).resolve()) if args.features else None,
        "context": None if args.features else getattr(args, "context", "window"),
        "by_eeg": bool(args.by_eeg),
        "n_rows": int(n_rows),
        "min_votes": args.min_votes,
        "n_train_rows": int(n_train_rows),
        "weights": args.weights,
        "two_stage": args.two_stage,
        "embedders": list(dict.fromkeys(args.embedders or [])),
        "n_estimators": args.n_estimators,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "folds": folds,
    })


# ------------------------------------------------------------------------------------- commands
def cmd_synth(args) -> None:
    from .synthetic import make_synthetic_hms

    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UsageError(f"{out}: folder is not empty; pass --overwrite to write the synthetic "
                         "dataset into it anyway")
    root = make_synthetic_hms(args.out, n_patients=args.patients, seed=args.seed,
                              n_test=args.n_test, overwrite=args.overwrite,
                              progress=not args.quiet)
    _say(args, HMSDataset(root), "\n", HMSDataset(root, "test"))


def cmd_validate(args) -> None:
    """Every problem on its own line, then one summary line per split; exit 2 if any."""
    found = 0
    for split in args.splits:
        ds = HMSDataset(args.data_dir, split=split)
        problems = ds.validate(progress=not args.quiet, data=not args.footers_only, strict=False)
        for p in problems:
            print(p)
        found += len(problems)
        rows = ds.labels
        print(f"{ds.root / (split + '.csv')}: {len(rows)} rows, {rows['eeg_id'].nunique()} "
              f"recordings, {rows['patient_id'].nunique()} patients, "
              f"{len(problems)} problems found")
    if found:
        raise HMSError(f"{found} problem(s) found (listed above)")


def cmd_features(args):
    """The feature table of a split, or with ``--describe`` the feature glossary."""
    if args.describe:
        return _describe(args)
    if args.data_dir is None or args.out is None:
        raise UsageError("DATA_DIR and --out are required (unless --describe)")
    ds = HMSDataset(args.data_dir, args.split)
    rows = _label_rows(ds, args.by_eeg)
    table = _features(ds, rows, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, table.to_parquet)
    _say(args, f"{out}: {table.shape[0]} rows x {table.shape[1]} features")
    return table


def _describe(args) -> pd.DataFrame:
    """``features --describe``: every column of ``--feature-set`` decoded (family, measure,
    band, group, span, unit, definition), printed or written to ``--out`` as CSV."""
    from .features.glossary import describe_features
    from .features.registry import feature_names

    try:
        table = describe_features(feature_names(args.feature_set))
    except (KeyError, ValueError) as err:
        raise UsageError(f"--feature-set: {err}") from None
    if args.out is None:
        with pd.option_context("display.max_rows", None, "display.max_columns", None,
                               "display.width", 200, "display.max_colwidth", 60):
            print(table.drop(columns=["definition", "pattern"]).to_string(index=False))
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(out, lambda tmp: table.to_csv(tmp, index=False))
        _say(args, f"{out}: {len(table)} features described")
    return table


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
    folds, scheme = _folds(args, rows)
    X = _load_or_build(ds, rows, args)
    votes = ds.votes(rows)
    mask = _train_mask(args, votes)
    if mask is not None:
        empty = [int(k) for k in np.unique(folds) if not mask[folds != k].any()]
        if empty:
            raise UsageError(f"--min-votes {args.min_votes:g}: no training rows outside fold "
                             f"{empty[0]}")
    t0 = time.perf_counter()
    patients = rows["patient_id"].to_numpy()
    model = _model(args, X, patients, votes if mask is None else votes[mask])
    from .models.lgbm import round_progress

    with round_progress("fold: boosting rounds", enabled=not args.quiet):
        res = cross_validate_by_patient(model, X, votes, patients, folds=folds,
                                        sample_weight=_weights(votes, args.weights),
                                        train_mask=mask, progress=not args.quiet)
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oof = rows[["label_id", "eeg_id", "patient_id"]].reset_index(drop=True).copy()
    oof["fold"] = res.folds
    oof[list(VOTE_COLUMNS)] = votes
    oof[list(CLASSES)] = res.oof
    _write_atomic(out / "oof.csv", lambda tmp: oof.to_csv(tmp, index=False))
    table = kl_table(votes, {"model (out-of-fold)": res.oof})
    n_folds = len(res.fold_kl)
    summary = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "by_eeg": bool(args.by_eeg),
        "feature_set": args.feature_set,
        "n_rows": int(len(rows)),
        "n_features": int(X.shape[1]),
        "n_folds": int(n_folds),
        "fold_kl": [float(k) for k in res.fold_kl],
        "report": res.report,
        "kl_table": table.to_dict(orient="index"),
        "seconds": wall,
        "provenance": provenance(args, ds, X, model, len(rows),
                                 len(rows) if mask is None else int(mask.sum()), scheme),
    }
    _write_atomic(out / "cv.json",
                  lambda tmp: tmp.write_text(json.dumps(summary, indent=2, allow_nan=True)))
    _say(args, f"\n{len(rows)} rows, {X.shape[1]} features, {n_folds} {scheme['scheme']} folds "
               f"({wall:.0f} s); per-fold KL: " + ", ".join(f"{k:.3f}" for k in res.fold_kl))
    if not getattr(args, "kl_table_at_end", False):  # the demo prints it once, at its end
        _say(args, table.to_string(float_format=lambda v: f"{v:.4f}"))
    return summary


def run_train(args):
    ds = HMSDataset(args.data_dir)
    rows = _label_rows(ds, args.by_eeg)
    X = _load_or_build(ds, rows, args)
    votes = ds.votes(rows)
    patients = rows["patient_id"].to_numpy()
    mask = _train_mask(args, votes)
    keep = slice(None) if mask is None else mask
    model = _model(args, X, patients, votes[keep])
    weights = _weights(votes[keep], args.weights)
    from .models.lgbm import round_progress

    with round_progress("training: boosting rounds", enabled=not args.quiet):
        model.fit(X[keep], votes[keep], sample_weight=weights, groups=patients[keep])
    out = Path(args.out)
    model.save(out, provenance=provenance(args, ds, X, model, len(rows),
                                          len(rows) if mask is None else int(mask.sum())))
    _say(args, f"{out}: model trained on {len(votes[keep])} rows x {X.shape[1]} features")
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
    from .submission import write_submission

    model = load_model(args.model_dir, recompute=not args.features)
    ds = HMSDataset(args.data_dir, "test")
    sample = Path(args.data_dir) / "sample_submission.csv"  # checked by HMSDataset, up front
    if args.features:
        X = read_feature_table(args.features, ds.labels)
    else:
        X = _on_cluster(args, lambda: model.feature_table(ds, labels=ds.labels,
                                                          **_build_kwargs(args)))
    try:
        X = model.check_feature_table(X)
    except ValueError as err:
        raise UsageError(f"{args.features or 'the computed feature table'}: {err}") from None
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
    importance_type = "gain"
    if args.model_dir:
        model = load_model(args.model_dir, recompute=False)
        booster = model.steps[-1][1]
        importances = booster.feature_importances_
        importance_type = getattr(booster, "importance_type", importance_type)
        names = list(getattr(booster, "feature_names_in_", range(len(importances))))
    data_dir = args.data_dir or summary.get("data_dir")
    # the rows of the console's KL table: uniform, class prior, oracle (synthetic data only)
    baselines = {name: row.to_dict() for name, row in kl_table(votes, {}).iterrows()}
    if data_dir and Path(data_dir).is_dir():
        oracle = _oracle_kl(data_dir, cv_dir / "oof.csv")
        if oracle is not None:
            baselines["oracle (true distributions)"] = oracle
    settings = summary.get("provenance")
    out_dir = Path(args.out)
    if settings is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "settings.json").write_text(json.dumps(settings, indent=2, allow_nan=True))
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
                        title=args.title, settings=settings, baselines=baselines,
                        importance_type=importance_type)
    _say(args, f"{html}")
    return html


def cmd_scan(args):
    """Probabilities per window along a whole recording, events, annotation files, pictures."""
    from .recording import scan_file

    model = load_model(args.model_dir)
    for name in ("step", "block_s"):
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0 s, got {getattr(args, name)}")
    if not 0 < args.off <= args.on <= 1:
        raise UsageError(f"--on/--off: need 0 < off <= on <= 1, got --on {args.on} --off "
                         f"{args.off}")
    if args.min_duration < 0 or args.min_gap < 0:
        raise UsageError("--min-duration and --min-gap must be >= 0 s")
    if args.clip_uv is not None and not args.clip_uv > 0:
        raise UsageError(f"--clip-uv must be > 0 µV (0 or 'none' for no clipping), got "
                         f"{args.clip_uv}")
    probe = pd.DataFrame()  # the scan's preprocessing, refused before the long read if other
    probe.attrs["preprocess"] = {"clip_uv": args.clip_uv}
    model.check_preprocessing(probe, where=f"{args.recording}: --clip-uv {args.clip_uv}")
    try:
        res = scan_file(args.recording, model, Path(args.out), step_s=args.step,
                        window_s=args.window_s, clip_uv=args.clip_uv, on=args.on, off=args.off,
                        min_duration_s=args.min_duration, min_gap_s=args.min_gap,
                        reference=args.reference, fif=args.fif, plot=not args.no_plot,
                        block_s=args.block_s, progress=not args.quiet)
    except ValueError as err:  # a bad step or window length for this recording
        raise UsageError(str(err)) from None
    df = res.proba
    top = df[list(CLASSES)].to_numpy().argmax(axis=1)
    _say(args, f"{res.source}: {len(df)} windows over {res.duration_s / 3600:.2f} h; most "
               "probable class over time: "
               + ", ".join(f"{c} {np.mean(top == i):.0%}" for i, c in enumerate(CLASSES)))
    counts = res.events["trial_type"].value_counts()
    _say(args, f"{len(res.events)} events"
               + (" (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")" if len(counts)
                  else ""))
    for kind, path in res.files.items():
        _say(args, f"  {kind:12s} {path}")
    return res


def cmd_evaluate(args):
    """Score detected events against reference annotations (SzCORE, timescoring)."""
    from .event_scoring import evaluate
    from .events import read_events

    files = list(args.files)
    if len(files) % 2:
        raise UsageError(f"evaluate: give REFERENCE DETECTED pairs; got {len(files)} file(s)")
    pairs = list(zip(files[0::2], files[1::2]))
    durations = list(args.duration or [])
    if durations and len(durations) not in (1, len(pairs)):
        raise UsageError(f"--duration: give one value or one per pair ({len(pairs)}), got "
                         f"{len(durations)}")
    refs, hyps, durs, names = [], [], [], []
    for k, (ref_path, hyp_path) in enumerate(pairs):
        ref, hyp = read_events(ref_path), read_events(hyp_path)
        if durations:
            dur = durations[0] if len(durations) == 1 else durations[k]
            if not dur > 0:
                raise UsageError(f"--duration must be > 0 s, got {dur}")
        else:
            known = [d for d in (ref.attrs.get("recording_duration_s"),
                                 hyp.attrs.get("recording_duration_s"))
                     if d is not None and np.isfinite(d)]
            if not known:
                raise UsageError(f"{ref_path}: the recording's duration is unknown (only SzCORE "
                                 "TSV files carry it); give --duration SECONDS")
            dur = known[0]
        refs.append(ref)
        hyps.append(hyp)
        durs.append(float(dur))
        names.append(Path(ref_path).name)
    table = evaluate(refs, hyps, durs, recordings=names,
                     trial_type=None if args.trial_type == "all" else args.trial_type)
    cols = ["recording", "duration_s", "event_sensitivity", "event_precision", "event_f1",
            "event_fp_per_24h", "event_tp", "event_fp", "event_n_ref", "sample_sensitivity",
            "sample_precision", "sample_f1"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        _say(args, f"{out}")
    return table


def cmd_blend(args):
    """Fit blend weights on out-of-fold files, score the blend by its own patient-grouped CV,
    and blend the matching test submissions."""
    from .blend import blend_oof, blend_submissions

    oofs = []
    for path in args.oofs:
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such out-of-fold file")
        oofs.append(pd.read_csv(path))
    if args.data:
        oofs[0] = _with_dataset_votes(oofs[0], args.oofs[0], HMSDataset(args.data))
    if args.subs and len(args.subs) != len(oofs):
        raise UsageError(f"--subs: {len(args.subs)} submissions for {len(oofs)} out-of-fold "
                         "files; give one per model, in the same order")
    try:
        result = blend_oof(oofs, names=[str(p) for p in args.oofs], method=args.method,
                           n_splits=args.folds)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        sub = None
        if args.subs:
            sample = Path(args.data) / "sample_submission.csv" if args.data else None
            sub = blend_submissions(result, args.subs, out / "submission.csv",
                                    sample_submission=sample if sample and sample.is_file()
                                    else None)
    except (ValueError, KeyError) as err:
        raise UsageError(str(err).strip("'\"")) from None
    oof = pd.DataFrame(result.oof, columns=list(CLASSES))
    oof.insert(0, "label_id", result.label_ids)
    oof.to_csv(out / "oof.csv", index=False)
    table = result.table()
    (out / "blend.json").write_text(json.dumps({
        "models": result.names, "method": result.method,
        "weights": [float(w) for w in result.weights],
        "fold_weights": np.asarray(result.fold_weights).tolist(), "n_folds": args.folds,
        "kl_table": table.to_dict(orient="index"), "submissions": args.subs or [],
        "data_dir": str(Path(args.data).resolve()) if args.data else None,
    }, indent=2, allow_nan=True))
    _say(args, table.to_string(float_format=lambda v: f"{v:.4f}"))
    _say(args, f"{out}: blend.json, oof.csv" + (", submission.csv" if sub is not None else ""))
    return result


def _with_dataset_votes(oof: pd.DataFrame, name, ds: HMSDataset) -> pd.DataFrame:
    """``oof`` with the ``patient_id`` and vote counts of its ``label_id`` rows from ``ds`` where
    the file lacks them (another model's file may hold only ``label_id`` and probabilities;
    columns present are kept: one row per EEG holds summed votes)."""
    if "label_id" not in oof:
        raise UsageError(f"{name}: no 'label_id' column")
    labels = ds.labels.set_index("label_id")
    unknown = ~oof["label_id"].isin(labels.index)
    if unknown.any():
        raise UsageError(f"{name}: label_id {oof['label_id'][unknown].iloc[0]} is not in "
                         f"{ds.root / 'train.csv'} ({int(unknown.sum())} such rows)")
    truth = labels.loc[oof["label_id"].to_numpy(), ["patient_id", *VOTE_COLUMNS]]
    out = oof.copy()
    for column in truth.columns:
        if column not in out:
            out[column] = truth[column].to_numpy()
    return out


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
    ns.kl_table_at_end = True
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
EMBEDDERS = ("mlp", "lstm")


def _embedders(text):
    """An argparse type: a comma-separated list of :data:`EMBEDDERS` (``mlp,lstm``)."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [n for n in names if n not in EMBEDDERS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(EMBEDDERS)} (e.g. mlp,lstm)")
    return names


def _add_common(p, *, features=True, model=False, feature_set=True):
    p.add_argument("--quiet", action="store_true", help="no progress bars or chatter")
    p.add_argument("--n-jobs", type=n_jobs, default=-1,
                   help="parallel workers (-1: all cores; default: %(default)s)")
    if model:
        p.add_argument("--seed", type=int, default=0,
                       help="random seed of the models and of --stratified folds "
                            "(default: %(default)s)")
    if features and feature_set:
        p.add_argument("--feature-set", type=_feature_set, default="default",
                       help="'default', 'fast' or comma-separated family names "
                            "(default: 'default')")
        p.add_argument("--context", choices=["window", "recording"], default="window",
                       help="what preprocessing of a training window sees: 'window', the 50 s "
                            "alone, exactly as a test file (default); 'recording', the whole "
                            "recording filtered before the windows are cut")
    if features:
        p.add_argument("--cache-dir", default=".hms_features_cache",
                       help="resumable feature cache ('' for none; default: %(default)s)")
        p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="compute features on this Dask scheduler (needs the dask extra)")
        p.add_argument("--clip-uv", type=_clip, default=1024.0,
                       help="clip the filtered EEG to +-this many µV ('none': no clipping; "
                            "default: %(default)s); use the same value to train and predict")
        p.add_argument("--pad-outside", action="store_true",
                       help="NaN-pad label windows reaching outside their recording (default: "
                            "refuse them, exit 2; see hms-features validate)")
    if model:
        p.add_argument("--features", default=None, metavar="PARQUET",
                       help="precomputed feature table from 'hms-features features'")
        p.add_argument("--by-eeg", action="store_true",
                       help="one row per eeg_id with votes summed (default: every label row)")
        p.add_argument("--embedders", type=_embedders, action="extend", default=None,
                       metavar="NAME[,NAME]",
                       help="comma-separated numpy embedders whose out-of-fold embeddings feed "
                            "the booster, e.g. --embedders mlp,lstm: 'mlp' on the features, "
                            "'lstm' on the 5 s sub-window sequence (the 'seq' family, added to "
                            "the computed features by itself) (default: none)")
        p.add_argument("--n-estimators", type=positive_int, default=400,
                       help="boosting rounds (default: %(default)s)")
        p.add_argument("--learning-rate", type=positive_float,
                       default=0.05, help="LightGBM learning rate (default: %(default)s)")
        p.add_argument("--weights", choices=["none", "votes"], default="votes",
                       help="row weights: 'votes' = min(number of votes, 10) / 10 "
                            "(hms_features.data.vote_weights) or 'none' (default: %(default)s)")
        p.add_argument("--min-votes", type=positive_float, default=None,
                       metavar="N",
                       help="train only on rows with at least N expert votes (e.g. 10); cv "
                            "still predicts and scores every held-out row")
        p.add_argument("--two-stage", type=positive_float, default=None,
                       metavar="N",
                       help="two-stage training: LightGBM on all training rows, then 100 more "
                            "rounds of the same booster on the rows with at least N votes")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hms-features",
        description="Features and torch-free models for the HMS harmful brain activity EEG data.",
        epilog="Exit codes: 0 success, 2 bad usage or input, 1 unexpected failure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run everything on the built-in synthetic data",
                       description=cmd_demo.__doc__)
    p.add_argument("--out", default="hms_demo", help="output folder (default: %(default)s)")
    p.add_argument("--patients", type=positive_int, default=40,
                   help="synthetic patients, ~20 label rows each (default: %(default)s)")
    p.add_argument("--folds", type=at_least_two, default=5,
                   help="CV folds (default: %(default)s)")
    _add_common(p, model=True)
    # the demo's booster: 200 rounds at 0.1 (half the rounds of cv/train's 400 at 0.05, the
    # same out-of-fold KL on the synthetic data within 0.01, half the training time)
    p.set_defaults(func=cmd_demo, stratified=False, fold_file=None, n_estimators=200,
                   learning_rate=0.1)

    p = sub.add_parser("synth", help="write the synthetic dataset in the Kaggle layout",
                       description="Write a realistic synthetic HMS dataset (train.csv, test.csv, "
                                   "sample_submission.csv, parquet folders, synthetic_truth.csv).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--patients", type=positive_int, default=100,
                   help="training patients, ~20 label rows each (default: %(default)s)")
    p.add_argument("--n-test", type=positive_int, default=8,
                   help="test recordings (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("validate", help="check a dataset folder against the Kaggle HMS layout",
                       description="Check train.csv/test.csv and every parquet file they name.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--splits", nargs="+", default=["train"], choices=["train", "test"],
                   help="splits to check: train, test or both (default: train)")
    p.add_argument("--footers-only", action="store_true",
                   help="read only the parquet footers (and spectrogram times), not every value")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("features", help="compute the feature table of a split, or describe it",
                       description="Featurise every label row (or eeg_id) of a split; with "
                                   "--describe, print (or write to --out as CSV) the feature "
                                   "glossary of --feature-set instead: every column decoded "
                                   "into family, measure, band, group, span and unit.")
    p.add_argument("data_dir", nargs="?", default=None,
                   help="folder in the Kaggle HMS layout (not needed with --describe)")
    p.add_argument("--out", default=None,
                   help="output parquet file (required); with --describe a CSV file "
                        "(default: print the glossary)")
    p.add_argument("--describe", action="store_true",
                   help="describe the columns of --feature-set instead of computing them")
    p.add_argument("--split", choices=["train", "test"], default="train",
                   help="split to featurise (default: train)")
    p.add_argument("--by-eeg", action="store_true", help="one row per eeg_id")
    _add_common(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("cv", help="patient-grouped cross-validation",
                       description="Cross-validate the standard model by patient; writes "
                                   "oof.csv and cv.json into --out and prints the KL table.")
    p.add_argument("data_dir", help="folder in the Kaggle HMS layout")
    p.add_argument("--out", default="hms_cv", help="output folder (default: %(default)s)")
    p.add_argument("--folds", type=at_least_two, default=None,
                   help="number of patient-grouped folds (default: 5)")
    scheme = p.add_mutually_exclusive_group()
    scheme.add_argument("--stratified", action="store_true",
                        help="patient-grouped folds with similar class mixes (StratifiedGroupKFold "
                             "on the expert consensus, shuffled by --seed)")
    scheme.add_argument("--fold-file", default=None, metavar="CSV",
                        help="your own folds: a CSV with 'fold' and 'label_id' or 'eeg_id' "
                             "(instead of --folds; no patient may be in two folds)")
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
    p.add_argument("--out", default="submission.csv", help="output CSV (default: %(default)s)")
    p.add_argument("--features", default=None, metavar="PARQUET",
                   help="precomputed test feature table ('hms-features features --split test'); "
                        "its columns must be the model's")
    _add_common(p, feature_set=False)
    p.set_defaults(func=run_predict)

    p = sub.add_parser("report", help="pictures and an HTML page from a cv folder",
                       description="KL by class and vote count per fold, reliability, confusion, "
                                   "feature importances and EEG examples.")
    p.add_argument("cv_dir", help="folder written by hms-features cv")
    p.add_argument("--out", default="hms_report", help="output folder (default: %(default)s)")
    p.add_argument("--model-dir", default=None, help="saved model, for feature importances")
    p.add_argument("--data-dir", default=None,
                   help="dataset for example EEG windows (default: the one the cv used)")
    p.add_argument("--examples", type=non_negative_int, default=3,
                   help="EEG examples: the worst and best predicted windows (default: %(default)s)")
    p.add_argument("--title", default="hms_features report",
                   help="page title (default: '%(default)s')")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run_report)

    p = sub.add_parser("scan", help="probabilities, events and annotations along a recording",
                       description="Slide the window along a whole recording (Kaggle parquet, "
                                   "EDF/BDF/BrainVision/FIF; channels matched by name, any rate "
                                   ">= 100 Hz brought to 200 Hz; read once, in blocks) and write "
                                   "the probabilities (CSV), the detected events (BIDS "
                                   "events.tsv, SzCORE TSV of seizures, MNE annotations .txt), "
                                   "a PNG and an HTML page; --fif also the recording with its "
                                   "annotations. Events: a class probability >= --on starts "
                                   "one, it lasts while >= --off; events closer than --min-gap "
                                   "merge, shorter than --min-duration are dropped.")
    p.add_argument("model_dir", help="folder written by hms-features train")
    p.add_argument("recording", help="EEG file: .parquet, .edf, .bdf, .vhdr, .fif")
    p.add_argument("--out", default=".",
                   help="output folder (default: the current folder; a .csv path names the "
                        "CSV and the other files go beside it)")
    p.add_argument("--step", type=positive_float, default=10.0,
                   help="step between windows, s (default: %(default)s)")
    p.add_argument("--window-s", type=positive_float, default=50.0,
                   help="window length, s (default: %(default)s, with its central 10 s; a model "
                        "trained on HMS windows takes only 50)")
    p.add_argument("--clip-uv", type=_clip, default=1024.0,
                   help="clip the filtered EEG to +-this many µV ('none': no clipping; "
                        "default: %(default)s)")
    p.add_argument("--on", type=float, default=0.5,
                   help="probability that starts an event (default: %(default)s)")
    p.add_argument("--off", type=float, default=0.3,
                   help="probability below which an event ends (default: %(default)s)")
    p.add_argument("--min-duration", type=float, default=0.0,
                   help="drop events shorter than this, s (default: %(default)s)")
    p.add_argument("--min-gap", type=float, default=0.0,
                   help="merge events of one class closer than this, s (default: %(default)s)")
    p.add_argument("--reference", default=None, metavar="FILE",
                   help="reference events (BIDS events.tsv, SzCORE TSV, MNE annotations, EDF+) "
                        "drawn under the detections")
    p.add_argument("--fif", action="store_true",
                   help="also write the recording with the detected events as annotations (FIF)")
    p.add_argument("--no-plot", action="store_true", help="no PNG / HTML")
    p.add_argument("--block-s", type=positive_float, default=600.0,
                   help="seconds read per block (memory; default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("evaluate", help="event-level seizure scores (SzCORE, timescoring)",
                       description="Score detected events against reference annotations with "
                                   "the SzCORE event- and sample-based scoring (timescoring), "
                                   "per recording and pooled. Files: BIDS events.tsv, SzCORE "
                                   "TSV, MNE annotations (.txt, .fif), EDF+.")
    p.add_argument("files", nargs="+", metavar="REFERENCE DETECTED",
                   help="one or more pairs: reference file, then detected file")
    p.add_argument("--duration", type=float, nargs="+", default=None, metavar="S",
                   help="recording duration(s), s (default: from an SzCORE TSV)")
    p.add_argument("--trial-type", default="seizure",
                   help="class scored ('all': every event as one class; default: %(default)s)")
    p.add_argument("--out", default=None, help="write the score table to this CSV")
    p.add_argument("--quiet", action="store_true",
                   help="do not print the path of --out (the score table is printed always)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("blend", help="blend out-of-fold predictions of several models",
                       description=cmd_blend.__doc__ + " Writes blend.json (weights, KL table), "
                       "oof.csv (the blend's out-of-fold predictions) and, with --subs, "
                       "submission.csv into --out.")
    p.add_argument("oofs", nargs="+", metavar="OOF.csv",
                   help="two or more out-of-fold files over the same label rows (label_id and "
                        "the six probabilities; the first also patient_id and the votes, unless "
                        "--data gives them); 'hms-features cv' writes oof.csv")
    p.add_argument("--data", default=None, metavar="DATA_DIR",
                   help="dataset whose train.csv gives patient_id and votes the first file lacks "
                        "(and sample_submission.csv to check --subs against)")
    p.add_argument("--subs", nargs="+", default=None, metavar="SUB.csv",
                   help="one test submission per model, in the order of the OOF files")
    p.add_argument("--method", choices=["linear", "log"], default="linear",
                   help="'linear' mixture or 'log' weighted geometric mean (a temperature per "
                        "model) (default: %(default)s)")
    p.add_argument("--folds", type=at_least_two, default=5,
                   help="folds of the blend's own patient-grouped CV (default: %(default)s)")
    p.add_argument("--out", default="hms_blend", help="output folder (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_blend)
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
    return (HMSError, UsageError, ModelFileError, FeatureMismatchError,
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
        with warnings.catch_warnings():
            # one line per problem, no source lines: "hms-features: <file>: <what> (<done>)"
            warnings.showwarning = _show_warning
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
