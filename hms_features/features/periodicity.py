"""Periodicity and rhythmicity: what separates periodic discharges from rhythmic delta.

Periodic discharges (LPD, GPD) are stereotyped transients repeating every 0.25–4 s: the
*envelope* of the 1–20 Hz activity rises at each discharge, so its autocorrelation has a peak at
the repetition period. Rhythmic delta (LRDA, GRDA) is a quasi-sinusoidal 0.5–4 Hz oscillation:
the power spectrum has a narrow peak standing above the aperiodic 1/f background.

Everything here is vectorised over ``(..., n_samples)`` arrays (windows and channels at once).

References
----------
.. [1] Hirsch L. J. et al. (2021). American Clinical Neurophysiology Society's Standardized
   Critical Care EEG Terminology: 2021 Version. J Clin Neurophysiol 38(1), 1-29.
.. [2] Marple S. L. (1999). Computing the discrete-time "analytic" signal via FFT. IEEE Trans
   Signal Process 47(9), 2600-2603.
.. [3] Donoghue T. et al. (2020). Parameterizing neural power spectra into periodic and aperiodic
   components. Nat Neurosci 23, 1655-1665.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from .base import FeatureContext, chain_groups, register

__all__ = [
    "band_envelope",
    "autocorrelation",
    "acf_peak",
    "delta_peak",
    "ENVELOPE_BAND",
    "ENVELOPE_FS",
    "LAG_RANGE_S",
    "DELTA_BAND",
]

#: Band whose analytic envelope tracks discharges, Hz.
ENVELOPE_BAND = (1.0, 20.0)
#: Sampling rate of the smoothed envelope, Hz (one lag step = 50 ms).
ENVELOPE_FS = 20.0
#: Lags searched for an autocorrelation peak, s (discharges every 0.25–4 s, i.e. 0.25–4 Hz).
LAG_RANGE_S = (0.25, 4.0)
#: Signals per block of :func:`band_envelope` (a multiple of the FFT's SIMD width, 16).
ENVELOPE_ROWS = 64
#: Band searched for a rhythmic delta peak, Hz.
DELTA_BAND = (0.5, 4.0)
#: Band over which the aperiodic (1/f) background is fitted, Hz.
APERIODIC_RANGE = (0.5, 20.0)
#: A later autocorrelation peak is the period only if it is at least this fraction of the highest.
FIRST_PEAK_FRACTION = 0.8


def band_envelope(x, fs, band=ENVELOPE_BAND, env_fs=ENVELOPE_FS):
    """Smoothed analytic (Hilbert) envelope of one frequency band, at a low sampling rate.

    The band ``lo <= f <= hi`` of ``rfft(x)`` is kept and shifted to start at 0 Hz (a frequency
    shift does not change the modulus), the analytic signal ``z`` is synthesised with an inverse
    FFT directly at ``2 * env_fs`` Hz [2]_, and ``|z|`` is averaged over pairs of samples
    (a 1 / ``env_fs`` s boxcar low-pass) to give ``env_fs`` Hz.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        Signal, µV. Read-only arrays are fine.
    fs : float
        Sampling rate of ``x``, Hz.
    band : (float, float)
        Band edges, Hz; ``hi - lo`` must not exceed ``2 * env_fs``.
    env_fs : float
        Output sampling rate, Hz.

    Returns
    -------
    env : ndarray, float32, shape (..., m)
        Envelope amplitude, µV, ``m = floor(n_samples * 2 * env_fs / fs) // 2`` samples.
    """
    lo, hi = band
    if not 0 <= lo < hi <= fs / 2:
        raise ValueError(f"band_envelope: band must satisfy 0 <= lo < hi <= fs/2, got {band}")
    if hi - lo > 2 * env_fs:
        raise ValueError(
            f"band_envelope: env_fs={env_fs} Hz too low for band {band}: need 2*env_fs >= hi-lo"
        )
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[-1]
    df = fs / n
    k_lo, k_hi = int(np.ceil(lo / df)), int(np.floor(hi / df))
    m_raw = int(n * 2 * env_fs / fs)
    m = m_raw // 2
    flat = x.reshape(-1, n)
    out = np.empty((flat.shape[0], m), np.float32)
    # ENVELOPE_ROWS signals at a time: the spectra and analytic signals of a block stay in
    # cache (a whole chunk's are ~30 MB); the FFTs are per signal, so the values are the same
    for a in range(0, flat.shape[0], ENVELOPE_ROWS):
        spec = sfft.rfft(flat[a:a + ENVELOPE_ROWS], axis=-1)
        env = np.abs(sfft.ifft(spec[:, k_lo:k_hi + 1], n=m_raw, axis=-1))
        # pair average (strided adds: a mean over a length-2 axis is several times slower)
        np.add(env[:, 0:2 * m:2], env[:, 1:2 * m:2], out=out[a:a + ENVELOPE_ROWS])
    # the scale: analytic signal = 2 * positive half, and ifft divided by m_raw instead of n
    out *= np.float32(m_raw / n)
    return out.reshape(x.shape[:-1] + (m,))


def autocorrelation(x, max_lag):
    """Normalised, unbiased autocorrelation along the last axis, lags ``0..max_lag``.

    ``r[k] = (c[k] / (n - k)) / (c[0] / n)`` with ``c[k] = sum_t (x[t] - mean)(x[t+k] - mean)``,
    computed with a zero-padded FFT (Wiener-Khinchin). The unbiased form does not penalise long
    lags, so a 4 s period is as visible as a 0.5 s one in a 10 s window.

    Parameters
    ----------
    x : array, shape (..., n)
        Any real signal (here an envelope, µV).
    max_lag : int
        Largest lag, samples (< n).

    Returns
    -------
    ndarray, float64, shape (..., max_lag + 1)
        ``r[..., 0] = 1``; a constant signal gives 0 at every other lag (fill value).

    References
    ----------
    Box G. E. P., Jenkins G. M. (1976). Time Series Analysis: Forecasting and Control, Holden-Day
    (autocorrelation function).

    Examples
    --------
    A pulse every 200 samples correlates with itself at lag 200:

    >>> import numpy as np
    >>> train = np.zeros(2000)
    >>> train[::200] = 1.0
    >>> autocorrelation(train, 600)[[0, 100, 200]].round(2)
    array([ 1.  , -0.01,  1.  ])
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if not 0 < max_lag < n:
        raise ValueError(f"autocorrelation: max_lag must be in [1, {n - 1}], got {max_lag}")
    x = x - x.mean(axis=-1, keepdims=True)
    nfft = sfft.next_fast_len(n + max_lag, real=True)
    spec = sfft.rfft(x, n=nfft, axis=-1)
    c = sfft.irfft(spec.real**2 + spec.imag**2, n=nfft, axis=-1)[..., : max_lag + 1]
    c = c / (n - np.arange(max_lag + 1))
    c0 = c[..., :1]
    ok = c0 > 1e-12 * (1.0 + np.abs(x).max(axis=-1, keepdims=True) ** 2)
    r = np.where(ok, c / np.where(ok, c0, 1.0), 0.0)
    r[..., 0] = 1.0
    return r


