"""The standard model as one scikit-learn pipeline, and cross-validation grouped by patient.

``make_pipeline`` builds::

    [HMSFeatureExtractor] -> [EmbeddingUnion(MLPEmbedder, LSTMEmbedder)] -> SoftLabelLGBMClassifier
     label rows -> features   features + out-of-fold embeddings            soft-vote booster

Soft targets flow through ``Pipeline.fit(X, Y)`` with ``Y`` of shape (n, 6) (vote counts or
probabilities): scikit-learn hands ``Y`` to every step's ``fit_transform`` and to the final
``fit``. During ``fit`` the :class:`EmbeddingUnion` appends **out-of-fold** embeddings (each
embedder's ``fit_transform`` cross-fits, see :mod:`hms_features.models.nn`), so the booster never
learns from an embedding of a row whose label the embedder saw; at prediction time it appends the
embeddings of the embedders refitted on all rows.
"""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted

from ..metrics import CLASSES, kl_divergence, kl_report
from .lgbm import SoftLabelLGBMClassifier, as_soft_targets

__all__ = [
    "CVResult",
    "EmbeddingUnion",
    "HMSPipeline",
    "cross_validate_by_patient",
    "make_pipeline",
]

_STEP_FEATURES, _STEP_EMBED, _STEP_MODEL = "features", "embed", "lgbm"


def _embedder_classes() -> dict:
    """Allow-listed embedder classes by name (the library's own; none named by files)."""
    from . import nn

    return {"MLPEmbedder": nn.MLPEmbedder, "LSTMEmbedder": nn.LSTMEmbedder}


def _load_step(kind, directory: Path):
    from .persist import loader_for

    return loader_for(kind, directory)(directory)


