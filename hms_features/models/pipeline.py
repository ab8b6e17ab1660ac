"""The standard model as one scikit-learn pipeline, and cross-validation grouped by patient.

``make_hms_pipeline`` builds::

    [HMSFeatureExtractor] -> [EmbeddingUnion(MLPEmbedder, LSTMEmbedder)] -> SoftLabelLGBMClassifier
     label rows -> features   features + out-of-fold embeddings            soft-vote booster

Soft targets flow through ``Pipeline.fit(X, Y)`` with ``Y`` of shape (n, 6) (vote counts or
probabilities): scikit-learn hands ``Y`` to every step's ``fit_transform`` and to the final
``fit``. During ``fit`` the :class:`EmbeddingUnion` appends **out-of-fold** embeddings (each
embedder's ``fit_transform`` cross-fits, see :mod:`hms_features.models.embedder`), so the
booster never learns from an embedding of a row whose label the embedder saw; at prediction
time it appends the embeddings of the embedders refitted on all rows.
"""

from __future__ import annotations

import inspect
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted, validate_data

from .._version import __version__
from ..build import HMSFeatureExtractor, build_features
from ..data import patient_folds
from ..features.base import FAMILIES
from ..features.registry import feature_names, resolve_families
from ..metrics import CLASSES, kl_divergence, kl_report
from ..signal import PREPROCESS_DEFAULTS
from .lgbm import SoftLabelLGBMClassifier, as_soft_targets
from .lstm import LSTMEmbedder
from .mlp import MLPEmbedder
from .persist import (
    MANIFEST,
    ModelFileError,
    begin_save,
    check_feature_names,
    check_preprocessing,
    json_safe,
    loader_for,
    manifest_field,
    model_file,
    read_manifest,
    register_kind,
    registered_class,
    require_files,
    write_manifest,
)
from .two_stage import TwoStageClassifier

__all__ = [
    "CVResult",
    "EmbeddingUnion",
    "HMSPipeline",
    "SEQUENCE_PREFIX",
    "cross_validate_by_patient",
    "input_spec",
    "make_hms_pipeline",
    "make_pipeline",
    "preprocess_spec",
    "sequence_shape",
]

_STEP_FEATURES, _STEP_EMBED, _STEP_MODEL = "features", "embed", "lgbm"

#: Name prefix of the step-major sequence columns of the opt-in ``seq`` feature family
#: (``seq_{measure}_{chain}_5s_t{step:02d}``), the input of the LSTM embedder.
SEQUENCE_PREFIX = "seq_"
_STEP_SUFFIX = re.compile(r"_t(\d+)$")


def sequence_shape(columns, prefix: str = SEQUENCE_PREFIX):
    """Shape ``(n_steps, n_per_step)`` of the step-major sequence columns among ``columns``.

    Parameters
    ----------
    columns : sequence of str
        Column names of a feature table.
    prefix : str
        Name prefix of the sequence columns (those of the ``seq`` family by default).

    Returns
    -------
    tuple of int, or None
        ``(T, d)`` when the columns starting with ``prefix`` end in ``_tNN`` with ``T`` distinct
        steps of ``d`` columns each, in step-major order (column ``t * d + j`` is measure ``j``
        at step ``t``: what ``LSTMEmbedder(n_steps=T)`` reshapes); None when there are no such
        columns.

    Raises
    ------
    ValueError
        Sequence columns without a ``_tNN`` suffix, or not step-major with equal steps.
    """
    cols = [str(c) for c in columns if str(c).startswith(prefix)]
    if not cols:
        return None
    steps = []
    for c in cols:
        m = _STEP_SUFFIX.search(c)
        if m is None:
            raise ValueError(f"sequence column {c!r} does not end in _tNN (its time step)")
        steps.append(int(m.group(1)))
    order = sorted(set(steps))
    d = len(cols) // len(order)
    if d * len(order) != len(cols) or steps != [t for t in order for _ in range(d)]:
        raise ValueError(f"the {len(cols)} columns starting with {prefix!r} are not step-major "
                         f"({len(order)} steps of equal size, step by step)")
    return len(order), d


def input_spec(columns) -> dict | None:
    """What a model fitted on a feature table with these columns needs to recompute its input.

    Parameters
    ----------
    columns : sequence of str
        Columns of the feature table the model was fitted on.

    Returns
    -------
    dict or None
        ``feature_set`` (``"default"``, ``"fast"`` or the list of families, what
        :func:`hms_features.build.build_features` takes), ``families``, ``spectrogram``
        (whether the Kaggle spectrogram windows are needed), ``sequence`` (``{"prefix",
        "n_steps", "n_per_step"}`` of the ``seq`` family's columns, or None) and
        ``n_features``. None when the columns are not exactly what ``build_features``
        computes for some families (a table of your own: recompute it yourself).
    """
    columns = [str(c) for c in columns]
    everything = resolve_families(["default"] + [f for f in FAMILIES if not FAMILIES[f].default])
    families = [f for f in everything if any(c.startswith(f + "_") for c in columns)]
    if not families:
        return None
    spectrogram = any(FAMILIES[f].needs_spectrogram for f in families)
    if feature_names(families, spectrogram=spectrogram) != columns:
        return None
    feature_set = families
    for name in ("default", "fast"):
        if resolve_families(name) == families:
            feature_set = name
    seq = sequence_shape(columns)
    return {
        "feature_set": feature_set,
        "families": families,
        "spectrogram": bool(spectrogram),
        "sequence": None if seq is None else {"prefix": SEQUENCE_PREFIX, "n_steps": seq[0],
                                              "n_per_step": seq[1]},
        "n_features": len(columns),
    }


