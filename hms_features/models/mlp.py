"""Numpy MLP embedder: a multi-layer perceptron on the feature table, trained on soft votes.

The fit loop, cross-fitted ``fit_transform``, prediction and persistence are
:class:`~hms_features.models.embedder._NeuralEmbedder`'s (see :mod:`hms_features.models.embedder`
for leak-free stacking and the optimiser); this module adds the dense network.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import validate_data

from ._nn_layers import _dense_backward, _dense_forward, _dense_init
from .embedder import _N_CLASSES, _nan_stats, _NeuralEmbedder, _standardise
from .persist import register_kind

__all__ = ["MLPEmbedder"]


@register_kind
class MLPEmbedder(_NeuralEmbedder):
    """Multi-layer perceptron trained on soft vote targets; its last hidden layer is the embedding.

    ``Z = standardise(X)``; ``h_l = dropout(act(h_{l-1} W_l + b_l))`` for each entry of
    ``hidden``; ``p = softmax(h_L W_out + b_out)`` over the six classes. Trained with mini-batch
    Adam and decoupled weight decay on the weighted soft-target cross-entropy (same gradient as
    the KL divergence); see :mod:`hms_features.models.embedder`.

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer sizes; ``transform`` returns ``hidden[-1]`` columns.
    activation : {"relu", "gelu"}
        Hidden-layer non-linearity (GELU: exact, ``z * Phi(z)``).
    dropout : float
        Inverted-dropout rate on every hidden layer's output during training.
    weight_decay : float
        Decoupled (AdamW) weight decay per step, times ``learning_rate``, on weight matrices.
    learning_rate : float
        Adam step size.
    batch_size : int
        Rows per mini-batch.
    max_epochs : int
        Upper bound on passes over the training rows.
    early_stopping : bool
        Hold out ``validation_fraction`` of the rows and keep the weights of the epoch with the
        lowest validation KL, stopping after ``patience`` epochs without improvement.
    validation_fraction : float
        Share of rows (or of groups) held out for early stopping.
    patience : int
        Epochs without improvement before stopping.
    cv : int or CV splitter
        Folds used by :meth:`fit_transform` for out-of-fold embeddings.
    align : {"linear", "none"}
        How :meth:`fit_transform` maps fold-model embeddings into the final model's coordinates
        (see :mod:`hms_features.models.embedder`).
    random_state : int, RandomState or None
        Seeds initialisation, shuffling, dropout and the folds.
    dtype : {"float32", "float64"}
        Arithmetic precision.

    Attributes
    ----------
    weights_ : dict of str -> ndarray
        ``W0, b0, ...``; the last pair is the softmax head.
    mean_, scale_ : ndarray, shape (n_features,)
        Input standardisation (NaN-ignoring mean and standard deviation).
    classes_ : ndarray of str
        :data:`~hms_features.metrics.CLASSES`.
    n_iter_, best_epoch_ : int
        Epochs run, and the epoch whose weights were kept.
    loss_curve_, validation_scores_ : list of float
        Training loss (cross-entropy, nats) and validation KL (nats) per epoch.
    best_validation_score_ : float or None
    oof_proba_ : ndarray, shape (n_rows, 6)
        Out-of-fold probabilities, after :meth:`fit_transform`.
    n_features_in_, feature_names_in_
        As in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, votes = rng.normal(size=(60, 4)), rng.integers(1, 4, size=(60, 6))
    >>> emb = MLPEmbedder(hidden=(8,), max_epochs=5, cv=3, random_state=0)
    >>> emb.fit_transform(X, votes, groups=np.arange(60) % 6).shape  # out of fold
    (60, 8)
    >>> emb.transform(X).shape  # the embedder refitted on all rows
    (60, 8)
    """

    _emb_prefix = "mlp"
    _tuple_params = ("hidden",)

    def __init__(self, hidden=(128, 64), activation="relu", dropout=0.1, weight_decay=1e-4,
                 learning_rate=1e-3, batch_size=128, max_epochs=200, early_stopping=True,
                 validation_fraction=0.15, patience=10, cv=5, align="linear", random_state=None,
                 dtype="float32"):
        self.hidden = hidden
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
        h = self.hidden
        if not (isinstance(h, (tuple, list)) and len(h) >= 1
                and all(isinstance(k, numbers.Integral) and k >= 1 for k in h)):
            raise ValueError(f"MLPEmbedder: parameter hidden={h!r}; expected a non-empty tuple "
                             "of positive integers")

    def _validate_X(self, X, reset):
        return validate_data(self, X, reset=reset, ensure_all_finite="allow-nan",
                             dtype=(np.float64, np.float32))

    def _input_stats(self, X):
        return _nan_stats(X)

    def _standardised(self, X):
        return _standardise(X, self.mean_, self.scale_, self.dtype)

    def _embedding_size(self):
        return int(self.hidden[-1])

    def _init_weights(self, n_inputs, rng, dtype):
        weights = {}
        _dense_init(weights, "", [n_inputs, *self.hidden, _N_CLASSES], rng, dtype)
        return weights

    def _forward(self, weights, X, rng=None):
        logits, last, caches = _dense_forward(weights, "", len(self.hidden) + 1, X,
                                              self.activation, self.dropout, rng)
        return logits, last, caches

    def _backward(self, weights, dlogits, cache):
        grads = {}
        _dense_backward(weights, "", len(self.hidden) + 1, cache, dlogits, self.activation,
                        grads, input_grad=False)
        return grads

