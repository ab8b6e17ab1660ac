"""Temporal family: amplitude statistics, Hjorth parameters, zero crossings, sharp transients.

All measures are computed per bipolar derivation on the whole span in one vectorised pass over
the ``(n_windows, 18, n_samples)`` block (float32 data, float64 accumulation), then averaged over
chains and hemispheres. Hjorth *activity* is the variance, reported once as
``temporal_logvar``.

Fill values (flat or silent derivation): log variance ``log10(EPS)`` = -6, skewness and kurtosis
0, mobility and complexity 0, counts 0.

References
----------
Hjorth, B. (1970). EEG analysis based on time domain properties. Electroencephalogr. Clin.
Neurophysiol. 29(3), 306-310.
Esteller, R. et al. (2001). Line length: an efficient feature for seizure onset detection.
Proc. IEEE EMBS 23, 1707-1710.
"""

from __future__ import annotations

import numpy as np

from .base import FeatureContext, aggregate, log_power, register

__all__ = ["moments", "hjorth", "line_length", "zero_crossings", "sharp_transients",
           "compute_temporal", "columns", "measures", "sums", "pool", "finish",
           "MEASURES", "SPIKE_THRESHOLD", "SPIKE_REFRACTORY_S"]

#: A sharp transient exceeds this many robust standard deviations (1.4826 x MAD of the span).
SPIKE_THRESHOLD = 5.0
#: Quiet time before a new sharp transient can start, seconds.
SPIKE_REFRACTORY_S = 0.1


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # sum(a * b) along the last axis without the product temporary (SIMD dot kernel)
    return np.einsum("...i,...i->...", a, b).astype(np.float64)


def moments(x: np.ndarray):
    """Variance, skewness and excess kurtosis along the last axis (biased, like scipy.stats).

    ``m_j = mean_t (x_t - mean x)^j``; ``var = m2``, ``skew = m3 / m2^1.5``,
    ``kurt = m4 / m2^2 - 3`` (Fisher), equal to ``np.var``, ``scipy.stats.skew`` and
    ``scipy.stats.kurtosis`` (``bias=True``).

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.

    Returns
    -------
    var : ndarray, shape x.shape[:-1]
        µV² (ddof = 0).
    skew : ndarray
        Dimensionless; 0 where ``m2`` is 0.
    kurt : ndarray
        Dimensionless; 0 where ``m2`` is 0.

    References
    ----------
    Hjorth, B. (1970). Electroencephalogr. Clin. Neurophysiol. 29(3), 306-310 (the variance is
    Hjorth's *activity*).

    Examples
    --------
    A sine of amplitude 10 µV: variance 50 µV², kurtosis -1.5.

    >>> import numpy as np
    >>> x = 10 * np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0)
    >>> var, skew, kurt = moments(x)
    >>> round(float(var), 2), round(float(kurt), 2)
    (50.0, -1.5)
    """
    n = x.shape[-1]
    d = x - x.mean(axis=-1, keepdims=True)
    d2 = d * d
    m2 = _dot(d, d) / n
    m3 = _dot(d2, d) / n
    m4 = _dot(d2, d2) / n
    skew, kurt = _shape(m2, m3, m4)
    return m2, skew, kurt


def _shape(m2, m3, m4):
    # skewness and excess kurtosis from the central moments (0 where m2 is 0)
    ok = m2 > 0
    safe = np.where(ok, m2, 1.0)
    skew = np.where(ok, m3 / safe**1.5, 0.0)
    kurt = np.where(ok, m4 / safe**2 - 3.0, 0.0)
    return skew, kurt


def _var_of_diff(dx: np.ndarray, x: np.ndarray) -> np.ndarray:
    # var(dx) = mean(dx^2) - mean(dx)^2 for dx = diff(x); mean(dx) telescopes to
    # (x[-1] - x[0]) / len(dx) (exact up to the float32 rounding of each step, invisible next to
    # mean(dx^2)), which saves a float64 pass over dx
    return _var_from_sums(_dot(dx, dx), x[..., 0], x[..., -1], dx.shape[-1])


def _var_from_sums(sq, first, last, n):
    # variance of n differences from their sum of squares and the telescoped mean
    # (last - first) / n, first and last being the ends of the differenced signal
    mean = (last.astype(np.float64) - first) / n
    return np.maximum(sq / n - mean**2, 0.0)


