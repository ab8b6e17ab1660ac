"""Evolution: how the key measures change across the 50 s window.

An electrographic seizure *evolves*: its frequency, amplitude or spatial extent changes over
seconds, whereas periodic and rhythmic patterns are stationary [1]_. The 50 s window is cut into
five consecutive 10 s sub-windows; on each, per chain, the log total power, dominant frequency,
relative delta / theta / alpha power and log line length are measured, and each measure's
sequence is summarised by its least-squares slope (units per second) and its range (max - min).

References
----------
.. [1] Hirsch L. J. et al. (2021). American Clinical Neurophysiology Society's Standardized
   Critical Care EEG Terminology: 2021 Version. J Clin Neurophysiol 38(1), 1-29 (criteria for
   evolution).
.. [2] Esteller R. et al. (2001). Line length: an efficient feature for seizure onset detection.
   Proc. 23rd IEEE EMBS, 1707-1710.
"""

from __future__ import annotations

import numpy as np

from ..signal import CHAINS, welch_grid
from .base import (
    BROADBAND,
    WELCH_SEGMENT_S,
    FeatureContext,
    chain_groups,
    log_power,
    register,
    segment_spectra,
    select_bands,
)

__all__ = ["N_SUBWINDOWS", "TOTAL_BAND", "DOMINANT_BAND", "REL_BANDS", "EVOLUTION_GROUPS",
           "subwindow_psd", "subwindow_measures", "trend", "summarise"]

#: Number of consecutive sub-windows the window is cut into.
N_SUBWINDOWS = 5
#: Band of the total power, Hz (``lo <= f < hi``), the preprocessing pass band.
TOTAL_BAND = BROADBAND
#: Band searched for the dominant frequency, Hz.
DOMINANT_BAND = (0.5, 20.0)
#: Bands whose power relative to :data:`TOTAL_BAND` is tracked, Hz (of :data:`~.base.BANDS`).
REL_BANDS = select_bands(["delta", "theta", "alpha"])
#: Groups of derivations whose mean spectrum / line length is tracked: the chains, then all 18.
EVOLUTION_GROUPS = tuple(CHAINS) + ("all",)