def acf_peak(acf, fs, lag_range=LAG_RANGE_S, first_fraction=FIRST_PEAK_FRACTION):
    """Height, period and prominence of the periodicity peak of an autocorrelation.

    Candidates are local maxima (``r[k-1] < r[k] >= r[k+1]``) with lag in ``lag_range``. The
    period is the *first* candidate at least ``first_fraction`` times as high as the highest one
    (so a 1 s train reports 1 s, not its 2 s or 3 s multiples), refined by parabolic
    interpolation; its height is ``r`` there and its prominence is that height minus the deepest
    trough between lag 0 and the peak.

    Parameters
    ----------
    acf : array, shape (..., n_lags)
        Autocorrelation from lag 0, e.g. from :func:`autocorrelation`.
    fs : float
        Sampling rate of the lags, Hz.
    lag_range : (float, float)
        Lags searched, s.
    first_fraction : float
        See above, in (0, 1].

    Returns
    -------
    height, period, prominence : ndarray, float64, shape (...)
        Height and prominence dimensionless, period in s. Without any local maximum in range
        (e.g. monotonic decay, flat input) all three are 0 (fill value).

    Examples
    --------
    Periodic discharges once a second (200 Hz) give a 1 s period with a height of 1:

    >>> import numpy as np
    >>> train = np.zeros(2000)
    >>> train[::200] = 1.0
    >>> height, period, prominence = acf_peak(autocorrelation(train, 600), fs=200.0)
    >>> round(float(height), 2), round(float(period), 2)
    (1.0, 1.0)
    """
    r = np.asarray(acf, dtype=np.float64)
    n_lags = r.shape[-1]
    k_min = max(1, int(np.ceil(lag_range[0] * fs)))
    k_max = min(n_lags - 2, int(np.floor(lag_range[1] * fs)))
    if k_max < k_min:
        raise ValueError(f"acf_peak: {n_lags} lags at {fs} Hz do not cover lag_range {lag_range}")
    mid = r[..., k_min:k_max + 1]
    is_peak = (mid > r[..., k_min - 1:k_max]) & (mid >= r[..., k_min + 1:k_max + 2])
    masked = np.where(is_peak, mid, -np.inf)
    top = masked.max(axis=-1, keepdims=True)
    found = np.isfinite(top[..., 0])
    # "at least first_fraction of the highest", also when the highest peak is negative
    good = is_peak & (masked >= top - (1.0 - first_fraction) * np.abs(top) - 1e-12)
    j = np.argmax(good, axis=-1)[..., None]
    k = j + k_min
    y0 = np.take_along_axis(r, k - 1, axis=-1)[..., 0]
    y1 = np.take_along_axis(r, k, axis=-1)[..., 0]
    y2 = np.take_along_axis(r, k + 1, axis=-1)[..., 0]
    denom = y0 - 2 * y1 + y2
    shift = np.where(denom < 0, 0.5 * (y0 - y2) / np.where(denom < 0, denom, -1.0), 0.0)
    period = (k[..., 0] + np.clip(shift, -0.5, 0.5)) / fs
    trough = np.take_along_axis(np.minimum.accumulate(r, axis=-1), k, axis=-1)[..., 0]
    height = np.where(found, y1, 0.0)
    return height, np.where(found, period, 0.0), np.where(found, y1 - trough, 0.0)