def hjorth(x: np.ndarray, fs: float, dx: np.ndarray | None = None,
           var: np.ndarray | None = None):
    """Hjorth mobility and complexity along the last axis.

    ``mobility = fs * sqrt(var(dx) / var(x))`` (about ``2 pi f`` for a sine of ``f`` Hz),
    ``complexity = mobility(dx) / mobility(x)`` (1 for a sine), with variances of ddof 0 and
    ``dx = diff(x)``: the convention of ``antropy.hjorth_params(x, sf=fs)`` [1]_. 0 where a variance
    is 0. ``dx`` and ``var(x)`` may be passed when already known.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    fs : float
        Sampling rate, Hz.
    dx : array, shape (..., n_samples - 1), optional
        ``np.diff(x, axis=-1)``.
    var : array, shape x.shape[:-1], optional
        ``var(x)``, µV².

    Returns
    -------
    mobility : ndarray
        s⁻¹ (radians per second).
    complexity : ndarray
        Dimensionless.

    References
    ----------
    .. [1] Hjorth, B. (1970). EEG analysis based on time domain properties. Electroencephalogr.
       Clin. Neurophysiol. 29(3), 306-310.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0)
    >>> mobility, complexity = hjorth(x, fs=200.0)
    >>> round(float(mobility), 1), round(float(complexity), 2)  # 2 pi 10 = 62.8
    (62.6, 1.0)
    """
    dx = np.diff(x, axis=-1) if dx is None else dx
    ddx = np.diff(dx, axis=-1)
    v0 = moments(x)[0] if var is None else var
    v1 = _var_of_diff(dx, x)
    v2 = _var_of_diff(ddx, dx)
    return _hjorth_ratios(v0, v1, v2, fs)


def _hjorth_ratios(v0, v1, v2, fs):
    # mobility (s^-1) and complexity from var(x), var(dx), var(ddx) (0 where a variance is 0)
    mob = np.sqrt(v1 / np.where(v0 > 0, v0, np.inf))
    mob_d = np.sqrt(v2 / np.where(v1 > 0, v1, np.inf))
    comp = np.where(mob > 0, mob_d / np.where(mob > 0, mob, 1.0), 0.0)
    return mob * fs, comp


def line_length(x: np.ndarray, fs: float, dx: np.ndarray | None = None) -> np.ndarray:
    """Line length: mean absolute first difference times ``fs``.

    ``LL = fs / (N - 1) * sum_t |x_{t+1} - x_t|`` in µV/s, independent of the window length [1]_
    (``4 A f`` for a sine of amplitude ``A`` and frequency ``f``).

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    fs : float
        Sampling rate, Hz.
    dx : array, optional
        ``np.diff(x, axis=-1)`` when already known.

    Returns
    -------
    ndarray, shape x.shape[:-1]
        µV/s.

    References
    ----------
    .. [1] Esteller, R. et al. (2001). Line length: an efficient feature for seizure onset
       detection. Proc. IEEE EMBS 23, 1707-1710.

    Examples
    --------
    >>> import numpy as np
    >>> x = 10 * np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0)
    >>> round(float(line_length(x, fs=200.0)))  # 4 * 10 µV * 10 Hz
    400
    """
    dx = np.diff(x, axis=-1) if dx is None else dx
    return np.abs(dx).mean(axis=-1).astype(np.float64) * fs


def zero_crossings(x: np.ndarray, fs: float) -> np.ndarray:
    """Zero crossings per second.

    Sign changes between consecutive samples (0 counted as positive, as
    ``antropy.num_zerocross``) divided by the duration ``N / fs``: about ``2 f`` for a sine of
    ``f`` Hz.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV (zero-mean: the family applies it to band-passed EEG).
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray, shape x.shape[:-1]
        Crossings per second, Hz.

    References
    ----------
    Vallat, R. AntroPy, ``num_zerocross``, https://github.com/raphaelvallat/antropy.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0 + 0.1)
    >>> float(zero_crossings(x, fs=200.0))  # 199 crossings in 10 s
    19.9
    """
    s = np.signbit(x)
    return np.count_nonzero(s[..., 1:] != s[..., :-1], axis=-1) / (x.shape[-1] / fs)


