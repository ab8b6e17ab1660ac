"""Models: soft-label LightGBM, numpy embedders, the standard pipeline, CV and persistence."""

from ..features.sequence import sequence_table, spectrogram_sequence, subwindow_sequence
from .lgbm import SoftLabelLGBMClassifier, as_soft_targets
from .nn import LSTMEmbedder, MLPEmbedder
from .persist import ModelFileError, load, register_kind, save
from .pipeline import (
    CVResult,
    EmbeddingUnion,
    HMSPipeline,
    cross_validate_by_patient,
    make_pipeline,
)

__all__ = [
    "CVResult",
    "EmbeddingUnion",
    "HMSPipeline",
    "LSTMEmbedder",
    "MLPEmbedder",
    "ModelFileError",
    "SoftLabelLGBMClassifier",
    "as_soft_targets",
    "cross_validate_by_patient",
    "load",
    "make_pipeline",
    "register_kind",
    "save",
    "sequence_table",
    "spectrogram_sequence",
    "subwindow_sequence",
]