# --------------------------------------------------------------------------------------------
# EmbeddingUnion
# --------------------------------------------------------------------------------------------
class EmbeddingUnion(TransformerMixin, _BaseComposition):
    """Pass the feature table through and append each embedder's embedding columns.

    Parameters
    ----------
    embedders : list of (name, estimator)
        Transformers fitted on soft targets (``fit(X, Y)``, ``fit_transform(X, Y)`` returning
        out-of-fold embeddings, ``transform(X)``), e.g. :class:`~.nn.MLPEmbedder`.
        Each is cloned at fit time.
    columns : dict of name -> (str or list of str), optional
        Input columns of an embedder: a list of column names, or a string prefix selecting the
        columns whose name starts with it (e.g. the step-major sequence columns an
        ``LSTMEmbedder(n_steps=T)`` reads). Embedders not listed see every column. Needs a
        DataFrame input.
    passthrough : bool or list of str
        Keep the input features in the output (True, default); False outputs the embeddings
        only; a list of column names keeps just those input columns (DataFrame input), e.g.
        to feed an LSTM sequence columns that the booster should not see raw.

    Attributes
    ----------
    embedders_ : list of (name, fitted estimator)
    feature_names_in_ : ndarray of str (DataFrame input only)
    n_features_in_ : int
    n_embedding_ : dict name -> number of embedding columns
    """

    def __init__(self, embedders, columns=None, passthrough: bool = True):
        self.embedders = embedders
        self.columns = columns
        self.passthrough = passthrough

    def get_params(self, deep=True):
        return self._get_params("embedders", deep=deep)

    def set_params(self, **params):
        self._set_params("embedders", **params)
        return self

    def _validate_embedders(self):
        if not isinstance(self.embedders, (list, tuple)) or not self.embedders:
            raise ValueError("EmbeddingUnion: embedders must be a non-empty list of (name, est)")
        names = []
        for item in self.embedders:
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise ValueError(f"EmbeddingUnion: {item!r} is not a (name, estimator) pair")
            name, est = item
            if not hasattr(est, "fit_transform") or not hasattr(est, "transform"):
                raise ValueError(
                    f"EmbeddingUnion: embedder {name!r} has no fit_transform/transform"
                )
            names.append(name)
        self._validate_names(names)
        unknown = set(self.columns or {}) - set(names)
        if unknown:
            raise ValueError(
                f"EmbeddingUnion: columns given for unknown embedders {sorted(unknown)}"
            )

    def _select(self, X, name):
        spec = (self.columns or {}).get(name)
        if spec is None:
            return X
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"EmbeddingUnion: columns for embedder {name!r} need a DataFrame input"
            )
        if isinstance(spec, str):
            cols = [c for c in X.columns if str(c).startswith(spec)]
            if not cols:
                raise ValueError(
                    f"EmbeddingUnion: no input column starts with {spec!r} (embedder {name!r})"
                )
        else:
            cols = list(spec)
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise ValueError(
                    f"EmbeddingUnion: embedder {name!r} needs columns missing from X: {missing[:5]}"
                )
        return X[cols]

    def _check_input(self, X, fitting: bool):
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if fitting:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                from .persist import check_feature_names

                check_feature_names(self.feature_names_in_, names, "EmbeddingUnion.transform: X")
                X = X[list(self.feature_names_in_)]
        elif fitting and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        n_features = np.shape(X)[1]
        if fitting:
            self.n_features_in_ = n_features
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"EmbeddingUnion.transform: X has {n_features} features, fitted with "
                f"{self.n_features_in_}"
            )
        return X

    def _assemble(self, X, blocks):
        names = []
        for name, est in self.embedders_:
            k = self.n_embedding_[name]
            out = getattr(est, "get_feature_names_out", None)
            sub = None if out is None else [
                str(c) if str(c).startswith(name) else f"{name}_{c}" for c in out()
            ]
            if sub is None or len(sub) != k:
                sub = [f"{name}_emb_{i}" for i in range(k)]
            names.extend(sub)
        Z = np.hstack([np.asarray(b, dtype=np.float32).reshape(len(b), -1) for b in blocks])
        keep = self.passthrough
        if isinstance(X, pd.DataFrame):
            emb = pd.DataFrame(Z, columns=names, index=X.index)
            if keep is True:
                return pd.concat([X, emb], axis=1)
            return pd.concat([X[list(keep)], emb], axis=1) if keep else emb
        if keep is not True and keep:
            raise ValueError("EmbeddingUnion: passthrough as a column list needs a DataFrame")
        return np.hstack([np.asarray(X, dtype=np.float32), Z]) if keep else Z

    def fit(self, X, Y, **fit_params):
        """Fit every embedder (via :meth:`fit_transform`); returns self."""
        self.fit_transform(X, Y, **fit_params)
        return self

    def fit_transform(self, X, Y, sample_weight=None, groups=None):
        """Fit the embedders and return the features with their **out-of-fold** embeddings.

        Parameters
        ----------
        X : DataFrame or array, shape (n, n_features)
        Y : array-like, shape (n, 6) or (n,)
            Vote counts / probabilities / labels (normalised to distributions for the embedders).
        sample_weight : array-like, shape (n,), optional
            Passed to each embedder's ``fit_transform``.
        groups : array-like, shape (n,), optional
            Group (patient) per row, passed on so each embedder cross-fits by group.

        Returns
        -------
        DataFrame or ndarray
            Input columns (when ``passthrough``) then ``{name}_{embedding column}`` columns.
        """
        self._validate_embedders()
        X = self._check_input(X, fitting=True)
        T, _ = as_soft_targets(Y)
        if T.shape[0] != len(X):
            raise ValueError(f"X has {len(X)} rows but Y has {T.shape[0]}")
        self.embedders_, self.n_embedding_, blocks = [], {}, []
        for name, est in self.embedders:
            fitted = clone(est)
            kwargs = {}
            params = inspect.signature(fitted.fit_transform).parameters
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            if groups is not None and "groups" in params:
                kwargs["groups"] = groups
            Z = np.asarray(fitted.fit_transform(self._select(X, name), T, **kwargs))
            self.embedders_.append((name, fitted))
            self.n_embedding_[name] = int(Z.reshape(len(Z), -1).shape[1])
            blocks.append(Z)
        return self._assemble(X, blocks)

    def transform(self, X):
        """Features plus the embeddings of the embedders fitted on all training rows."""
        check_is_fitted(self, "embedders_")
        X = self._check_input(X, fitting=False)
        blocks = [est.transform(self._select(X, name)) for name, est in self.embedders_]
        return self._assemble(X, blocks)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "embedders_")
        empty = pd.DataFrame(
            np.zeros((1, self.n_features_in_), dtype=np.float32),
            columns=getattr(self, "feature_names_in_", None),
        )
        cols = list(self._assemble(empty, [np.zeros((1, self.n_embedding_[n]))
                                           for n, _ in self.embedders_]).columns)
        return np.asarray(cols, dtype=object)

    # persistence
    def save(self, directory) -> Path:
        """Save each fitted embedder in ``directory/{index}_{name}/`` plus a manifest."""
        from .persist import write_manifest

        check_is_fitted(self, "embedders_")
        directory = Path(directory)
        steps = []
        for i, (name, est) in enumerate(self.embedders_):
            if not hasattr(est, "save"):
                raise TypeError(f"EmbeddingUnion: embedder {name!r} ({type(est).__name__}) "
                                "has no save(directory)")
            sub = f"{i:02d}_{name}"
            est.save(directory / sub)
            steps.append({"name": name, "kind": type(est).__name__, "dir": sub,
                          "n_embedding": self.n_embedding_[name]})
        names = getattr(self, "feature_names_in_", None)
        payload = {
            "embedders": steps,
            "columns": self.columns,
            "passthrough": (self.passthrough if isinstance(self.passthrough, bool)
                            else [str(c) for c in self.passthrough]),
            "feature_names": None if names is None else [str(c) for c in names],
            "n_features": int(self.n_features_in_),
        }
        write_manifest(directory, type(self).__name__, payload)
        return directory

    @classmethod
    def load(cls, directory, feature_names=None) -> EmbeddingUnion:
        """Load an :class:`EmbeddingUnion` written by :meth:`save` (no code executed)."""
        from .persist import ModelFileError, check_feature_names, manifest_field, read_manifest

        directory = Path(directory)
        m = read_manifest(directory, kind=cls.__name__)
        steps = manifest_field(m, "embedders", directory, list)
        fitted = []
        n_embedding = {}
        for s in steps:
            if not (isinstance(s, dict) and isinstance(s.get("name"), str)
                    and isinstance(s.get("dir"), str) and "/" not in s["dir"]
                    and ".." not in s["dir"]):
                raise ModelFileError(f"{directory}: bad embedder entry {s!r}")
            est = _load_step(s.get("kind"), directory / s["dir"])
            fitted.append((s["name"], est))
            n_embedding[s["name"]] = int(s.get("n_embedding", 0))
        passthrough = m.get("passthrough", True)
        if not isinstance(passthrough, (bool, list)):
            raise ModelFileError(f"{directory}: 'passthrough' must be a bool or a list of names")
        union = cls([(n, clone(e)) for n, e in fitted], columns=m.get("columns"),
                    passthrough=passthrough)
        union.embedders_ = fitted
        union.n_embedding_ = n_embedding
        union.n_features_in_ = manifest_field(m, "n_features", directory, int)
        names = m.get("feature_names")
        if names is not None:
            union.feature_names_in_ = np.asarray(names, dtype=object)
            if feature_names is not None:
                check_feature_names(names, list(feature_names), str(directory))
        return union


