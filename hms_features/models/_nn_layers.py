"""Layers and maths of the numpy embedders: activations, dense and LSTM forward/backward, Adam.

Pure functions vectorised over the batch (plus the small :class:`_Adam` state holder), shared by
:mod:`hms_features.models.embedder`, :mod:`hms_features.models.mlp` and
:mod:`hms_features.models.lstm`. Backward passes are hand-written; the tests check them against
finite differences.

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
.. [2] I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
.. [3] S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997.
.. [4] D. Hendrycks and K. Gimpel, "Gaussian error linear units (GELUs)", arXiv:1606.08415, 2016.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf
from threadpoolctl import threadpool_limits

# --------------------------------------------------------------------------------------------
# Building blocks (pure functions, vectorised over the batch)
# --------------------------------------------------------------------------------------------


def _one_blas_thread():
    """Run BLAS single-threaded: mini-batch matmuls (128 rows) gain nothing from threads, and
    threaded OpenBLAS on a busy machine was measured 5-14x slower (spinning threads compete
    with cross-fitting folds and other jobs)."""
    return threadpool_limits(limits=1, user_api="blas")



def _activation(z: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    # exact GELU [4]: z * Phi(z)
    return z * (0.5 * (1.0 + erf(z * (1.0 / np.sqrt(2.0)))))


def _activation_grad(z: np.ndarray, name: str) -> np.ndarray:
    """Derivative of :func:`_activation` with respect to ``z``."""
    if name == "relu":
        return (z > 0).astype(z.dtype)
    cdf = 0.5 * (1.0 + erf(z * (1.0 / np.sqrt(2.0))))
    pdf = np.exp(-0.5 * z * z) * (1.0 / np.sqrt(2.0 * np.pi))
    return cdf + z * pdf


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |z|
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _soft_cross_entropy(logits, Y, w):
    """Weighted soft-target cross-entropy and its gradient with respect to the logits.

    ``loss = -sum_i w_i sum_c Y_ic log softmax(logits_i)_c`` with ``w`` summing to 1, so the
    gradient is ``w_i (softmax(logits_i) - Y_i)``.
    """
    logp = _log_softmax(logits)
    loss = -float((w[:, None] * Y * logp).sum(dtype=np.float64))
    dlogits = w[:, None] * (np.exp(logp) - Y)
    return loss, dlogits


def _weighted_kl(Y: np.ndarray, logits: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean KL divergence (nats) of ``softmax(logits)`` from targets ``Y``."""
    Y = Y.astype(np.float64)
    if not w.sum() > 0:  # validation rows all weighted 0: score them equally
        w = np.ones_like(w)
    logp = _log_softmax(logits.astype(np.float64))
    safe = np.where(Y > 0, Y, 1.0)
    rows = (Y * (np.log(safe) - logp)).sum(axis=1)
    return float((w * rows).sum() / w.sum())


def _dense_forward(weights, prefix, n_layers, H, activation, dropout, rng):
    """Forward pass of ``n_layers`` dense layers; all but the last use ``activation``.

    Returns ``(logits, last_hidden, caches)``; ``caches[l] = (input of layer l, pre-activation
    of layer l, dropout mask of layer l's output)``. Dropout (inverted, rate ``dropout``) is applied
    to every hidden layer's output when ``rng`` is given (training) and ``dropout > 0``.
    """
    caches = []
    a = H
    for layer in range(n_layers - 1):
        z = a @ weights[f"{prefix}W{layer}"] + weights[f"{prefix}b{layer}"]
        h = _activation(z, activation)
        mask = None
        if rng is not None and dropout > 0:
            keep = rng.random(h.shape) >= dropout
            mask = keep.astype(h.dtype) * h.dtype.type(1.0 / (1.0 - dropout))
            h = h * mask
        caches.append((a, z, mask))
        a = h
    last = n_layers - 1
    logits = a @ weights[f"{prefix}W{last}"] + weights[f"{prefix}b{last}"]
    caches.append((a, None, None))
    return logits, a, caches


def _dense_backward(weights, prefix, n_layers, caches, dlogits, activation, grads, input_grad):
    """Backward pass matching :func:`_dense_forward`; fills ``grads`` and returns dL/dH or None."""
    g = dlogits
    for layer in range(n_layers - 1, -1, -1):
        a_in = caches[layer][0]
        grads[f"{prefix}W{layer}"] = a_in.T @ g
        grads[f"{prefix}b{layer}"] = g.sum(axis=0)
        if layer == 0 and not input_grad:
            return None
        g = g @ weights[f"{prefix}W{layer}"].T
        if layer > 0:
            _, z_prev, mask_prev = caches[layer - 1]
            if mask_prev is not None:
                g = g * mask_prev
            g = g * _activation_grad(z_prev, activation)
    return g


