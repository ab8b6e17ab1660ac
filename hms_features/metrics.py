"""The HMS competition metric: KL divergence of predictions from the expert vote distribution.

Implements what Kaggle's published HMS scoring code does, step by step:

1. both tables must hold valid probabilities — numeric, in [0, 1], each row summing to 1 within
   ``numpy.allclose`` tolerance (rtol 1e-5, atol 1e-8); otherwise an error (Kaggle does **not**
   renormalise a submission);
2. the submission is clipped to ``[1e-15, 1 - 1e-15]`` (after the check, without renormalising);
3. per cell ``y * log(y / p)``, with cells whose target ``y`` is 0 dropped (contributing 0);
4. row sums over the six classes are averaged over rows (``micro_average=True``).

Natural logarithm (nats) throughout.

This module is also the library's one target parser: :func:`parse_targets` turns class labels,
vote counts or probabilities into vote distributions for any set of classes (the classifier's
``fit``), and :func:`as_soft_targets` does the same for the six HMS classes (the embedders, the
pipeline, submissions); both raise the same messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = [
    "CLASSES", "EPSILON", "as_soft_targets", "kl_divergence", "kl_per_row", "kl_report",
    "kl_score", "kl_scorer", "kl_table", "normalize_votes", "parse_targets",
]

#: The six classes, in the order used everywhere in the library.
CLASSES = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
#: Kaggle's clipping epsilon for submissions.
EPSILON = 1e-15
_VOTE_SUFFIX = "_vote"


def _as_matrix(a, name: str, n_classes: int = len(CLASSES)) -> np.ndarray:
    if isinstance(a, pd.DataFrame):
        a = a.to_numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != n_classes:
        order = f" in class order {CLASSES}" if n_classes == len(CLASSES) else ""
        raise ValueError(f"{name}: expected shape (n_rows, {n_classes}){order}, got {a.shape}")
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
    return _vote_distributions(_as_matrix(votes, name), name)[0]


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


def _kl_terms(y_true, y_pred, votes: bool, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Cell-wise ``y log(y / clip(p))`` after Kaggle's checks; 0 where ``y == 0``."""
    y = _as_matrix(y_true, "y_true", n_classes)
    if votes:
        y = _vote_distributions(y, "y_true")[0]
    p = _as_matrix(y_pred, "y_pred", n_classes)
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but y_pred has {p.shape[0]}")
    _check_probabilities(y, "solution")
    _check_probabilities(p, "submission")
    p = np.clip(p, EPSILON, 1 - EPSILON)
    pos = y > 0
    terms = np.zeros_like(y)
    terms[pos] = y[pos] * np.log(y[pos] / p[pos])
    return terms