# --------------------------------------------------------------------------------------------
# HMSPipeline
# --------------------------------------------------------------------------------------------
class HMSPipeline(Pipeline):
    """A :class:`sklearn.pipeline.Pipeline` that can be saved and loaded without pickle.

    Every fitted step must either have ``save(directory)`` (the library's estimators) or be a
    parameter-only transformer on the allow-list (the feature extractor, saved as its
    JSON parameters). :meth:`load` rebuilds the steps from the allow-list by kind name.
    """

    def save(self, directory) -> Path:
        """Save every step under ``directory/{index}_{name}/`` and a pipeline manifest."""
        from .persist import json_safe, write_manifest

        directory = Path(directory)
        check_is_fitted(self.steps[-1][1])
        entries = []
        for i, (name, est) in enumerate(self.steps):
            if est is None or est == "passthrough":
                continue
            kind = type(est).__name__
            if hasattr(est, "save"):
                sub = f"{i:02d}_{name}"
                est.save(directory / sub)
                entries.append({"name": name, "kind": kind, "dir": sub})
            elif kind in _param_only_kinds():
                params = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v)
                          for k, v in est.get_params(deep=False).items()}
                params = json_safe(params, f"step {name!r} params")
                entries.append({"name": name, "kind": kind, "params": params,
                                "fitted": _fitted_state(est, name)})
            else:
                raise TypeError(
                    f"HMSPipeline.save: step {name!r} ({kind}) has no save(directory) and is "
                    "not a parameter-only transformer of this library"
                )
        write_manifest(directory, type(self).__name__, {"steps": entries})
        return directory

    @classmethod
    def load(cls, directory, feature_names=None) -> HMSPipeline:
        """Load a pipeline written by :meth:`save`.

        Parameters
        ----------
        directory : str or Path
        feature_names : sequence of str, optional
            Columns of the table you will predict on (for a pipeline starting at the feature
            table); a ``ValueError`` lists the differences from the fitted ones.
        """
        from .persist import ModelFileError, check_feature_names, manifest_field, read_manifest

        directory = Path(directory)
        m = read_manifest(directory, kind=cls.__name__)
        entries = manifest_field(m, "steps", directory, list)
        if not entries:
            raise ModelFileError(f"{directory}: pipeline manifest lists no steps")
        steps = []
        for e in entries:
            if not (isinstance(e, dict) and isinstance(e.get("name"), str)):
                raise ModelFileError(f"{directory}: bad step entry {e!r}")
            kind = e.get("kind")
            if "params" in e:
                classes = _param_only_kinds()
                if kind not in classes or not isinstance(e["params"], dict):
                    raise ModelFileError(f"{directory}: unknown parameter-only step {kind!r}")
                try:
                    est = _pandas_output(classes[kind]()(**e["params"]))
                except TypeError as err:
                    raise ModelFileError(f"{directory}: bad params for {kind} ({err})") from None
                _restore_state(est, e.get("fitted", {}), directory)
            else:
                sub = e.get("dir")
                if not isinstance(sub, str) or "/" in sub or ".." in sub:
                    raise ModelFileError(f"{directory}: bad step directory {sub!r}")
                est = _load_step(kind, directory / sub)
            steps.append((e["name"], est))
        pipe = cls(steps)
        if feature_names is not None:
            first = steps[0][1]
            names = getattr(first, "feature_names_in_", None)
            if names is None:
                raise ValueError(f"{directory}: the first step has no feature names to check")
            check_feature_names(names, list(feature_names), str(directory))
        return pipe