def _dense_init(weights, prefix, sizes, rng, dtype):
    """He-normal hidden layers (ReLU/GELU), Glorot-uniform output layer, zero biases."""
    n_layers = len(sizes) - 1
    for layer in range(n_layers):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        if layer < n_layers - 1:
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        weights[f"{prefix}W{layer}"] = W.astype(dtype)
        weights[f"{prefix}b{layer}"] = np.zeros(fan_out, dtype=dtype)


def _lstm_forward(X, Wx, Wh, b, reverse):
    """One LSTM direction over ``X`` (B, T, d); gates ordered input, forget, cell, output [3].

    Returns the hidden states ``hs`` (B, T, H), indexed by time step whatever the direction (the
    backward direction's final state is ``hs[:, 0]``), and the cache for :func:`_lstm_backward`.
    """
    B, T, _ = X.shape
    H = Wh.shape[0]
    xs = X @ Wx + b  # (B, T, 4H): all input projections in one matmul
    gates = np.empty((B, T, 4 * H), dtype=X.dtype)
    cs = np.empty((B, T, H), dtype=X.dtype)
    hs = np.empty((B, T, H), dtype=X.dtype)
    h = np.zeros((B, H), dtype=X.dtype)
    c = np.zeros((B, H), dtype=X.dtype)
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        a = xs[:, t] + h @ Wh
        act = np.empty_like(a)
        act[:, : 2 * H] = _sigmoid(a[:, : 2 * H])
        act[:, 2 * H : 3 * H] = np.tanh(a[:, 2 * H : 3 * H])
        act[:, 3 * H :] = _sigmoid(a[:, 3 * H :])
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        c = f * c + i * g
        h = o * np.tanh(c)
        gates[:, t], cs[:, t], hs[:, t] = act, c, h
    return hs, (X, gates, cs, hs, reverse)


def _lstm_backward(dhs, Wh, cache):
    """Backpropagation through time for :func:`_lstm_forward`.

    ``dhs`` (B, T, H) is dL/dh_t from the layer above. Returns ``(dWx, dWh, db)``.
    """
    X, gates, cs, hs, reverse = cache
    B, T, H = hs.shape
    zeros = np.zeros((B, 1, H), dtype=hs.dtype)
    if reverse:  # state before step t is the one after step t + 1
        h_prev = np.concatenate([hs[:, 1:], zeros], axis=1)
        c_prev = np.concatenate([cs[:, 1:], zeros], axis=1)
        steps = range(T)
    else:
        h_prev = np.concatenate([zeros, hs[:, :-1]], axis=1)
        c_prev = np.concatenate([zeros, cs[:, :-1]], axis=1)
        steps = range(T - 1, -1, -1)
    da_all = np.empty_like(gates)
    dh_next = np.zeros((B, H), dtype=hs.dtype)
    dc_next = np.zeros((B, H), dtype=hs.dtype)
    for t in steps:
        act = gates[:, t]
        i, f, g, o = act[:, :H], act[:, H : 2 * H], act[:, 2 * H : 3 * H], act[:, 3 * H :]
        tc = np.tanh(cs[:, t])
        dh = dhs[:, t] + dh_next
        dc = dc_next + dh * o * (1.0 - tc * tc)
        da = da_all[:, t]
        da[:, :H] = dc * g * i * (1.0 - i)
        da[:, H : 2 * H] = dc * c_prev[:, t] * f * (1.0 - f)
        da[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
        da[:, 3 * H :] = dh * tc * o * (1.0 - o)
        dc_next = dc * f
        dh_next = da @ Wh.T
    flat = da_all.reshape(B * T, 4 * H)
    dWx = X.reshape(B * T, -1).T @ flat
    dWh = h_prev.reshape(B * T, H).T @ flat
    db = flat.sum(axis=0)
    return dWx, dWh, db


class _Adam:
    """Adam [1] with decoupled weight decay [2] on the parameters named in ``decay``."""

    def __init__(self, weights, learning_rate, weight_decay, decay, beta1=0.9, beta2=0.999,
                 eps=1e-8):
        self.lr, self.wd, self.decay = learning_rate, weight_decay, set(decay)
        self.b1, self.b2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in weights.items()}
        self.v = {k: np.zeros_like(v) for k, v in weights.items()}
        self.t = 0

    def step(self, weights, grads):
        self.t += 1
        step = self.lr * np.sqrt(1.0 - self.b2**self.t) / (1.0 - self.b1**self.t)
        for k, p in weights.items():
            g = grads[k]
            m, v = self.m[k], self.v[k]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * (g * g)
            if self.wd and k in self.decay:
                p *= 1.0 - self.lr * self.wd
            p -= (step * m / (np.sqrt(v) + self.eps)).astype(p.dtype, copy=False)
