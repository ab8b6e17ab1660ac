"""hms_features: fast, transparent, torch-free EEG features and models for the HMS data.

Public API only; see README.md.
"""

from .metrics import CLASSES, kl_divergence, kl_report

__version__ = "0.1.0"

__all__ = ["CLASSES", "kl_divergence", "kl_report", "__version__"]
