"""Spectral family: band powers, ratios, entropy, edge frequencies, peak and 1/f slope.

Every measure is read off one Welch PSD per window and derivation (:attr:`FeatureContext.psd`:
2 s Hann segments, 50 % overlap, mean of segments, one-sided, µV²/Hz, 0.5 Hz resolution), so the
spectrum is computed once and shared. Band power is the rectangle-rule integral of the PSD over
the bins with ``lo <= f < hi`` (half-open, so no bin counts twice). Per-derivation values are
averaged over chains and hemispheres (:func:`~hms_features.features.base.aggregate`).

Fill values (a silent or flat derivation, total power 0): relative powers 0, log powers
``log10(EPS)`` = -6, log ratios 0, spectral entropy 0, edge and peak frequencies 0 Hz, slope 0.

References
----------
Welch, P. (1967). The use of fast Fourier transform for the estimation of power spectra.
IEEE Trans. Audio Electroacoust. 15(2), 70-73.
Inouye, T. et al. (1991). Quantification of EEG irregularity by use of the entropy of the power
spectrum. Electroencephalogr. Clin. Neurophysiol. 79(3), 204-210.
Donoghue, T. et al. (2020). Parameterizing neural power spectra into periodic and aperiodic
components. Nat. Neurosci. 23, 1655-1665 (the aperiodic exponent; here a plain log-log fit).
"""

from __future__ import annotations

import numpy as np

from .base import BROADBAND, EPS, FeatureContext, aggregate, log_power, register, select_bands

__all__ = [
    "BANDS", "FIT_RANGE", "TOTAL_RANGE", "band_powers", "spectral_entropy", "spectral_edge",
    "peak_frequency", "aperiodic_slope", "compute_spectral",
]

#: Frequency bands, Hz, half-open ``[lo, hi)``: all of :data:`~.base.BANDS`, delta split at 2 Hz.
BANDS = select_bands(split_delta=True)
#: Range over which relative power, entropy, edge and peak frequencies are taken, Hz.
TOTAL_RANGE = BROADBAND
#: Range of the log-log fit of the aperiodic slope, Hz.
FIT_RANGE = (1.0, 40.0)


def _mask(freqs, lo, hi):
    return (freqs >= lo) & (freqs < hi)


def band_powers(freqs: np.ndarray, psd: np.ndarray, bands: dict = BANDS) -> np.ndarray:
    """Absolute band powers: the PSD integrated over each band.

    ``P_b = df * sum_{lo_b <= f_k < hi_b} psd(f_k)`` (rectangle rule over the half-open band, so no
    bin counts in two adjacent bands), ``df`` the bin width.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Hz, evenly spaced.
    psd : array, shape (..., n_freqs)
        Power spectral density, µV²/Hz.
    bands : dict
        name -> ``(lo, hi)`` Hz, half-open; default :data:`BANDS`.

    Returns
    -------
    ndarray, shape (..., n_bands)
        µV², in ``bands`` order.

    References
    ----------
    Welch, P. (1967). IEEE Trans. Audio Electroacoust. 15(2), 70-73 (the PSD estimate).

    Examples
    --------
    A 10 Hz sine of amplitude 10 µV has all its power (10² / 2 = 50 µV²) in alpha:

    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> t = np.arange(2000) / 200.0
    >>> f, p = welch_psd(10 * np.sin(2 * np.pi * 10 * t), fs=200.0)
    >>> band_powers(f, p, {"alpha": (8.0, 13.0), "beta": (13.0, 30.0)}).round(1)
    array([50.,  0.])
    """
    df = freqs[1] - freqs[0]
    masks = np.stack([_mask(freqs, lo, hi) for lo, hi in bands.values()], axis=1)
    return psd @ masks.astype(psd.dtype) * df