def preprocess_spec(table) -> dict | None:
    """The preprocessing a feature table was built with, every parameter spelled out.

    Parameters
    ----------
    table : DataFrame
        A feature table; :func:`~hms_features.build.build_features` and
        :func:`~hms_features.recording.recording_features` record the preprocessing they were
        given in ``table.attrs["preprocess"]`` (parquet files keep it).

    Returns
    -------
    dict or None
        Every keyword of :func:`hms_features.signal.preprocess` (``l_freq`` / ``h_freq`` filter
        edges and ``notch``, Hz; ``order``; ``clip_uv``, µV; ``max_gap_s``, s; ``flat_uv``, µV):
        the recorded value, else the default. None when the table records none (a table of
        your own, or one whose ``attrs`` were dropped): nothing to compare.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [0.0]})
    >>> t.attrs["preprocess"] = {"clip_uv": 500.0}
    >>> preprocess_spec(t)["clip_uv"], preprocess_spec(t)["notch"]
    (500.0, 60.0)
    """
    given = (getattr(table, "attrs", None) or {}).get("preprocess")
    if not isinstance(given, dict):
        return None
    out = {**PREPROCESS_DEFAULTS, **given}
    return {str(k): v if v is None or isinstance(v, (bool, str)) else
            int(v) if isinstance(v, (int, np.integer)) else float(v) for k, v in out.items()}


#: The embedders ``make_hms_pipeline`` builds by short name.
_NAMED_EMBEDDERS = {"mlp": MLPEmbedder, "lstm": LSTMEmbedder}

# The feature extractor learns nothing: HMSPipeline saves it as its JSON parameters. Registered
# here because build.py sits below models/ (it cannot import the registry without a circle).
register_kind(HMSFeatureExtractor)


#: Parameters of a parameter-only step (the feature extractor) that are never saved nor taken
#: from a manifest: where to read and write, and how to run. The caller supplies them
#: (``pipe.set_params(features__root=..., features__cache_dir=...)``).
_NOT_RESTORED = frozenset({"root", "cache_dir", "n_jobs", "progress", "backend"})
#: Deepest nesting of saved steps (pipeline -> union -> embedder is 3).
_MAX_DEPTH = 8
_depth = threading.local()


def _step_dir(manifest: dict, sub, directory: Path) -> Path:
    """The folder of a saved step: one plain name (a strict subfolder, no link), whose
    manifest's checksum the parent manifest records."""
    if not isinstance(sub, str) or "/" in sub:
        raise ModelFileError(f"{directory / MANIFEST}: bad step directory {sub!r} (one folder "
                             "name inside the model folder expected)")
    path = model_file(directory, sub, "step directory")
    if not path.is_dir():
        raise ModelFileError(f"{path}: step directory missing")
    require_files(manifest, [f"{sub}/{MANIFEST}"], directory)
    return path


def _load_step(kind, directory: Path):
    depth = getattr(_depth, "value", 0)
    if depth >= _MAX_DEPTH:
        raise ModelFileError(f"{directory}: steps nested deeper than {_MAX_DEPTH} levels")
    _depth.value = depth + 1
    try:
        return loader_for(kind, directory)(directory)
    finally:
        _depth.value = depth


