"""LightGBM trained on soft vote distributions: the loss is the competition's KL divergence.

For one row with vote fractions ``y`` (summing to 1) and raw scores ``z`` (one per class), the
model predicts ``p = softmax(z)`` and is trained on the cross-entropy

    L(z) = -sum_c y_c log p_c  =  KL(y || p) + H(y),

which differs from the Kaggle score ``KL(y || p)`` by the row's entropy ``H(y)``, a constant:
minimising one minimises the other. Its gradient is ``dL/dz_c = p_c - y_c`` and its Hessian
diagonal ``p_c (1 - p_c)``. The booster gets these through a custom objective, with the Hessian
scaled by ``K / (K - 1)`` (``K`` classes, 6 for HMS) exactly as LightGBM's own ``multiclass``
objective does, and the starting score ``log`` of the weighted mean vote distribution, which is
what LightGBM's ``boost_from_average`` uses. For one-hot votes this *is* LightGBM's multiclass
objective; for split votes it equals the multiclass objective on rows repeated once per voted
class with weight ``y_c`` (``tests/test_lgbm.py`` checks both identities on full-depth trees),
without the repetition's memory and without counting a repeated row several times towards
``min_child_samples`` or bagging.

References
----------
Ke G. et al., "LightGBM: a highly efficient gradient boosting decision tree", NeurIPS 2017.
Kaggle, "HMS - Harmful Brain Activity Classification" (2024), evaluation: KL divergence.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

# as_soft_targets lives in metrics (the one target parser); re-exported here for old imports.
from ..metrics import CLASSES, as_soft_targets, kl_divergence, kl_per_row, parse_targets
from ..parallel import lightgbm_threads
from ._booster_check import check_booster_text
from .persist import (
    ModelFileError,
    begin_save,
    check_feature_names,
    manifest_field,
    model_file,
    read_manifest,
    register_kind,
    write_manifest,
)

__all__ = [
    "SoftLabelLGBMClassifier", "as_soft_targets", "soft_cross_entropy_grad_hess", "softmax",
    "round_progress", "progress_callback",
]

_BOOSTER_FILE = "booster.txt"
# LightGBM refuses feature names holding JSON special characters.
_LGB_BAD_NAME = re.compile(r'[",:\[\]{}]')

#: Descriptions of the active :func:`round_progress` contexts (None: progress hidden).
_ROUND_PROGRESS: list = []


@contextmanager
def round_progress(desc: str = "boosting", enabled: bool = True):
    """While active, every :meth:`SoftLabelLGBMClassifier.fit` shows a tqdm bar of its boosting
    rounds (named ``desc``; ``enabled=False`` hides it), wherever the fit is called from (a
    pipeline, each fold of a cross-validation). Nested contexts: the innermost wins."""
    _ROUND_PROGRESS.append(desc if enabled else None)
    try:
        yield
    finally:
        _ROUND_PROGRESS.pop()


def progress_callback(total: int, desc: str = "boosting"):
    """A LightGBM callback advancing a tqdm bar of ``total`` rounds: ``(callback, bar)``.

    The bar is not left on screen once closed (the caller closes it: early stopping ends
    training by an exception, before the last round)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="round", leave=False)

    def callback(env):
        bar.update(env.iteration + 1 - bar.n)

    callback.order = 25  # before early stopping (order 30), which ends training by raising
    return callback, bar



