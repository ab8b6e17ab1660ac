"""The HMS competition metric: KL divergence of predictions from the expert vote distribution.

Implements what Kaggle's published HMS scoring code does, step by step:

1. both tables must hold valid probabilities — numeric, in [0, 1], each row summing to 1 within
   ``numpy.allclose`` tolerance (rtol 1e-5, atol 1e-8); otherwise an error (Kaggle does **not**
   renormalise a submission);
2. the submission is clipped to ``[1e-15, 1 - 1e-15]`` (after the check, without renormalising);
3. per cell ``y * log(y / p)``, with cells whose target ``y`` is 0 dropped (contributing 0);
4. row sums over the six classes are averaged over rows (``micro_average=True``).

Natural logarithm (nats) throughout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CLASSES", "EPSILON", "kl_divergence", "kl_per_row", "kl_report", "normalize_votes"]

#: The six classes, in the order used everywhere in the library.
CLASSES = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
#: Kaggle's clipping epsilon for submissions.
EPSILON = 1e-15


def _as_matrix(a, name: str) -> np.ndarray:
    if isinstance(a, pd.DataFrame):
        a = a.to_numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != len(CLASSES):
        raise ValueError(
            f"{name}: expected shape (n_rows, {len(CLASSES)}) in class order {CLASSES}, "
            f"got {a.shape}"
        )
    if not np.isfinite(a).all():
        bad = int(np.argwhere(~np.isfinite(a))[0, 0])
        raise ValueError(f"{name}: row {bad} holds NaN or inf")
    return a


def normalize_votes(votes, name: str = "votes") -> np.ndarray:
    """Turn vote counts (or unnormalised weights) into probabilities.

    Parameters
    ----------
    votes : array-like, shape (n_rows, 6)
        Non-negative vote counts in :data:`CLASSES` order.
    name : str
        Used in error messages.

    Returns
    -------
    ndarray of float64, shape (n_rows, 6)
        Rows summing to 1.

    Raises
    ------
    ValueError
        On a negative entry or a row whose votes sum to 0, naming the first bad row.
    """
    v = _as_matrix(votes, name)
    neg = (v < 0).any(axis=1)
    if neg.any():
        raise ValueError(f"{name}: row {int(np.argmax(neg))} has a negative vote")
    total = v.sum(axis=1, keepdims=True)
    zero = total[:, 0] <= 0
    if zero.any():
        raise ValueError(f"{name}: row {int(np.argmax(zero))} has zero votes in total")
    return v / total


def _check_probabilities(a: np.ndarray, name: str) -> None:
    if (a < 0).any():
        raise ValueError(f"All target values in {name} must be at least zero")
    if (a > 1).any():
        raise ValueError(f"All target values in {name} must be no greater than one")
    sums = a.sum(axis=1)
    bad = ~np.isclose(sums, 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"Target values in {name} do not add to one within all rows "
            f"(row {i} sums to {sums[i]:.6g}); Kaggle does not renormalise"
        )


def _kl_terms(y_true, y_pred, votes: bool) -> np.ndarray:
    """Cell-wise ``y log(y / clip(p))`` after Kaggle's checks; 0 where ``y == 0``."""
    y = normalize_votes(y_true, "y_true") if votes else _as_matrix(y_true, "y_true")
    p = _as_matrix(y_pred, "y_pred")
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but y_pred has {p.shape[0]}")
    _check_probabilities(y, "solution")
    _check_probabilities(p, "submission")
    p = np.clip(p, EPSILON, 1 - EPSILON)
    pos = y > 0
    terms = np.zeros_like(y)
    terms[pos] = y[pos] * np.log(y[pos] / p[pos])
    return terms


def kl_per_row(y_true, y_pred, *, votes: bool = False) -> np.ndarray:
    """Per-row KL divergence ``sum_c y_c log(y_c / p_c)`` in nats, as Kaggle computes it.

    Parameters
    ----------
    y_true : array-like, shape (n_rows, 6)
        Vote fractions (rows summing to 1), or vote counts when ``votes=True``.
    y_pred : array-like, shape (n_rows, 6)
        Predicted probabilities, rows summing to 1 (checked, not renormalised).
    votes : bool
        Normalise ``y_true`` from counts first.

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    return _kl_terms(y_true, y_pred, votes).sum(axis=1)


def kl_divergence(y_true, y_pred, *, votes: bool = False) -> float:
    """The Kaggle HMS score: mean over rows of :func:`kl_per_row` (nats; lower is better)."""
    return float(kl_per_row(y_true, y_pred, votes=votes).mean())


def kl_report(votes, y_pred, *, min_votes: int = 10) -> dict:
    """KL divergence overall, split by number of votes, and per class.

    Parameters
    ----------
    votes : array-like, shape (n_rows, 6)
        Vote counts (not fractions: the split needs the number of annotators).
    y_pred : array-like, shape (n_rows, 6)
        Predicted probabilities.
    min_votes : int
        Rows with at least this many votes form the ``"kl_many_votes"`` group.

    Returns
    -------
    dict
        ``kl`` (all rows), ``kl_many_votes`` / ``kl_few_votes`` (NaN for an empty group),
        ``n_many_votes`` / ``n_few_votes``, and ``per_class``: a dict class -> that class's
        summed contribution ``mean_rows(y_c log(y_c / p_c))``; the contributions add up to ``kl``.
    """
    v = _as_matrix(votes, "votes")
    terms = _kl_terms(v, y_pred, votes=True)
    rows = terms.sum(axis=1)
    many = v.sum(axis=1) >= min_votes
    return {
        "kl": float(rows.mean()),
        "kl_many_votes": float(rows[many].mean()) if many.any() else float("nan"),
        "kl_few_votes": float(rows[~many].mean()) if (~many).any() else float("nan"),
        "n_many_votes": int(many.sum()),
        "n_few_votes": int((~many).sum()),
        "per_class": {c: float(terms[:, i].mean()) for i, c in enumerate(CLASSES)},
    }


def kl_table(votes, predictions: dict, *, min_votes: int = 10) -> pd.DataFrame:
    """KL of each named prediction next to two baselines, overall and split by vote count.

    Parameters
    ----------
    votes : array-like, shape (n_rows, 6)
        Vote counts in :data:`CLASSES` order.
    predictions : dict
        Name -> (n_rows, 6) predicted probabilities (e.g. ``{"model (out-of-fold)": cv.oof}``).
    min_votes : int
        Rows with at least this many votes form the ``"KL >=10 votes"`` column.

    Returns
    -------
    DataFrame
        One row per prediction, after ``"uniform"`` (1/6 each) and ``"class prior
        (in-sample)"`` (the mean vote distribution of ``votes``); columns ``"KL"``,
        ``"KL >=10 votes"`` and ``"KL <10 votes"`` (nats, :func:`kl_report`).
    """
    y = normalize_votes(votes)
    prior = np.broadcast_to(y.mean(axis=0), y.shape)
    rows = {"uniform": np.full(y.shape, 1 / len(CLASSES)), "class prior (in-sample)": prior,
            **predictions}
    out = {}
    for name, p in rows.items():
        r = kl_report(votes, p, min_votes=min_votes)
        out[name] = {"KL": r["kl"], f"KL >={min_votes} votes": r["kl_many_votes"],
                     f"KL <{min_votes} votes": r["kl_few_votes"]}
    return pd.DataFrame(out).T