def subwindow_psd(x, fs, n_sub=N_SUBWINDOWS, fmax=None, segment_s=WELCH_SEGMENT_S):
    """Welch PSD of each of ``n_sub`` consecutive sub-windows, computed in one batch.

    Identical to :func:`~hms_features.features.base.welch_psd` (and ``scipy.signal.welch`` with
    a Hann window, ``nperseg = segment_s * fs``, 50 % overlap, ``detrend=False``) on each
    sub-window of ``n_samples // n_sub`` samples, but it gathers the segments straight from the
    (possibly non-contiguous) input and squares only the bins up to ``fmax``.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    fs : float
        Hz.
    n_sub : int
        Number of sub-windows; trailing samples that do not fill one are dropped.
    fmax : float, optional
        Highest frequency kept, Hz (all bins when None).
    segment_s : float
        Welch segment length, s.

    Returns
    -------
    freqs : ndarray, shape (f,)
        Hz.
    psd : ndarray, float32, shape (..., n_sub, f)
        One-sided density, µV²/Hz.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import welch
    >>> x = np.random.default_rng(0).standard_normal(10000).astype(np.float32)
    >>> f, p = subwindow_psd(x, 200.0)
    >>> p.shape
    (5, 201)
    >>> ref = welch(x[2000:4000], 200.0, nperseg=400, detrend=False)[1]
    >>> bool(np.allclose(p[1], ref, rtol=1e-4))
    True
    """
    x = np.asarray(x, dtype=np.float32)
    length = x.shape[-1] // n_sub
    nperseg = min(int(round(segment_s * fs)), length)
    step = max(nperseg - nperseg // 2, 1)  # scipy's noverlap = nperseg // 2
    n_seg = (length - nperseg) // step + 1
    starts = (np.arange(n_sub)[:, None] * length + np.arange(n_seg) * step).ravel()
    return segment_spectra(x, fs, nperseg / fs, starts=starts, fmax=fmax, average=n_seg)


def _subwindow_psd(x, fs, n_sub, segments=None):
    """:func:`subwindow_psd` up to :data:`TOTAL_BAND`'s top, averaged from the window's Welch
    segment spectra ``segments`` (``(freqs, (n, c, n_seg, f))``, segments every half segment from
    sample 0) when every sub-window starts on that grid: its segments are then exactly those
    of the window, so no spectrum is computed twice (equal up to float32 rounding)."""
    length = x.shape[-1] // n_sub
    on_grid, first, n_seg, _ = welch_grid(np.arange(n_sub) * length, length, fs)
    if (segments is None or not on_grid.all()
            or segments[1].shape[-2] < first[-1] + n_seg
            or segments[1].shape[:2] != x.shape[:2]):
        return subwindow_psd(x, fs, n_sub, fmax=TOTAL_BAND[1])
    freqs, spectra = segments
    hi = int(np.searchsorted(freqs, TOTAL_BAND[1], side="right"))
    take = (first[:, None] + np.arange(n_seg)).ravel()
    psd = spectra[..., take, :hi].reshape(*spectra.shape[:2], n_sub, n_seg, hi).mean(axis=-2)
    return freqs[:hi], psd


def subwindow_measures(x, fs, n_sub=N_SUBWINDOWS, groups=EVOLUTION_GROUPS, segments=None,
                       psd=None):
    """Key measures on consecutive sub-windows, per group of channels.

    Each sub-window (``n_samples // n_sub`` samples; trailing samples dropped) gets its Welch
    PSD (2 s Hann, 50 % overlap, :func:`subwindow_psd`), averaged over
    the group's derivations, and from it:

    - ``logpower``: ``log10(P_total + EPS)``, ``P_total`` the power in :data:`TOTAL_BAND`, µV²;
    - ``domfreq``: frequency of the PSD maximum in :data:`DOMINANT_BAND`, Hz (lowest bin for a
      flat signal);
    - ``rel{band}``: band power over ``P_total`` for :data:`REL_BANDS` (0 for a flat signal);
    - ``loglinelength``: ``log10(mean_t |x[t+1] - x[t]| * fs + EPS)`` averaged over the group,
      µV/s [2]_.

    Parameters
    ----------
    x : array, shape (n, c, n_samples)
        µV; the channel indices in ``groups`` refer to axis 1 (bipolar derivations by default).
    fs : float
        Hz; each sub-window must hold at least 2 s.
    n_sub : int
        Number of sub-windows.
    groups : tuple of str
        Keys of :func:`~hms_features.features.base.chain_groups`.
    segments : tuple, optional
        ``(freqs, spectra (n, c, n_seg, f))``, the Welch segment spectra of the whole window
        (:attr:`~hms_features.features.base.FeatureContext.segments`); the sub-window PSDs are
        averaged from them when the sub-windows start on their 1 s grid.
    psd : tuple, optional
        ``(freqs, psd (n, c, n_sub, f))``, the sub-windows' Welch PSDs when already known
        (a scan shares them between overlapping windows); ``segments`` is then not used.

    Returns
    -------
    dict
        ``(measure, group) -> ndarray (n, n_sub)`` float64.
    """
    x = np.asarray(x, dtype=np.float32)
    n, c, n_samples = x.shape
    length = n_samples // n_sub
    if length < 2 * fs:
        raise ValueError(
            f"subwindow_measures: {n_samples} samples at {fs} Hz give {n_sub} sub-windows of "
            f"{length / fs:g} s; need >= 2 s each"
        )
    freqs, psd = _subwindow_psd(x, fs, n_sub, segments) if psd is None else psd  # (n,c,n_sub,f)
    # the steps inside each sub-window, straight from a (n, c, n_sub, length) view of x
    sub = x[..., : n_sub * length].reshape(n, c, n_sub, length)
    step = np.subtract(sub[..., 1:], sub[..., :-1])
    np.abs(step, out=step)
    line = step.mean(axis=-1, dtype=np.float64)
    line *= fs  # (n, c, n_sub) µV/s
    df = freqs[1] - freqs[0]

    def mask(band):
        return (freqs >= band[0]) & (freqs < band[1])

    total_sel, dom_sel = mask(TOTAL_BAND), mask(DOMINANT_BAND)
    idx = chain_groups()
    out = {}
    for g in groups:
        p = psd[:, idx[g]].mean(axis=1, dtype=np.float64)  # (n, n_sub, f)
        total = p[..., total_sel].sum(axis=-1) * df
        out["logpower", g] = log_power(total)
        out["domfreq", g] = freqs[dom_sel][np.argmax(p[..., dom_sel], axis=-1)]
        for b, rng in REL_BANDS.items():
            bp = p[..., mask(rng)].sum(axis=-1) * df
            out[f"rel{b}", g] = np.where(total > 0, bp / np.where(total > 0, total, 1.0), 0.0)
        out["loglinelength", g] = log_power(line[:, idx[g]].mean(axis=1))
    return out


def trend(values, t):
    """Least-squares slope and range of sequences along the last axis.

    ``slope = sum (t - mean t)(v - mean v) / sum (t - mean t)^2``, ``range = max v - min v``.

    Parameters
    ----------
    values : array, shape (..., k)
        Sequences of a measure.
    t : array, shape (k,)
        Their times, s.

    Returns
    -------
    slope, range : ndarray, shape (...)
        Units of ``values`` per second, and units of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> slope, span = trend(np.array([1.0, 2.0, 4.0]), np.array([0.0, 10.0, 20.0]))
    >>> float(slope), float(span)
    (0.15, 3.0)
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    tc = t - t.mean()
    slope = (v - v.mean(axis=-1, keepdims=True)) @ tc / (tc @ tc)
    return slope, v.max(axis=-1) - v.min(axis=-1)


@register("evolution", spans=("50s",))
def compute(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Evolution family: ``evolution_{measure}_{slope|range}_{group}_{span}``.

    Measures and groups as in :func:`subwindow_measures` (5 sub-windows of 10 s on a 50 s
    window); slopes per second against the sub-window centres.
    """
    measures = subwindow_measures(ctx.bipolar, ctx.fs, segments=ctx.segments)
    return summarise(measures, ctx.bipolar.shape[-1] // N_SUBWINDOWS / ctx.fs, ctx.span)


def summarise(measures: dict, length_s: float, span: str) -> dict[str, np.ndarray]:
    """The family's columns from sequences of sub-window measures: :func:`trend` of each
    against the sub-window centres.

    Parameters
    ----------
    measures : dict
        ``(measure, group) -> (n, N_SUBWINDOWS)``, as :func:`subwindow_measures` returns them
        (or gathered from sub-windows measured once and shared, as a scan does).
    length_s : float
        Sub-window length, s.
    span : str
        Span suffix of the names.

    Returns
    -------
    dict
        ``evolution_{measure}_{slope|range}_{group}_{span}`` -> (n,).
    """
    t = (np.arange(N_SUBWINDOWS) + 0.5) * length_s
    out = {}
    for (measure, g), v in measures.items():
        slope, rng = trend(v, t)
        out[f"evolution_{measure}_slope_{g}_{span}"] = slope
        out[f"evolution_{measure}_range_{g}_{span}"] = rng
    return out
