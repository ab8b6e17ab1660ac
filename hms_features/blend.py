"""Blend out-of-fold predictions of several models, fitting the weights honestly.

Typical use: the library's ``hms-features cv`` writes ``oof.csv``; another model (a CNN on
spectrograms, say) writes its own out-of-fold predictions for the same label rows. :func:`blend_oof`
fits blend weights on them, estimates the blend's score by patient-grouped cross-validation *of
the blend itself* (weights fitted on the other patients' rows, so the weights do not see the rows
they are scored on), and :func:`blend_submissions` applies the weights fitted on all rows to the
models' test submissions.

Two ways to combine ``M`` models' probabilities ``p_m``:

``"linear"``
    ``p = sum_m w_m p_m`` with ``w_m >= 0`` and ``sum_m w_m = 1`` (a mixture).
``"log"``
    ``p = softmax(sum_m w_m log p_m)`` with ``w_m >= 0`` (a weighted geometric mean; each
    ``w_m`` is also an inverse temperature, so one model alone is temperature-scaled).

Either way the objective, the mean Kaggle KL divergence from the vote distributions, is convex
in ``w``: the optimum found (SLSQP / L-BFGS-B with analytic gradients) is the global one.

OOF file format (what ``hms-features cv`` writes): ``label_id``, ``patient_id``, the six vote
counts ``seizure_vote..other_vote`` and the six predicted probabilities ``seizure..other``.
Only the first file needs ``patient_id`` and the votes; the others need ``label_id`` and the six
probabilities (their votes, if present, must equal the first file's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import CLASSES, EPSILON, kl_per_row

__all__ = ["BlendResult", "blend_oof", "blend_submissions", "combine", "fit_blend_weights",
           "read_oof"]

_K = len(CLASSES)
_VOTES = [f"{c}_vote" for c in CLASSES]
_METHODS = ("linear", "log")


def _name(source, i: int) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"model_{i}"


def read_oof(source, *, need_votes: bool = True, name: str | None = None) -> pd.DataFrame:
    """Read and check one out-of-fold prediction table.

    Parameters
    ----------
    source : str, Path or DataFrame
        A CSV (``oof.csv``) or a table.
    need_votes : bool
        Require ``patient_id`` and the six ``*_vote`` count columns too.
    name : str, optional
        Used in error messages (default: the path).

    Returns
    -------
    DataFrame
        Indexed by ``label_id``, with the probability columns (and votes, patient_id if present).

    Raises
    ------
    ValueError
        Naming the file: unreadable, missing columns, duplicated ``label_id``, probabilities that
        are NaN, negative or do not sum to 1 (row and label_id named).
    """
    name = name or _name(source, 0)
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        try:
            df = pd.read_csv(source)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ValueError(f"{name}: cannot read the out-of-fold CSV ({e})") from None
    needed = ["label_id", *CLASSES] + (["patient_id", *_VOTES] if need_votes else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing} (an oof.csv as written by "
                         f"hms-features cv has label_id, patient_id, {_VOTES[0]}.., "
                         f"{CLASSES[0]}..)")
    dup = df["label_id"].duplicated()
    if dup.any():
        raise ValueError(f"{name}: label_id {df['label_id'][dup].iloc[0]} appears twice")
    p = df[list(CLASSES)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | ~np.isclose(p.sum(axis=1), 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: row {i} (label_id {df['label_id'].iloc[i]}) is not a "
                         f"probability vector over {CLASSES}: {p[i].tolist()}")
    return df.set_index("label_id")


def combine(probas, weights, method: str = "linear") -> np.ndarray:
    """Blend ``M`` models' probabilities with ``weights`` (see the module docstring).

    Parameters
    ----------
    probas : sequence of M arrays, shape (n, 6), or array (M, n, 6)
    weights : array-like, shape (M,)
        Non-negative.
    method : {"linear", "log"}

    Returns
    -------
    ndarray, shape (n, 6)
        Rows summing to 1.
    """
    P = np.asarray(probas, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if P.ndim != 3 or P.shape[2] != _K or w.shape != (P.shape[0],):
        raise ValueError(f"expected probas (M, n, {_K}) and weights (M,), got {P.shape} and "
                         f"{w.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
    if method == "linear":
        out = np.tensordot(w, P, axes=1)
    else:
        z = np.tensordot(w, np.log(np.clip(P, EPSILON, 1.0)), axes=1)
        out = np.exp(z - z.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def _objective(w, P, Y, sw, method):
    """Weighted mean cross-entropy (= mean KL + constant) of the blend, and its gradient."""
    if method == "linear":
        p = np.clip(np.tensordot(w, P, axes=1), EPSILON, None)
        loss = -(Y * np.log(p)).sum(axis=1)
        grad = -np.einsum("ic,mic->mi", Y / p, P)
    else:
        L = np.log(np.clip(P, EPSILON, 1.0))
        z = np.tensordot(w, L, axes=1)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -(Y * logp).sum(axis=1)
        grad = np.einsum("ic,mic->mi", np.exp(logp) - Y, L)  # rows of Y sum to 1
    return float(np.dot(sw, loss)), grad @ sw


def fit_blend_weights(probas, votes, method: str = "linear", sample_weight=None) -> np.ndarray:
    """Weights minimising the mean KL of :func:`combine` from the vote distributions.

    Parameters
    ----------
    probas : sequence of M arrays, shape (n, 6)
        Out-of-fold probabilities of each model on the same rows.
    votes : array-like, shape (n, 6)
        Vote counts (or distributions).
    method : {"linear", "log"}
    sample_weight : array-like, shape (n,), optional
        Weighted mean KL instead of the plain mean.

    Returns
    -------
    ndarray, shape (M,)
        ``"linear"``: on the simplex (non-negative, summing to 1); ``"log"``: non-negative.
    """
    from scipy.optimize import minimize

    P = np.asarray(probas, dtype=np.float64)
    V = np.asarray(votes, dtype=np.float64)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if P.ndim != 3 or P.shape[1:] != V.shape or V.shape[1] != _K:
        raise ValueError(f"expected probas (M, n, {_K}) and votes (n, {_K}), got {P.shape} and "
                         f"{V.shape}")
    Y = V / V.sum(axis=1, keepdims=True)
    sw = np.ones(len(Y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    sw = sw / sw.sum()
    M = P.shape[0]
    x0 = np.full(M, 1.0 / M if method == "linear" else 1.0)
    if method == "linear":
        res = minimize(_objective, x0, args=(P, Y, sw, method), jac=True, method="SLSQP",
                       bounds=[(0.0, 1.0)] * M,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                     "jac": lambda w: np.ones_like(w)}],
                       options={"ftol": 1e-12, "maxiter": 500})
        w = np.where(res.x > 1e-12, res.x, 0.0)  # SLSQP leaves ~1e-17 for a dropped model
        return w / w.sum()
    res = minimize(_objective, x0, args=(P, Y, sw, method), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * M, options={"ftol": 1e-14, "gtol": 1e-10})
    return np.where(res.x > 1e-12, res.x, 0.0)


@dataclass
class BlendResult:
    """What :func:`blend_oof` found.

    Attributes
    ----------
    names : list of str
        The models, in input order.
    method : str
        ``"linear"`` or ``"log"``.
    weights : ndarray, shape (M,)
        Fitted on all OOF rows: the weights to apply to test predictions.
    fold_weights : ndarray, shape (n_splits, M)
        Fitted in each fold of the blend's own cross-validation (their spread shows how stable
        the weights are).
    kl : dict
        name -> KL of that model's OOF predictions, and ``"blend (CV)"`` -> KL of the blend's
        own out-of-fold predictions; all rows.
    kl_many_votes : dict
        The same on the rows with at least 10 votes (NaN if none).
    oof : ndarray, shape (n, 6)
        The blend's out-of-fold predictions (weights from the other folds).
    label_ids : ndarray, shape (n,)
        Row order of ``oof`` (that of the first file).
    """

    names: list
    method: str
    weights: np.ndarray
    fold_weights: np.ndarray
    kl: dict = field(default_factory=dict)
    kl_many_votes: dict = field(default_factory=dict)
    oof: np.ndarray | None = None
    label_ids: np.ndarray | None = None

    def table(self) -> pd.DataFrame:
        """KL (all rows, >= 10 votes) and weight per model, then the blend's CV row."""
        rows = {n: {"KL": self.kl[n], "KL >=10 votes": self.kl_many_votes[n], "weight": w}
                for n, w in zip(self.names, self.weights, strict=True)}
        rows["blend (CV)"] = {"KL": self.kl["blend (CV)"],
                              "KL >=10 votes": self.kl_many_votes["blend (CV)"],
                              "weight": float(np.sum(self.weights))}
        return pd.DataFrame(rows).T