# --------------------------------------------------------------------------------------------
# EmbeddingUnion
# --------------------------------------------------------------------------------------------
@register_kind
class EmbeddingUnion(TransformerMixin, _BaseComposition):
    """Pass the feature table through and append each embedder's embedding columns.

    Parameters
    ----------
    embedders : list of (name, estimator)
        Transformers fitted on soft targets (``fit(X, Y)``, ``fit_transform(X, Y)`` returning
        out-of-fold embeddings, ``transform(X)``), e.g. :class:`~.nn.MLPEmbedder`.
        Each is cloned at fit time.
    columns : dict of name -> (str, list of str or dict), optional
        Input columns of an embedder: a list of column names; a string prefix selecting the
        columns whose name starts with it (e.g. ``"seq_"``, the step-major sequence columns an
        LSTM reads); or ``{"exclude_prefix": p}``, every column not starting with ``p`` (an
        array input, having no names, passes whole). Embedders not listed see every column.
        Names and prefixes need a DataFrame input. An embedder with an ``n_steps`` parameter
        left at None (``LSTMEmbedder()``) whose columns end in ``_tNN`` gets ``n_steps`` from
        them (:func:`sequence_shape`).
    passthrough : bool or list of str
        Keep the input features in the output (True, default); False outputs the embeddings
        only; a list of column names keeps just those input columns (DataFrame input), e.g.
        to feed an LSTM sequence columns that the booster should not see raw.

    Attributes
    ----------
    embedders_ : list of (name, fitted estimator)
        Clones fitted on all rows. A clone's integer ``cv`` larger than the number of
        ``groups`` (patients) given to ``fit`` is lowered to it, so that every embedder can
        cross-fit on few patients.
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
        exclude = isinstance(spec, dict)
        if exclude and (set(spec) != {"exclude_prefix"} or not isinstance(
                spec["exclude_prefix"], str)):
            raise ValueError(f"EmbeddingUnion: columns for embedder {name!r}: {spec!r}; "
                             "expected a list of names, a prefix or {'exclude_prefix': str}")
        if not isinstance(X, pd.DataFrame):
            if exclude:
                return X
            raise ValueError(
                f"EmbeddingUnion: columns for embedder {name!r} need a DataFrame input"
            )
        if exclude:
            cols = [c for c in X.columns if not str(c).startswith(spec["exclude_prefix"])]
            if not cols:
                raise ValueError(f"EmbeddingUnion: every input column starts with "
                                 f"{spec['exclude_prefix']!r} (embedder {name!r})")
        elif isinstance(spec, str):
            cols = [c for c in X.columns if str(c).startswith(spec)]
            if not cols:
                hint = (" (the seq family's sequence: compute the features with a feature set "
                        "that lists it, e.g. feature_set=['default', 'seq'])"
                        if spec == SEQUENCE_PREFIX else "")
                raise ValueError(
                    f"EmbeddingUnion: no input column starts with {spec!r} (embedder "
                    f"{name!r}){hint}"
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
        """``X`` checked with :func:`~sklearn.utils.validation.validate_data` (2-D, numeric, not
        sparse or complex, NaN allowed as missing, at least 2 rows to fit, the fitted number of
        features); a DataFrame keeps its columns (in the fitted order) for the embedders."""
        if not fitting:
            check_is_fitted(self, "embedders_")
        if isinstance(X, pd.DataFrame):
            if not fitting and hasattr(self, "feature_names_in_"):
                names = [str(c) for c in X.columns]
                check_feature_names(self.feature_names_in_, names, "EmbeddingUnion.transform: X")
                X = X[list(self.feature_names_in_)]
            # the checks on two rows (names, number and dtype of the columns) spare a copy of
            # the whole table; each embedder's own validate_data sees every value
            validate_data(self, X.iloc[:2], reset=fitting, ensure_all_finite="allow-nan",
                          dtype=None, ensure_min_samples=2 if fitting else 1)
            if fitting:  # column names as strings, whatever their type in X
                self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            return X
        return validate_data(self, X, reset=fitting, ensure_all_finite="allow-nan",
                             ensure_min_samples=2 if fitting else 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        embedders = self.embedders if isinstance(self.embedders, (list, tuple)) else []
        tags.input_tags.allow_nan = bool(embedders) and all(
            get_tags(est).input_tags.allow_nan for _, est in embedders)
        return tags

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

    def fit(self, X, y, **fit_params):
        """Fit every embedder (via :meth:`fit_transform`); returns self."""
        self.fit_transform(X, y, **fit_params)
        return self

    def fit_transform(self, X, y, sample_weight=None, groups=None):
        """Fit the embedders and return the features with their **out-of-fold** embeddings.

        Parameters
        ----------
        X : DataFrame or array, shape (n, n_features)
        y : array-like, shape (n, 6) or (n,)
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
        T, _ = as_soft_targets(y)
        if T.shape[0] != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {T.shape[0]}")
        n_groups = None if groups is None else len(np.unique(np.asarray(groups)))
        self.embedders_, self.n_embedding_, blocks = [], {}, []
        for name, est in self.embedders:
            fitted = clone(est)
            Xe = self._select(X, name)
            _adapt(fitted, name, Xe, n_groups)
            kwargs = {}
            params = inspect.signature(fitted.fit_transform).parameters
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            if groups is not None and "groups" in params:
                kwargs["groups"] = groups
            Z = np.asarray(fitted.fit_transform(Xe, T, **kwargs))
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
        check_is_fitted(self, "embedders_")
        directory = begin_save(directory)  # no loadable folder until the manifest is written
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
        write_manifest(directory, type(self).__name__, payload,
                       files=[f"{s['dir']}/{MANIFEST}" for s in steps])
        return directory

    @classmethod
    def load(cls, directory, feature_names=None) -> EmbeddingUnion:
        """Load an :class:`EmbeddingUnion` written by :meth:`save` (no code executed)."""
        directory = Path(directory)
        m = read_manifest(directory, kind=cls.__name__)
        where = directory / MANIFEST
        steps = manifest_field(m, "embedders", directory, list)
        if not steps:
            raise ModelFileError(f"{where}: 'embedders' lists no embedder")
        fitted = []
        n_embedding = {}
        for s in steps:
            if not (isinstance(s, dict) and isinstance(s.get("name"), str)):
                raise ModelFileError(f"{where}: bad embedder entry {s!r}")
            est = _load_step(s.get("kind"), _step_dir(m, s.get("dir"), directory))
            n_out = len(est.get_feature_names_out())
            if s.get("n_embedding") != n_out or isinstance(s.get("n_embedding"), bool):
                raise ModelFileError(f"{where}: embedder {s['name']!r} has n_embedding "
                                     f"{s.get('n_embedding')!r}, its files give {n_out}")
            fitted.append((s["name"], est))
            n_embedding[s["name"]] = n_out
        n_features = manifest_field(m, "n_features", directory, int)
        names = m.get("feature_names")
        if names is not None and not (isinstance(names, list) and len(names) == n_features
                                      and all(isinstance(c, str) for c in names)):
            raise ModelFileError(f"{where}: 'feature_names' must be {n_features} strings")
        if isinstance(n_features, bool) or n_features < 1:
            raise ModelFileError(f"{where}: 'n_features' must be >= 1")
        passthrough = m.get("passthrough", True)
        if not (isinstance(passthrough, bool) or (
                isinstance(passthrough, list) and all(isinstance(c, str) for c in passthrough)
                and (names is None or set(passthrough) <= set(names)))):
            raise ModelFileError(f"{where}: 'passthrough' must be a bool or a list of the "
                                 "input feature names")
        columns = m.get("columns")
        if not (columns is None or (isinstance(columns, dict) and set(columns) <= set(n_embedding)
                                    and all(isinstance(v, (str, list, dict))
                                            for v in columns.values()))):
            raise ModelFileError(f"{where}: 'columns' must be null or map embedder names to "
                                 "column names or prefixes")
        union = cls([(n, clone(e)) for n, e in fitted], columns=columns,
                    passthrough=passthrough)
        union.embedders_ = fitted
        union.n_embedding_ = n_embedding
        union.n_features_in_ = n_features
        if names is not None:
            union.feature_names_in_ = np.asarray(names, dtype=object)
            if feature_names is not None:
                check_feature_names(names, list(feature_names), str(directory))
        return union


