"""The numpy embedders under their historical module path.

The code lives in :mod:`hms_features.models.embedder` (shared base, ``load_embedder``),
:mod:`hms_features.models.mlp`, :mod:`hms_features.models.lstm` and
:mod:`hms_features.models._nn_layers`; this module only keeps the old import path working.
"""

from .embedder import load_embedder
from .lstm import LSTMEmbedder
from .mlp import MLPEmbedder

__all__ = ["MLPEmbedder", "LSTMEmbedder", "load_embedder"]