def blend_oof(oofs, *, names=None, method: str = "linear", n_splits: int = 5,
              min_votes: float = 10) -> BlendResult:
    """Fit blend weights on out-of-fold predictions and score the blend by patient-grouped CV.

    Parameters
    ----------
    oofs : sequence of str, Path or DataFrame
        Two or more OOF tables (see the module docstring) over the same ``label_id`` set; the
        first gives the votes and the patients.
    names : sequence of str, optional
        One per table (default: the paths, or ``model_i``).
    method : {"linear", "log"}
        How probabilities are combined (see the module docstring).
    n_splits : int
        Folds of the blend's own patient-grouped CV (``GroupKFold`` on ``patient_id``).
    min_votes : float
        Threshold of the ``kl_many_votes`` column.

    Returns
    -------
    BlendResult

    Raises
    ------
    ValueError
        Fewer than 2 tables, label_id sets that differ (naming the file and an id), votes that
        differ between tables, too few patients for ``n_splits``.
    """
    from sklearn.model_selection import GroupKFold

    oofs = list(oofs)
    if len(oofs) < 2:
        raise ValueError(f"blend_oof needs at least 2 out-of-fold tables, got {len(oofs)}")
    names = [_name(s, i) for i, s in enumerate(oofs)] if names is None else list(names)
    if len(names) != len(oofs) or len(set(names)) != len(names):
        raise ValueError(f"names must be {len(oofs)} distinct strings, got {names}")
    first = read_oof(oofs[0], need_votes=True, name=names[0])
    ids = first.index
    votes = first[_VOTES].to_numpy(dtype=np.float64)
    P = [first[list(CLASSES)].to_numpy(dtype=np.float64)]
    for src, name in zip(oofs[1:], names[1:], strict=True):
        df = read_oof(src, need_votes=False, name=name)
        missing, extra = ids.difference(df.index), df.index.difference(ids)
        if len(missing) or len(extra):
            what = (f"lacks label_id {missing[0]} ({len(missing)} missing)" if len(missing)
                    else f"has label_id {extra[0]} not in {names[0]} ({len(extra)} extra)")
            raise ValueError(f"{name}: {what}; all OOF tables must cover the same label rows")
        df = df.loc[ids]
        if set(_VOTES) <= set(df.columns):
            differ = ~np.isclose(df[_VOTES].to_numpy(dtype=np.float64), votes).all(axis=1)
            if differ.any():
                raise ValueError(f"{name}: votes of label_id {ids[np.argmax(differ)]} differ "
                                 f"from {names[0]}'s: not the same training rows")
        P.append(df[list(CLASSES)].to_numpy(dtype=np.float64))
    P = np.stack(P)
    patients = first["patient_id"].to_numpy()
    n_patients = len(np.unique(patients))
    if not 2 <= n_splits <= n_patients:
        raise ValueError(f"n_splits={n_splits} needs 2 <= n_splits <= number of patients "
                         f"({n_patients})")

    oof = np.empty_like(P[0])
    fold_weights = []
    for train, test in GroupKFold(n_splits=n_splits).split(votes, groups=patients):
        w = fit_blend_weights(P[:, train], votes[train], method)
        fold_weights.append(w)
        oof[test] = combine(P[:, test], w, method)
    weights = fit_blend_weights(P, votes, method)

    many = votes.sum(axis=1) >= min_votes
    kl, kl_many = {}, {}
    for name, p in [*zip(names, P, strict=True), ("blend (CV)", oof)]:
        rows = kl_per_row(votes, p, votes=True)
        kl[name] = float(rows.mean())
        kl_many[name] = float(rows[many].mean()) if many.any() else float("nan")
    return BlendResult(names=names, method=method, weights=weights,
                       fold_weights=np.array(fold_weights), kl=kl, kl_many_votes=kl_many,
                       oof=oof, label_ids=ids.to_numpy())


