"""hms_features: fast, transparent, torch-free EEG features and models for the HMS data.

Public API only; see README.md.
"""

# First, before anything loads libgomp (scikit-learn, LightGBM): sets OMP_WAIT_POLICY=PASSIVE
# so that OpenMP threads sleep instead of spinning while they wait (see parallel.py).
from . import parallel  # noqa: F401  isort: skip
from ._version import __version__
from .blend import blend_oof, blend_submissions
from .build import HMSFeatureExtractor, build_features
from .data import HMSDataset, HMSError, patient_folds, vote_weights
from .folds import read_fold_file, stratified_patient_folds
from .metrics import CLASSES, kl_divergence, kl_report, kl_scorer, kl_table
from .models import (
    HMSPipeline,
    LSTMEmbedder,
    MLPEmbedder,
    SoftLabelLGBMClassifier,
    TwoStageClassifier,
    cross_validate_by_patient,
    make_hms_pipeline,
    make_pipeline,
    min_votes_mask,
)
from .submission import write_submission
from .synthetic import make_synthetic_hms

__all__ = [
    "CLASSES",
    "HMSDataset",
    "HMSError",
    "HMSFeatureExtractor",
    "HMSPipeline",
    "LSTMEmbedder",
    "MLPEmbedder",
    "SoftLabelLGBMClassifier",
    "TwoStageClassifier",
    "blend_oof",
    "blend_submissions",
    "build_features",
    "cross_validate_by_patient",
    "kl_divergence",
    "kl_report",
    "kl_scorer",
    "kl_table",
    "make_hms_pipeline",
    "make_pipeline",
    "make_synthetic_hms",
    "min_votes_mask",
    "patient_folds",
    "read_fold_file",
    "stratified_patient_folds",
    "vote_weights",
    "write_submission",
    "__version__",
]
