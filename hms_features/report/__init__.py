"""Pictures and one self-contained HTML report of a model's out-of-fold predictions.

Each ``plot_*`` function writes one PNG and returns its path; :func:`write_report` writes all of
them into a folder together with ``report.html``, a single page holding the tables (the score
against the uniform, class-prior and oracle baselines, the settings that produced it, a feature
glossary) and every picture embedded as a base64 ``data:`` URI (it can be mailed or archived on
its own), and ``feature_glossary.csv`` (every feature column decoded). The PNGs are 256-colour
palette images (:func:`save_figure`), about a third of full RGB: a report with three EEG windows
weighs about 1.1 MB.

Pictures:

- :func:`plot_kl_by_group` — Kaggle KL per class and per vote-count group, per fold;
- :func:`plot_reliability` — reliability diagram per class (predicted probability vs observed
  vote fraction, binned by :func:`reliability_bins`);
- :func:`plot_confusion` — confusion matrix of the argmax (:func:`confusion_counts`);
- :func:`plot_importances` — top feature importances (LightGBM gain summed over the six class
  trees, by default);
- :func:`plot_eeg_window` — the EEG viewer: a 50 s window in the double-banana montage with the
  labelled central 10 s shaded, filtered as the features see them (:func:`viewer_traces`; raw on
  request) and drawn negative up, its Kaggle spectrogram and the predicted vs voted
  distribution.

The package is split by concern: :mod:`~hms_features.report.numbers` (reliability bins,
confusion counts, per-fold KL reports; no matplotlib), :mod:`~hms_features.report.figures`
(every picture, the EEG viewer, and the :func:`new_figure` / :func:`save_figure` helpers) and
:mod:`~hms_features.report.page` (:func:`write_report`, the HTML page).

Matplotlib is used through its object-oriented API with the Agg canvas (no pyplot state, no GUI
backend), so the functions are safe in scripts, servers and worker processes. Matplotlib comes
with MNE, a dependency (``pip install matplotlib`` if it is missing).
"""

from .figures import (
    CLASS_COLORS,
    IMPORTANCE_LABELS,
    PNG_COLORS,
    VIEWER_CHAINS,
    VIEWER_DPI,
    VIEWER_POLARITY,
    new_figure,
    pick_example_windows,
    plot_confusion,
    plot_eeg_window,
    plot_importances,
    plot_kl_by_group,
    plot_reliability,
    save_figure,
    viewer_caption,
    viewer_traces,
)
from .numbers import confusion_counts, fold_kl_reports, reliability_bins
from .page import write_report

__all__ = [
    "CLASS_COLORS",
    "IMPORTANCE_LABELS",
    "PNG_COLORS",
    "VIEWER_CHAINS",
    "VIEWER_DPI",
    "VIEWER_POLARITY",
    "new_figure",
    "save_figure",
    "reliability_bins",
    "confusion_counts",
    "fold_kl_reports",
    "pick_example_windows",
    "plot_kl_by_group",
    "plot_reliability",
    "plot_confusion",
    "plot_importances",
    "plot_eeg_window",
    "viewer_traces",
    "viewer_caption",
    "write_report",
]
