"""Spatial features: lateralised versus generalised activity.

Lateralised patterns (LPD, LRDA, many seizures) make one hemisphere stronger than the other;
generalised ones (GPD, GRDA) are synchronous and symmetric across the scalp. This module measures
left-right asymmetry of band power, inter-hemispheric coherence and correlation of homologous
derivations, global synchrony and the anterior-posterior power gradient, all vectorised over
``(n_windows, channels, samples)``.

Homologous derivations pair the left and right chains of the double banana position by position:
LL (Fp1-F7, F7-T3, T3-T5, T5-O1) with RL (Fp2-F8, F8-T4, T4-T6, T6-O2) and LP (Fp1-F3, F3-C3,
C3-P3, P3-O1) with RP (Fp2-F4, F4-C4, C4-P4, P4-O2).

References
----------
.. [1] Welch P. D. (1967). The use of fast Fourier transform for the estimation of power spectra.
   IEEE Trans Audio Electroacoust 15(2), 70-73.
.. [2] Bendat J. S., Piersol A. G. (2010). Random Data, 4th ed., Wiley, ch. 9 (coherence).
.. [3] van Putten M. J. A. M. (2007). The revised brain symmetry index. Clin Neurophysiol 118,
   2362-2367.
.. [4] Schindler K. et al. (2007). Assessing seizure dynamics by analysing the correlation
   structure of multichannel intracranial EEG. Brain 130, 65-77.
"""

from __future__ import annotations

import numpy as np

from ..signal import BIPOLAR_NAMES
from .base import (
    WELCH_SEGMENT_S,
    FeatureContext,
    chain_groups,
    register,
    segment_spectra,
    select_bands,
)

__all__ = [
    "BANDS",
    "band_power",
    "asymmetry_index",
    "boxcar_decimate",
    "delta_factor",
    "columns",
    "segment_ffts",
    "cross_spectral_matrix",
    "coherence_from_csd",
    "band_coherence",
    "correlation_from_csd",
    "correlation_matrix",
    "correlation_from_covariance",
    "piece_moments",
    "covariance_from_moments",
    "synchrony",
    "HOMOLOGOUS",
    "ANTERIOR",
    "POSTERIOR",
]

#: Frequency bands, Hz, half-open ``lo <= f < hi``: delta to beta of :data:`~.base.BANDS`.
BANDS = select_bands(["delta", "theta", "alpha", "beta"])

#: Windows per block of :func:`correlation_matrix`.
CORR_WINDOWS = 2

#: Sampling rate the delta-band cross-spectra are computed at, Hz (see :func:`boxcar_decimate`).
DELTA_FS = 40.0

_GROUPS = chain_groups()
#: Homologous (left, right) derivation index pairs, per lateral chain pair.
HOMOLOGOUS = {
    "LLRL": np.stack([_GROUPS["LL"], _GROUPS["RL"]], axis=1),
    "LPRP": np.stack([_GROUPS["LP"], _GROUPS["RP"]], axis=1),
}
HOMOLOGOUS["LR"] = np.concatenate([HOMOLOGOUS["LLRL"], HOMOLOGOUS["LPRP"]])
#: Frontopolar derivations (Fp1-F7, Fp1-F3 left; Fp2-F4, Fp2-F8 right).
ANTERIOR = {"L": np.array([BIPOLAR_NAMES.index("Fp1-F7"), BIPOLAR_NAMES.index("Fp1-F3")]),
            "R": np.array([BIPOLAR_NAMES.index("Fp2-F4"), BIPOLAR_NAMES.index("Fp2-F8")])}
#: Occipital derivations (T5-O1, P3-O1 left; P4-O2, T6-O2 right).
POSTERIOR = {"L": np.array([BIPOLAR_NAMES.index("T5-O1"), BIPOLAR_NAMES.index("P3-O1")]),
             "R": np.array([BIPOLAR_NAMES.index("P4-O2"), BIPOLAR_NAMES.index("T6-O2")])}
ANTERIOR["all"] = np.concatenate([ANTERIOR["L"], ANTERIOR["R"]])
POSTERIOR["all"] = np.concatenate([POSTERIOR["L"], POSTERIOR["R"]])