def _adapt(est, name, X, n_groups) -> None:
    """Fill in what an embedder clone can learn from its input: ``n_steps`` from ``_tNN``
    column names, an integer ``cv`` no larger than the number of groups."""
    params = est.get_params(deep=False)
    if "n_steps" in params and params["n_steps"] is None and isinstance(X, pd.DataFrame):
        try:
            shape = sequence_shape(X.columns, prefix="")
        except ValueError:  # not sequence columns: the embedder's own error says what it needs
            shape = None
        if shape is not None:
            est.set_params(n_steps=shape[0])
    cv = params.get("cv")
    if n_groups is not None and isinstance(cv, int) and not isinstance(cv, bool) \
            and cv > n_groups:
        if n_groups < 2:
            raise ValueError(f"EmbeddingUnion: embedder {name!r} cross-fits by group "
                             f"(patient) and needs at least 2 groups, got {n_groups}")
        est.set_params(cv=n_groups)


# --------------------------------------------------------------------------------------------
# HMSPipeline
# --------------------------------------------------------------------------------------------
@register_kind
class HMSPipeline(Pipeline):
    """A :class:`sklearn.pipeline.Pipeline` that can be saved and loaded without pickle.

    Every fitted step must either have ``save(directory)`` (the library's estimators) or be a
    registered parameter-only transformer (the feature extractor, saved as its JSON
    parameters). :meth:`load` rebuilds the steps from the registry of
    :func:`~hms_features.models.persist.register_kind` by kind name.

    The manifest also records what the pipeline's input is (:func:`input_spec`: the feature
    set, its families, whether the Kaggle spectrogram is needed, the sequence shape; and
    ``preprocess``, the :func:`preprocess_spec` of the table it was fitted on), so a saved
    model recomputes its own input with :meth:`feature_table`, from Python or from
    ``hms-features predict`` alike, and refuses a table built with other preprocessing (a
    clipping level, filter edge or notch of its own) in :meth:`predict_proba`,
    :meth:`predict` and :meth:`check_feature_table`. The window length is in the column names
    (``_50s``), checked with them.
    """

    def fit(self, X, y=None, sample_weight=None, groups=None, **params):
        """Fit every step; ``sample_weight`` goes to the final step, ``groups`` to the embedders.

        Parameters
        ----------
        X : DataFrame or array, shape (n, n_features)
            Feature table (label rows for a pipeline starting with a feature extractor).
        y : array-like, shape (n, 6) or (n,)
            Vote counts, probabilities or class labels.
        sample_weight : array-like, shape (n,), optional
            Row weights of the final estimator (e.g. :func:`hms_features.data.vote_weights`).
        groups : array-like, shape (n,), optional
            Patient per row: the embedders cross-fit their out-of-fold embeddings by patient.
        **params
            Further ``step__parameter`` fit parameters, as for :class:`sklearn.pipeline.Pipeline`.

        Returns
        -------
        self
        """
        if sample_weight is not None:
            params[f"{self.steps[-1][0]}__sample_weight"] = sample_weight
        if groups is not None and _STEP_EMBED in self.named_steps:
            params.setdefault(f"{_STEP_EMBED}__groups", groups)
        super().fit(X, y, **params)
        if hasattr(self, "inputs_"):
            del self.inputs_
        # the table's preprocessing (None: not recorded; a feature extractor brings its own)
        self.preprocess_ = (preprocess_spec(X) if self.steps[0][0] != _STEP_FEATURES
                            else None)
        return self

    def predict_proba(self, X, **params):
        """Class probabilities, shape (n, 6), after :meth:`check_preprocessing` of ``X``."""
        self.check_preprocessing(X)
        return super().predict_proba(X, **params)

    def predict(self, X, **params):
        """Predicted classes, after :meth:`check_preprocessing` of ``X``."""
        self.check_preprocessing(X)
        return super().predict(X, **params)

    def check_preprocessing(self, X, where: str = "feature table") -> None:
        """Refuse a feature table built with other preprocessing than the model's.

        Compares :func:`preprocess_spec` of ``X`` with the one recorded at fit (the manifest's
        ``inputs["preprocess"]`` for a loaded model); nothing to compare when either is
        unknown (a table without ``attrs["preprocess"]``, a model saved before it was
        recorded).

        Raises
        ------
        FeatureMismatchError
            A ``ValueError`` of one line naming each differing parameter with both values
            (:func:`~hms_features.models.persist.check_preprocessing`).
        """
        expected = getattr(self, "preprocess_", None)
        given = preprocess_spec(X) if expected is not None else None
        if given is not None:
            check_preprocessing(expected, given, where)

    def input_spec(self) -> dict | None:
        """What the pipeline's input is (:func:`input_spec` of its fitted feature names).

        Read from the manifest for a loaded pipeline; None when the pipeline was fitted on a
        table that ``build_features`` does not compute (or starts with a feature extractor).
        Its ``preprocess`` entry is the :func:`preprocess_spec` of the table the pipeline was
        fitted on (None: not recorded).
        """
        if not hasattr(self, "inputs_"):
            first = self.steps[0][1]
            names = getattr(first, "feature_names_in_", None)
            if names is None or self.steps[0][0] == _STEP_FEATURES:
                self.inputs_ = None
            else:
                self.inputs_ = input_spec(names)
                if self.inputs_ is not None:
                    self.inputs_["preprocess"] = getattr(self, "preprocess_", None)
        return self.inputs_

    def feature_table(self, data, **build_kwargs) -> pd.DataFrame:
        """The feature table this pipeline predicts on, computed from ``data``.

        Parameters
        ----------
        data : HMSDataset, path, dict or array
            As for :func:`hms_features.build.build_features` (e.g. ``HMSDataset(root,
            "test")``, or ``{"eeg": windows, "spectrogram": spectrograms}``).
        **build_kwargs
            Further :func:`~hms_features.build.build_features` arguments (``n_jobs``,
            ``cache_dir``, ``progress``, ``labels``, ...); the feature set is the model's, and
            so is the preprocessing unless ``preprocess_kwargs`` is given.

        Returns
        -------
        DataFrame
            The columns the pipeline was fitted on, in order.

        Raises
        ------
        ValueError
            When the pipeline was fitted on a table of other columns (naming the model),
            ``data`` lacks what the features need (e.g. a spectrogram), or
            ``preprocess_kwargs`` differ from the model's preprocessing.
        """
        spec = self.input_spec()
        if spec is None:
            raise ValueError("this pipeline was not fitted on a feature table computed by "
                             "build_features (its columns are not a feature set), so it cannot "
                             "recompute its input: build the table yourself")
        prep = getattr(self, "preprocess_", None)
        if prep is not None and build_kwargs.get("preprocess_kwargs") is None:
            # the parameters that differ from preprocess's defaults (a default build's cache
            # key stays that of a default build)
            build_kwargs["preprocess_kwargs"] = {
                k: v for k, v in prep.items() if PREPROCESS_DEFAULTS.get(k, v) != v} or None
        table = build_features(data, spec["feature_set"], **build_kwargs)
        if table.shape[1] != spec["n_features"]:
            raise ValueError(
                f"the model needs {spec['n_features']} features of {spec['families']}, the data "
                f"gave {table.shape[1]}"
                + (" (the model uses the Kaggle spectrogram: pass spectrogram windows)"
                   if spec["spectrogram"] else ""))
        return self.check_feature_table(table)

    def feature_names(self) -> list | None:
        """The columns the pipeline was fitted on (None: fitted on an array, or starting with
        a feature extractor)."""
        if self.steps[0][0] == _STEP_FEATURES:
            return None
        names = getattr(self.steps[0][1], "feature_names_in_", None)
        return None if names is None else [str(c) for c in names]

    def check_feature_table(self, X):
        """``X`` with the model's columns in the model's order, or a one-line error.

        Parameters
        ----------
        X : DataFrame
            A feature table to predict on.

        Returns
        -------
        DataFrame
            ``X[model columns]`` (the same table when already in order).

        Raises
        ------
        FeatureMismatchError
            A ``ValueError`` of one line (:func:`~hms_features.models.persist.
            check_feature_names`): both column counts and the first missing and extra names;
            or the preprocessing parameters that differ (:meth:`check_preprocessing`).
        """
        expected = self.feature_names()
        if expected is None or not isinstance(X, pd.DataFrame):
            return X
        check_feature_names(expected, X.columns, "feature table")
        self.check_preprocessing(X)
        return X if [str(c) for c in X.columns] == expected else X[expected]

    def provenance(self, extra: dict | None = None) -> dict:
        """What :meth:`save` records as the manifest's ``provenance``.

        Parameters
        ----------
        extra : dict, optional
            Further entries (JSON values only), e.g. the data fingerprint and fold scheme.

        Returns
        -------
        dict
            ``library_version``, ``params`` (``final_step``, the final estimator's class, and
            its scalar parameters from ``get_params(deep=True)``: ``n_estimators``,
            ``learning_rate``, ``random_state``, ``min_votes`` of a two-stage model ...), then
            ``extra``.
        """
        final = self.steps[-1][1]
        params = {k: v for k, v in sorted(final.get_params(deep=True).items())
                  if v is None or isinstance(v, (str, bool, int, float))}
        record = {"library_version": __version__,
                  "params": {"final_step": type(final).__name__, **params}}
        record.update(json_safe(dict(extra or {}), "provenance"))
        return record

    def save(self, directory, provenance: dict | None = None) -> Path:
        """Save every step under ``directory/{index}_{name}/`` and a pipeline manifest.

        Parameters
        ----------
        directory : str or Path
        provenance : dict, optional
            What produced the model (data fingerprint, fold scheme, command-line settings ...),
            JSON values only. The manifest's ``provenance`` always holds ``library_version``
            and ``params`` (the final step's scalar parameters: ``n_estimators``,
            ``learning_rate``, ``random_state`` ...); ``provenance`` adds to it. Read back as
            ``provenance_`` by :meth:`load`.
        """
        directory = Path(directory)
        check_is_fitted(self.steps[-1][1])
        directory = begin_save(directory)  # no loadable folder until the manifest is written
        entries = []
        for i, (name, est) in enumerate(self.steps):
            if est is None or est == "passthrough":
                continue
            kind = type(est).__name__
            if hasattr(est, "save"):
                sub = f"{i:02d}_{name}"
                est.save(directory / sub)
                entries.append({"name": name, "kind": kind, "dir": sub})
            elif _is_param_only(est):
                params = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v)
                          for k, v in est.get_params(deep=False).items()
                          if k not in _NOT_RESTORED}
                params = json_safe(params, f"step {name!r} params")
                entries.append({"name": name, "kind": kind, "params": params,
                                "fitted": _fitted_state(est, name)})
            else:
                raise TypeError(
                    f"HMSPipeline.save: step {name!r} ({kind}) has no save(directory) and is "
                    "not a parameter-only transformer of this library"
                )
        record = self.provenance(provenance)
        self.provenance_ = record
        write_manifest(directory, type(self).__name__,
                       {"steps": entries, "inputs": self.input_spec(), "provenance": record},
                       files=[f"{e['dir']}/{MANIFEST}" for e in entries if "dir" in e])
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

        Notes
        -----
        Nothing in the files decides where the model reads or writes: step folders are plain
        subfolders (no links, no ``..``, each manifest's checksum recorded by its parent, at
        most 8 levels deep), and a feature extractor's ``root``, ``cache_dir``, ``n_jobs``,
        ``progress`` and ``backend`` are neither saved nor restored: set them on the loaded
        model (``pipe.set_params(features__root=...)``).
        """
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
                klass = registered_class(kind, directory)
                if hasattr(klass, "save") or not isinstance(e["params"], dict):
                    raise ModelFileError(f"{directory}: step {e['name']!r} of kind {kind!r} is "
                                         "not a parameter-only transformer")
                params = {k: v for k, v in e["params"].items() if k not in _NOT_RESTORED}
                try:
                    est = _pandas_output(klass(**params))
                except TypeError as err:
                    raise ModelFileError(f"{directory}: bad params for {kind} ({err})") from None
                _restore_state(est, e.get("fitted", {}), directory)
            else:
                est = _load_step(kind, _step_dir(m, e.get("dir"), directory))
            steps.append((e["name"], est))
        pipe = cls(steps)
        saved = _check_inputs(m.get("inputs"), directory)
        named = None if saved is None else {**saved, "preprocess": None}
        if pipe.input_spec() != named:  # recomputed from the fitted feature names
            raise ModelFileError(f"{directory / MANIFEST}: 'inputs' does not describe the "
                                 "features the model was fitted on (manifest edited?)")
        pipe.inputs_ = saved
        pipe.preprocess_ = None if saved is None else saved.get("preprocess")
        prov = m.get("provenance")
        if prov is not None and not isinstance(prov, dict):
            raise ModelFileError(f"{directory}: 'provenance' must be an object")
        pipe.provenance_ = prov
        _smoke_test(pipe, directory)
        if feature_names is not None:
            first = steps[0][1]
            names = getattr(first, "feature_names_in_", None)
            if names is None:
                raise ValueError(f"{directory}: the first step has no feature names to check")
            check_feature_names(names, list(feature_names), str(directory))
        return pipe


def _smoke_test(pipe, directory) -> None:
    """Predict one row of zeros with a pipeline that starts at the feature table: steps whose
    manifests agree one by one but not with each other (edited sizes, names, columns) are
    reported at load time, as a :class:`ModelFileError`, not at the first prediction."""
    first_name, first = pipe.steps[0]
    names = getattr(first, "feature_names_in_", None)
    if first_name == _STEP_FEATURES or names is None:
        return
    row = pd.DataFrame(np.zeros((1, len(names)), dtype=np.float32), columns=list(names))
    try:
        proba = pipe.predict_proba(row)
    except Exception as err:  # noqa: BLE001 - any failure here means inconsistent files
        text = " ".join(str(err).split())[:120]
        raise ModelFileError(f"{Path(directory) / MANIFEST}: the saved steps do not fit "
                             f"together ({type(err).__name__}: {text})") from None
    if not (np.isfinite(proba).all() and proba.shape == (1, len(CLASSES))):
        raise ModelFileError(f"{Path(directory) / MANIFEST}: the loaded model predicts "
                             "non-finite probabilities")


def _check_inputs(inputs, directory):
    """The manifest's ``inputs`` entry, checked (None: not recomputable)."""
    if inputs is None:
        return None
    types = {"feature_set": (str, list), "families": list, "spectrogram": bool,
             "sequence": (dict, type(None)), "n_features": int}
    if not isinstance(inputs, dict) or any(not isinstance(inputs.get(k), t)
                                           for k, t in types.items()):
        raise ModelFileError(f"{directory}: 'inputs' must be null or an object with "
                             f"{sorted(types)}, got {inputs!r}")
    prep = inputs.get("preprocess")  # absent in models saved before it was recorded
    if prep is not None and not (isinstance(prep, dict) and all(
            isinstance(v, (int, float, type(None))) and not isinstance(v, bool)
            for v in prep.values())):
        raise ModelFileError(f"{directory}: 'inputs.preprocess' must be null or an object of "
                             f"numbers (preprocessing parameters), got {prep!r}")
    return inputs


