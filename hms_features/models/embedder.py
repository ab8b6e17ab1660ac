"""Shared machinery of the torch-free neural embedders (numpy MLP and LSTM).

:class:`_NeuralEmbedder` holds the fit loop, cross-fitting, prediction and persistence;
:mod:`hms_features.models.mlp` and :mod:`hms_features.models.lstm` add the networks, and
:mod:`hms_features.models._nn_layers` the layers, gradients and optimiser.

Both estimators learn a softmax head over the six classes of :data:`~hms_features.metrics.CLASSES`
by minimising the soft-target cross-entropy against the expert vote distribution, which differs
from the competition's KL divergence only by the (constant) entropy of the targets, so the two
have the same gradient. Their hidden representation is the product: ``transform`` returns the last
hidden layer (:class:`MLPEmbedder`) or the pooled LSTM state (:class:`LSTMEmbedder`) to be fed,
next to the feature table, to a gradient-boosted model downstream.

Leak-free stacking
------------------
``fit_transform(X, y)`` returns **out-of-fold** embeddings: the rows are split into ``cv`` folds
(``GroupKFold`` when ``groups`` such as patient ids are given), a model is trained on all folds but
one and embeds the held-out fold, exactly as :class:`sklearn.ensemble.StackingClassifier` and
:class:`sklearn.preprocessing.TargetEncoder` cross-fit. The estimator is then refitted on all rows,
and that final model serves ``transform`` / ``predict_proba`` afterwards. A booster trained on the
output of ``fit_transform`` therefore never sees an embedding of a row whose label the embedder
was trained on. All fold models and the final model start from the same initial weights (one
seed), which keeps their hidden units in correspondence; ``align="linear"`` (default) in addition
maps each fold model's embedding onto the final model's coordinates with a least-squares affine
map fitted on that fold's *training* rows only (see ``_fit_alignment``), so out-of-fold and
test-time embeddings share one coordinate system. The map's target, the final model, was trained
on every row, so ``"linear"`` is not leak-free to the letter: held-out labels can reach a fold's
embeddings through an affine change of coordinates estimated on other rows. The tests bound this
(on noise targets a downstream model fitted on the out-of-fold embeddings does no better than
on embeddings from a shuffled-target control); ``align="none"`` is the strict version.

Optimisation
------------
Mini-batch Adam [1]_ with **decoupled** weight decay (AdamW [2]_): after each step every weight
matrix (not biases) is shrunk by ``learning_rate * weight_decay``; the decay is not part of the
loss and so not part of the gradient. Inputs are standardised with a mean and standard deviation
learned on the training rows, ignoring NaN; after standardising, NaN becomes 0 (the mean). Early
stopping holds out ``validation_fraction`` of the rows (whole groups when ``groups`` is given),
scores their weighted KL divergence after every epoch, stops after ``patience`` epochs without
improvement and keeps the best weights. All matrix products run with a single BLAS thread
(``threadpoolctl``): mini-batch products are too small to gain from threads, and threaded
OpenBLAS on a shared machine made fitting up to 14x slower.

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
.. [2] I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..metrics import CLASSES, parse_targets
from ._nn_layers import (
    _Adam,
    _log_softmax,
    _one_blas_thread,
    _soft_cross_entropy,
    _weighted_kl,
)
from .persist import (
    ModelFileError,
    begin_save,
    check_feature_names,
    manifest_field,
    model_file,
    read_manifest,
    registered_subclasses,
    write_manifest,
)

__all__ = ["load_embedder"]

_N_CLASSES = len(CLASSES)
_ACTIVATIONS = ("relu", "gelu")
_DTYPES = ("float32", "float64")
_MANIFEST = "manifest.json"
_WEIGHTS = "weights.npz"
#: Smallest improvement of the validation KL (nats) that resets the patience counter.
_TOL = 1e-5
#: Rows per block at inference (validation scoring, transform, predict_proba).
_INFER_BATCH = 2048


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_targets(Y, n_rows: int) -> np.ndarray:
    """Vote counts, probabilities or 1-D class labels -> (n, 6) float64 probabilities.

    Parsing and messages are :func:`hms_features.metrics.parse_targets`'s (the library's one
    target parser); on top of it this checks the row count.
    """
    T, _, _ = parse_targets(Y, classes=CLASSES, name="y")
    if T.shape[0] != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {T.shape[0]}: they must match")
    return T


def _check_sample_weight(sample_weight, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n_rows,):
        raise ValueError(f"sample_weight: expected shape ({n_rows},), got {w.shape}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"sample_weight: row {i} is {w[i]}; expected finite and >= 0")
    if w.sum() <= 0:
        raise ValueError("sample_weight: all weights are zero")
    return w


def _check_groups(groups, n_rows: int):
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_rows,):
        raise ValueError(f"groups: expected shape ({n_rows},), got {groups.shape}")
    return groups


def _standardise(X: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype) -> np.ndarray:
    Z = ((X - mean) / scale).astype(dtype, copy=False)
    return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0, copy=False)


def _nan_stats(X2: np.ndarray):
    """NaN-ignoring column mean and std (float64); all-NaN columns get 0 / 1, constant ones 1."""
    X2 = X2.astype(np.float64, copy=False)
    finite = np.isfinite(X2)
    count = finite.sum(axis=0)
    Xz = np.where(finite, X2, 0.0)
    mean = Xz.sum(axis=0) / np.maximum(count, 1)
    var = (np.where(finite, X2 - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1)
    scale = np.sqrt(var)
    scale[~(scale > 1e-12)] = 1.0
    return mean, scale


# --------------------------------------------------------------------------------------------
# Shared estimator machinery
# --------------------------------------------------------------------------------------------


class _NeuralEmbedder(TransformerMixin, BaseEstimator):
    """Fit loop, cross-fitting, prediction and persistence shared by the MLP and the LSTM."""

    _emb_prefix = "emb"
    _tuple_params: tuple[str, ...] = ()

    # -- to be provided by subclasses ---------------------------------------------------------
    def _validate_X(self, X, reset):  # pragma: no cover - abstract
        raise NotImplementedError

    def _init_weights(self, n_inputs, rng, dtype):  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, weights, X, rng=None):  # pragma: no cover - abstract
        """Returns ``(logits, embedding, cache)``."""
        raise NotImplementedError

    def _backward(self, weights, dlogits, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def _embedding_size(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- parameter checks ----------------------------------------------------------------------
    def _check_common_params(self):
        checks = [
            ("activation", self.activation in _ACTIVATIONS, f"one of {_ACTIVATIONS}"),
            ("dropout", isinstance(self.dropout, numbers.Real) and 0 <= self.dropout < 1,
             "a number in [0, 1)"),
            ("weight_decay", isinstance(self.weight_decay, numbers.Real) and self.weight_decay >= 0,
             "a number >= 0"),
            ("learning_rate",
             isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0, "> 0"),
            ("batch_size", isinstance(self.batch_size, numbers.Integral) and self.batch_size >= 1,
             "an integer >= 1"),
            ("max_epochs", isinstance(self.max_epochs, numbers.Integral) and self.max_epochs >= 1,
             "an integer >= 1"),
            ("validation_fraction",
             isinstance(self.validation_fraction, numbers.Real)
             and 0 < self.validation_fraction < 1, "a number in (0, 1)"),
            ("patience", isinstance(self.patience, numbers.Integral) and self.patience >= 1,
             "an integer >= 1"),
            ("cv", (isinstance(self.cv, numbers.Integral) and self.cv >= 2)
             or hasattr(self.cv, "split") or hasattr(self.cv, "__iter__"),
             "an integer >= 2, a CV splitter or an iterable of (train, test) index arrays"),
            ("dtype", self.dtype in _DTYPES, f"one of {_DTYPES}"),
            ("align", self.align in ("linear", "none"), "'linear' or 'none'"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(
                    f"{type(self).__name__}: parameter {name}={getattr(self, name)!r}; "
                    f"expected {expected}"
                )

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    # -- fitting -------------------------------------------------------------------------------
    def _prepare(self, X, y, sample_weight, groups):
        self._check_params()
        X = self._validate_X(X, reset=True)
        n = X.shape[0]
        Y = _check_targets(y, n)
        w = _check_sample_weight(sample_weight, n)
        groups = _check_groups(groups, n)
        return X, Y, w, groups

    def fit(self, X, y, sample_weight=None, groups=None):
        """Train on all rows (early stopping on a held-out share of them).

        Parameters
        ----------
        X : array-like
            Inputs; see the class docstring for the accepted shapes. NaN is allowed.
        y : array-like or DataFrame, shape (n_rows, 6) or (n_rows,)
            Vote counts or probabilities in :data:`~hms_features.metrics.CLASSES` order
            (normalised per row; a DataFrame with the ``*_vote`` or class-name columns is
            reordered by name), or 1-D class names / indices.
        sample_weight : array-like, shape (n_rows,), optional
            Non-negative row weights of the loss (e.g. the number of votes).
        groups : array-like, shape (n_rows,), optional
            Group labels (e.g. ``patient_id``); the early-stopping validation set then holds
            whole groups.

        Returns
        -------
        self
        """
        X, Y, w, groups = self._prepare(X, y, sample_weight, groups)
        with _one_blas_thread():
            self._fit_arrays(X, Y, w, groups, self._seed())
        return self

    def fit_transform(self, X, y, sample_weight=None, groups=None):
        """Out-of-fold embeddings of the training rows, then refit on all rows.

        Each row's embedding comes from a model that did not see that row's target (``cv``
        folds; ``GroupKFold`` when ``groups`` is given, else shuffled ``KFold``). Afterwards the
        estimator is fitted on all rows, as :meth:`fit` would, and :meth:`transform` uses that
        final model; so ``fit_transform(X, y)`` is deliberately **not** ``fit(X, y).transform(X)``.

        Parameters
        ----------
        X, y, sample_weight, groups
            As in :meth:`fit`; ``groups`` (e.g. ``patient_id``) keeps each group in one fold.

        Returns
        -------
        ndarray, shape (n_rows, n_embedding)
            Out-of-fold embeddings (``dtype``). The matching out-of-fold class probabilities are
            kept in ``oof_proba_``.
        """
        X, Y, w, groups = self._prepare(X, y, sample_weight, groups)
        with _one_blas_thread():
            return self._fit_transform_arrays(X, Y, w, groups)

    def _fit_transform_arrays(self, X, Y, w, groups):
        seed = self._seed()
        n = X.shape[0]
        if hasattr(self.cv, "split"):
            splits = list(self.cv.split(np.zeros((n, 1)), None, groups))
        elif not isinstance(self.cv, numbers.Integral):
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in self.cv]
        elif groups is not None:
            if len(np.unique(groups)) < self.cv:
                raise ValueError(
                    f"groups: {len(np.unique(groups))} distinct groups cannot fill cv={self.cv} "
                    "folds"
                )
            splits = list(GroupKFold(n_splits=self.cv).split(np.zeros((n, 1)), None, groups))
        else:
            if n < self.cv:
                raise ValueError(f"cv={self.cv} folds need at least {self.cv} rows, got {n}")
            kf = KFold(n_splits=self.cv, shuffle=True, random_state=seed)
            splits = list(kf.split(np.zeros((n, 1))))
        covered = np.zeros(n, dtype=bool)
        for _, test in splits:
            covered[test] = True
        if not covered.all():
            raise ValueError("cv: the splitter must put every row in exactly one test fold")

        self._fit_arrays(X, Y, w, groups, seed)
        oof = np.empty((n, self._embedding_size()), dtype=self.dtype)
        oof_proba = np.empty((n, _N_CLASSES))
        for train, test in splits:
            fold = clone(self)
            fold._check_params()
            fold_groups = None if groups is None else groups[train]
            fold._fit_arrays(X[train], Y[train], w[train], fold_groups, seed)
            emb = fold._embed(X[test])
            if self.align == "linear":
                A = _fit_alignment(fold._embed(X[train]), self._embed(X[train]))
                emb = (np.c_[emb, np.ones(len(emb))] @ A).astype(self.dtype)
            oof[test] = emb
            oof_proba[test] = fold._proba(X[test])
        self.oof_proba_ = oof_proba
        return oof

    def _fit_arrays(self, X, Y, w, groups, seed):
        """Standardise, initialise and train; sets every fitted attribute."""
        dtype = np.dtype(self.dtype)
        rng_init = np.random.default_rng([seed, 0])
        rng_split = np.random.default_rng([seed, 1])
        rng_train = np.random.default_rng([seed, 2])

        self.mean_, self.scale_ = self._input_stats(X)
        Z = self._standardised(X)
        Yd = Y.astype(dtype)
        weights = self._init_weights(Z.shape[-1], rng_init, dtype)

        n = Z.shape[0]
        if self.early_stopping:
            train_idx, val_idx = self._validation_split(n, groups, rng_split)
        else:
            train_idx, val_idx = np.arange(n), np.array([], dtype=np.int64)
        decay = [k for k in weights if "W" in k]
        adam = _Adam(weights, self.learning_rate, self.weight_decay, decay)
        clip = getattr(self, "clip_norm", None)

        best = (np.inf, None, 0)
        self.loss_curve_, self.validation_scores_ = [], []
        wait = 0
        epoch = 0
        for epoch in range(1, self.max_epochs + 1):
            order = train_idx[rng_train.permutation(len(train_idx))]
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                wb = w[idx]
                if wb.sum() <= 0:
                    continue
                loss, grads = self._loss_grad(weights, Z[idx], Yd[idx], wb, rng_train)
                if clip is not None:
                    norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum())
                                       for g in grads.values()))
                    if norm > clip:
                        grads = {k: g * dtype.type(clip / norm) for k, g in grads.items()}
                adam.step(weights, grads)
                total += loss * wb.sum()
            self.loss_curve_.append(total / w[train_idx].sum())
            if not self.early_stopping:
                continue
            logits = self._infer(weights, Z[val_idx])[0]
            score = _weighted_kl(Y[val_idx], logits, w[val_idx])
            self.validation_scores_.append(score)
            if score < best[0] - _TOL:
                best = (score, {k: v.copy() for k, v in weights.items()}, epoch)
                wait = 0
            else:
                wait += 1
                if wait >= self.patience:
                    break
        if self.early_stopping and best[1] is not None:
            weights = best[1]
            self.best_validation_score_ = best[0]
            self.best_epoch_ = best[2]
        else:
            self.best_validation_score_ = None
            self.best_epoch_ = epoch
        self.weights_ = weights
        self.n_iter_ = epoch
        self.classes_ = np.array(CLASSES, dtype=object)

    def _validation_split(self, n, groups, rng):
        if groups is not None and len(np.unique(groups)) >= 2:
            seed = int(rng.integers(2**31 - 1))
            gss = GroupShuffleSplit(1, test_size=self.validation_fraction, random_state=seed)
            train_idx, val_idx = next(gss.split(np.zeros((n, 1)), None, groups))
        else:
            n_val = int(round(n * self.validation_fraction))
            if n_val < 1 or n - n_val < 1:
                raise ValueError(
                    f"{type(self).__name__}: n_samples={n} rows cannot be split into training and "
                    f"validation with validation_fraction={self.validation_fraction}; pass more "
                    "rows or early_stopping=False"
                )
            perm = rng.permutation(n)
            train_idx, val_idx = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        return train_idx, val_idx

    def _loss_grad(self, weights, Z, Y, w, rng=None):
        """Weighted soft-target cross-entropy and its gradient for every parameter.

        ``Z`` is the standardised input, ``w`` the row weights (normalised here to sum to 1);
        ``rng`` enables dropout. Weight decay is decoupled and so not part of this loss.
        """
        w = (w / w.sum()).astype(Z.dtype)
        logits, _, cache = self._forward(weights, Z, rng)
        loss, dlogits = _soft_cross_entropy(logits, Y, w)
        return loss, self._backward(weights, dlogits, cache)

    # -- inference -----------------------------------------------------------------------------
    def _infer(self, weights, Z):
        """Forward pass without dropout in blocks of rows (bounds the LSTM's cached states)."""
        if len(Z) <= _INFER_BATCH:
            logits, emb, _ = self._forward(weights, Z)
            return logits, emb
        parts = [self._forward(weights, Z[i : i + _INFER_BATCH])[:2]
                 for i in range(0, len(Z), _INFER_BATCH)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _embed(self, X):
        return self._infer(self.weights_, self._standardised(X))[1]

    def _proba(self, X):
        logits = self._infer(self.weights_, self._standardised(X))[0]
        p = np.exp(_log_softmax(logits.astype(np.float64)))
        return p / p.sum(axis=1, keepdims=True)

    def transform(self, X):
        """Embeddings of ``X`` from the final (all-rows) model.

        Returns
        -------
        ndarray, shape (n_rows, n_embedding)
            ``dtype`` values, columns named by :meth:`get_feature_names_out`.
        """
        check_is_fitted(self, "weights_")
        X = self._validate_X(X, reset=False)
        with _one_blas_thread():
            return self._embed(X)

    def predict_proba(self, X):
        """Class probabilities from the softmax head.

        Returns
        -------
        ndarray of float64, shape (n_rows, 6)
            Rows sum to 1; columns in :data:`~hms_features.metrics.CLASSES` order.
        """
        check_is_fitted(self, "weights_")
        X = self._validate_X(X, reset=False)
        with _one_blas_thread():
            return self._proba(X)

    def get_feature_names_out(self, input_features=None):
        """Embedding column names ``{prefix}_emb_0 ...``."""
        check_is_fitted(self, "weights_")
        return np.array(
            [f"{self._emb_prefix}_emb_{i}" for i in range(self._embedding_size())], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Save to ``directory``: ``weights.npz`` (plain arrays) plus ``manifest.json`` (no pickle).

        Uses the library's manifest format (:mod:`hms_features.models.persist`: format, kind =
        class name, library version, class order, SHA-256 of ``weights.npz``) with the parameters
        (a non-integer ``random_state`` or a splitter object as ``cv`` is stored as ``null`` and
        listed under ``params_not_saved``), input feature names or shape, embedding names and
        every array's shape and dtype. Returns the directory.
        """
        check_is_fitted(self, "weights_")
        directory = begin_save(directory)  # no loadable folder until the manifest is written
        arrays = {f"weight__{k}": v for k, v in self.weights_.items()}
        arrays["mean_"], arrays["scale_"] = self.mean_, self.scale_
        params, not_saved = {}, []
        for k, v in self.get_params(deep=False).items():
            if isinstance(v, tuple):
                v = list(v)
            try:
                json.dumps(v, allow_nan=False)
            except (TypeError, ValueError):
                v = None
                not_saved.append(k)
            params[k] = v
        names = getattr(self, "feature_names_in_", None)
        payload = {
            "params": params,
            "params_not_saved": not_saved,
            "feature_names": None if names is None else [str(c) for c in names],
            "inputs": self._input_description(),
            "feature_names_out": [str(c) for c in self.get_feature_names_out()],
            "n_iter": int(self.n_iter_),
            "best_epoch": int(self.best_epoch_),
            "best_validation_score": self.best_validation_score_,
            "arrays": {
                k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()
            },
        }
        np.savez(directory / _WEIGHTS, **arrays)
        write_manifest(directory, type(self).__name__, payload, files=[_WEIGHTS])
        return directory

    @classmethod
    def load(cls, directory, feature_names=None):
        """Rebuild a fitted embedder written by :meth:`save`; executes no code from the files.

        Reads JSON and ``np.load(..., allow_pickle=False)`` only; checks the manifest (format,
        kind among the numpy embedders, class order, checksum) and every array's shape
        against the saved parameters.

        Parameters
        ----------
        directory : str or Path
        feature_names : sequence of str, optional
            Names of the columns you will transform; a ``ValueError`` lists the differences when
            they are not the ones the model was fitted with.

        Raises
        ------
        hms_features.models.persist.ModelFileError
            Missing/changed files, invalid JSON, another kind or class order, bad arrays.
        """
        known = registered_subclasses(cls)  # the embedders decorated with @register_kind
        directory = Path(directory)
        m = read_manifest(directory, kind=tuple(known), required=[_WEIGHTS])
        klass = known[m["kind"]]
        params = dict(manifest_field(m, "params", directory, dict))
        for k in klass._tuple_params:
            if isinstance(params.get(k), list):
                params[k] = tuple(params[k])
        try:
            est = klass(**params)
            est._check_params()
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"{directory / _MANIFEST}: bad params ({err})") from None
        try:
            with np.load(model_file(directory, _WEIGHTS), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as err:
            raise ModelFileError(f"{directory / _WEIGHTS}: not a readable .npz of plain arrays "
                                 f"({str(err).splitlines()[0][:80]})") from None
        specs = manifest_field(m, "arrays", directory, dict)
        for k in set(specs) | set(arrays):
            spec = specs.get(k, {})
            if not isinstance(spec, dict):
                raise ModelFileError(f"{directory / _MANIFEST}: 'arrays' entry {k!r} must be "
                                     "an object")
            if k not in arrays or list(arrays[k].shape) != spec.get("shape"):
                got = arrays[k].shape if k in arrays else None
                raise ModelFileError(f"{directory / _WEIGHTS}: array {k!r} has shape {got}, "
                                     f"the manifest says {spec.get('shape')}")
        # layer widths are bounded by the stored weights: a manifest asking for a huge layer
        # cannot make _init_weights below allocate more than the file holds
        stored = sum(int(a.size) for a in arrays.values())
        widths = [v for k, v in params.items() if isinstance(v, (int, tuple, list))
                  and not isinstance(v, bool) and k in ("hidden", "head")]
        widths = [w for v in widths for w in (v if isinstance(v, (tuple, list)) else [v])]
        if any(not isinstance(w, int) or isinstance(w, bool) or w > stored for w in widths):
            raise ModelFileError(f"{directory / _MANIFEST}: layer sizes {widths[:5]} do not fit "
                                 f"the {stored} stored weights")
        est.weights_ = {k[len("weight__"):]: v for k, v in arrays.items()
                        if k.startswith("weight__")}
        if "mean_" not in arrays or "scale_" not in arrays:
            raise ModelFileError(f"{directory / _WEIGHTS}: standardisation arrays missing")
        est.mean_, est.scale_ = arrays["mean_"], arrays["scale_"]
        expected = est._init_weights(est.mean_.shape[-1], np.random.default_rng(0),
                                     np.dtype(est.dtype))
        if set(expected) != set(est.weights_) or any(
            est.weights_[k].shape != v.shape for k, v in expected.items()
        ):
            raise ModelFileError(f"{directory / _WEIGHTS}: weights do not match the saved "
                                 f"parameters (expected {sorted(expected)} with their shapes)")
        inputs = manifest_field(m, "inputs", directory, dict)
        n_in = inputs.get("n_features_in", -1)
        if not isinstance(n_in, int) or isinstance(n_in, bool) or not (n_in == -1 or n_in >= 1):
            raise ModelFileError(f"{directory / _MANIFEST}: 'inputs.n_features_in' must be an "
                                 "integer >= 1 (or -1)")
        est._restore_inputs(inputs)
        saved_names = m.get("feature_names")
        if saved_names is not None and not (
                isinstance(saved_names, list) and all(isinstance(c, str) for c in saved_names)
                and len(saved_names) == getattr(est, "n_features_in_", len(saved_names))):
            raise ModelFileError(f"{directory / _MANIFEST}: 'feature_names' must be "
                                 f"{getattr(est, 'n_features_in_', 'n')} strings")
        if saved_names is not None:
            est.feature_names_in_ = np.array(saved_names, dtype=object)
            if feature_names is not None:
                check_feature_names(saved_names, feature_names, f"{klass.__name__}.load")
        est.n_iter_ = manifest_field(m, "n_iter", directory, int)
        est.best_epoch_ = manifest_field(m, "best_epoch", directory, int)
        est.best_validation_score_ = m.get("best_validation_score")
        est.classes_ = np.array(CLASSES, dtype=object)
        return est

    def _input_description(self):
        return {"n_features_in": int(getattr(self, "n_features_in_", -1))}

    def _restore_inputs(self, desc):
        if desc.get("n_features_in", -1) >= 0:
            self.n_features_in_ = int(desc["n_features_in"])


def _fit_alignment(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares affine map ``[source, 1] @ A ~ target`` (float64, tiny ridge for rank loss).

    Used by ``fit_transform`` to express a fold model's embedding in the final model's
    coordinates; fitted on the fold's training rows only.
    """
    S = np.c_[source.astype(np.float64), np.ones(len(source))]
    T = target.astype(np.float64)
    gram = S.T @ S
    ridge = 1e-6 * (np.trace(gram) / gram.shape[0] + 1.0)
    return np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), S.T @ T)


def load_embedder(path):
    """Load an :class:`MLPEmbedder` or :class:`LSTMEmbedder` saved with ``save(path)``."""
    return _NeuralEmbedder.load(path)