def band_power(freqs, psd, band):
    """Absolute band power: ``sum of psd over lo <= f < hi`` times the bin width.

    Parameters
    ----------
    freqs : array, shape (f,)
        Hz, equally spaced.
    psd : array, shape (..., f)
        µV²/Hz.
    band : (float, float)
        Hz, half-open.

    Returns
    -------
    ndarray, shape (...)
        µV².

    Examples
    --------
    >>> import numpy as np
    >>> from hms_features.signal import welch_psd
    >>> f, p = welch_psd(10 * np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0), fs=200.0)
    >>> round(float(band_power(f, p, BANDS["alpha"])), 1)  # 10 µV sine: 50 µV²
    50.0
    """
    freqs = np.asarray(freqs)
    sel = (freqs >= band[0]) & (freqs < band[1])
    if not sel.any():
        raise ValueError(
            f"band_power: no frequency bin in band {band} Hz (freqs {freqs[0]}..{freqs[-1]} Hz)"
        )
    return np.asarray(psd)[..., sel].sum(axis=-1) * (freqs[1] - freqs[0])


def boxcar_decimate(x, q):
    """Average ``q`` consecutive samples: a boxcar low-pass followed by decimation by ``q``.

    The boxcar's gain is ``|sin(pi f q / fs) / (q sin(pi f / fs))|``: at 200 Hz with ``q = 5``
    it is >= 0.98 below 4 Hz, and only the 36–44 Hz band (attenuated by the 0.5–40 Hz
    preprocessing) aliases onto 0–4 Hz. Used for delta-band cross-spectra at 1/5 of the cost.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    q : int
        Decimation factor; trailing samples that do not fill a block are dropped.

    Returns
    -------
    ndarray, float32, shape (..., n_samples // q)
        µV, sampled at ``fs / q``.
    """
    x = np.asarray(x, dtype=np.float32)
    m = x.shape[-1] // q
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty((flat.shape[0], m), np.float32)
    # 16 signals at a time: the q strided passes then read a block that stays in cache
    # (about half the CPU time of strided passes over the whole chunk); same values
    for a in range(0, flat.shape[0], 16):
        o = out[a:a + 16]
        np.copyto(o, flat[a:a + 16, 0:m * q:q])
        for i in range(1, q):
            o += flat[a:a + 16, i:m * q:q]
    out *= np.float32(1.0 / q)
    return out.reshape(x.shape[:-1] + (m,))


