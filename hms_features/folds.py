"""Cross-validation folds: stratified by the expert consensus, or read from the user's own file.

Both functions return one fold number per row of a label table (``train.csv`` rows, or the one
row per EEG of :meth:`~hms_features.data.HMSDataset.eeg_labels`), the format
:func:`hms_features.data.patient_folds` returns and ``cross_validate_by_patient(folds=...)``
takes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .data import VOTE_COLUMNS, HMSError, patient_groups
from .metrics import CLASSES

__all__ = ["read_fold_file", "stratified_patient_folds"]


def _consensus(labels: pd.DataFrame) -> np.ndarray:
    """Index 0..5 of each row's most voted class (the first one on a tie, as numpy's argmax)."""
    if set(VOTE_COLUMNS) <= set(labels.columns):
        return labels[list(VOTE_COLUMNS)].to_numpy(dtype=np.float64).argmax(axis=1)
    if "expert_consensus" in labels:
        lookup = {c: i for i, c in enumerate(CLASSES)}
        names = labels["expert_consensus"].astype(str).str.strip().str.lower()
        bad = ~names.isin(list(lookup))
        if bad.any():
            raise HMSError(f"stratified_patient_folds: row {int(np.argmax(bad.to_numpy()))} has "
                           f"expert_consensus {labels['expert_consensus'][bad].iloc[0]!r}, "
                           f"expected one of {CLASSES}")
        return names.map(lookup).to_numpy(dtype=np.int64)
    raise HMSError("stratified_patient_folds: the label table has neither the vote columns "
                   f"{list(VOTE_COLUMNS)} nor 'expert_consensus'")


def stratified_patient_folds(labels: pd.DataFrame, n_splits: int = 5,
                             seed: int | None = 0) -> np.ndarray:
    """Patient-grouped folds with similar class mixes: ``StratifiedGroupKFold`` on the consensus.

    No patient is in two folds; among such splits, scikit-learn's
    :class:`~sklearn.model_selection.StratifiedGroupKFold` picks one whose folds hold about the
    same share of each expert-consensus class (the most voted class of each row), so a fold is
    not, say, nearly free of seizures. With ``seed`` fixed the folds are reproducible.

    Parameters
    ----------
    labels : DataFrame
        Label rows with ``patient_id`` and either the six ``*_vote`` columns (consensus = their
        argmax, the first class on a tie) or ``expert_consensus``.
    n_splits : int
        Number of folds, 2 <= n_splits <= number of patients.
    seed : int or None
        Shuffles the patients before assigning them (``shuffle=True, random_state=seed``);
        None keeps scikit-learn's deterministic order without shuffling.

    Returns
    -------
    ndarray of int64, shape (n_rows,)
        Fold 0..n_splits-1 of each row.

    Raises
    ------
    HMSError
        Missing columns, or ``n_splits`` out of range.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = patient_groups(labels, n_splits, "stratified_patient_folds")
    strata = _consensus(labels)
    cv = (StratifiedGroupKFold(n_splits=n_splits) if seed is None else
          StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed)))
    folds = np.full(len(labels), -1, dtype=np.int64)
    with warnings.catch_warnings():
        # "The least populated class in y has only k members": expected for rare classes.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, test) in enumerate(cv.split(np.zeros(len(labels)), strata, groups=groups)):
            folds[test] = k
    return folds


