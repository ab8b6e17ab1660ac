"""The numpy embedders under their historical module path.

The code lives in :mod:`hms_features.models.embedder` (shared base, ``load_embedder``),
:mod:`hms_features.models.mlp`, :mod:`hms_features.models.lstm` and
:mod:`hms_features.models._nn_layers`. This module stays because the persistence allow-lists
(``persist._kinds``, ``pipeline._embedder_classes``) look the embedder classes up on it.
"""

from .embedder import load_embedder
from .lstm import LSTMEmbedder
from .mlp import MLPEmbedder

__all__ = ["MLPEmbedder", "LSTMEmbedder", "load_embedder"]