def delta_factor(fs):
    """The decimation factor of the delta-band cross-spectra at ``fs`` Hz: ``fs // DELTA_FS``
    (at least 1; 5 at 200 Hz)."""
    return max(1, int(fs // DELTA_FS))


def asymmetry_index(left, right):
    """Normalised asymmetry ``(L - R) / (L + R)`` of two non-negative quantities (e.g. powers).

    Positive means the left is stronger; the value lies in [-1, 1] (the revised brain symmetry
    index [3]_ is its absolute value averaged over frequency). ``L + R == 0`` gives 0 (fill value).

    Parameters
    ----------
    left, right : array
        Non-negative, same shape (e.g. µV²).

    Returns
    -------
    ndarray
        Signed index, dimensionless.

    References
    ----------
    .. [3] van Putten M. J. A. M. (2007). The revised brain symmetry index. Clin Neurophysiol 118,
       2362-2367.

    Examples
    --------
    >>> import numpy as np
    >>> asymmetry_index(np.array([3.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0]))
    array([0.5, 0. , 0. ])
    """
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    total = left + right
    return np.where(total > 0, (left - right) / np.where(total > 0, total, 1.0), 0.0)


def segment_ffts(x, fs, segment_s=WELCH_SEGMENT_S, fmax=None):
    """Hann-windowed FFT of the Welch segments (50 % overlap), the raw material of a CSD.

    Uses the same segments as :func:`~hms_features.features.base.welch_psd` and
    ``scipy.signal.welch(..., window="hann", nperseg, noverlap=nperseg // 2, detrend=False)``:
    segment ``j`` starts at sample ``j * (nperseg - nperseg // 2)``; trailing samples that do
    not fill a segment are dropped.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        µV.
    fs : float
        Hz.
    segment_s : float
        Segment length, s.
    fmax : float, optional
        Keep bins ``f <= fmax`` only (Hz).

    Returns
    -------
    freqs : ndarray, shape (f,)
        Hz.
    spectra : ndarray, complex64, shape (..., n_segments, f)
        µV (unscaled DFT of the windowed segment).
    """
    return segment_spectra(np.asarray(x, dtype=np.float32), fs, segment_s, fmax=fmax,
                           scaling=None)


def cross_spectral_matrix(spectra):
    """Segment-averaged cross-spectral matrix ``S[i, j, f] = mean_s X_i(s, f) conj(X_j(s, f))``.

    Parameters
    ----------
    spectra : array, complex, shape (n, c, n_segments, f)
        From :func:`segment_ffts`.

    Returns
    -------
    ndarray, complex128, shape (n, c, c, f)
        Unscaled (Welch's density scaling cancels in every ratio computed from it), µV².
    """
    spectra = np.asarray(spectra)
    a = np.moveaxis(spectra, -1, 1)  # (n, f, c, s)
    csd = np.matmul(a, a.conj().transpose(0, 1, 3, 2)).astype(np.complex128)  # (n, f, c, c)
    return np.moveaxis(csd, 1, -1) / spectra.shape[-2]


def coherence_from_csd(sxy, sxx, syy):
    """Power-weighted magnitude-squared coherence over the last (frequency) axis.

    ``sum_f |Sxy|^2 / sum_f Sxx Syy`` (a single bin gives the usual ``|Sxy|^2 / (Sxx Syy)``).

    Parameters
    ----------
    sxy : array, complex, shape (..., f)
        Cross-spectrum.
    sxx, syy : array, shape (..., f)
        Auto-spectra (real, non-negative), broadcastable with ``sxy``.

    Returns
    -------
    ndarray, shape (...)
        In [0, 1]; 0 where either signal has no power (fill value).
    """
    num = (np.abs(sxy) ** 2).sum(axis=-1)
    den = (np.real(sxx) * np.real(syy)).sum(axis=-1)
    ok = den > 0
    return np.clip(np.where(ok, num / np.where(ok, den, 1.0), 0.0), 0.0, 1.0)


def band_coherence(x, y, fs, band=BANDS["delta"], segment_s=WELCH_SEGMENT_S):
    """Power-weighted Welch magnitude-squared coherence of ``x`` and ``y`` over a band.

    ``sum_f |Sxy(f)|^2 / sum_f Sxx(f) Syy(f)`` over ``lo <= f < hi``, with the Welch (cross-)
    spectra of ``scipy.signal.csd`` / ``welch`` (Hann, ``nperseg = segment_s * fs``, 50 %
    overlap, ``detrend=False``) [1]_ [2]_: the mean of the per-bin coherences weighted by
    ``Sxx Syy``, so a narrow-band rhythm is not diluted by the band's noise-only bins. For a
    one-bin band it is ``scipy.signal.coherence`` at that bin. Identical signals give 1.

    Parameters
    ----------
    x, y : array, shape (..., n_samples)
        µV, broadcastable.
    fs : float
        Hz.
    band : (float, float)
        Hz, half-open.
    segment_s : float
        Welch segment length, s.

    Returns
    -------
    ndarray, shape (...)
        In [0, 1]; 0 if either signal is flat.

    References
    ----------
    .. [1] Welch P. D. (1967). IEEE Trans Audio Electroacoust 15(2), 70-73.
    .. [2] Bendat J. S., Piersol A. G. (2010). Random Data, 4th ed., Wiley, ch. 9 (coherence).

    Examples
    --------
    A 10 Hz rhythm shared by two noisy channels is coherent in alpha; independent noise is not:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rhythm = 10 * np.sin(2 * np.pi * 10 * np.arange(2000) / 200.0)
    >>> x, y = rhythm + rng.standard_normal(2000), rhythm + rng.standard_normal(2000)
    >>> round(float(band_coherence(x, y, 200.0, BANDS["alpha"])), 2)
    1.0
    >>> float(band_coherence(rng.standard_normal(2000), rng.standard_normal(2000), 200.0,
    ...                      BANDS["alpha"])) < 0.2
    True
    """
    x, y = np.broadcast_arrays(np.asarray(x), np.asarray(y))
    freqs, sx = segment_ffts(x, fs, segment_s, fmax=band[1])
    _, sy = segment_ffts(y, fs, segment_s, fmax=band[1])
    sel = freqs >= band[0]
    sel &= freqs < band[1]
    sx, sy = sx[..., sel].astype(np.complex128), sy[..., sel].astype(np.complex128)
    sxy = (sx * sy.conj()).mean(axis=-2)
    sxx = (np.abs(sx) ** 2).mean(axis=-2)
    syy = (np.abs(sy) ** 2).mean(axis=-2)
    return coherence_from_csd(sxy, sxx, syy)


def correlation_matrix(x):
    """Pearson correlation between all channel pairs of each window.

    Parameters
    ----------
    x : array, shape (n, c, n_samples)
        µV.

    Returns
    -------
    ndarray, float64, shape (n, c, c)
        Correlations; a flat channel correlates 0 with everything (and 1 with itself).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 1000))
    >>> x[0, 1] = -x[0, 0]
    >>> correlation_matrix(x).round(2)
    array([[[ 1., -1.],
            [-1.,  1.]]])
    """
    x = np.asarray(x, dtype=np.float32)
    cov = np.empty((x.shape[0], x.shape[1], x.shape[1]))
    # CORR_WINDOWS windows at a time: the centred copy of a block stays in cache (a whole
    # chunk's is ~23 MB); means and products are per window, so the values are the same
    for a in range(0, x.shape[0], CORR_WINDOWS):
        xb = x[a:a + CORR_WINDOWS]
        xc = np.empty(xb.shape, np.float32)  # C order whatever the input layout: fast matmul
        np.subtract(xb, xb.mean(axis=-1, keepdims=True), out=xc)
        cov[a:a + CORR_WINDOWS] = np.matmul(xc, xc.transpose(0, 2, 1))
    return correlation_from_covariance(cov)


def correlation_from_covariance(cov):
    """Pearson correlation from centred sums of products, as :func:`correlation_matrix` has it.

    ``cov[i, j] = sum_t (x_i(t) - mean x_i) (x_j(t) - mean x_j)`` (not divided by the sample
    count: the flat-channel rule compares absolute scales). A channel whose
    ``sqrt(cov[i, i])`` is at most ``1e-6 (1 + the largest)`` is flat: it correlates 0 with
    everything and 1 with itself; values are clipped to [-1, 1].

    Parameters
    ----------
    cov : array, float64, shape (n, c, c)
        µV².

    Returns
    -------
    ndarray, float64, shape (n, c, c)
        Correlations.
    """
    var = np.diagonal(cov, axis1=1, axis2=2)
    # a sum of squares is >= 0; one pooled from moments (covariance_from_moments) may round
    # below 0 for a flat channel
    scale = np.sqrt(np.maximum(var, 0.0))
    ok = scale > 1e-6 * (1.0 + scale.max(axis=-1, keepdims=True))
    inv = np.where(ok, 1.0 / np.where(ok, scale, 1.0), 0.0)
    corr = np.clip(cov * inv[:, :, None] * inv[:, None, :], -1.0, 1.0)
    idx = np.arange(cov.shape[1])
    corr[:, idx, idx] = 1.0
    return corr


def piece_moments(x):
    """Raw first and second moments of signals, summed in float64: what consecutive pieces of a
    longer signal pool into its covariance (:func:`covariance_from_moments`).

    Parameters
    ----------
    x : array, shape (m, c, n_samples)
        µV (each product of two float32 samples is exact in float64).

    Returns
    -------
    sums : ndarray, float64, shape (m, c)
        ``sum_t x_i(t)``, µV.
    cross : ndarray, float64, shape (m, c, c)
        ``sum_t x_i(t) x_j(t)``, µV².
    """
    x = np.asarray(x, dtype=np.float64)
    return x.sum(axis=-1), np.matmul(x, x.transpose(0, 2, 1))


def covariance_from_moments(sums, cross, n_samples):
    """Centred sums of products from raw moments: ``cross - sums sums^T / n_samples``.

    With ``sums`` and ``cross`` the totals of :func:`piece_moments` over the pieces a signal is
    cut into, this is the signal's ``cov`` of :func:`correlation_from_covariance` in float64
    (exact up to float64 rounding while the mean is not many orders of magnitude above the
    spread, as for high-passed EEG).

    Parameters
    ----------
    sums : array, shape (n, c)
        µV.
    cross : array, shape (n, c, c)
        µV².
    n_samples : int
        Samples summed.

    Returns
    -------
    ndarray, float64, shape (n, c, c)
        µV².
    """
    sums = np.asarray(sums, dtype=np.float64)
    return np.asarray(cross, dtype=np.float64) - sums[:, :, None] * sums[:, None, :] / n_samples


def synchrony(corr):
    """Global synchrony of a correlation matrix.

    Parameters
    ----------
    corr : array, shape (n, c, c)
        Correlation matrices.

    Returns
    -------
    mean_abs : ndarray, shape (n,)
        Mean absolute off-diagonal correlation, in [0, 1].
    eig_frac : ndarray, shape (n,)
        Largest eigenvalue over ``c`` [4]_: ``1 / c`` for independent channels, 1 when all are
        perfectly (anti-)correlated.

    Examples
    --------
    >>> import numpy as np
    >>> corr = np.array([[[1.0, 0.5], [0.5, 1.0]]])
    >>> mean_abs, eig_frac = synchrony(corr)
    >>> float(mean_abs[0]), float(eig_frac[0])
    (0.5, 0.75)
    """
    corr = np.asarray(corr, dtype=np.float64)
    eig = np.linalg.eigvalsh(corr)[:, -1] / corr.shape[-1]
    return _mean_abs_offdiag(corr), eig


def _mean_abs_offdiag(corr):
    """``synchrony(corr)[0]`` without the eigenvalues."""
    corr = np.asarray(corr, dtype=np.float64)
    off = ~np.eye(corr.shape[-1], dtype=bool)
    return np.abs(corr[:, off]).mean(axis=-1)


def correlation_from_csd(csd):
    """Correlation matrix from a band-summed cross-spectral matrix: ``Re S_ij / sqrt(S_ii S_jj)``.

    By Parseval this is the zero-lag correlation of the band-filtered signals (Welch estimate).

    Parameters
    ----------
    csd : array, complex, shape (n, c, c)
        Cross-spectral matrix summed over the bins of a band.

    Returns
    -------
    ndarray, float64, shape (n, c, c)
        In [-1, 1]; 0 for a flat channel, 1 on the diagonal.
    """
    p = np.real(np.diagonal(csd, axis1=1, axis2=2))
    scale = np.sqrt(np.maximum(p, 0.0))
    ok = scale > 1e-12 * (1.0 + scale.max(axis=-1, keepdims=True))
    inv = np.where(ok, 1.0 / np.where(ok, scale, 1.0), 0.0)
    corr = np.clip(np.real(csd) * inv[:, :, None] * inv[:, None, :], -1.0, 1.0)
    idx = np.arange(csd.shape[1])
    corr[:, idx, idx] = 1.0
    return corr


@register("spatial", spans=("50s", "10s"))
def compute(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Spatial family.

    Features (``{pair}`` in LLRL, LPRP, LR; ``{band}`` in :data:`BANDS`):

    - ``spatial_asym_{band}_{pair}`` / ``spatial_absasym_{band}_{pair}``: signed / absolute
      :func:`asymmetry_index` of the summed band power of the left and right chains;
      ``..._maxpair``: the homologous derivation pair with the largest absolute index.
    - ``spatial_deltacoh_{pair}``: delta (0.5–4 Hz) power-weighted coherence
      (:func:`coherence_from_csd`) of homologous derivations, mean over pairs;
      ``spatial_deltacorr_{pair}``: their delta-band correlation ``Re sum Sxy / sqrt(sum Sxx
      sum Syy)`` (:func:`correlation_from_csd`, the zero-lag correlation of the delta-filtered
      signals); ``spatial_corr_{pair}``: broadband Pearson correlation. Cross-spectra are
      computed on the derivations decimated to 40 Hz (:func:`boxcar_decimate`).
    - ``spatial_sync_{all|L|R}``: mean absolute correlation between derivations (within the
      group); ``spatial_synceig_all``: largest-eigenvalue fraction; ``spatial_deltasync_all``:
      mean absolute delta-band correlation.
    - ``spatial_apgrad_{band}_{L|R|all}``: ``log10`` of frontopolar over occipital band power.
    """
    return columns(ctx)


def columns(ctx: FeatureContext, corr=None, delta_csd=None) -> dict[str, np.ndarray]:
    """The spatial family's columns of one span (:func:`compute`), given what is already known.

    Parameters
    ----------
    ctx : FeatureContext
        The span's windows (its derivations and Welch PSDs).
    corr : array, shape (n, 18, 18), optional
        :func:`correlation_matrix` of ``ctx.bipolar`` (or equal to it up to rounding, e.g. from
        pooled moments: :func:`covariance_from_moments`); computed when None.
    delta_csd : array, complex128, shape (n, 18, 18, f), optional
        :func:`cross_spectral_matrix` of the delta-band bins (``0.5 <= f < 4`` Hz) of the
        :func:`segment_ffts` of the derivations decimated by :func:`delta_factor`
        (:func:`boxcar_decimate`), or equal to it up to rounding; computed when None.

    Returns
    -------
    dict
        Name -> (n,) values, as :func:`compute`.
    """
    s = ctx.span
    x = ctx.bipolar
    freqs, psd = ctx.psd
    out = {}
    power = {b: band_power(freqs, psd, rng) for b, rng in BANDS.items()}  # (n, 18) µV²
    for b, p in power.items():
        for pair, idx in HOMOLOGOUS.items():
            ai = asymmetry_index(p[:, idx[:, 0]].sum(axis=1), p[:, idx[:, 1]].sum(axis=1))
            out[f"spatial_asym_{b}_{pair}_{s}"] = ai
            out[f"spatial_absasym_{b}_{pair}_{s}"] = np.abs(ai)
        pairs = HOMOLOGOUS["LR"]
        ai = asymmetry_index(p[:, pairs[:, 0]], p[:, pairs[:, 1]])
        j = np.argmax(np.abs(ai), axis=1)[:, None]
        out[f"spatial_asym_{b}_maxpair_{s}"] = np.take_along_axis(ai, j, axis=1)[:, 0]
        out[f"spatial_absasym_{b}_maxpair_{s}"] = np.abs(out[f"spatial_asym_{b}_maxpair_{s}"])
    csd = delta_csd
    if csd is None:
        q = delta_factor(ctx.fs)
        fd, spectra = segment_ffts(boxcar_decimate(x, q), ctx.fs / q, fmax=BANDS["delta"][1])
        sel = (fd >= BANDS["delta"][0]) & (fd < BANDS["delta"][1])
        csd = cross_spectral_matrix(spectra[..., sel])  # (n, 18, 18, f)
    auto = np.real(np.diagonal(csd, axis1=1, axis2=2))  # (n, f, 18)
    auto = auto.transpose(0, 2, 1)  # (n, 18, f)
    coh = coherence_from_csd(csd, auto[:, :, None, :], auto[:, None, :, :])
    delta_corr = correlation_from_csd(csd.sum(axis=-1))
    if corr is None:
        corr = correlation_matrix(x)
    for pair, idx in HOMOLOGOUS.items():
        out[f"spatial_deltacoh_{pair}_{s}"] = coh[:, idx[:, 0], idx[:, 1]].mean(axis=1)
        out[f"spatial_deltacorr_{pair}_{s}"] = delta_corr[:, idx[:, 0], idx[:, 1]].mean(axis=1)
        out[f"spatial_corr_{pair}_{s}"] = corr[:, idx[:, 0], idx[:, 1]].mean(axis=1)
    mean_abs, eig = synchrony(corr)
    out[f"spatial_sync_all_{s}"] = mean_abs
    for h in ("L", "R"):
        g = _GROUPS[h]
        out[f"spatial_sync_{h}_{s}"] = _mean_abs_offdiag(corr[:, g][:, :, g])
    out[f"spatial_synceig_all_{s}"] = eig
    out[f"spatial_deltasync_all_{s}"] = _mean_abs_offdiag(delta_corr)
    for b, p in power.items():
        for h in ("L", "R", "all"):
            ant = p[:, ANTERIOR[h]].sum(axis=1)
            post = p[:, POSTERIOR[h]].sum(axis=1)
            tiny = 1e-12 * (1.0 + ant + post)
            out[f"spatial_apgrad_{b}_{h}_{s}"] = np.log10((ant + tiny) / (post + tiny))
    return out