def sharp_transients(x: np.ndarray, fs: float, threshold: float = SPIKE_THRESHOLD,
                     refractory_s: float = SPIKE_REFRACTORY_S) -> np.ndarray:
    """Number of sharp transients (spike candidates) along the last axis.

    A transient starts where ``|x|`` rises above ``threshold * sigma``, ``sigma`` the robust
    standard deviation ``1.4826 * MAD``, approximated by ``median(|x|) / 0.6745`` for the zero-mean
    band-passed signal (the median taken over every 4th sample), after at least ``refractory_s``
    seconds below it, so one discharge is counted once and a train of spikes ``d`` seconds apart
    (``d > refractory_s``) counts its number of spikes.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    fs : float
        Sampling rate, Hz.
    threshold : float
        Multiple of the robust standard deviation.
    refractory_s : float
        Quiet time (s) required before a new transient.

    Returns
    -------
    ndarray of float, shape x.shape[:-1]
        Count per signal (0 for a silent channel).

    References
    ----------
    Hampel, F. R. (1974). The influence curve and its role in robust estimation. J. Am. Stat.
    Assoc. 69, 383-393 (the MAD scale).

    Examples
    --------
    Three 100 µV spikes on 1 µV noise:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(2000)
    >>> x[[300, 900, 1500]] = 100.0
    >>> float(sharp_transients(x, fs=200.0))
    3.0
    """
    return _transients(np.abs(x), fs, threshold, refractory_s)