def _pandas_output(transformer):
    """Make a feature step return a DataFrame (its ``get_feature_names_out`` as columns), so the
    booster downstream records and later checks the feature names."""
    if hasattr(transformer, "set_output") and hasattr(transformer, "get_feature_names_out"):
        transformer.set_output(transform="pandas")
    return transformer


def _fitted_state(est, name) -> dict:
    """JSON form of a parameter-only step's fitted attributes (names, counts: no arrays of
    numbers beyond what JSON holds exactly)."""
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


def _is_param_only(est) -> bool:
    """A registered step without ``save`` (no learned state), saved as its parameters."""
    try:
        return registered_class(type(est).__name__, ".") is type(est) and \
            not hasattr(est, "save")
    except ModelFileError:
        return False


# --------------------------------------------------------------------------------------------
# make_hms_pipeline
# --------------------------------------------------------------------------------------------
def make_hms_pipeline(features=None, embedders=None, classifier=None, *, embedder_columns=None,
                      two_stage=None, **classifier_params) -> HMSPipeline:
    """Build the standard model: [feature extractor] -> [embeddings] -> soft-label LightGBM.

    Parameters
    ----------
    features : None, True, dict or transformer
        None: the pipeline starts from a feature table (DataFrame, one row per label). True or a
        dict of keyword arguments: an :class:`hms_features.build.HMSFeatureExtractor` turning
        label rows into features. A transformer instance is used as given.
    embedders : None or list
        Items are an estimator, a ``(name, estimator)`` pair, or ``"mlp"`` / ``"lstm"`` for a
        default :class:`~hms_features.models.mlp.MLPEmbedder` / ``LSTMEmbedder`` (seeded with
        the ``random_state`` classifier parameter, if given). Their
        embeddings are appended to the features by an :class:`EmbeddingUnion`. ``"lstm"``
        reads the step-major ``seq_*_tNN`` columns of the ``seq`` family (its ``n_steps``
        found from their names at fit time) and ``"mlp"`` every other column, unless
        ``embedder_columns`` says otherwise.
    classifier : estimator, optional
        Final estimator; default ``SoftLabelLGBMClassifier(**classifier_params)``.
    embedder_columns : dict, optional
        ``EmbeddingUnion(columns=...)``: input columns (names, a name prefix or
        ``{"exclude_prefix": p}``) per embedder.
    two_stage : float, optional
        Train in two stages: the final step becomes
        ``TwoStageClassifier(SoftLabelLGBMClassifier(**classifier_params), min_votes=two_stage)``
        (:class:`~hms_features.models.TwoStageClassifier`: all rows, then more rounds of the
        same booster on the rows with at least ``two_stage`` votes; ``y`` must be vote counts).
    **classifier_params
        Parameters of the default classifier (e.g. ``n_estimators=300, random_state=0``).

    Returns
    -------
    HMSPipeline
        Steps named ``"features"`` (if any), ``"embed"`` (if any) and ``"lgbm"``; fit with
        ``pipe.fit(X, Y, sample_weight=..., groups=patient_ids)`` (or route fit parameters as
        ``lgbm__sample_weight=...``, ``embed__groups=...``).

    Examples
    --------
    The model of ``hms-features train --embedders mlp lstm``, from Python::

        X = build_features(ds, ["default", "seq"])
        model = make_hms_pipeline(embedders=["mlp", "lstm"], random_state=0)
        model.fit(X, ds.votes(), sample_weight=vote_weights(ds.votes()),
                  groups=ds.labels["patient_id"])
    """
    steps = []
    if features is not None and features is not False:
        if features is True or isinstance(features, dict):
            features = HMSFeatureExtractor(**({} if features is True else features))
        _pandas_output(features)
        steps.append((_STEP_FEATURES, features))
    if embedders:
        pairs, columns = [], {}
        for i, item in enumerate(embedders):
            if isinstance(item, str):
                classes = _NAMED_EMBEDDERS
                if item not in classes:
                    raise ValueError(f"make_hms_pipeline: embedder {item!r}; expected one of "
                                     f"{sorted(classes)}")
                # seeded like the classifier, so random_state=0 makes the whole model repeatable
                seed = classifier_params.get("random_state")
                columns[item] = (SEQUENCE_PREFIX if item == "lstm"
                                 else {"exclude_prefix": SEQUENCE_PREFIX})
                item = (item, classes[item](random_state=seed))
            elif not isinstance(item, tuple):
                item = (f"{type(item).__name__.lower()}{i}", item)
            pairs.append(item)
        if embedder_columns is not None:
            columns = dict(embedder_columns)
        steps.append((_STEP_EMBED, EmbeddingUnion(pairs, columns=columns or None)))
    if classifier is None:
        classifier = SoftLabelLGBMClassifier(**classifier_params)
        if two_stage is not None:
            classifier = TwoStageClassifier(classifier, min_votes=two_stage)
    elif two_stage is not None:
        raise ValueError("make_hms_pipeline: two_stage wraps the default classifier; pass "
                         "classifier=TwoStageClassifier(...) yourself instead")
    elif classifier_params:
        raise ValueError("make_hms_pipeline: pass classifier parameters or a classifier, "
                         "not both")
    steps.append((_STEP_MODEL, classifier))
    return HMSPipeline(steps)


