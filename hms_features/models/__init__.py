"""Models: soft-label LightGBM, numpy embedders, the standard pipeline, CV and persistence."""

from ..features.sequence import sequence_table, spectrogram_sequence, subwindow_sequence
from ..metrics import as_soft_targets
from .lgbm import SoftLabelLGBMClassifier
from .lstm import LSTMEmbedder
from .mlp import MLPEmbedder
from .persist import ModelFileError, load, register_kind, save
from .pipeline import (
    SEQUENCE_PREFIX,
    CVResult,
    EmbeddingUnion,
    HMSPipeline,
    cross_validate_by_patient,
    input_spec,
    make_hms_pipeline,
    make_pipeline,
    sequence_shape,
)
from .two_stage import TwoStageClassifier, min_votes_mask

__all__ = [
    "CVResult",
    "EmbeddingUnion",
    "HMSPipeline",
    "LSTMEmbedder",
    "MLPEmbedder",
    "ModelFileError",
    "SEQUENCE_PREFIX",
    "SoftLabelLGBMClassifier",
    "TwoStageClassifier",
    "as_soft_targets",
    "cross_validate_by_patient",
    "input_spec",
    "load",
    "make_hms_pipeline",
    "make_pipeline",
    "min_votes_mask",
    "register_kind",
    "save",
    "sequence_shape",
    "sequence_table",
    "spectrogram_sequence",
    "subwindow_sequence",
]