def kl_per_row(y_true, y_pred, *, votes: bool = False, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Per-row KL divergence ``sum_c y_c log(y_c / p_c)`` in nats, as Kaggle computes it.

    Parameters
    ----------
    y_true : array-like, shape (n_rows, 6)
        Vote fractions (rows summing to 1), or vote counts when ``votes=True``.
    y_pred : array-like, shape (n_rows, 6)
        Predicted probabilities, rows summing to 1 (checked, not renormalised).
    votes : bool
        Normalise ``y_true`` from counts first.
    n_classes : int
        Number of columns of both tables: 6 for HMS (the default, checked); any ``K >= 2`` to
        score another task with the same rules.

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    return _kl_terms(y_true, y_pred, votes, n_classes).sum(axis=1)


def kl_divergence(y_true, y_pred, *, votes: bool = False, n_classes: int = len(CLASSES)) -> float:
    """The Kaggle HMS score: mean over rows of :func:`kl_per_row` (nats; lower is better)."""
    return float(kl_per_row(y_true, y_pred, votes=votes, n_classes=n_classes).mean())


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


# --------------------------------------------------------------------------------------------
# Targets: the library's one parser of class labels, vote counts and probabilities
# --------------------------------------------------------------------------------------------


def _vote_distributions(a: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of non-negative votes (n, K) -> (rows scaled to sum to 1, row sums)."""
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: vote columns must be numeric, got dtype {np.asarray(a).dtype}"
        ) from None
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise ValueError(f"{name}: row {int(np.argmax(bad))} holds NaN or inf")
    neg = (a < 0).any(axis=1)
    if neg.any():
        raise ValueError(f"{name}: row {int(np.argmax(neg))} has a negative vote")
    total = a.sum(axis=1)
    zero = total <= 0
    if zero.any():
        raise ValueError(
            f"{name}: row {int(np.argmax(zero))} has zero votes in total "
            "(drop it: it carries no target distribution)"
        )
    return a / total[:, None], total


def _class_array(classes) -> np.ndarray:
    """Class names as an ndarray: object dtype for strings (as fitted estimators keep them)."""
    arr = np.asarray(list(classes))
    return arr.astype(object) if arr.dtype.kind in "UO" else arr


def _select_vote_columns(df: pd.DataFrame, names, name: str):
    """The class columns of a DataFrame, in class order, and the class names found.

    Columns may be named ``<class>`` or ``<class>_vote`` (any order, extra columns ignored; with
    ``names`` None, the six HMS :data:`CLASSES`), or be unnamed (a RangeIndex) and already in
    class order.
    """
    cols = [str(c) for c in df.columns]
    for candidate in (names if names is not None else list(CLASSES),):
        for wanted in ([f"{c}{_VOTE_SUFFIX}" for c in map(str, candidate)],
                       [str(c) for c in candidate]):
            if set(wanted) <= set(cols):
                return df[[df.columns[cols.index(c)] for c in wanted]].to_numpy(), candidate
    if isinstance(df.columns, pd.RangeIndex):
        return df.to_numpy(), names
    if names is None:
        raise ValueError(
            f"{name}: DataFrame columns {cols[:8]} are not the six HMS classes; pass "
            "classes=[...] to name the vote columns, or pass an array in class order"
        )
    raise ValueError(
        f"{name}: DataFrame columns {cols[:8]} are not the {len(names)} classes; expected "
        f"{[f'{c}{_VOTE_SUFFIX}' for c in map(str, names)]} or {[str(c) for c in names]} (any "
        "order), or unnamed columns in class order"
    )


def _labels_to_targets(y: np.ndarray, classes, name: str):
    """One-hot targets from 1-D labels; the classes are the given ones or the sorted labels."""
    if classes is None:
        if y.dtype.kind == "f":
            bad = ~np.isfinite(y) | (np.mod(y, 1) != 0)
            if bad.any():
                i = int(np.argmax(bad))
                # "Unknown label type" is the phrase scikit-learn's estimator checks look for.
                raise ValueError(
                    f"{name}: Unknown label type: continuous (row {i} is {y[i].item()!r}); "
                    "expected "
                    "discrete class labels, or a 2-D array of vote counts or probabilities"
                )
        try:
            found, idx = np.unique(y, return_inverse=True)
        except TypeError:
            raise ValueError(
                f"{name}: Unknown label type: labels mix types "
                f"({sorted({type(v).__name__ for v in y})}); use one type for all classes"
            ) from None
        if len(found) < 2:
            raise ValueError(
                f"{name}: only one class ({found[0]!r}) is present; a classifier needs at "
                "least 2 classes"
            )
        targets = np.zeros((len(y), len(found)))
        targets[np.arange(len(y)), idx.reshape(-1)] = 1.0
        return targets, np.ones(len(y)), _class_array(found)
    cls = _class_array(classes)
    k = len(cls)
    numeric_classes = cls.dtype.kind in "iufb"
    integral = (y.dtype.kind == "f" and np.isfinite(y).all() and np.all(np.mod(y, 1) == 0))
    if not numeric_classes and (y.dtype.kind in "iu" or integral):
        idx = y.astype(np.int64)
        bad = (idx < 0) | (idx >= k)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}: row {i} has class index {y[i].item()}, expected 0..{k - 1}")
    else:
        lookup = {c: i for i, c in enumerate(cls.tolist())}
        for i, c in enumerate(cls.tolist()):
            if isinstance(c, str):
                lookup.setdefault(c.strip().lower(), i)
                lookup.setdefault(c.strip().lower() + _VOTE_SUFFIX, i)
        labels = y.tolist()
        found = [lookup.get(v, lookup.get(v.strip().lower()) if isinstance(v, str) else None)
                 for v in labels]
        bad = [i for i, f in enumerate(found) if f is None]
        if bad:
            hint = "" if numeric_classes else f" or a class index 0..{k - 1}"
            raise ValueError(
                f"{name}: row {bad[0]} has label {labels[bad[0]]!r}: Unknown label type or class; "
                f"expected one of {tuple(cls.tolist())} (any case){hint}"
            )
        idx = np.asarray(found, dtype=np.int64)
    targets = np.zeros((len(idx), k))
    targets[np.arange(len(idx)), idx] = 1.0
    return targets, np.ones(len(idx)), cls


def parse_targets(y, classes=None, name: str = "y") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class labels, vote counts or probabilities -> vote distributions, vote counts, classes.

    The library's one target parser (:func:`as_soft_targets` is its HMS form).

    Parameters
    ----------
    y : array-like, Series or DataFrame
        Either 1-D (or one column) class labels — integers, strings or any sortable values — or
        shape (n, K) with K >= 2: vote counts or probabilities, one column per class. A
        DataFrame's columns may be named ``<class>`` or ``<class>_vote`` (any order; other
        columns are ignored) or be unnamed and in class order.
    classes : sequence or None
        The classes, in the order of the output columns. For labels: each label must be one of
        them (strings match case-insensitively, also as ``"<class>_vote"``; integer labels are
        indices ``0..K-1`` when the classes are not numbers). For a 2-D ``y``: the names of its K
        columns. None: the sorted distinct labels, or for a 2-D ``y`` the six HMS
        :data:`CLASSES` when K = 6 and ``0..K-1`` otherwise.
    name : str
        Used in error messages.

    Returns
    -------
    targets : ndarray of float64, shape (n, K)
        Rows summing to 1 (one-hot for labels).
    n_votes : ndarray of float64, shape (n,)
        Row sums before normalising (the number of votes for counts; 1 for probabilities and
        labels).
    classes : ndarray, shape (K,)
        The class of each column (object dtype for strings).

    Raises
    ------
    ValueError
        A missing ``y``; a wrong shape or column set; continuous, mixed-type or unknown labels;
        a single class; NaN/inf, a negative vote or a row with zero votes, naming the first bad
        row.

    Examples
    --------
    >>> t, n, c = parse_targets(["b", "a", "b"])
    >>> c.tolist(), t.tolist()
    (['a', 'b'], [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    >>> t, n, c = parse_targets([[3, 1], [0, 2]], classes=["yes", "no"])
    >>> t.tolist(), n.tolist()
    ([[0.75, 0.25], [0.0, 1.0]], [4.0, 2.0])
    """
    if y is None:
        # scikit-learn's wording, which its estimator checks look for
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None; expected class "
            "labels (n_rows,) or vote counts / probabilities (n_rows, n_classes)"
        )
    names = None if classes is None else list(classes)
    if names is not None and len(set(map(str, names))) != len(names):
        raise ValueError(f"classes must be distinct, got {names}")
    if isinstance(y, pd.DataFrame) and y.shape[1] > 1:
        y, names = _select_vote_columns(y, names, name)
    elif isinstance(y, (pd.DataFrame, pd.Series)):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        # a column of labels; scikit-learn's warning (and wording) for it
        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape "
            f"of y to (n_samples, ), for example using ravel() ({name}: read as class labels).",
            DataConversionWarning, stacklevel=3,
        )
        y = y[:, 0]
    if y.ndim == 1:
        return _labels_to_targets(y, names, name)
    k = len(names) if names is not None else None
    if y.ndim != 2 or y.shape[1] < 2 or (k is not None and y.shape[1] != k):
        order = f"in class order {tuple(names)}" if names is not None else "one column per class"
        raise ValueError(
            f"{name}: expected shape (n_rows, {k if k is not None else 'n_classes'}) of vote "
            f"counts or probabilities {order}, or a 1-D vector of class labels; got shape "
            f"{y.shape}"
        )
    targets, total = _vote_distributions(y, name)
    if names is None:
        names = CLASSES if y.shape[1] == len(CLASSES) else np.arange(y.shape[1])
    return targets, total, _class_array(names)