def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of raw scores ``z`` (n, K), computed stably in float64."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def soft_cross_entropy_grad_hess(raw, targets, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian diagonal of the weighted soft-target softmax cross-entropy.

    For row ``i`` with raw scores ``z_i``, target distribution ``y_i`` and weight ``w_i``, the loss
    is ``w_i * (-sum_c y_ic log softmax(z_i)_c)``; its gradient is ``w_i (p_ic - y_ic)`` and the
    Hessian diagonal ``w_i p_ic (1 - p_ic)``, returned scaled by ``K / (K - 1)`` as in LightGBM's
    ``multiclass`` objective (``MulticlassSoftmax::GetGradients``).

    Parameters
    ----------
    raw : ndarray, shape (n, K)
        Raw scores.
    targets : ndarray, shape (n, K)
        Target distributions (rows summing to 1).
    weights : ndarray, shape (n,), optional
        Row weights (default 1).

    Returns
    -------
    grad, hess : ndarray of float64, shape (n, K)
    """
    p = softmax(raw)
    k = p.shape[1]
    w = np.ones(p.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return w[:, None] * (p - targets), w[:, None] * (k / (k - 1.0) * p * (1.0 - p))


@register_kind
class SoftLabelLGBMClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM multiclass booster fitted to soft vote distributions (KL / cross-entropy loss).

    The classes are learned from ``y`` in ``fit``: 1-D labels of any type and number of classes
    (``classes_`` are the sorted labels, and :meth:`predict` returns them), or an (n, K) array
    of vote counts or probabilities whose columns are named by ``classes`` (default: the six HMS
    classes when K = 6, else ``0..K-1``).

    Parameters
    ----------
    n_estimators : int
        Maximum number of boosting rounds (each grows one tree per class).
    learning_rate : float
        Shrinkage per round.
    num_leaves : int
        Maximum leaves per tree.
    max_depth : int
        Maximum tree depth, -1 for no limit.
    min_child_samples : int
        Minimum number of rows in a leaf.
    min_child_weight : float
        Minimum summed Hessian in a leaf.
    subsample : float
        Fraction of rows drawn for each round (used when ``subsample_freq > 0``).
    subsample_freq : int
        Redraw the row sample every this many rounds; 0 disables row subsampling.
    colsample_bytree : float
        Fraction of features considered per tree (0.3 suits thousands of correlated features).
    reg_alpha, reg_lambda : float
        L1 / L2 penalty on leaf values.
    min_split_gain : float
        Minimum loss reduction to make a split.
    max_bin : int
        Histogram bins per feature.
    early_stopping_rounds : int or None
        With a validation set (``eval_set`` or ``validation_fraction``), stop when its KL has not
        improved for this many rounds and keep the best round. Ignored without one.
    validation_fraction : float or None
        When given and ``fit`` receives no ``eval_set``, hold out this fraction of the training
        rows (whole groups when ``fit`` gets ``groups``, e.g. patient ids) for early stopping.
    vote_weight_power : float
        Row weight ``n_votes ** vote_weight_power`` (times ``sample_weight``) when ``y`` holds
        vote counts: 0 weights every row equally, 1 in proportion to its number of votes, 0.5 by
        its square root. Rows given as probabilities count as one vote.
    importance_type : {"gain", "split"}
        What :attr:`feature_importances_` measures.
    n_jobs : int or None
        LightGBM threads, chosen by :func:`hms_features.parallel.lightgbm_threads`: None means 1
        (scikit-learn's convention), a positive count at most the CPUs this process may use,
        negative values count back from them (-1: all) while OpenMP waits passively (set when
        ``hms_features`` is imported before LightGBM), else one thread for small tables and the
        idle CPUs for large ones, so a busy machine never stalls on spinning threads.
    random_state : int or None
        Seed for row and feature subsampling; an int also makes training deterministic.
    extra_params : dict or None
        Further LightGBM parameters passed unchanged (e.g. ``{"path_smooth": 1.0}``).
    classes : sequence or None
        The classes, in output column order. With 2-D ``y``: the names of its K columns (None:
        :data:`~hms_features.metrics.CLASSES` when K = 6, ``0..K-1`` otherwise). With 1-D
        labels: the allowed labels and their order (None: the sorted distinct labels of ``y``).
        See :func:`~hms_features.metrics.parse_targets`.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    classes_ : ndarray, shape (K,), the class of each ``predict_proba`` column
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when fitted on a DataFrame)
    init_score_ : ndarray, shape (K,), starting raw scores (log of the weighted class prior)
    best_iteration_ : int, number of rounds used for prediction
    evals_result_ : dict, validation KL per round (``{"valid_0": {"kl": [...]}}``)
    feature_importances_ : ndarray, shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, votes = rng.normal(size=(60, 4)), rng.integers(1, 4, size=(60, 6))
    >>> clf = SoftLabelLGBMClassifier(n_estimators=20).fit(X, votes)  # vote counts as targets
    >>> clf.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    >>> clf.classes_.tolist()
    ['seizure', 'lpd', 'gpd', 'lrda', 'grda', 'other']
    """

    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        max_depth: int = -1,
        min_child_samples: int = 20,
        min_child_weight: float = 1e-3,
        subsample: float = 0.8,
        subsample_freq: int = 1,
        colsample_bytree: float = 0.3,
        reg_alpha: float = 0.0,
        reg_lambda: float = 1.0,
        min_split_gain: float = 0.0,
        max_bin: int = 255,
        early_stopping_rounds: int | None = 50,
        validation_fraction: float | None = None,
        vote_weight_power: float = 0.0,
        importance_type: str = "gain",
        n_jobs: int | None = None,
        random_state: int | None = None,
        extra_params: dict | None = None,
        classes=None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.min_split_gain = min_split_gain
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.vote_weight_power = vote_weight_power
        self.importance_type = importance_type
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.extra_params = extra_params
        self.classes = classes

    # ------------------------------------------------------------------ inputs
    def _check_X(self, X, fitting: bool) -> np.ndarray:
        """Validate features with :func:`~sklearn.utils.validation.validate_data` (float32).

        Fitting remembers the number and (for a DataFrame) names of the columns; later calls
        check them, reordering a DataFrame whose columns are the fitted names in another order.
        """
        where = f"{type(self).__name__}.{'fit' if fitting else 'predict'}"
        names = None
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if not fitting and hasattr(self, "feature_names_in_"):

                check_feature_names(self.feature_names_in_, names, f"{where}: X")
                X = X[list(self.feature_names_in_)]  # same names, possibly reordered
                names = [str(c) for c in X.columns]
            nonnum = [c for c, dt in zip(names, X.dtypes, strict=True)
                      if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
            if nonnum:
                raise ValueError(
                    f"{where}: X columns must be numeric features; non-numeric: {nonnum[:5]}"
                )
        # inf is checked below, to name its row and column; NaN means missing
        arr = validate_data(self, X, reset=fitting, dtype=np.float32, ensure_all_finite=False)
        inf = np.isinf(arr)
        if inf.any():
            r, c = np.argwhere(inf)[0]
            col = names[c] if names is not None else f"column {c}"
            raise ValueError(
                f"{where}: X row {r}, {col} is infinite; use NaN for a missing value"
            )
        return arr

    def _lgb_params(self, n_rows: int = 0, n_features: int = 0) -> dict:
        params = {
            "num_class": len(self.classes_),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "min_sum_hessian_in_leaf": self.min_child_weight,
            "bagging_fraction": self.subsample,
            "bagging_freq": self.subsample_freq,
            "feature_fraction": self.colsample_bytree,
            "lambda_l1": self.reg_alpha,
            "lambda_l2": self.reg_lambda,
            "min_gain_to_split": self.min_split_gain,
            "max_bin": self.max_bin,
            "num_threads": lightgbm_threads(self.n_jobs, n_rows, n_features),
            "verbosity": -1,
            "feature_pre_filter": False,
        }
        if self.random_state is not None:
            if not isinstance(self.random_state, (int, np.integer)):
                raise ValueError(
                    f"random_state must be an int or None, got {type(self.random_state).__name__}"
                )
            params["seed"] = int(self.random_state)
            params["deterministic"] = True
        params.update(self.extra_params or {})
        return params

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None, eval_set=None, groups=None, callbacks=None):
        """Fit the booster to soft targets.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n, n_features)
            Numeric features; NaN means missing. Column names are remembered and checked at
            prediction time.
        y : array-like or DataFrame, shape (n, K) or (n,)
            Vote counts or probabilities (K >= 2 columns, named by ``classes``), or class labels
            (see :func:`~hms_features.metrics.parse_targets`).
        sample_weight : array-like, shape (n,), optional
            Non-negative row weights (multiplied by ``n_votes ** vote_weight_power``).
        eval_set : (X_val, y_val) or list of such pairs, optional
            Validation data scored by KL every round; the first pair drives early stopping.
        groups : array-like, shape (n,), optional
            Group of each row (patient id), used only to hold out whole groups when
            ``validation_fraction`` is set.
        callbacks : list, optional
            Extra LightGBM callbacks.

        Returns
        -------
        self
        """
        import lightgbm as lgb

        Xa = self._check_X(X, fitting=True)
        T, n_votes, classes = parse_targets(y, classes=self.classes, name="y")
        n = Xa.shape[0]
        if T.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {T.shape[0]}: they must match")
        if n < 2:
            raise ValueError(f"need at least 2 training rows, got {n} sample(s)")
        self.classes_ = classes
        w = np.power(n_votes, float(self.vote_weight_power))
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if sw.shape[0] != n:
                raise ValueError(f"sample_weight has {sw.shape[0]} entries, X has {n} rows")
            if not np.isfinite(sw).all() or (sw < 0).any():
                raise ValueError("sample_weight must be finite and non-negative")
            w = w * sw
        if not w.sum() > 0:
            raise ValueError("sample_weight: the weights sum to zero; nothing to learn from")

        valid = []
        if eval_set is not None:
            pairs = [eval_set] if isinstance(eval_set, tuple) else list(eval_set)
            for i, pair in enumerate(pairs):
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise ValueError(f"eval_set[{i}] must be a pair (X_val, y_val)")
                Xv = self._check_X(pair[0], fitting=False)
                Tv, _, _ = parse_targets(pair[1], classes=self.classes_, name=f"eval_set[{i}] y")
                if Tv.shape[0] != Xv.shape[0]:
                    raise ValueError(
                        f"eval_set[{i}]: X has {Xv.shape[0]} rows but y has {Tv.shape[0]}"
                    )
                valid.append((Xv, Tv))
        elif self.validation_fraction is not None:
            train_idx, val_idx = self._holdout(n, groups)
            valid.append((Xa[val_idx], T[val_idx]))
            Xa, T, w = Xa[train_idx], T[train_idx], w[train_idx]

        prior = (w[:, None] * T).sum(axis=0) / w.sum()
        init = np.log(np.clip(prior, 1e-15, None))
        self.init_score_ = init

        def objective(raw, _data):
            return soft_cross_entropy_grad_hess(raw, T, w)

        params = self._lgb_params(*Xa.shape)
        params["objective"] = objective
        names = "auto"
        if hasattr(self, "feature_names_in_") and not any(
            _LGB_BAD_NAME.search(c) for c in self.feature_names_in_
        ):
            names = [c.replace(" ", "_") for c in self.feature_names_in_]
        ds_params = {"max_bin": self.max_bin, "verbosity": -1, "feature_pre_filter": False}
        train = lgb.Dataset(
            Xa, init_score=np.tile(init, (len(Xa), 1)), feature_name=names, params=ds_params,
            free_raw_data=True,
        )
        valid_sets, targets = [], {}
        for Xv, Tv in valid:
            valid_sets.append(
                lgb.Dataset(Xv, init_score=np.tile(init, (len(Xv), 1)), reference=train,
                            feature_name=names, params=ds_params)
            )
            targets[id(valid_sets[-1])] = Tv

        def kl_metric(raw, data):
            return "kl", kl_divergence(targets[id(data)], softmax(raw), n_classes=len(T[0])), False

        self.evals_result_ = {}
        cbs = list(callbacks or [])
        if valid_sets:
            cbs.append(lgb.record_evaluation(self.evals_result_))
            if self.early_stopping_rounds:
                cbs.append(lgb.early_stopping(int(self.early_stopping_rounds),
                                              first_metric_only=True, verbose=False))
        params["metric"] = "None"
        bar = None
        if _ROUND_PROGRESS and _ROUND_PROGRESS[-1]:
            callback, bar = progress_callback(int(self.n_estimators), _ROUND_PROGRESS[-1])
            cbs.append(callback)
        try:
            booster = lgb.train(
                params, train, num_boost_round=int(self.n_estimators), valid_sets=valid_sets,
                valid_names=[f"valid_{i}" for i in range(len(valid_sets))],
                feval=kl_metric if valid_sets else None, callbacks=cbs,
            )
        finally:
            if bar is not None:
                bar.close()
        self.booster_ = booster
        best = booster.best_iteration if valid_sets and self.early_stopping_rounds else 0
        self.best_iteration_ = int(best) if best and best > 0 else booster.current_iteration()
        return self

    def _holdout(self, n: int, groups):
        from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

        frac = float(self.validation_fraction)
        if not 0 < frac < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {frac}")
        seed = None if self.random_state is None else int(self.random_state)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError(f"groups has {groups.shape[0]} entries, X has {n} rows")
            split = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
            return next(split.split(np.zeros(n), groups=groups))
        split = ShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        return next(split.split(np.zeros(n)))

    # ----------------------------------------------------------------- predict
    def _raw_scores(self, X) -> np.ndarray:
        """Raw scores of every class, shape (n, K): log-probabilities up to a per-row constant."""
        check_is_fitted(self, "booster_")
        Xa = self._check_X(X, fitting=False)
        raw = self.booster_.predict(Xa, raw_score=True, num_iteration=self.best_iteration_)
        k = len(self.classes_)
        return np.asarray(raw, dtype=np.float64).reshape(len(Xa), k) + self.init_score_

    def decision_function(self, X) -> np.ndarray:
        """Raw scores: shape (n, K) (log-probabilities up to a per-row constant).

        With two classes, scikit-learn's convention: shape (n,), the log-odds of ``classes_[1]``
        (positive means :meth:`predict` returns ``classes_[1]``).
        """
        raw = self._raw_scores(X)
        return raw[:, 1] - raw[:, 0] if raw.shape[1] == 2 else raw

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, K), rows summing to 1, columns in ``classes_`` order."""
        return softmax(self._raw_scores(X))

    def predict(self, X) -> np.ndarray:
        """Most probable class per row, taken from ``classes_`` (labels as given to ``fit``)."""
        best = np.argmax(self._raw_scores(X), axis=1)  # checks fitted before classes_ is read
        return self.classes_[best]

    def score(self, X, y, sample_weight=None) -> float:
        """Negative KL divergence of ``predict_proba(X)`` from ``y`` (higher is better).

        ``y`` is parsed against ``classes_`` (votes, probabilities or labels, see
        :func:`~hms_features.metrics.parse_targets`); for one-hot labels this is the negative
        log-loss. With ``sample_weight``, a weighted mean of the per-row KL (the Kaggle score
        for the six HMS classes).
        """
        check_is_fitted(self, "booster_")
        T, _, _ = parse_targets(y, classes=self.classes_, name="y")
        rows = kl_per_row(T, self.predict_proba(X), n_classes=len(self.classes_))
        return -float(np.average(rows, weights=sample_weight))

    @property
    def feature_importances_(self) -> np.ndarray:
        """Importance per feature (``importance_type``), summed over the classes' trees."""
        check_is_fitted(self, "booster_")
        return self.booster_.feature_importance(
            importance_type=self.importance_type, iteration=self.best_iteration_
        ).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------- persistence
    def save(self, directory) -> Path:
        """Save to ``directory``: LightGBM's text model plus ``manifest.json`` (no pickle).

        The manifest holds the parameters, the learned ``classes_``, feature names (or count), the
        starting scores and the number of rounds used; see :mod:`hms_features.models.persist`.
        """
        import lightgbm as lgb


        check_is_fitted(self, "booster_")
        directory = begin_save(directory)  # no loadable folder until the manifest is written
        self.booster_.save_model(str(directory / _BOOSTER_FILE),
                                 num_iteration=self.best_iteration_)
        names = getattr(self, "feature_names_in_", None)
        payload = {
            "params": self.get_params(deep=False),
            "feature_names": None if names is None else [str(c) for c in names],
            "n_features": int(self.n_features_in_),
            "init_score": [float(v) for v in self.init_score_],
            "classes_": self.classes_.tolist(),
            "best_iteration": int(self.best_iteration_),
            "lightgbm_version": lgb.__version__,
        }
        write_manifest(directory, type(self).__name__, payload, files=[_BOOSTER_FILE])
        return directory

    @classmethod
    def load(cls, directory, feature_names=None) -> SoftLabelLGBMClassifier:
        """Load a model written by :meth:`save`; executes no code from the files.

        Parameters
        ----------
        directory : str or Path
        feature_names : sequence of str, optional
            Names of the features you will predict on; a ``ValueError`` lists the differences
            when they are not the ones the model was fitted with.

        Raises
        ------
        ModelFileError
            Missing/changed files, invalid JSON, other class order or kind, a booster file that
            is not a well-formed LightGBM text model of the manifest's shape (checked in Python
            by :func:`~hms_features.models._booster_check.check_booster_text` before LightGBM
            parses it), starting scores that are not finite, ``best_iteration`` outside the
            rounds of the booster.
        """
        import lightgbm as lgb

        directory = Path(directory)
        m = read_manifest(directory, kind=cls.__name__, required=[_BOOSTER_FILE])
        params = manifest_field(m, "params", directory, dict)
        known = cls().get_params(deep=False)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ModelFileError(f"{directory}: manifest has unknown parameters {unknown}")
        model = cls(**params)
        classes = m.get("classes_", list(CLASSES))  # files written before K classes: HMS
        if not (isinstance(classes, list) and len(classes) >= 2
                and all(isinstance(c, (str, int, float, bool)) for c in classes)):
            raise ModelFileError(f"{directory}: 'classes_' must be a list of >= 2 labels")
        init = manifest_field(m, "init_score", directory, list)
        if len(init) != len(classes) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and abs(v) < 1e6 for v in init):
            raise ModelFileError(f"{directory / 'manifest.json'}: 'init_score' must be "
                                 f"{len(classes)} finite numbers (log class priors)")
        n_features = manifest_field(m, "n_features", directory, int)
        if isinstance(n_features, bool) or n_features < 1:
            raise ModelFileError(f"{directory / 'manifest.json'}: 'n_features' must be >= 1")
        best = manifest_field(m, "best_iteration", directory, int)
        names = m.get("feature_names")
        if names is not None:
            if not (isinstance(names, list) and all(isinstance(c, str) for c in names)
                    and len(names) == n_features):
                raise ModelFileError(
                    f"{directory}: 'feature_names' must be {n_features} strings"
                )
            model.feature_names_in_ = np.asarray(names, dtype=object)
        if feature_names is not None:
            if names is None:
                raise ValueError(
                    f"{directory}: the model was fitted without feature names; cannot check "
                    f"{len(list(feature_names))} given names"
                )
            check_feature_names(names, list(feature_names), f"{directory}")
        booster_file = model_file(directory, _BOOSTER_FILE)
        n_rounds = check_booster_text(booster_file, n_features=n_features,
                                      n_classes=len(classes))
        if isinstance(best, bool) or not 1 <= best <= n_rounds:
            raise ModelFileError(f"{directory / 'manifest.json'}: 'best_iteration' {best} is "
                                 f"outside the booster's 1..{n_rounds} rounds")
        try:
            booster = lgb.Booster(model_file=str(booster_file))
        except Exception as e:  # noqa: BLE001 - whatever the parser says, the file is bad
            raise ModelFileError(
                f"{booster_file}: not a LightGBM text model ({str(e).splitlines()[0][:100]})"
            ) from None
        if booster.num_feature() != n_features:
            raise ModelFileError(
                f"{directory / _BOOSTER_FILE}: has {booster.num_feature()} features, manifest "
                f"says {n_features}"
            )
        model.booster_ = booster
        model.n_features_in_ = n_features
        model.init_score_ = np.asarray(init, dtype=np.float64)
        model.best_iteration_ = best
        model.classes_ = np.asarray(classes, dtype=object if isinstance(classes[0], str) else None)
        model.evals_result_ = {}
        return model