def _transients(a: np.ndarray, fs: float, threshold: float, refractory_s: float) -> np.ndarray:
    """:func:`sharp_transients` of ``a = |x|`` (computed once by the family for ``maxabs``)."""
    sigma = _median(a[..., ::4]) / 0.6745
    # a silent (sigma 0) or NaN channel has no transient: an infinite threshold, one pass
    above = a > np.where(sigma > 0, threshold * sigma, np.inf)
    w = max(int(round(refractory_s * fs)), 1)
    n = above.shape[-1]
    # supra-threshold samples are sparse: a sample starts a transient when it is the first of
    # its channel or comes more than w samples after the previous one (no running count needed)
    idx = np.flatnonzero(above)
    row = idx // n
    onset = np.ones(idx.shape, bool)
    onset[1:] = (row[1:] != row[:-1]) | (idx[1:] - idx[:-1] > w)
    counts = np.bincount(row[onset], minlength=above.size // max(n, 1))
    return counts.reshape(above.shape[:-1]).astype(np.float64)


def _median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1, keepdims=True)``, the same values, about 4x faster.

    One selection of the upper middle element of a contiguous copy, then the largest element
    below it (even lengths) from a plain maximum: ``np.median`` selects both middle elements with
    a two-``kth`` partition, which costs 4x more. NaN anywhere in a row gives NaN, as
    ``np.median`` (a partition moves NaN above the middle, where the row's maximum finds it).
    """
    n = a.shape[-1]
    b = np.array(a, order="C")  # contiguous copy, partitioned in place
    k = n // 2
    b.partition(k, axis=-1)
    mid = b[..., k:k + 1]
    upper = b[..., k:].max(axis=-1, keepdims=True)
    if n % 2 == 0:
        # np.median's mean of the two middle elements, in the input's precision
        mid = np.mean(np.concatenate([b[..., :k].max(axis=-1, keepdims=True), mid], axis=-1),
                      axis=-1, keepdims=True)
    return np.where(np.isnan(upper), np.nan, mid).astype(mid.dtype)


@register("temporal", spans=("50s", "10s"), fast=True)
def compute_temporal(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Temporal family on one span.

    Names (``temporal_{measure}_{group}_{span}``): ``logvar`` (log10 µV², = log Hjorth
    activity), ``linelength`` (µV/s), ``skewness``, ``kurtosis`` (excess), ``mobility`` (s⁻¹,
    ~2πf), ``complexity``, ``zerocross`` (per s), ``maxabs`` (µV), ``spikecount`` (sharp transients
    in the span), ``spikerate`` (per minute).
    """
    x = ctx.bipolar
    return columns(measures(x, ctx.fs), x.shape[-1] / ctx.fs, ctx.span)


def columns(vals: np.ndarray, duration_s: float, span: str) -> dict[str, np.ndarray]:
    """The family's columns from its per-derivation measures.

    Parameters
    ----------
    vals : array, shape (9, n_windows, 18)
        The measures of :data:`MEASURES`, in that order.
    duration_s : float
        Length of the span, s (turns ``spikecount`` into ``spikerate`` per minute).
    span : str
        Span suffix of the names.

    Returns
    -------
    dict
        ``temporal_{measure}_{group}_{span}`` -> float32 (n_windows,).
    """
    count = vals[MEASURES.index("spikecount")]
    out = {}
    for name, v in zip(MEASURES, vals):
        out.update(aggregate("temporal", name, v, span))
        if name == "spikecount":
            out.update(aggregate("temporal", "spikerate", count / duration_s * 60.0, span))
    return out


#: The per-derivation measures, in the order of :func:`measures` and :func:`finish`.
MEASURES = ("logvar", "linelength", "skewness", "kurtosis", "mobility", "complexity",
            "zerocross", "maxabs", "spikecount")

#: Cache-sized blocks of signals: on a whole chunk every pass (diff, moments, |x|) streams
#: 23 MB temporaries through main memory; 16 signals x 10,000 samples stay in cache.
_ROWS = 16


def measures(x: np.ndarray, fs: float) -> np.ndarray:
    """The per-derivation measures of :func:`compute_temporal`.

    :func:`finish` of the signals' :func:`sums` and their :func:`sharp_transients`.

    Parameters
    ----------
    x : array, shape (..., n)
        Signals, µV.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray, shape (9,) + x.shape[:-1]
        Rows in :data:`MEASURES` order (``logvar`` log10 µV², ``linelength`` µV/s,
        ``skewness``, ``kurtosis``, ``mobility`` s⁻¹, ``complexity``, ``zerocross`` Hz,
        ``maxabs`` µV, ``spikecount``), float64. Each signal's values depend on it alone.
    """
    flat = x.reshape(-1, x.shape[-1])
    vals = np.concatenate([_measures(flat[a:a + _ROWS], fs)
                           for a in range(0, flat.shape[0], _ROWS)], axis=1)
    return vals.reshape((len(MEASURES),) + x.shape[:-1])


def _measures(x: np.ndarray, fs: float) -> np.ndarray:
    """:func:`measures` of (r, n) signals: (9, r)."""
    a = np.abs(x)
    return finish(_sums(x, a), x.shape[-1], fs,
                  _transients(a, fs, SPIKE_THRESHOLD, SPIKE_REFRACTORY_S))


def sums(x: np.ndarray) -> dict[str, np.ndarray]:
    """The sums behind the family's measures, one set per signal; :func:`pool` adds them up.

    Overlapping windows of a recording (50 s every 10 s) are made of the same 10 s pieces; the
    power sums, difference sums, extremes and sign changes of a span are sums (or maxima) over
    its pieces plus the few terms across the pieces' boundaries, so each piece is summed once
    and every window holding it reuses the sums (:func:`pool`). Accumulated as the family
    always has (float32 products summed by the SIMD dot kernel).

    Parameters
    ----------
    x : array, shape (..., n) float32
        Signals of ``n >= 3`` samples, µV.

    Returns
    -------
    dict of arrays, shape x.shape[:-1]
        ``ref`` (the signal's mean, float32, µV: the reference of the deviations ``d``);
        ``s1``..``s4`` (sums of ``d**j``, µV^j); ``dx2``, ``ddx2`` (sums of the squared first
        and second differences); ``absdx`` (sum of ``|dx|``, float32); ``zc`` (sign changes);
        ``maxabs`` (µV); ``x0``, ``x1``, ``dx0``, ``dx1`` (first and last sample and
        difference, float32 as the signal).
    """
    flat = x.reshape(-1, x.shape[-1])
    parts = [_sums(flat[a:a + _ROWS], np.abs(flat[a:a + _ROWS]))
             for a in range(0, flat.shape[0], _ROWS)]
    return {key: np.concatenate([p[key] for p in parts]).reshape(x.shape[:-1])
            for key in parts[0]}


def _sums(x: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`sums` of (r, n) signals, ``a = |x|``."""
    ref = x.mean(axis=-1, keepdims=True)
    d = x - ref
    d2 = d * d
    dx = np.diff(x, axis=-1)
    ddx = np.diff(dx, axis=-1)
    s = np.signbit(x)
    return {"ref": ref[:, 0], "s1": d.sum(axis=-1).astype(np.float64), "s2": _dot(d, d),
            "s3": _dot(d2, d), "s4": _dot(d2, d2), "dx2": _dot(dx, dx), "ddx2": _dot(ddx, ddx),
            "absdx": np.abs(dx).sum(axis=-1),
            "zc": np.count_nonzero(s[:, 1:] != s[:, :-1], axis=-1), "maxabs": a.max(axis=-1),
            "x0": x[:, 0], "x1": x[:, -1], "dx0": dx[:, 0], "dx1": dx[:, -1]}


def pool(parts: dict, which: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The :func:`sums` of spans made of consecutive pieces, from the pieces' sums.

    The power sums are re-centred on the span's mean, exactly (binomial expansion of
    ``(d + c_p - mu)^j`` with each piece's reference ``c_p`` and its sums of ``d^0..d^j``,
    in float64); the difference sums and sign changes add the terms across each boundary
    (differences computed in float32 from the pieces' end samples, as the span's own
    ``np.diff``); ``absdx`` becomes float64.

    Parameters
    ----------
    parts : dict
        :func:`sums` of the pieces, (m, ...) arrays.
    which : array of int, shape (k, p)
        For each span, its ``p`` pieces in time order (consecutive in the signal).
    n : int
        Samples per piece.

    Returns
    -------
    dict
        :func:`sums` of the ``k`` spans of ``p * n`` samples (``ref`` their mean), arrays
        ``(k, ...)``.
    """
    g = {key: v[which] for key, v in parts.items()}  # (k, p, ...)
    total = which.shape[1] * n
    c = g["ref"].astype(np.float64)
    mu = (n * c + g["s1"]).sum(axis=1) / total
    dl = c - mu[:, None]
    s1, s2, s3, s4 = g["s1"], g["s2"], g["s3"], g["s4"]
    out = {"ref": mu, "s1": np.zeros_like(mu),
           "s2": (s2 + 2 * dl * s1 + n * dl**2).sum(axis=1),
           "s3": (s3 + 3 * dl * s2 + 3 * dl**2 * s1 + n * dl**3).sum(axis=1),
           "s4": (s4 + 4 * dl * s3 + 6 * dl**2 * s2 + 4 * dl**3 * s1 + n * dl**4).sum(axis=1)}
    b = g["x0"][:, 1:] - g["x1"][:, :-1]  # first differences across the boundaries (float32)
    c_in = b - g["dx1"][:, :-1]  # second differences ending / starting at the boundary
    c_out = g["dx0"][:, 1:] - b
    b64, c_in, c_out = (v.astype(np.float64) for v in (b, c_in, c_out))
    out["dx2"] = g["dx2"].sum(axis=1) + (b64**2).sum(axis=1)
    out["ddx2"] = g["ddx2"].sum(axis=1) + (c_in**2).sum(axis=1) + (c_out**2).sum(axis=1)
    out["absdx"] = g["absdx"].sum(axis=1, dtype=np.float64) + np.abs(b64).sum(axis=1)
    flips = np.signbit(g["x0"][:, 1:]) != np.signbit(g["x1"][:, :-1])
    out["zc"] = g["zc"].sum(axis=1) + flips.sum(axis=1)
    out["maxabs"] = g["maxabs"].max(axis=1)
    out.update(x0=g["x0"][:, 0], x1=g["x1"][:, -1], dx0=g["dx0"][:, 0], dx1=g["dx1"][:, -1])
    return out


def finish(s: dict, n: int, fs: float, spikecount: np.ndarray) -> np.ndarray:
    """The family's measures from the :func:`sums` of signals of ``n`` samples.

    ``var = s2 / n``, ``skew = s3 / n / var^1.5``, ``kurt = s4 / n / var^2 - 3`` (the central
    sums taken about the reference, the mean); Hjorth's variances of ``dx`` and ``ddx`` from
    their sums of squares and their telescoped means (see :func:`hjorth`); line length
    ``fs * mean |dx|``; zero crossings per second; ``spikecount`` passed through
    (:func:`sharp_transients`: its threshold is a median, not a sum).

    Returns
    -------
    ndarray, shape (9,) + spikecount.shape
        Rows in :data:`MEASURES` order, float64.
    """
    m2, m3, m4 = s["s2"] / n, s["s3"] / n, s["s4"] / n
    skew, kurt = _shape(m2, m3, m4)
    v1 = _var_from_sums(s["dx2"], s["x0"], s["x1"], n - 1)
    v2 = _var_from_sums(s["ddx2"], s["dx0"], s["dx1"], n - 2)
    mob, comp = _hjorth_ratios(m2, v1, v2, fs)
    linelength = (s["absdx"] / (n - 1)).astype(np.float64) * fs
    zc = s["zc"] / (n / fs)
    return np.stack([log_power(m2), linelength, skew, kurt, mob, comp, zc, s["maxabs"],
                     spikecount]).astype(np.float64)