def as_soft_targets(y, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Vote counts, probabilities or class labels -> vote distributions over the six HMS classes.

    :func:`parse_targets` with ``classes=CLASSES``: shape (n, 6) votes in :data:`CLASSES` order
    (a DataFrame may name its columns ``seizure..other`` or ``seizure_vote..other_vote``, in any
    order), or 1-D class names (any case, e.g. Kaggle's ``expert_consensus``) or indices 0..5.

    Returns
    -------
    probabilities : ndarray of float64, shape (n, 6)
        Rows summing to 1.
    n_votes : ndarray of float64, shape (n,)
        Row sums before normalising (1 for probabilities and labels).
    """
    targets, total, _ = parse_targets(y, classes=CLASSES, name=name)
    return targets, total


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
    # Vote counts are divided by their row sums exactly as kl_divergence(votes=True) does.
    y, _ = as_soft_targets(y_true, name="y_true")
    if sample_weight is None:
        return kl_divergence(y, y_proba)
    return float(np.average(kl_per_row(y, y_proba), weights=sample_weight))


#: ``scoring=kl_scorer`` for ``cross_val_score``, ``GridSearchCV`` ...: ``-kl_score(y, proba)``.
#:
#: ``neg_log_loss`` refuses soft targets (it wants class labels). This scorer accepts as ``y``
#: what :class:`~hms_features.models.SoftLabelLGBMClassifier` trains on — vote counts or vote
#: probabilities of shape (n_rows, 6), or class labels — and returns the negative Kaggle KL of
#: ``predict_proba(X)`` (greater is better, as every scikit-learn score), e.g.
#: ``cross_val_score(pipe, X, votes, groups=patients, cv=GroupKFold(5), scoring=kl_scorer)``.
#: scikit-learn passes ``y`` to the score function unchanged (2-D here) and, since the
#: estimator's ``classes_`` are the six class names, does not reduce the probabilities to one
#: column.
#: Built on first use (module ``__getattr__``), so that importing the metrics (every reader does,
#: for ``CLASSES``) does not import scikit-learn.


def __getattr__(name):
    if name == "kl_scorer":
        from sklearn.metrics import make_scorer

        global kl_scorer
        kl_scorer = make_scorer(kl_score, greater_is_better=False,
                                response_method="predict_proba")
        return kl_scorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
