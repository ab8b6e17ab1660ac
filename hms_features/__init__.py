"""hms_features: fast, transparent, torch-free EEG features and models for the HMS data.

Public API only; see README.md.
"""

# First, before anything loads libgomp (scikit-learn, LightGBM): sets OMP_WAIT_POLICY=PASSIVE
# so that OpenMP threads sleep instead of spinning while they wait (see parallel.py).
from . import parallel  # noqa: F401  isort: skip
from ._version import __version__

# The public names load on first use (PEP 562), so that a process that needs only part of the
# library does not pay for the rest: a feature worker (joblib/loky) imports the feature code,
# not scikit-learn and LightGBM, which made its start ~1 s of CPU longer (``python -X
# importtime``). ``from hms_features import X`` and ``hms_features.X`` work as before.
_HOMES = {
    "blend_oof": "blend", "blend_submissions": "blend",
    "HMSFeatureExtractor": "build", "build_features": "build",
    "HMSDataset": "data", "HMSError": "data", "patient_folds": "data", "vote_weights": "data",
    "read_fold_file": "folds", "stratified_patient_folds": "folds",
    "CLASSES": "metrics", "kl_divergence": "metrics", "kl_report": "metrics",
    "kl_scorer": "metrics", "kl_table": "metrics",
    "HMSPipeline": "models", "LSTMEmbedder": "models", "MLPEmbedder": "models",
    "SoftLabelLGBMClassifier": "models", "TwoStageClassifier": "models",
    "cross_validate_by_patient": "models", "make_hms_pipeline": "models",
    "make_pipeline": "models", "min_votes_mask": "models",
    "write_submission": "submission",
    "make_synthetic_hms": "synthetic",
}


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hms_features' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


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