def spectral_entropy(freqs: np.ndarray, psd: np.ndarray, fmin: float | None = None,
                     fmax: float | None = None) -> np.ndarray:
    """Normalised Shannon entropy of the power spectrum.

    ``H = -sum_k p_k log2 p_k / log2 K`` with ``p_k = psd_k / sum psd`` over the ``K`` bins with
    ``fmin <= f < fmax`` (all bins when both are None): 1 for a flat spectrum (white noise), near
    0 for a pure tone [1]_. Same as ``antropy.spectral_entropy(..., normalize=True)`` given the same
    PSD. Fill 0 when the power is 0.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Hz.
    psd : array, shape (..., n_freqs)
        µV²/Hz.
    fmin, fmax : float or None
        Band, Hz.

    Returns
    -------
    ndarray, shape psd.shape[:-1]
        Dimensionless, in [0, 1].

    References
    ----------
    .. [1] Inouye, T. et al. (1991). Quantification of EEG irregularity by use of the entropy of
       the power spectrum. Electroencephalogr. Clin. Neurophysiol. 79(3), 204-210.

    Examples
    --------
    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> noise = np.random.default_rng(0).standard_normal(4000)
    >>> f, p = welch_psd(noise, fs=200.0)
    >>> round(float(spectral_entropy(f, p, 0.5, 40.0)), 2)
    0.99
    >>> f, p = welch_psd(np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0), fs=200.0)
    >>> round(float(spectral_entropy(f, p, 0.5, 40.0)), 2)
    0.2
    """
    lo = -np.inf if fmin is None else fmin
    hi = np.inf if fmax is None else fmax
    p = np.asarray(psd, dtype=np.float64)[..., _mask(freqs, lo, hi)]
    total = p.sum(axis=-1, keepdims=True)
    p = p / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)
    return h / np.log2(p.shape[-1])


def spectral_edge(freqs: np.ndarray, psd: np.ndarray, q: float, fmin: float = TOTAL_RANGE[0],
                  fmax: float = TOTAL_RANGE[1]) -> np.ndarray:
    """Spectral edge frequency: lowest bin frequency at which the cumulative power reaches ``q``.

    ``SEF_q = min { f_j : sum_{fmin <= f_k <= f_j} psd_k >= q * sum_{fmin <= f_k < fmax} psd_k }``.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Hz.
    psd : array, shape (..., n_freqs)
        µV²/Hz.
    q : float
        Fraction of the ``fmin``-``fmax`` power, e.g. 0.5 (SEF50, the median frequency) or 0.9
        (SEF90).
    fmin, fmax : float
        Band, Hz, half-open; default the 0.5-40 Hz broad band.

    Returns
    -------
    ndarray, shape psd.shape[:-1]
        Hz; 0 where the power is 0.

    References
    ----------
    Rampil, I. J. (1998). A primer for EEG signal processing in anesthesia. Anesthesiology 89(4),
    980-1002.

    Examples
    --------
    Half the 0.5-40 Hz power of white noise lies below about 20 Hz:

    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> f, p = welch_psd(np.random.default_rng(0).standard_normal(4000), fs=200.0)
    >>> float(spectral_edge(f, p, 0.5))
    20.5
    """
    m = _mask(freqs, fmin, fmax)
    f = freqs[m]
    c = np.cumsum(np.asarray(psd, dtype=np.float64)[..., m], axis=-1)
    total = c[..., -1:]
    idx = np.argmax(c >= q * total, axis=-1)
    return np.where(total[..., 0] > 0, f[idx], 0.0)


def peak_frequency(freqs: np.ndarray, psd: np.ndarray, fmin: float = TOTAL_RANGE[0],
                   fmax: float = TOTAL_RANGE[1]) -> np.ndarray:
    """Frequency of the largest PSD bin in ``[fmin, fmax)`` Hz.

    ``f_peak = argmax_{fmin <= f_k < fmax} psd(f_k)``.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Hz.
    psd : array, shape (..., n_freqs)
        µV²/Hz.
    fmin, fmax : float
        Band searched, Hz; default the 0.5-40 Hz broad band.

    Returns
    -------
    ndarray, shape psd.shape[:-1]
        Hz; 0 where the power is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> f, p = welch_psd(np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0), fs=200.0)
    >>> float(peak_frequency(f, p))
    10.0
    """
    m = _mask(freqs, fmin, fmax)
    p = psd[..., m]
    return np.where(p.max(axis=-1) > 0, freqs[m][np.argmax(p, axis=-1)], 0.0)