def _pandas_output(transformer):
    """Make a feature step return a DataFrame (its ``get_feature_names_out`` as columns), so the
    booster downstream records and later checks the feature names."""
    if hasattr(transformer, "set_output") and hasattr(transformer, "get_feature_names_out"):
        transformer.set_output(transform="pandas")
    return transformer


def _fitted_state(est, name) -> dict:
    """JSON form of a parameter-only step's fitted attributes (names, counts: no arrays of
    numbers beyond what JSON holds exactly)."""
    from .persist import json_safe

    state = {}
    for attr, value in vars(est).items():
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            state[attr] = {"ndarray": json_safe(value.tolist(), f"step {name!r} {attr}")}
        else:
            state[attr] = {"value": json_safe(value, f"step {name!r} {attr}")}
    return state


def _restore_state(est, state, directory) -> None:
    from .persist import ModelFileError

    if not isinstance(state, dict):
        raise ModelFileError(f"{directory}: 'fitted' must be an object")
    for attr, item in state.items():
        if not (attr.endswith("_") and not attr.startswith("_") and isinstance(item, dict)
                and len(item) == 1 and set(item) <= {"ndarray", "value"}):
            raise ModelFileError(f"{directory}: bad fitted attribute {attr!r}")
        value = item.get("value", item.get("ndarray"))
        if "ndarray" in item:
            is_str = any(isinstance(v, str) for v in np.ravel(np.asarray(value, dtype=object)))
            value = np.asarray(value, dtype=object if is_str else None)
        setattr(est, attr, value)


def _param_only_kinds() -> dict:
    """Parameter-only steps (no learned state) that :meth:`HMSPipeline.load` may rebuild."""

    def extractor():
        from ..build import HMSFeatureExtractor

        return HMSFeatureExtractor

    return {"HMSFeatureExtractor": extractor}