def read_fold_file(path, labels: pd.DataFrame, *, allow_unknown: bool = False,
                   split_patients: str = "warn") -> np.ndarray:
    """Folds given by the user: a CSV mapping ``label_id`` or ``eeg_id`` to a fold number.

    The file has a ``fold`` column and a key column: ``label_id`` (one fold per label row) if
    present, else ``eeg_id`` (every label row of that EEG gets the EEG's fold). Other columns are
    ignored. Fold numbers are non-negative integers, kept as given (e.g. folds 1..5 stay 1..5).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    labels : DataFrame
        The label rows to assign folds to (with the key column, and ``patient_id`` for the
        patient check).
    allow_unknown : bool
        Ids in the file that are not in ``labels`` are an error by default (usually the file of
        another dataset); set True when ``labels`` is deliberately a subset of the rows the file
        was written for (e.g. the one row per EEG of ``eeg_labels()`` with a ``label_id`` file,
        or rows kept by a minimum number of votes).
    split_patients : {"warn", "error", "ignore"}
        What to do when one patient's rows fall in more than one fold. Such folds leak (the
        model sees the patient it is scored on) and make the CV score optimistic; the default
        only warns, because the folds are the user's deliberate choice (e.g. EEG-grouped folds
        to compare with a published notebook).

    Returns
    -------
    ndarray of int64, shape (n_rows,)
        Fold of each row of ``labels``.

    Raises
    ------
    HMSError
        Naming the file (and the column, row or id): unreadable file, no ``fold`` column or key
        column, empty or non-integer or negative fold (row = line number in the file, header =
        line 1), the same id with two different folds, label rows whose id the file lacks,
        unknown ids (unless ``allow_unknown``), fewer than 2 folds among the rows, or a patient
        in several folds with ``split_patients="error"``.
    """
    path = Path(path)
    if split_patients not in ("warn", "error", "ignore"):
        raise ValueError(f"split_patients must be 'warn', 'error' or 'ignore', "
                         f"got {split_patients!r}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise HMSError(f"{path}: fold file not found") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise HMSError(f"{path}: not a readable CSV fold file ({e})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if "fold" not in table:
        raise HMSError(f"{path}: no 'fold' column (columns: {list(table.columns)[:8]}); expected "
                       "'label_id' or 'eeg_id' and 'fold'")
    key = next((k for k in ("label_id", "eeg_id") if k in table), None)
    if key is None:
        raise HMSError(f"{path}: no 'label_id' or 'eeg_id' column (columns: "
                       f"{list(table.columns)[:8]})")
    if key not in labels:
        raise HMSError(f"{path}: keyed by {key!r}, but the label table has no such column")
    if table.empty:
        raise HMSError(f"{path}: no rows")

    def _ints(column: str) -> np.ndarray:
        text = table[column].str.strip()
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num) | (np.mod(num, 1) != 0) | (num < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise HMSError(f"{path}: line {i + 2}, column {column!r}: {text.iloc[i]!r} is not a "
                           "non-negative integer")
        return num.astype(np.int64)

    ids, fold = _ints(key), _ints("fold")
    mapping = pd.Series(fold, index=ids)
    dup = mapping.index.duplicated(keep=False)
    if dup.any():
        conflict = mapping[dup].groupby(level=0).nunique()
        conflict = conflict[conflict > 1]
        if len(conflict):
            bad_id = conflict.index[0]
            lines = (np.flatnonzero(ids == bad_id) + 2).tolist()
            raise HMSError(f"{path}: {key} {bad_id} has different folds on lines {lines}")
        mapping = mapping[~mapping.index.duplicated()]
    wanted = labels[key].to_numpy().astype(np.int64)
    missing = ~np.isin(wanted, mapping.index.to_numpy())
    if missing.any():
        raise HMSError(f"{path}: no fold for {key} {wanted[missing][0]} (label row "
                       f"{int(np.argmax(missing))}; {int(missing.sum())} label rows lack one)")
    unknown = ~np.isin(mapping.index.to_numpy(), wanted)
    if unknown.any() and not allow_unknown:
        first = mapping.index[unknown][0]
        raise HMSError(f"{path}: line {int(np.flatnonzero(ids == first)[0]) + 2}: {key} {first} "
                       f"is not in the label table ({int(unknown.sum())} such ids); wrong file? "
                       "(allow_unknown=True if the table is a subset of the file's rows)")
    folds = mapping.loc[wanted].to_numpy(dtype=np.int64)
    if len(np.unique(folds)) < 2:
        raise HMSError(f"{path}: the label rows fall in {len(np.unique(folds))} fold(s) "
                       f"({sorted(np.unique(folds).tolist())}); cross-validation needs at least 2")
    if split_patients != "ignore" and "patient_id" in labels:
        per = pd.Series(folds).groupby(labels["patient_id"].to_numpy()).nunique()
        split = per[per > 1]
        if len(split):
            pid = split.index[0]
            where = sorted(np.unique(folds[labels["patient_id"].to_numpy() == pid]).tolist())
            msg = (f"{path}: patient {pid} has rows in folds {where} ({len(split)} patients are "
                   "split across folds): its rows are scored by a model trained on its other "
                   "rows, so the CV score is optimistic")
            if split_patients == "error":
                raise HMSError(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
    return folds