def aperiodic_slope(freqs: np.ndarray, psd: np.ndarray, fmin: float = FIT_RANGE[0],
                    fmax: float = FIT_RANGE[1]) -> np.ndarray:
    """Least-squares slope of ``log10 psd`` against ``log10 f`` over ``[fmin, fmax)`` Hz.

    ``slope = sum_k (u_k - mean u)(v_k - mean v) / sum_k (u_k - mean u)^2`` with ``u = log10 f`` and
    ``v = log10(psd + EPS)`` (:func:`~hms_features.signal.log_power`): the 1/f exponent of the
    aperiodic component [1]_ with its sign, -1 for pink noise, 0 for white noise.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Hz.
    psd : array, shape (..., n_freqs)
        µV²/Hz.
    fmin, fmax : float
        Fit range, Hz; default :data:`FIT_RANGE` (1-40 Hz).

    Returns
    -------
    ndarray, shape psd.shape[:-1]
        Decades of power per decade of frequency; 0 where the power is 0.

    References
    ----------
    .. [1] Donoghue, T. et al. (2020). Parameterizing neural power spectra into periodic and
       aperiodic components. Nat. Neurosci. 23, 1655-1665 (here a plain log-log fit).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.arange(0.0, 100.5, 0.5)
    >>> pink = np.where(f > 0, 1.0 / np.maximum(f, 0.5), 0.0)
    >>> round(float(aperiodic_slope(f, pink)), 2)
    -1.0
    """
    m = _mask(freqs, fmin, fmax)
    x = np.log10(freqs[m])
    x = x - x.mean()
    p = np.asarray(psd, dtype=np.float64)[..., m]
    y = log_power(p)
    slope = (y @ x) / (x @ x)
    return np.where(p.max(axis=-1) > 0, slope, 0.0)


@register("spectral", spans=("50s", "10s"), fast=True)
def compute_spectral(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Spectral family on one span: see the module docstring for measures and fills.

    Names: ``spectral_abspower_{band}`` (log10 µV²), ``spectral_relpower_{band}`` (fraction of the
    0.5-40 Hz power), ``spectral_ratio_{thetaalpha|deltaalpha|slowfast}`` (log10 of theta/alpha,
    (delta1+delta2)/alpha, (delta+theta)/(alpha+beta)), ``spectral_entropy``,
    ``spectral_sef50``, ``spectral_sef90``, ``spectral_peakfreq`` (Hz), ``spectral_slope``, each
    followed by ``_{group}_{span}``.
    """
    freqs, psd = ctx.psd
    span = ctx.span
    bp = band_powers(freqs, psd)  # (n, 18, 6) µV²
    total = band_powers(freqs, psd, {"total": TOTAL_RANGE})[..., 0]
    out = {}
    names = list(BANDS)
    for i, b in enumerate(names):
        out.update(aggregate("spectral", f"abspower_{b}", log_power(bp[..., i]), span))
    rel = bp / np.where(total > 0, total, np.inf)[..., None]
    for i, b in enumerate(names):
        out.update(aggregate("spectral", f"relpower_{b}", rel[..., i], span))
    p = dict(zip(names, np.moveaxis(bp, -1, 0)))
    delta = p["delta1"] + p["delta2"]
    ratios = {
        "thetaalpha": (p["theta"], p["alpha"]),
        "deltaalpha": (delta, p["alpha"]),
        "slowfast": (delta + p["theta"], p["alpha"] + p["beta"]),
    }
    for name, (a, b) in ratios.items():
        out.update(aggregate("spectral", f"ratio_{name}", np.log10((a + EPS) / (b + EPS)), span))
    out.update(aggregate("spectral", "entropy",
                         spectral_entropy(freqs, psd, *TOTAL_RANGE), span))
    out.update(aggregate("spectral", "sef50", spectral_edge(freqs, psd, 0.5), span))
    out.update(aggregate("spectral", "sef90", spectral_edge(freqs, psd, 0.9), span))
    out.update(aggregate("spectral", "peakfreq", peak_frequency(freqs, psd), span))
    out.update(aggregate("spectral", "slope", aperiodic_slope(freqs, psd), span))
    return out
