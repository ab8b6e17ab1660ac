"""Write the Kaggle ``submission.csv``: ``eeg_id`` plus six ``*_vote`` probability columns.

Kaggle checks that every row of the submission sums to 1 (``numpy.allclose``) and does not
renormalise it; it then clips to ``[1e-15, 1 - 1e-15]``. :func:`write_submission` therefore
renormalises each row in float64 before writing, writes full precision (``repr`` of each float),
and re-reads the file to check it.

Row order: the rows are written in the order of the given ``eeg_ids`` (``test.csv`` order when
they come from ``HMSDataset(root, "test").labels``). Kaggle scores a submission by joining it
to the solution on ``eeg_id``, so the row order does not change the score; a sample submission,
when given, is used to check the ids and columns, not to reorder.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._io import write_atomic
from .data import VOTE_COLUMNS, check_sample_submission
from .metrics import CLASSES, normalize_votes

__all__ = ["SUBMISSION_COLUMNS", "check_sample_submission",
           "write_submission"]

#: Columns of ``submission.csv``, in Kaggle's order.
SUBMISSION_COLUMNS = ("eeg_id",) + VOTE_COLUMNS


def _class_columns(df: pd.DataFrame) -> np.ndarray:
    """The six probability columns of a DataFrame named by class or ``*_vote``, in class order
    (unnamed: taken as they are)."""
    cols = [str(c) for c in df.columns]
    for names in (CLASSES, SUBMISSION_COLUMNS[1:]):
        if set(names) <= set(cols) and len(cols) == len(CLASSES):
            return df[list(names)].to_numpy(dtype=np.float64)
    if isinstance(df.columns, pd.RangeIndex) and len(cols) == len(CLASSES):
        return df.to_numpy(dtype=np.float64)
    raise ValueError(f"proba: DataFrame columns {cols[:8]} are not the six classes; expected "
                     f"{list(SUBMISSION_COLUMNS[1:])} or {list(CLASSES)}")


def write_submission(eeg_ids, proba, path, sample_submission=None) -> pd.DataFrame:
    """Write ``submission.csv`` for the HMS competition.

    Parameters
    ----------
    eeg_ids : array-like of int, shape (n,)
        Test EEG ids, e.g. ``HMSDataset(root, "test").labels["eeg_id"]`` (``test.csv`` order).
        The file's rows are in this order (Kaggle matches rows by ``eeg_id``, so any order
        scores the same).
    proba : array-like, shape (n, 6)
        Predicted probabilities in :data:`~hms_features.metrics.CLASSES` order (a DataFrame may
        name its columns by class or ``*_vote``). Each row is divided by its sum.
    path : str or Path
        Output file (its folder must exist). Written to a temporary file beside it, checked,
        then renamed: a failure never leaves a half-written submission.
    sample_submission : str, Path or DataFrame, optional
        Kaggle's ``sample_submission.csv``. When given, the ids must be exactly its ids (in
        any order; rows keep the order of ``eeg_ids``) and its columns must be
        :data:`SUBMISSION_COLUMNS`. Checked before anything is written.

    Returns
    -------
    DataFrame
        What was written.

    Raises
    ------
    ValueError
        Duplicate or non-integer ids, wrong shape, negative / NaN / all-zero probability rows
        (naming the eeg_id); :class:`~hms_features.data.HMSError` (a ``ValueError``) for ids
        or columns differing from the sample submission. Nothing is written then.
    """
    ids = np.asarray(eeg_ids)
    if ids.ndim != 1:
        raise ValueError(f"eeg_ids must be 1-D, got shape {ids.shape}")
    try:
        ids_int = ids.astype(np.int64)
    except (TypeError, ValueError):
        raise ValueError("eeg_ids must be integers (Kaggle eeg_id)") from None
    if not np.array_equal(ids_int, ids.astype(np.float64)):
        raise ValueError("eeg_ids must be integers (Kaggle eeg_id)")
    dup = pd.Index(ids_int).duplicated()
    if dup.any():
        raise ValueError(f"eeg_id {ids_int[np.argmax(dup)]} appears more than once")
    if isinstance(proba, pd.DataFrame):
        P = _class_columns(proba)
    else:
        P = np.asarray(proba, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != len(CLASSES):
            raise ValueError(f"proba: expected shape ({len(ids)}, {len(CLASSES)}), got {P.shape}")
    try:
        P = normalize_votes(P, name="proba")
    except ValueError as e:
        msg = str(e)
        m = re.search(r"row (\d+)", msg)
        if m and int(m.group(1)) < len(ids_int):
            msg += f" (eeg_id {ids_int[int(m.group(1))]})"
        raise ValueError(msg) from None
    if P.shape[0] != len(ids_int):
        raise ValueError(f"{len(ids_int)} eeg_ids but {P.shape[0]} probability rows")
    sub = pd.DataFrame(P, columns=list(SUBMISSION_COLUMNS[1:]))
    sub.insert(0, "eeg_id", ids_int)
    if sample_submission is not None:
        check_sample_submission(sample_submission, ids_int)
    def write(tmp):
        sub.to_csv(tmp, index=False, float_format="%.17g")
        back = pd.read_csv(tmp)
        sums = back[list(SUBMISSION_COLUMNS[1:])].to_numpy().sum(axis=1)
        if tuple(back.columns) != SUBMISSION_COLUMNS or not np.allclose(sums, 1.0):
            raise RuntimeError(f"{path}: written file failed its own check")  # pragma: no cover

    write_atomic(path, write)
    return sub
