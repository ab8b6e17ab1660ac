"""The numbers behind the report: probability-matrix checks, reliability bins, confusion counts
and per-fold KL reports. Pure numpy/pandas; no matplotlib.
"""

from __future__ import annotations

import numpy as np

from ..metrics import CLASSES, kl_report, normalize_votes
from ..metrics import _as_matrix as _prob_matrix  # the one (n, 6) check, metrics'

__all__ = ["reliability_bins", "confusion_counts", "fold_kl_reports"]

#: Rows scaled to sum to 1 (vote counts or probabilities alike): the metrics parser's.
_fractions = normalize_votes


def reliability_bins(p, y, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin predicted probabilities and average the observed fractions in each bin.

    Bins are ``n_bins`` equal-width intervals of [0, 1]: bin ``k`` holds the predictions with
    ``k / n_bins <= p < (k + 1) / n_bins``; ``p == 1`` falls in the last bin.

    Parameters
    ----------
    p : array-like, shape (n,)
        Predicted probability of one class.
    y : array-like, shape (n,)
        Observed fraction of the experts' votes for that class (0..1).
    n_bins : int
        Number of bins.

    Returns
    -------
    mean_pred : ndarray, shape (n_bins,)
        Mean of ``p`` in each bin (NaN for an empty bin).
    mean_obs : ndarray, shape (n_bins,)
        Mean of ``y`` in each bin (NaN for an empty bin). A calibrated model has
        ``mean_obs == mean_pred``.
    count : ndarray of int64, shape (n_bins,)
        Number of predictions in each bin.
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"reliability_bins: p has {p.size} values but y has {y.size}")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"reliability_bins: n_bins must be a positive integer, got {n_bins!r}")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or np.isnan(p).any()):
        raise ValueError("reliability_bins: p must hold probabilities in [0, 1]")
    n_bins = int(n_bins)
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(idx, weights=p, minlength=n_bins) / count
        mean_obs = np.bincount(idx, weights=y, minlength=n_bins) / count
    mean_pred[count == 0] = np.nan
    mean_obs[count == 0] = np.nan
    return mean_pred, mean_obs, count


def confusion_counts(y_true_prob, y_pred) -> np.ndarray:
    """Confusion matrix of the argmax class.

    Parameters
    ----------
    y_true_prob : array-like, shape (n, 6)
        Vote fractions or counts; the true class is the argmax (the expert consensus; ties go to
        the first class in :data:`CLASSES` order).
    y_pred : array-like, shape (n, 6)
        Predicted probabilities; the predicted class is the argmax.

    Returns
    -------
    ndarray of int64, shape (6, 6)
        ``counts[i, j]`` = rows whose true class is ``CLASSES[i]`` and predicted ``CLASSES[j]``.
    """
    t = _prob_matrix(y_true_prob, "y_true_prob").argmax(axis=1)
    p = _prob_matrix(y_pred, "y_pred").argmax(axis=1)
    if len(t) != len(p):
        raise ValueError(f"confusion_counts: y_true_prob has {len(t)} rows, y_pred {len(p)}")
    k = len(CLASSES)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def fold_kl_reports(votes, proba, folds) -> list[dict]:
    """One :func:`~hms_features.metrics.kl_report` per fold, in fold-number order.

    Parameters
    ----------
    votes : array-like, shape (n, 6)
        Vote counts.
    proba : array-like, shape (n, 6)
        Out-of-fold probabilities (e.g. ``CVResult.oof``).
    folds : array-like of int, shape (n,)
        Fold of each row (e.g. ``CVResult.folds``).

    Returns
    -------
    list of dict
        The input of :func:`plot_kl_by_group` and ``write_report(fold_reports=...)``.
    """
    v = _prob_matrix(votes, "votes")
    p = _prob_matrix(proba, "proba")
    folds = np.asarray(folds).ravel()
    if not len(v) == len(p) == len(folds):
        raise ValueError(f"fold_kl_reports: votes has {len(v)} rows, proba {len(p)}, folds "
                         f"{len(folds)}: must match")
    return [kl_report(v[folds == k], p[folds == k]) for k in np.unique(folds)]