# --------------------------------------------------------------------------------------------
# make_pipeline
# --------------------------------------------------------------------------------------------
def make_pipeline(features=None, embedders=None, classifier=None, *, embedder_columns=None,
                  **classifier_params) -> HMSPipeline:
    """Build the standard model: [feature extractor] -> [embeddings] -> soft-label LightGBM.

    Parameters
    ----------
    features : None, True, dict or transformer
        None: the pipeline starts from a feature table (DataFrame, one row per label). True or a
        dict of keyword arguments: an :class:`hms_features.build.HMSFeatureExtractor` (imported
        lazily) turning label rows into features. A transformer instance is used as given.
    embedders : None or list
        Items are an estimator, a ``(name, estimator)`` pair, or ``"mlp"`` / ``"lstm"`` for a
        default :class:`~hms_features.models.nn.MLPEmbedder` / ``LSTMEmbedder`` (seeded with
        the ``random_state`` classifier parameter, if given). Their
        embeddings are appended to the features by an :class:`EmbeddingUnion`.
    classifier : estimator, optional
        Final estimator; default ``SoftLabelLGBMClassifier(**classifier_params)``.
    embedder_columns : dict, optional
        ``EmbeddingUnion(columns=...)``: input columns (names or a name prefix) per embedder.
    **classifier_params
        Parameters of the default classifier (e.g. ``n_estimators=300, random_state=0``).

    Returns
    -------
    HMSPipeline
        Steps named ``"features"`` (if any), ``"embed"`` (if any) and ``"lgbm"``; fit with
        ``pipe.fit(X, Y)``, route fit parameters as ``lgbm__sample_weight=...`` or
        ``embed__groups=patient_ids``.
    """
    steps = []
    if features is not None and features is not False:
        if features is True or isinstance(features, dict):
            from ..build import HMSFeatureExtractor

            features = HMSFeatureExtractor(**({} if features is True else features))
        _pandas_output(features)
        steps.append((_STEP_FEATURES, features))
    if embedders:
        pairs = []
        for i, item in enumerate(embedders):
            if isinstance(item, str):
                classes = {"mlp": "MLPEmbedder", "lstm": "LSTMEmbedder"}
                if item not in classes:
                    raise ValueError(f"make_pipeline: embedder {item!r}; expected 'mlp' or 'lstm'")
                # seeded like the classifier, so random_state=0 makes the whole model repeatable
                seed = classifier_params.get("random_state")
                item = (item, _embedder_classes()[classes[item]](random_state=seed))
            elif not isinstance(item, tuple):
                item = (f"{type(item).__name__.lower()}{i}", item)
            pairs.append(item)
        steps.append((_STEP_EMBED, EmbeddingUnion(pairs, columns=embedder_columns)))
    if classifier is None:
        classifier = SoftLabelLGBMClassifier(**classifier_params)
    elif classifier_params:
        raise ValueError("make_pipeline: pass classifier parameters or a classifier, not both")
    steps.append((_STEP_MODEL, classifier))
    return HMSPipeline(steps)


# --------------------------------------------------------------------------------------------
# Cross-validation by patient
# --------------------------------------------------------------------------------------------
@dataclass
class CVResult:
    """Outcome of :func:`cross_validate_by_patient`.

    Attributes
    ----------
    fold_kl : ndarray, shape (n_splits,)
        Kaggle KL of each held-out fold.
    oof : ndarray, shape (n, 6)
        Out-of-fold probabilities (each row predicted by the model that did not train on its
        patient).
    folds : ndarray of int, shape (n,)
        Fold of each row.
    report : dict
        :func:`hms_features.metrics.kl_report` of ``oof``: ``kl``, ``kl_many_votes`` (>= 10
        votes), ``kl_few_votes``, counts and ``per_class`` contributions.
    fit_time, predict_time : ndarray, shape (n_splits,)
        Seconds per fold.
    estimators : list
        Fitted fold models (only with ``return_estimators=True``).
    """

    fold_kl: np.ndarray
    oof: np.ndarray
    folds: np.ndarray
    report: dict
    fit_time: np.ndarray
    predict_time: np.ndarray
    estimators: list = field(default_factory=list)

    @property
    def kl(self) -> float:
        """KL of all out-of-fold predictions (the CV score)."""
        return self.report["kl"]


def _take(X, idx):
    return X.iloc[idx] if isinstance(X, (pd.DataFrame, pd.Series)) else np.asarray(X)[idx]


def _final_name(model):
    return model.steps[-1][0] if isinstance(model, Pipeline) else None