def blend_submissions(result: BlendResult, submissions, out=None,
                      sample_submission=None) -> pd.DataFrame:
    """Apply ``result.weights`` to the models' test submissions (same model order).

    Parameters
    ----------
    result : BlendResult
        From :func:`blend_oof`.
    submissions : sequence of str, Path or DataFrame
        One ``submission.csv`` per model (``eeg_id`` and the six ``*_vote`` probabilities), in
        the order of ``result.names``, over the same eeg_ids (any row order).
    out : str or Path, optional
        Write the blended ``submission.csv`` there (checked by
        :func:`~hms_features.submission.write_submission`).
    sample_submission : str, Path or DataFrame, optional
        Passed to ``write_submission``.

    Returns
    -------
    DataFrame
        ``eeg_id`` and the six ``*_vote`` columns, in the first submission's row order.
    """
    from .submission import write_submission

    subs = list(submissions)
    if len(subs) != len(result.names):
        raise ValueError(f"{len(subs)} submissions for {len(result.names)} blended models "
                         f"({result.names}); give one per model, in that order")
    tables = []
    for i, src in enumerate(subs):
        name = _name(src, i)
        df = src.copy() if isinstance(src, pd.DataFrame) else pd.read_csv(src)
        missing = [c for c in ["eeg_id", *_VOTES] if c not in df.columns]
        if missing:
            raise ValueError(f"{name}: missing columns {missing} of a submission")
        if df["eeg_id"].duplicated().any():
            raise ValueError(f"{name}: eeg_id {df['eeg_id'][df['eeg_id'].duplicated()].iloc[0]} "
                             "appears twice")
        tables.append((name, df.set_index("eeg_id")))
    ids = tables[0][1].index
    P = []
    for name, df in tables:
        if set(df.index) != set(ids):
            diff = ids.symmetric_difference(df.index)
            raise ValueError(f"{name}: eeg_ids differ from {tables[0][0]}'s (e.g. {diff[0]})")
        P.append(df.loc[ids, _VOTES].to_numpy(dtype=np.float64))
    proba = combine(P, result.weights, result.method)
    if out is not None:
        return write_submission(ids.to_numpy(), proba, out, sample_submission=sample_submission)
    sub = pd.DataFrame(proba, columns=_VOTES)
    sub.insert(0, "eeg_id", ids.to_numpy())
    return sub
