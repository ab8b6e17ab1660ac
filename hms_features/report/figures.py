"""Report pictures (matplotlib, Agg canvas): one PNG per ``plot_*`` function, and the EEG viewer.

:func:`new_figure` and :func:`save_figure` are the one way the library makes and writes a figure
(also used by :func:`hms_features.recording.plot_scan`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data import SPEC_CHAINS, SPEC_COLUMNS, SPEC_FREQS, SPEC_STEP_S
from ..metrics import CLASSES
from ..signal import (
    BIPOLAR_PAIRS,
    CHAINS,
    EEG_COLUMNS,
    FS,
    PREPROCESS_DEFAULTS,
    bipolar,
    preprocess,
)
from .numbers import _fractions, _prob_matrix, confusion_counts, reliability_bins

__all__ = [
    "CLASS_COLORS",
    "VIEWER_CHAINS",
    "VIEWER_POLARITY",
    "VIEWER_DPI",
    "IMPORTANCE_LABELS",
    "PNG_COLORS",
    "new_figure",
    "save_figure",
    "pick_example_windows",
    "plot_kl_by_group",
    "plot_reliability",
    "plot_confusion",
    "plot_importances",
    "plot_eeg_window",
    "viewer_traces",
    "viewer_caption",
]

#: One colour per class, used by every picture (colour-blind-safe Okabe-Ito palette).
CLASS_COLORS = {
    "seizure": "#D55E00",
    "lpd": "#E69F00",
    "gpd": "#CC79A7",
    "lrda": "#0072B2",
    "grda": "#56B4E9",
    "other": "#999999",
}
#: Montage display order of the EEG viewer: left lateral, left parasagittal, right
#: parasagittal, right lateral, central (the usual double-banana reading order).
VIEWER_CHAINS = tuple(CHAINS)

_DPI = 100
#: Resolution of the EEG viewer's PNG, dots per inch (its 18 x 9 inch figure: 1530 x 765 px).
VIEWER_DPI = 85
_LABEL_MARK = "#FFD34D"  # the labelled stretch on the spectrogram
#: Palette size of the PNGs written by :func:`save_figure` (None: full RGB).
PNG_COLORS = 256
#: Polarity of the EEG viewer's traces: clinical convention, a negative voltage of the first
#: electrode relative to the second (``anode - cathode < 0``) deflects upwards.
VIEWER_POLARITY = "negative up"
#: How :func:`plot_importances` labels the LightGBM importance types
#: (:attr:`~hms_features.models.lgbm.SoftLabelLGBMClassifier.feature_importances_`).
IMPORTANCE_LABELS = {
    "gain": ("gain (training-loss reduction of the feature's splits), summed over the six "
             "class trees"),
    "split": "splits (times the feature is split on), summed over the six class trees",
}


def new_figure(figsize):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state).

    Parameters
    ----------
    figsize : tuple of float
        Width and height in inches (at 100 dpi: pixels / 100).

    Returns
    -------
    matplotlib.figure.Figure
        With constrained layout; draw on it with ``fig.add_subplot`` and write it with
        :func:`save_figure`.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install matplotlib``; MNE, a dependency,
        normally brings it).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("hms_features.report needs matplotlib: pip install matplotlib") \
            from err
    fig = Figure(figsize=figsize, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, *, colors: int | None = PNG_COLORS, dpi: float = _DPI) -> Path:
    """Write ``fig`` (from :func:`new_figure`) as a PNG on white; returns ``path``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path-like
        Destination; missing parent folders are created, an existing file is replaced.
    colors : int or None
        Quantise to a palette of this many colours (Pillow's maximum-coverage quantiser, no
        dithering; white stays exactly white) and write an optimised palette PNG: about 3x
        smaller than full RGB (an EEG window at 100 dpi: 860 KB -> 290 KB) with no visible
        change to lines, text or the colour maps. None writes full RGB.
    dpi : float
        Pixels per inch (100: a 10-inch-wide figure is 1000 px).

    Returns
    -------
    Path
    """
    import io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if colors is None:
        fig.savefig(path, format="png", dpi=dpi, facecolor="white")
        return path
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    buf.seek(0)
    with Image.open(buf) as im:
        pal = im.convert("RGB").quantize(colors=int(colors), method=Image.Quantize.MAXCOVERAGE,
                                         dither=Image.Dither.NONE)
    pal.save(path, format="PNG", optimize=True)
    return path


def plot_kl_by_group(fold_reports, path) -> Path:
    """KL divergence per class and per vote-count group, per fold.

    Parameters
    ----------
    fold_reports : sequence of dict
        One :func:`~hms_features.metrics.kl_report` dict per fold.
    path : path-like
        PNG file to write.

    Returns
    -------
    Path
        ``path``. Left panel: each class's contribution to the KL (nats; they add up to the
        fold's KL), one bar per fold and the mean across folds. Right panel: KL of all rows,
        of rows with >= 10 votes and of rows with fewer, per fold.
    """
    reports = list(fold_reports)
    if not reports:
        raise ValueError("plot_kl_by_group: fold_reports is empty (expected one kl_report per "
                         "fold)")
    for i, r in enumerate(reports):
        if not isinstance(r, dict) or "per_class" not in r or "kl" not in r:
            raise ValueError(f"plot_kl_by_group: fold_reports[{i}] is not a kl_report dict")
    n = len(reports)
    fig = new_figure(figsize=(13, 4.8))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=(2, 1))
    cmap = _fold_colors(n)
    width = 0.8 / (n + 1)
    x = np.arange(len(CLASSES))
    per_class = np.array([[r["per_class"][c] for c in CLASSES] for r in reports])
    for k in range(n):
        ax1.bar(x + (k - n / 2) * width, per_class[k], width, color=cmap[k], label=f"fold {k}")
    ax1.bar(x + (n - n / 2) * width, per_class.mean(axis=0), width, color="black",
            label="mean")
    ax1.set_xticks(x, CLASSES)
    ax1.set_ylabel("KL contribution (nats)")
    ax1.set_title("KL contribution by class (true class terms y·log(y/p))")
    ax1.set_ylim(0, np.nanmax(per_class) * 1.18 if np.nanmax(per_class) > 0 else 1)
    ax1.legend(ncols=min(n + 1, 6), fontsize=8, frameon=False, loc="upper left")
    ax1.grid(axis="y", alpha=0.3)

    groups = [("kl", "all rows", "n_total"), ("kl_many_votes", "≥10 votes", "n_many_votes"),
              ("kl_few_votes", "<10 votes", "n_few_votes")]
    x2 = np.arange(len(groups))
    for k, r in enumerate(reports):
        vals = [r.get(key, np.nan) for key, _, _ in groups]
        ax2.bar(x2 + (k - (n - 1) / 2) * (0.8 / n), vals, 0.8 / n, color=cmap[k])
    labels = []
    for key, label, nkey in groups:
        if nkey == "n_total":
            total = sum(r.get("n_many_votes", 0) + r.get("n_few_votes", 0) for r in reports)
        else:
            total = sum(r.get(nkey, 0) for r in reports)
        labels.append(f"{label}\n(n={total})")
        mean = np.nanmean([r.get(key, np.nan) for r in reports]) if any(
            np.isfinite(r.get(key, np.nan)) for r in reports) else np.nan
        if not np.isfinite(mean):
            ax2.text(x2[len(labels) - 1], 0, "no rows", ha="center", va="bottom", fontsize=9,
                     color="0.4")
        else:
            top_bar = np.nanmax([r.get(key, np.nan) for r in reports])
            xg = x2[len(labels) - 1]
            ax2.hlines(mean, xg - 0.42, xg + 0.42, color="black", lw=1.5)
            ax2.annotate(f"mean {mean:.3f}", (xg, max(top_bar, mean)), xytext=(0, 4),
                         textcoords="offset points", ha="center", fontsize=8)
    ax2.set_xticks(x2, labels)
    ax2.margins(y=0.12)
    ax2.set_ylabel("KL divergence (nats)")
    ax2.set_title("KL by vote count (black line: mean of folds)")
    ax2.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def _fold_colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.15 + 0.7 * k / max(n - 1, 1)) for k in range(n)]


def plot_reliability(y_true_prob, y_pred, path, n_bins: int = 10) -> Path:
    """Reliability diagram per class (six panels).

    Parameters
    ----------
    y_true_prob : array-like, shape (n, 6)
        Vote fractions (or counts, normalised per row).
    y_pred : array-like, shape (n, 6)
        Predicted probabilities.
    path : path-like
        PNG file to write.
    n_bins : int
        Equal-width probability bins (see :func:`reliability_bins`).

    Returns
    -------
    Path
        ``path``. Each panel plots the mean observed vote fraction against the mean predicted
        probability per bin (marker area grows with the bin's count; the diagonal is perfect
        calibration), with the share of rows in each bin as grey bars, and states the expected
        calibration error ``ECE = sum_k (count_k / n) |obs_k - pred_k|``.
    """
    y = _fractions(y_true_prob, "y_true_prob")
    p = _prob_matrix(y_pred, "y_pred")
    if len(y) != len(p):
        raise ValueError(f"plot_reliability: y_true_prob has {len(y)} rows, y_pred {len(p)}")
    fig = new_figure(figsize=(13, 8))
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    edges = np.linspace(0, 1, n_bins + 1)
    for j, (ax, c) in enumerate(zip(axes, CLASSES)):
        mean_pred, mean_obs, count = reliability_bins(p[:, j], y[:, j], n_bins)
        share = count / max(len(p), 1)
        ax.bar(edges[:-1], share, width=1 / n_bins, align="edge", color="0.85",
               edgecolor="white", label="share of rows")
        ax.plot([0, 1], [0, 1], ls="--", color="0.4", lw=1, label="perfect calibration")
        ok = count > 0
        ax.plot(mean_pred[ok], mean_obs[ok], color=CLASS_COLORS[c], lw=1.5)
        size = 15 + 185 * np.sqrt(count[ok] / max(count.max(), 1))
        ax.scatter(mean_pred[ok], mean_obs[ok], s=size, color=CLASS_COLORS[c], zorder=3,
                   edgecolor="black", linewidth=0.5, label="mean observed per bin")
        ece = float(np.sum(share[ok] * np.abs(mean_obs[ok] - mean_pred[ok])))
        ax.set_title(f"{c}  (ECE {ece:.3f}, n={len(p)})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        if j >= 3:
            ax.set_xlabel("predicted probability")
        if j % 3 == 0:
            ax.set_ylabel("observed vote fraction")
    axes[0].legend(loc="upper left", fontsize=8, frameon=False)
    fig.suptitle("Reliability per class (out-of-fold)")
    return save_figure(fig, path)


def plot_confusion(y_true_prob, y_pred, path) -> Path:
    """Confusion matrix of the argmax class, row-normalised, counts annotated.

    Parameters
    ----------
    y_true_prob : array-like, shape (n, 6)
        Vote fractions or counts (true class: argmax, the expert consensus).
    y_pred : array-like, shape (n, 6)
        Predicted probabilities (predicted class: argmax).
    path : path-like
        PNG file to write.

    Returns
    -------
    Path
        ``path``. Colour: the fraction of each true class's rows predicted as each class (rows
        sum to 1); text: that fraction and the row count.
    """
    counts = confusion_counts(y_true_prob, y_pred)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(rows > 0, counts / np.maximum(rows, 1), 0.0)
    fig = new_figure(figsize=(7.5, 6.5))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    k = len(CLASSES)
    for i in range(k):
        for j in range(k):
            color = "white" if frac[i, j] > 0.6 else "black"
            ax.text(j, i, f"{frac[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center",
                    fontsize=9, color=color)
    ax.set_xticks(range(k), CLASSES)
    ax.set_yticks(range(k), [f"{c} ({int(r)})" for c, r in zip(CLASSES, rows[:, 0])])
    ax.set_xlabel("predicted class (argmax)")
    ax.set_ylabel("expert consensus (argmax of votes), rows")
    acc = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"Confusion of the argmax (accuracy {acc:.3f}, n={counts.sum()})")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class's rows")
    return save_figure(fig, path)


def plot_importances(names, importances, path, top: int = 30,
                     importance_type: str = "gain") -> Path:
    """Horizontal bar chart of the ``top`` most important features.

    Parameters
    ----------
    names : sequence of str
        Feature names.
    importances : array-like, shape (n_features,)
        Importance of each feature, e.g. ``SoftLabelLGBMClassifier.feature_importances_``.
    path : path-like
        PNG file to write.
    top : int
        Number of features shown, largest first.
    importance_type : str
        What ``importances`` measures, for the axis label: ``"gain"`` or ``"split"`` (the
        classifier's ``importance_type``; both summed over the six class trees, see
        :data:`IMPORTANCE_LABELS`), or any other text, used as the label.

    Returns
    -------
    Path
        ``path``.
    """
    names = [str(n) for n in names]
    imp = np.asarray(importances, dtype=np.float64).ravel()
    if len(names) != imp.size:
        raise ValueError(f"plot_importances: {len(names)} names but {imp.size} importances")
    if imp.size == 0:
        raise ValueError("plot_importances: no features given")
    order = np.argsort(-np.nan_to_num(imp, nan=-np.inf), kind="stable")[: max(int(top), 1)]
    shown = len(order)
    fig = new_figure(figsize=(10, 1.2 + 0.28 * shown))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(shown)
    ax.barh(y, imp[order], color="#0072B2")
    ax.set_yticks(y, [names[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(IMPORTANCE_LABELS.get(importance_type, importance_type), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    total = np.nansum(np.abs(imp))
    ax.set_title(f"Top {shown} of {imp.size} features"
                 + (f" ({np.nansum(np.abs(imp[order])) / total:.0%} of total importance)"
                    if total > 0 else ""))
    return save_figure(fig, path)


def viewer_traces(eeg, fs: float = FS, *, raw: bool = False,
                  preprocess_kwargs: dict | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """The traces of the EEG viewer, in display order.

    Parameters
    ----------
    eeg : array, shape (20, n_samples)
        Referential EEG in µV, ``EEG_COLUMNS`` order; may hold NaN.
    fs : float
        Sampling rate, Hz.
    raw : bool
        False (default): the traces as the features see them - the window cleaned by
        :func:`hms_features.signal.preprocess` (NaN repair, mean removal, zero-phase band-pass and
        notch, clipping; its defaults unless ``preprocess_kwargs`` says otherwise), then the
        bipolar montage. The features filter whole recordings, so the first and last second of
        a window filtered on its own can differ slightly from what they saw. True: the raw
        montage with only each trace's median removed (slow drift and line noise left in).
    preprocess_kwargs : dict, optional
        Keyword arguments of :func:`~hms_features.signal.preprocess` (``l_freq``, ``h_freq``,
        ``notch``, ``order``, ``clip_uv``, ...); ignored when ``raw``.

    Returns
    -------
    names : list of str
        The 18 derivation names (``"Fp1-F7"``, ...) ordered by chain as in
        :data:`VIEWER_CHAINS` (LL, LP, RP, RL, C), front to back within a chain.
    chains : list of str
        The chain of each trace.
    traces : ndarray of float32, shape (18, n_samples)
        ``anode - cathode`` in µV; NaN wherever either electrode was NaN in ``eeg`` (drawn as
        gaps, though preprocessing repaired them for the features).
    """
    eeg = np.asarray(eeg, dtype=np.float32)
    if eeg.ndim != 2 or eeg.shape[0] != len(EEG_COLUMNS):
        raise ValueError(f"viewer_traces: eeg must be (20, n_samples) in EEG_COLUMNS order, "
                         f"got {eeg.shape}")
    order = [k for chain in VIEWER_CHAINS for k, (ch, _, _) in enumerate(BIPOLAR_PAIRS)
             if ch == chain]
    bip = bipolar(eeg)[order]
    if raw:
        with _quiet_nan():
            bip = bip - np.nanmedian(bip, axis=1, keepdims=True)
    else:
        clean, _ = preprocess(eeg, fs, **(preprocess_kwargs or {}))
        bip = np.where(np.isnan(bip), np.float32(np.nan), bipolar(clean[0])[order])
    names = [f"{BIPOLAR_PAIRS[k][1]}-{BIPOLAR_PAIRS[k][2]}" for k in order]
    chains = [BIPOLAR_PAIRS[k][0] for k in order]
    return names, chains, bip.astype(np.float32)


def viewer_caption(raw: bool = False, preprocess_kwargs: dict | None = None) -> str:
    """One line saying how the viewer's traces were processed (filters in Hz, clip in µV).

    Parameters
    ----------
    raw, preprocess_kwargs
        As for :func:`viewer_traces`.

    Returns
    -------
    str
        E.g. ``"filtered as the features see them (hms_features.signal.preprocess): zero-phase
        Butterworth 0.5-40 Hz band-pass (order 4), 60 Hz notch, clipped at ±1024 µV"``.
    """
    if raw:
        return "raw: each trace's median removed, no filtering"
    settings = {**PREPROCESS_DEFAULTS, **(preprocess_kwargs or {})}
    lo, hi, notch = settings.get("l_freq"), settings.get("h_freq"), settings.get("notch")
    order, clip = settings.get("order"), settings.get("clip_uv")
    steps = []
    if lo is not None and hi is not None:
        steps.append(f"zero-phase Butterworth {lo:g}–{hi:g} Hz band-pass (order {order})")
    elif lo is not None:
        steps.append(f"zero-phase Butterworth {lo:g} Hz high-pass (order {order})")
    elif hi is not None:
        steps.append(f"zero-phase Butterworth {hi:g} Hz low-pass (order {order})")
    if notch is not None:
        steps.append(f"{notch:g} Hz notch")
    if clip is not None:
        steps.append(f"clipped at ±{clip:g} µV")
    return ("filtered as the features see them (hms_features.signal.preprocess): "
            + (", ".join(steps) if steps else "no filter"))


def _nice_scale(x: float) -> float:
    """Round ``x`` (µV) to 1, 2 or 5 times a power of ten."""
    if not np.isfinite(x) or x <= 0:
        return 100.0
    exp = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if x <= m * 10**exp:
            return float(m * 10**exp)
    return float(10 ** (exp + 1))  # pragma: no cover


def plot_eeg_window(eeg, path, fs: float = FS, spectrogram=None, votes=None, proba=None,
                    title: str | None = None, *, labelled_s: float = 10.0,
                    scale_uv: float | None = None, raw: bool = False,
                    preprocess_kwargs: dict | None = None, dpi: float = VIEWER_DPI) -> Path:
    """The EEG viewer: a window in the double-banana montage, its spectrogram and the votes.

    Parameters
    ----------
    eeg : array, shape (20, n_samples)
        Referential EEG in µV, channels in ``EEG_COLUMNS`` order (a 50 s HMS window is
        (20, 10000) at 200 Hz). NaN samples are drawn as gaps. By default the traces are
        filtered as the features see them (:func:`viewer_traces`), and the figure says how.
        Polarity: :data:`VIEWER_POLARITY` (clinical convention; ``anode - cathode < 0`` is
        drawn upwards).
    path : path-like
        PNG file to write.
    fs : float
        Sampling rate, Hz.
    spectrogram : array, shape (n_rows, 400), optional
        The Kaggle spectrogram window centred on the same moment (300 rows of 2 s for the usual
        600 s), columns in ``SPEC_COLUMNS`` order. Drawn as four chain panels of log10 power
        against frequency (``SPEC_FREQS``, Hz) with the EEG window and the labelled 10 s marked.
    votes : array-like, shape (6,), optional
        Expert vote counts (or fractions) in :data:`CLASSES` order.
    proba : array-like, shape (6,), optional
        Predicted probabilities in :data:`CLASSES` order.
    title : str, optional
        Figure title (e.g. the eeg_id and label_id).
    labelled_s : float
        Length of the labelled central stretch that is shaded, s (10 in HMS: 20–30 s of a 50 s
        window).
    scale_uv : float, optional
        Trace spacing and scale-bar height, µV; by default a round number near the median
        across derivations of their 2nd-98th percentile range. Traces are clipped at
        +/- 1.5 spacings so one artefact cannot hide its neighbours.
    raw : bool
        Draw the raw montage (median removed only) instead of the preprocessed one.
    preprocess_kwargs : dict, optional
        Settings of :func:`~hms_features.signal.preprocess` for the filtered traces (default:
        its defaults, the settings the features are built with unless told otherwise).
    dpi : float
        Resolution of the 18 x 9 inch figure (:data:`VIEWER_DPI`: 1530 x 765 px, about 250 KB).

    Returns
    -------
    Path
        ``path``.
    """
    eeg = np.asarray(eeg, dtype=np.float32)
    if eeg.ndim != 2 or eeg.shape[0] != len(EEG_COLUMNS):
        raise ValueError(f"plot_eeg_window: eeg must be (20, n_samples) in EEG_COLUMNS order, "
                         f"got {eeg.shape}")
    n_samp = eeg.shape[1]
    duration = n_samp / fs
    names, chains, bip = viewer_traces(eeg, fs, raw=raw, preprocess_kwargs=preprocess_kwargs)
    order = range(len(names))
    if scale_uv is None:
        with np.errstate(all="ignore"), _quiet_nan():
            spread = np.nanpercentile(bip, 98, axis=1) - np.nanpercentile(bip, 2, axis=1)
        scale_uv = _nice_scale(float(np.nanmedian(spread)) if np.isfinite(spread).any()
                               else np.nan)
    gap = 0.6  # extra spacing (in trace spacings) between chains
    offsets, pos = [], 0.0
    for i, ch in enumerate(chains):
        if i and ch != chains[i - 1]:
            pos += gap
        offsets.append(pos)
        pos += 1
    offsets = np.array(offsets)

    has_right = spectrogram is not None or votes is not None or proba is not None
    fig = new_figure(figsize=(18 if has_right else 13, 9))
    if has_right:
        outer = fig.add_gridspec(1, 2, width_ratios=(1.6, 1))
        ax = fig.add_subplot(outer[0])
        n_right = (4 if spectrogram is not None else 0) + (
            1 if votes is not None or proba is not None else 0)
        heights = [1] * (4 if spectrogram is not None else 0)
        if votes is not None or proba is not None:
            heights.append(1.6 if spectrogram is not None else 1)
        right = outer[1].subgridspec(n_right, 1, height_ratios=heights)
    else:
        ax = fig.add_subplot(1, 1, 1)

    # -- traces
    t = np.arange(n_samp) / fs
    centre = duration / 2
    ax.axvspan(centre - labelled_s / 2, centre + labelled_s / 2, color="#FFE9A8", zorder=0,
               label=f"labelled central {labelled_s:g} s")
    chain_colors = {"LL": "#1f3b73", "LP": "#1f6f73", "RP": "#73321f", "RL": "#731f4f",
                    "C": "#333333"}
    for i in range(len(order)):
        y = np.clip(bip[i] / scale_uv, -1.5, 1.5)
        # minus: VIEWER_POLARITY, negative up
        ax.plot(t, -offsets[i] - y, lw=0.5, color=chain_colors[chains[i]])
    ax.set_yticks(-offsets, names, fontsize=9)
    ax.set_ylim(-offsets[-1] - 1.5, 1.5)
    ax.set_xlim(0, duration)
    ax.set_xticks(np.arange(0, duration + 1e-9, 5 if duration > 20 else 1))
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", color="0.85", lw=0.5)
    # scale bar: vertical, scale_uv high, in the right margin beside the last trace
    xb = duration * 1.012
    yb0 = -offsets[-1] - 0.5
    ax.plot([xb, xb], [yb0, yb0 + 1], color="black", lw=2.5, solid_capstyle="butt",
            clip_on=False)
    ax.text(xb + 0.006 * duration, yb0 + 0.5, f"{scale_uv:g}\nµV", ha="left", va="center",
            fontsize=9, clip_on=False)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.set_title(f"Double-banana montage, {duration:g} s at {fs:g} Hz; traces {scale_uv:g} µV "
                 f"apart, clipped at ±1.5 spacings; polarity: {VIEWER_POLARITY}\n"
                 f"{viewer_caption(raw, preprocess_kwargs)}", fontsize=10)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)

    row = 0
    if spectrogram is not None:
        _plot_spectrogram(fig, right, spectrogram, duration, labelled_s)
        row = 4
    if votes is not None or proba is not None:
        _plot_distribution(fig.add_subplot(right[row]), votes, proba)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, path, dpi=dpi)


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' RuntimeWarning inside a with-block."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _plot_spectrogram(fig, grid, spectrogram, eeg_duration: float, labelled_s: float) -> None:
    spec = np.asarray(spectrogram, dtype=np.float64)
    if spec.ndim != 2 or spec.shape[1] != len(SPEC_COLUMNS):
        raise ValueError(f"plot_eeg_window: spectrogram must be (n_rows, {len(SPEC_COLUMNS)}) in "
                         f"SPEC_COLUMNS order, got {spec.shape}")
    n_rows = spec.shape[0]
    span = n_rows * SPEC_STEP_S
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(np.where(spec > 0, spec, np.nan))
    finite = logp[np.isfinite(logp)]
    vmin, vmax = (np.percentile(finite, [2, 99.5]) if finite.size else (0.0, 1.0))
    from matplotlib import colormaps

    cmap = colormaps["magma"].with_extremes(bad="0.75")
    n_f = len(SPEC_FREQS)
    df = SPEC_FREQS[1] - SPEC_FREQS[0]
    extent = (-span / 2, span / 2, SPEC_FREQS[0] - df / 2, SPEC_FREQS[-1] + df / 2)
    axes = []
    for r, chain in enumerate(("LL", "LP", "RP", "RL")):
        ax = fig.add_subplot(grid[r], sharex=axes[0] if axes else None)
        axes.append(ax)
        k = SPEC_CHAINS.index(chain)
        im = ax.imshow(logp[:, k * n_f:(k + 1) * n_f].T, origin="lower", aspect="auto",
                       extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        for x in (-eeg_duration / 2, eeg_duration / 2):
            ax.axvline(x, color="white", lw=1, ls="--")
        # the labelled stretch is ~1/60 of a 600 s panel: an outlined box over the whole
        # frequency range plus a marker above the panel keep it visible
        ax.axvspan(-labelled_s / 2, labelled_s / 2, facecolor="none", edgecolor=_LABEL_MARK,
                   lw=1.5, zorder=3)
        ax.plot([0], [1.0], marker="v", markersize=9, color=_LABEL_MARK, markeredgecolor="black",
                markeredgewidth=0.6, transform=ax.get_xaxis_transform(), clip_on=False,
                zorder=4)
        ax.set_ylabel(f"{chain}\nHz", fontsize=9)
        ax.set_yticks([0, 5, 10, 15, 20])
        ax.tick_params(labelsize=8)
        if r < 3:
            ax.tick_params(labelbottom=False)
    axes[0].set_title(f"Kaggle spectrogram, {span:g} s\nwhite dashes: the {eeg_duration:g} s EEG "
                      f"window; yellow box and ▼: the labelled {labelled_s:g} s", fontsize=10,
                      pad=10)
    axes[-1].set_xlabel("time from window centre (s)")
    # the file's values are power in its own units (µV²-like; features.spectrogram.log_power)
    fig.colorbar(im, ax=axes, shrink=0.8, label="log10 power (Kaggle file units, ≈ µV²)")


def _plot_distribution(ax, votes, proba) -> None:
    x = np.arange(len(CLASSES))
    bars = []
    if votes is not None:
        v = np.asarray(votes, dtype=np.float64).ravel()
        if v.shape != (len(CLASSES),) or (v < 0).any() or v.sum() <= 0:
            raise ValueError(f"plot_eeg_window: votes must be 6 non-negative numbers in CLASSES "
                             f"order, not all zero; got {v}")
        n_votes = v.sum()
        bars.append((v / n_votes, "experts" + (f" ({n_votes:g} votes)" if n_votes > 1.0 + 1e-9
                                                else ""), "white"))
    if proba is not None:
        p = np.asarray(proba, dtype=np.float64).ravel()
        if p.shape != (len(CLASSES),) or not np.isfinite(p).all():
            raise ValueError(f"plot_eeg_window: proba must be 6 probabilities in CLASSES order, "
                             f"got {p}")
        bars.append((p, "model (class colours)", [CLASS_COLORS[c] for c in CLASSES]))
    width = 0.8 / len(bars)
    for k, (vals, label, color) in enumerate(bars):
        xs = x + (k - (len(bars) - 1) / 2) * width
        hatch = "///" if color == "white" else None
        ax.bar(xs, vals, width, color=color, label=label, edgecolor="black", linewidth=0.5,
               hatch=hatch)
        for xi, val in zip(xs, vals):
            ax.text(xi, val + 0.02, f"{val:.2f}", ha="center", fontsize=7)
    ax.set_xticks(x, CLASSES)
    ax.set_ylim(0, 1.32)  # headroom above the bars (at most 1 + value label) for the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("probability")
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    # the model's bars take their class's colour: its swatch shows all six, not the first one
    handles = [tuple(Patch(facecolor=CLASS_COLORS[c], edgecolor="black", linewidth=0.5)
                     for c in CLASSES) if lab.startswith("model") else h
               for h, lab in zip(handles, labels)]
    ax.legend(handles, labels, fontsize=8, frameon=False, loc="upper center", ncols=2,
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0)}, handlelength=4)
    ax.grid(axis="y", alpha=0.3)
    heading = "predicted vs voted distribution"
    if votes is not None and proba is not None:
        y = bars[0][0]
        q = np.clip(bars[1][0], 1e-15, 1)
        kl = float(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / q), 0.0)))
        heading += f"  (KL {kl:.3f} nats)"
    ax.set_title(heading, fontsize=10)


def pick_example_windows(ds, proba, labels=None, n: int = 4) -> list[dict]:
    """Choose label windows worth looking at and load them for :func:`plot_eeg_window`.

    Half (rounded up) are the rows the model gets most wrong (highest per-row KL), the rest
    the rows it gets most right (lowest KL), worst first.

    Parameters
    ----------
    ds : HMSDataset
        The dataset the rows come from (train split: votes are needed).
    proba : array-like, shape (n_rows, 6)
        Predicted probabilities of ``labels``' rows (e.g. out-of-fold).
    labels : DataFrame, optional
        Rows of ``ds.labels`` (or ``ds.eeg_labels()``) that ``proba`` belongs to; default
        ``ds.labels``.
    n : int
        Number of windows.

    Returns
    -------
    list of dict
        Keyword arguments of :func:`plot_eeg_window` (``eeg`` (20, 10000) µV, ``spectrogram``
        (300, 400), ``votes``, ``proba``, ``fs``, ``title`` naming eeg_id, label_id, the
        consensus and the row's KL), ready for ``write_report(example_windows=...)``.
        Windows running past the end of their file are NaN-padded.
    """
    from ..metrics import kl_per_row

    rows = ds.labels if labels is None else labels
    p = _prob_matrix(proba, "proba")
    if len(p) != len(rows):
        raise ValueError(f"pick_example_windows: proba has {len(p)} rows but labels {len(rows)}")
    votes = ds.votes(rows)
    kl = kl_per_row(votes, p, votes=True)
    order = np.argsort(-kl, kind="stable")
    n = min(int(n), len(rows))
    n_bad = (n + 1) // 2
    chosen = list(order[:n_bad]) + [i for i in order[::-1] if i not in order[:n_bad]][: n - n_bad]
    sub = rows.iloc[chosen]
    eeg = ds.eeg_windows(sub, pad=True)
    spec = ds.spectrogram_windows(sub, pad=True)
    out = []
    for k, i in enumerate(chosen):
        r = sub.iloc[k]
        top = CLASSES[int(np.argmax(votes[i]))]
        out.append({
            "eeg": eeg[k], "spectrogram": spec[k], "votes": votes[i], "proba": p[i],
            "fs": ds.fs,
            "title": (f"eeg_id {int(r['eeg_id'])}, label_id {int(r['label_id'])}: consensus "
                      f"{top}, KL {kl[i]:.3f} ({'worst' if k < n_bad else 'best'} rows)"),
        })
    return out