def cross_validate_by_patient(model, X, votes, groups, n_splits: int = 5, *, folds=None,
                              sample_weight=None, fit_params=None,
                              return_estimators: bool = False,
                              progress: bool = False) -> CVResult:
    """Patient-grouped K-fold cross-validation with out-of-fold probabilities and a KL report.

    Parameters
    ----------
    model : estimator
        Anything with ``fit(X, Y)`` and ``predict_proba(X)`` over the six classes; cloned per fold.
    X : DataFrame or array, shape (n, ...)
        Inputs (feature table, or label rows for a pipeline with a feature extractor).
    votes : array-like, shape (n, 6)
        Vote counts (needed for the >= 10-vote split of the report; probabilities also work but
        then every row counts as having 1 vote).
    groups : array-like, shape (n,)
        Patient id per row; no patient is in two folds (``GroupKFold``, deterministic).
    n_splits : int
        Number of folds.
    folds : array-like of int, shape (n,), optional
        Precomputed fold per row (e.g. :func:`hms_features.data.patient_folds`), used instead of
        ``GroupKFold``; checked not to split a patient.
    sample_weight : array-like, shape (n,), optional
        Training row weights (routed to the final step of a pipeline).
    fit_params : dict, optional
        Further fit parameters; per-row arrays of length n are sliced to the training rows.
        For an :class:`HMSPipeline` with embedders, ``embed__groups`` is set to the training
        rows' ``groups`` unless given, so embedders cross-fit by patient too.
    return_estimators : bool
        Keep the fitted fold models.
    progress : bool
        Show a tqdm bar over folds.

    Returns
    -------
    CVResult
    """
    from sklearn.model_selection import GroupKFold

    V = np.asarray(votes.to_numpy() if isinstance(votes, pd.DataFrame) else votes, dtype=float)
    T, _ = as_soft_targets(votes, name="votes")
    n = T.shape[0]
    groups = np.asarray(groups)
    if len(X) != n or groups.shape[0] != n:
        raise ValueError(f"X has {len(X)} rows, votes {n}, groups {groups.shape[0]}: must match")
    if folds is None:
        n_groups = len(np.unique(groups))
        if not 2 <= n_splits <= n_groups:
            raise ValueError(f"n_splits={n_splits} needs 2 <= n_splits <= {n_groups} patients")
        folds = np.empty(n, dtype=np.int64)
        for k, (_, test) in enumerate(GroupKFold(n_splits=n_splits).split(T, T, groups)):
            folds[test] = k
    else:
        folds = np.asarray(folds, dtype=np.int64)
        if folds.shape[0] != n:
            raise ValueError(f"folds has {folds.shape[0]} entries, expected {n}")
        per_group = pd.Series(folds).groupby(groups).nunique()
        if (per_group > 1).any():
            bad = per_group.index[per_group.to_numpy() > 1][0]
            raise ValueError(f"folds split patient {bad} across folds")
    fold_ids = np.unique(folds)
    fit_params = dict(fit_params or {})
    final = _final_name(model)
    if sample_weight is not None:
        fit_params[f"{final}__sample_weight" if final else "sample_weight"] = sample_weight
    if isinstance(model, Pipeline) and _STEP_EMBED in model.named_steps:
        fit_params.setdefault(f"{_STEP_EMBED}__groups", groups)
    oof = np.full((n, len(CLASSES)), np.nan)
    fold_kl, fit_time, predict_time, estimators = [], [], [], []
    iterator = fold_ids
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(fold_ids, desc="CV folds")
    for k in iterator:
        test = np.flatnonzero(folds == k)
        train = np.flatnonzero(folds != k)
        params = {key: (_take(v, train) if hasattr(v, "__len__") and not isinstance(v, str)
                        and len(v) == n else v) for key, v in fit_params.items()}
        est = clone(model)
        t0 = time.perf_counter()
        est.fit(_take(X, train), _take(V, train), **params)
        t1 = time.perf_counter()
        proba = np.asarray(est.predict_proba(_take(X, test)), dtype=np.float64)
        predict_time.append(time.perf_counter() - t1)
        fit_time.append(t1 - t0)
        oof[test] = proba
        fold_kl.append(kl_divergence(T[test], proba))
        if return_estimators:
            estimators.append(est)
    return CVResult(
        fold_kl=np.asarray(fold_kl), oof=oof, folds=folds, report=kl_report(V, oof),
        fit_time=np.asarray(fit_time), predict_time=np.asarray(predict_time),
        estimators=estimators,
    )

