"""Numpy LSTM embedder: an LSTM over feature sequences, trained on soft votes.

The fit loop, cross-fitted ``fit_transform``, prediction and persistence are
:class:`~hms_features.models.embedder._NeuralEmbedder`'s (see :mod:`hms_features.models.embedder`);
the LSTM cell's forward and backward passes are in :mod:`hms_features.models._nn_layers`.

References
----------
.. [3] S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from ._nn_layers import (
    _dense_backward,
    _dense_forward,
    _dense_init,
    _lstm_backward,
    _lstm_forward,
)
from .embedder import _N_CLASSES, _nan_stats, _NeuralEmbedder, _standardise
from .persist import register_kind

__all__ = ["LSTMEmbedder"]


@register_kind
class LSTMEmbedder(_NeuralEmbedder):
    """LSTM [3] over feature sequences; the pooled hidden state is the embedding.

    Input: ``X`` of shape ``(n, T, d)`` (``T`` time steps of ``d`` features), or a 2-D array /
    DataFrame of shape ``(n, T * d)`` whose columns are **step-major** — column ``t * d + j`` is
    feature ``j`` at step ``t`` (what ``seq.reshape(n, -1)`` of a 3-D sequence gives) — with
    ``n_steps=T`` set, so the embedder can sit in a scikit-learn Pipeline after a feature table.
    Each of the ``d`` features is standardised over rows and steps (NaN-ignoring; NaN -> 0 after).

    Model: an LSTM layer of ``hidden`` units (gates input, forget, cell, output; forget-gate bias
    initialised to 1), optionally a second one reading the sequence backwards; per direction the
    hidden states are pooled (``"last"``: the direction's final state; ``"mean"``: the mean over
    steps) and concatenated into the embedding ``e``; then dropout and a dense head: ``head``
    hidden layers with ``activation``, and a softmax output over the six classes. Trained by
    backpropagation through time with the optimiser and loss of :class:`MLPEmbedder`, with the
    global gradient norm clipped at ``clip_norm``.

    Parameters
    ----------
    hidden : int
        LSTM units per direction.
    bidirectional : bool
        Add a backward-in-time LSTM; the embedding has ``2 * hidden`` columns.
    pooling : {"last", "mean"}
        How hidden states over time become the embedding.
    head : tuple of int
        Sizes of dense hidden layers between the embedding and the softmax (``()``: linear).
    n_steps : int or None
        Number of steps ``T`` encoded in a 2-D input's columns; ``None`` requires 3-D input.
    clip_norm : float or None
        Global gradient-norm clipping threshold (``None``: off).
    activation, dropout, weight_decay, learning_rate, batch_size, max_epochs, early_stopping, \