def make_pipeline(*args, **kwargs) -> HMSPipeline:
    """Deprecated alias of :func:`make_hms_pipeline` (it shadowed
    :func:`sklearn.pipeline.make_pipeline`); will be removed in the next release."""
    warnings.warn("hms_features.models.make_pipeline is deprecated and will be removed in the "
                  "next release; use hms_features.models.make_hms_pipeline (same arguments)",
                  FutureWarning, stacklevel=2)
    return make_hms_pipeline(*args, **kwargs)


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
                              sample_weight=None, train_mask=None, fit_params=None,
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
        Patient id per row; no patient is in two folds (:func:`hms_features.data.patient_folds`,
        deterministic).
    n_splits : int
        Number of folds.
    folds : array-like of int, shape (n,), optional
        Precomputed fold per row, used instead of :func:`~hms_features.data.patient_folds`;
        checked not to split a patient.
    sample_weight : array-like, shape (n,), optional
        Training row weights (routed to the final step of a pipeline).
    train_mask : array-like of bool, shape (n,), optional
        Rows a fold model may train on (e.g. :func:`~hms_features.models.min_votes_mask`: only
        the rows with at least 10 votes). Every held-out row is still predicted and scored, so
        the score stays comparable with a model trained on every row.
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
    V = np.asarray(votes.to_numpy() if isinstance(votes, pd.DataFrame) else votes, dtype=float)
    T, _ = as_soft_targets(votes, name="votes")
    n = T.shape[0]
    groups = np.asarray(groups)
    if len(X) != n or groups.shape[0] != n:
        raise ValueError(f"X has {len(X)} rows, votes {n}, groups {groups.shape[0]}: must match")
    if folds is None:
        folds = patient_folds(pd.DataFrame({"patient_id": groups}), n_splits)
    else:
        folds = np.asarray(folds, dtype=np.int64)
        if folds.shape[0] != n:
            raise ValueError(f"folds has {folds.shape[0]} entries, expected {n}")
        per_group = pd.Series(folds).groupby(groups).nunique()
        if (per_group > 1).any():
            bad = per_group.index[per_group.to_numpy() > 1][0]
            raise ValueError(f"folds split patient {bad} across folds")
    if train_mask is not None:
        train_mask = np.asarray(train_mask)
        if train_mask.dtype != bool or train_mask.shape != (n,):
            raise ValueError(f"train_mask must be a boolean array of shape ({n},), got "
                             f"{train_mask.dtype} {train_mask.shape}")
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
        train = np.flatnonzero((folds != k) if train_mask is None else
                               (folds != k) & train_mask)
        if len(train) == 0:
            raise ValueError(f"fold {k}: no training rows (train_mask keeps none outside it)")
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

