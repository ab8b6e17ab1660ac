"""hms_features: fast, transparent, torch-free EEG features and models for the HMS data.

Public API only; see README.md.
"""

# First, before anything loads libgomp (scikit-learn, LightGBM): sets OMP_WAIT_POLICY=PASSIVE
# so that OpenMP threads sleep instead of spinning while they wait (see parallel.py).
from . import parallel  # noqa: F401  isort: skip
from .build import HMSFeatureExtractor, build_features
from .data import HMSDataset, HMSError, patient_folds
from .metrics import CLASSES, kl_divergence, kl_report
from .models import (
    LSTMEmbedder,
    MLPEmbedder,
    SoftLabelLGBMClassifier,
    cross_validate_by_patient,
    make_pipeline,
)
from .submission import write_submission
from .synthetic import make_synthetic_hms

__version__ = "0.1.0"

__all__ = [
    "CLASSES",
    "HMSDataset",
    "HMSError",
    "HMSFeatureExtractor",
    "LSTMEmbedder",
    "MLPEmbedder",
    "SoftLabelLGBMClassifier",
    "build_features",
    "cross_validate_by_patient",
    "kl_divergence",
    "kl_report",
    "make_pipeline",
    "make_synthetic_hms",
    "patient_folds",
    "write_submission",
    "__version__",
]