def delta_peak(freqs, psd, band=DELTA_BAND, fit_range=APERIODIC_RANGE):
    """Narrow-band delta peak above the aperiodic background of a power spectrum.

    A straight line is least-squares fitted to ``log10 psd`` against ``log10 f`` over
    ``fit_range`` (the aperiodic 1/f component [3]_). Within ``band`` the bin with the largest
    residual is the delta peak: its prominence is that residual (decades above the background),
    its frequency the bin's, and its concentration the fraction of the band's power within one
    bin of it (``P[k-1] + P[k] + P[k+1]`` over the band sum; a sinusoid under a Hann window gives
    nearly 1, flat noise about 3 / n_bins).

    Parameters
    ----------
    freqs : array, shape (f,)
        Frequencies of ``psd``, Hz, equally spaced.
    psd : array, shape (..., f)
        Power spectral density, µV²/Hz (e.g. Welch, 0.5 Hz resolution).
    band, fit_range : (float, float)
        Band searched for the peak and band of the background fit, Hz (``lo <= f <= hi``).

    Returns
    -------
    prominence : ndarray, shape (...)
        log10 units; 0 for a flat (all-zero) spectrum.
    frequency : ndarray, shape (...)
        Hz; the lowest bin of ``band`` for a flat spectrum.
    concentration : ndarray, shape (...)
        In [0, 1]; 0 for a flat spectrum.

    Examples
    --------
    A 1.5 Hz rhythm (rhythmic delta) on white noise stands 2.6 decades above the background:

    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> t = np.arange(2000) / 200.0
    >>> x = 10 * np.sin(2 * np.pi * 1.5 * t) + np.random.default_rng(0).standard_normal(2000)
    >>> prominence, frequency, concentration = delta_peak(*welch_psd(x, fs=200.0))
    >>> round(float(prominence), 1), float(frequency), round(float(concentration), 2)
    (2.6, 1.5, 1.0)
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    psd = np.asarray(psd, dtype=np.float64)
    fit = (freqs >= fit_range[0]) & (freqs <= fit_range[1]) & (freqs > 0)
    in_band = (freqs >= band[0]) & (freqs <= band[1]) & fit
    if in_band.sum() < 3 or fit.sum() < 3:
        raise ValueError(
            f"delta_peak: need >= 3 bins in band {band} and fit_range {fit_range}, "
            f"frequency resolution is {freqs[1] - freqs[0]:g} Hz"
        )
    floor = 1e-12 * (1.0 + psd.max(axis=-1, keepdims=True))
    logp = np.log10(psd[..., fit] + floor)
    design = np.stack([np.ones(fit.sum()), np.log10(freqs[fit])], axis=1)
    coef = logp @ np.linalg.pinv(design).T
    resid = logp - coef @ design.T
    band_idx = np.flatnonzero(in_band[fit])
    sub = resid[..., band_idx]
    j = np.argmax(sub, axis=-1)
    prominence = np.take_along_axis(sub, j[..., None], axis=-1)[..., 0]
    p_band = psd[..., in_band]
    zero = np.zeros_like(p_band[..., :1])
    padded = np.concatenate([zero, p_band, zero], axis=-1)
    csum = np.cumsum(padded, axis=-1)
    near = np.take_along_axis(csum, (j + 2)[..., None], axis=-1)[..., 0] - np.where(
        j > 0, np.take_along_axis(csum, np.maximum(j - 1, 0)[..., None], axis=-1)[..., 0], 0.0)
    total = p_band.sum(axis=-1)
    concentration = np.where(total > 0, near / np.where(total > 0, total, 1.0), 0.0)
    frequency = np.where(total > 0, freqs[in_band][j], freqs[in_band][0])
    return np.maximum(prominence, 0.0) * (total > 0), frequency, np.clip(concentration, 0.0, 1.0)


@register("periodicity", spans=("50s", "10s"))
def compute(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Periodicity family: envelope autocorrelation peak and rhythmic delta peak per group.

    For each chain / hemisphere group (LL, LP, RP, RL, C, L, R, all): the 1–20 Hz envelope
    autocorrelation averaged over the group's derivations gives ``acfpeak`` (height), ``acfperiod``
    (s) and ``acfprom``; the group-mean Welch PSD gives ``deltaprom`` (log10), ``deltafreq`` (Hz)
    and ``deltaconc``. ``periodicity_acfpeak_max`` is the highest single-derivation peak.
    On a partial recording (``compute_features(present=...)``) every group and the maximum
    read the present derivations only.
    """
    env = band_envelope(ctx.bipolar, ctx.fs)
    max_lag = min(int(np.floor(LAG_RANGE_S[1] * ENVELOPE_FS)) + 1, env.shape[-1] - 1)
    acf = autocorrelation(env, max_lag)  # (n, 18, lags)
    freqs, psd = ctx.psd
    out = {}
    s = ctx.span
    for name, idx in chain_groups().items():
        h, p, pr = acf_peak(acf[:, idx].mean(axis=1), ENVELOPE_FS)
        out[f"periodicity_acfpeak_{name}_{s}"] = h
        out[f"periodicity_acfperiod_{name}_{s}"] = p
        out[f"periodicity_acfprom_{name}_{s}"] = pr
        prom, freq, conc = delta_peak(freqs, psd[:, idx].mean(axis=1))
        out[f"periodicity_deltaprom_{name}_{s}"] = prom
        out[f"periodicity_deltafreq_{name}_{s}"] = freq
        out[f"periodicity_deltaconc_{name}_{s}"] = conc
    present = chain_groups()["all"]  # the highest peak among the derivations that exist
    rows = acf if len(present) == acf.shape[1] else acf[:, present]
    out[f"periodicity_acfpeak_max_{s}"] = acf_peak(rows, ENVELOPE_FS)[0].max(axis=1)
    return out
