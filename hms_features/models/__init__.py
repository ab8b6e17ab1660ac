"""Models: soft-label LightGBM, numpy embedders, the standard pipeline, CV and persistence."""

from .lgbm import SoftLabelLGBMClassifier, as_soft_targets
from .lstm import LSTMEmbedder
from .mlp import MLPEmbedder
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
]