validation_fraction, patience, cv, align, random_state, dtype
        As in :class:`MLPEmbedder`; ``dropout`` acts on the embedding and the head's layers.

    Attributes
    ----------
    weights_ : dict of str -> ndarray
        ``fwd_Wx`` (d, 4H), ``fwd_Wh`` (H, 4H), ``fwd_b`` (4H,), the same with ``bwd_`` when
        bidirectional, and the head ``head_W0, head_b0, ...``.
    mean_, scale_ : ndarray, shape (d,)
        Per-feature standardisation.
    n_steps_in_ : int
        ``T`` seen in fit (other lengths are accepted for 3-D input at transform).
    Others as in :class:`MLPEmbedder`.
    """

    _emb_prefix = "lstm"
    _tuple_params = ("head",)

    def __init__(self, hidden=32, bidirectional=False, pooling="last", head=(), n_steps=None,
                 clip_norm=5.0, activation="relu", dropout=0.1, weight_decay=1e-4,
                 learning_rate=1e-3, batch_size=128, max_epochs=200, early_stopping=True,
                 validation_fraction=0.15, patience=10, cv=5, align="linear", random_state=None,
                 dtype="float32"):
        self.hidden = hidden
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.head = head
        self.n_steps = n_steps
        self.clip_norm = clip_norm
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.cv = cv
        self.align = align
        self.random_state = random_state
        self.dtype = dtype

    def _check_params(self):
        self._check_common_params()
        checks = [
            ("hidden", isinstance(self.hidden, numbers.Integral) and self.hidden >= 1,
             "a positive integer"),
            ("pooling", self.pooling in ("last", "mean"), "'last' or 'mean'"),
            ("head", isinstance(self.head, (tuple, list))
             and all(isinstance(k, numbers.Integral) and k >= 1 for k in self.head),
             "a tuple of positive integers"),
            ("n_steps", self.n_steps is None
             or (isinstance(self.n_steps, numbers.Integral) and self.n_steps >= 1),
             "None or a positive integer"),
            ("clip_norm", self.clip_norm is None
             or (isinstance(self.clip_norm, numbers.Real) and self.clip_norm > 0),
             "None or a number > 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"LSTMEmbedder: parameter {name}={getattr(self, name)!r}; "
                                 f"expected {expected}")

    def _validate_X(self, X, reset):
        if not isinstance(X, pd.DataFrame) and not hasattr(X, "ndim"):
            X = np.asarray(X)
        if isinstance(X, pd.DataFrame) or X.ndim != 3:
            X2 = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                               dtype=(np.float64, np.float32))
            if self.n_steps is None:
                raise ValueError(
                    f"LSTMEmbedder: X has shape {X2.shape}; pass a 3-D (n, T, d) array, or set "
                    "n_steps=T for a 2-D (n, T * d) table with step-major columns"
                )
            if X2.shape[1] % self.n_steps:
                raise ValueError(
                    f"LSTMEmbedder: X has {X2.shape[1]} columns, not a multiple of "
                    f"n_steps={self.n_steps} (columns must be step-major: t * d + j)"
                )
            X3 = X2.reshape(X2.shape[0], self.n_steps, -1)
        else:
            X3 = np.asarray(X)
            if X3.dtype.kind not in "fiu":
                raise ValueError(f"LSTMEmbedder: X has dtype {X3.dtype}; expected numbers")
            if X3.dtype not in (np.float32, np.float64):
                X3 = X3.astype(np.float64)
            if self.n_steps is not None and X3.shape[1] != self.n_steps:
                raise ValueError(f"LSTMEmbedder: X has {X3.shape[1]} steps, n_steps="
                                 f"{self.n_steps}")
            if X3.shape[0] < 1 or X3.shape[1] < 1 or X3.shape[2] < 1:
                raise ValueError(f"LSTMEmbedder: X has empty shape {X3.shape}")
            if reset:
                for attr in ("n_features_in_", "feature_names_in_"):
                    if hasattr(self, attr):
                        delattr(self, attr)
        if np.isinf(X3).any():
            raise ValueError("LSTMEmbedder: X holds inf; NaN is allowed, inf is not")
        if reset:
            self.n_steps_in_ = X3.shape[1]
        elif X3.shape[2] != self.mean_.shape[0]:
            raise ValueError(f"LSTMEmbedder: X has {X3.shape[2]} features per step, the model "
                             f"was fitted with {self.mean_.shape[0]}")
        return X3

    def _input_stats(self, X):
        return _nan_stats(X.reshape(-1, X.shape[-1]))

    def _standardised(self, X):
        return _standardise(X, self.mean_, self.scale_, self.dtype)

    def _embedding_size(self):
        return int(self.hidden) * (2 if self.bidirectional else 1)

    def _directions(self):
        return ("fwd", "bwd") if self.bidirectional else ("fwd",)

    def _init_weights(self, n_inputs, rng, dtype):
        H = int(self.hidden)
        limit = 1.0 / np.sqrt(H)
        weights = {}
        for name in self._directions():
            weights[f"{name}_Wx"] = rng.uniform(-limit, limit, (n_inputs, 4 * H)).astype(dtype)
            weights[f"{name}_Wh"] = rng.uniform(-limit, limit, (H, 4 * H)).astype(dtype)
            b = np.zeros(4 * H, dtype=dtype)
            b[H : 2 * H] = 1.0  # forget-gate bias 1: remember by default
            weights[f"{name}_b"] = b
        _dense_init(weights, "head_", [self._embedding_size(), *self.head, _N_CLASSES], rng,
                    dtype)
        return weights

    def _pool(self, hs, reverse):
        if self.pooling == "mean":
            return hs.mean(axis=1)
        return hs[:, 0] if reverse else hs[:, -1]

    def _forward(self, weights, X, rng=None):
        pooled, caches = [], []
        for name in self._directions():
            reverse = name == "bwd"
            hs, cache = _lstm_forward(X, weights[f"{name}_Wx"], weights[f"{name}_Wh"],
                                      weights[f"{name}_b"], reverse)
            pooled.append(self._pool(hs, reverse))
            caches.append(cache)
        emb = np.concatenate(pooled, axis=1) if len(pooled) > 1 else pooled[0]
        mask = None
        h = emb
        if rng is not None and self.dropout > 0:
            mask = (rng.random(emb.shape) >= self.dropout).astype(emb.dtype)
            mask *= emb.dtype.type(1.0 / (1.0 - self.dropout))
            h = emb * mask
        logits, _, head_caches = _dense_forward(weights, "head_", len(self.head) + 1, h,
                                                self.activation, self.dropout, rng)
        return logits, emb, (caches, mask, head_caches)

    def _backward(self, weights, dlogits, cache):
        caches, mask, head_caches = cache
        grads = {}
        demb = _dense_backward(weights, "head_", len(self.head) + 1, head_caches, dlogits,
                               self.activation, grads, input_grad=True)
        if mask is not None:
            demb = demb * mask
        H = int(self.hidden)
        for k, name in enumerate(self._directions()):
            d = demb[:, k * H : (k + 1) * H]
            hs = caches[k][3]
            dhs = np.zeros_like(hs)
            if self.pooling == "mean":
                dhs += (d / hs.shape[1])[:, None, :]
            elif name == "bwd":
                dhs[:, 0] = d
            else:
                dhs[:, -1] = d
            dWx, dWh, db = _lstm_backward(dhs, weights[f"{name}_Wh"], caches[k])
            grads[f"{name}_Wx"], grads[f"{name}_Wh"], grads[f"{name}_b"] = dWx, dWh, db
        return grads

    def _input_description(self):
        desc = super()._input_description()
        desc["n_steps_in"] = int(self.n_steps_in_)
        return desc

    def _restore_inputs(self, desc):
        super()._restore_inputs(desc)
        self.n_steps_in_ = desc["n_steps_in"]
