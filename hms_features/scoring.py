"""A scikit-learn scorer for the HMS metric, usable with soft targets.

``neg_log_loss`` refuses soft targets (it wants class labels). :data:`kl_scorer` accepts as ``y``
what :class:`~hms_features.models.SoftLabelLGBMClassifier` trains on — vote counts or vote
probabilities of shape (n_rows, 6), or class labels — and returns the negative Kaggle KL
divergence of ``predict_proba(X)`` from them (greater is better, as every scikit-learn score):

>>> from sklearn.model_selection import GroupKFold, cross_val_score   # doctest: +SKIP
>>> cross_val_score(pipe, X, votes, groups=patients, cv=GroupKFold(5),
...                 scoring=kl_scorer)                                # doctest: +SKIP

scikit-learn passes ``y`` through to the score function unchanged (2-D here), and takes the
predictions from ``predict_proba`` (``response_method="predict_proba"``); since the estimator's
``classes_`` are the six class names, the (n_rows, 6) probabilities are not reduced to one column.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import make_scorer

from .metrics import kl_divergence, kl_per_row

__all__ = ["kl_score", "kl_scorer"]


def kl_score(y_true, y_proba, sample_weight=None) -> float:
    """The HMS KL divergence (nats) of ``y_proba`` from ``y_true`` (lower is better).

    Parameters
    ----------
    y_true : array-like or DataFrame, shape (n, 6) or (n,)
        Vote counts, vote probabilities (rows summing to 1) or class labels; a DataFrame may name
        its columns ``seizure..other`` or ``seizure_vote..other_vote``.
    y_proba : array-like, shape (n, 6)
        Predicted probabilities in :data:`~hms_features.metrics.CLASSES` order.
    sample_weight : array-like, shape (n,), optional
        Weighted mean of the per-row KL instead of the plain mean.

    Returns
    -------
    float
        :func:`hms_features.metrics.kl_divergence` (with ``votes=True`` for counts: the same
        division by the row sums) when unweighted.

    Raises
    ------
    ValueError
        From the metric: wrong shapes, negative or all-zero vote rows, predictions that are not
        probabilities (Kaggle does not renormalise a submission).
    """
    from .models.lgbm import as_soft_targets

    # Vote counts are divided by their row sums exactly as kl_divergence(votes=True) does.
    y, _ = as_soft_targets(y_true, name="y_true")
    if sample_weight is None:
        return kl_divergence(y, y_proba)
    return float(np.average(kl_per_row(y, y_proba), weights=sample_weight))


#: ``scoring=kl_scorer`` for ``cross_val_score``, ``GridSearchCV`` ...: ``-kl_score(y, proba)``.
kl_scorer = make_scorer(kl_score, greater_is_better=False, response_method="predict_proba")
