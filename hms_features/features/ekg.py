"""EKG features: heart rate, its variability, and QRS leakage into the EEG.

The HMS recordings carry one EKG channel. Heart rate and its variability reflect the patient's
autonomic state (ictal tachycardia), and the QRS complex often leaks into the scalp derivations
as sharp periodic transients at the heart rate, which can mimic periodic discharges: leakage
indicators let a model discount them.

R-peak detection (vectorised over windows, Pan-Tompkins style [1]_): the EKG is differentiated
and squared, smoothed with a 100 ms moving average, and R peaks are the samples that are the
maximum of this energy within +-250 ms (at most 240 bpm) and exceed 30 % of its 99th percentile;
each is then moved to the largest absolute EKG deflection within +-50 ms (the R-wave apex).
RR intervals outside 0.25-2 s (30-240 bpm) are discarded as missed or spurious beats.

References
----------
.. [1] Pan J., Tompkins W. J. (1985). A real-time QRS detection algorithm. IEEE Trans Biomed Eng
   32(3), 230-236.
.. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from .base import FeatureContext, chain_groups, register

__all__ = ["detect_r_peaks", "heart_rate_stats", "qrs_leakage", "RR_RANGE_S", "MIN_INTERVALS"]

#: Plausible RR intervals, s (240 to 30 bpm).
RR_RANGE_S = (0.25, 2.0)
#: Fewer plausible RR intervals than this in a window make its heart rate invalid.
MIN_INTERVALS = 5
#: An RR interval is regular when within this fraction of the window's median RR.
REGULAR_TOLERANCE = 0.2
#: Windows with a smaller fraction of regular RR intervals are invalid (noise, not an EKG).
MIN_REGULAR = 0.5
#: Half-width of the neighbourhood an R peak must dominate, s (the refractory period).
REFRACTORY_S = 0.25
#: Half-width of the search for the R-wave apex around an energy peak, s.
REFINE_S = 0.05
#: Energy smoothing window, s.
SMOOTH_S = 0.1
#: Detection threshold, as a fraction of the 99th percentile of the energy.
THRESHOLD = 0.3
#: Windows per block of :func:`qrs_leakage`.
LEAK_WINDOWS = 2
#: Half-width of the window around each R peak used by the leakage ratio, s.
QRS_HALF_WIDTH_S = 0.05


def detect_r_peaks(ekg, fs):
    """Boolean mask of R peaks (see the module docstring for the method).

    Parameters
    ----------
    ekg : array, shape (n, n_samples)
        EKG, µV (polarity does not matter). Read-only arrays are fine.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray of bool, shape (n, n_samples)
        True at detected beats. A flat or all-zero channel has none.

    References
    ----------
    .. [1] Pan J., Tompkins W. J. (1985). A real-time QRS detection algorithm. IEEE Trans Biomed
       Eng 32(3), 230-236.

    Examples
    --------
    Beats every 0.75 s (80 bpm) in 30 s of EKG:

    >>> import numpy as np
    >>> ekg = np.random.default_rng(0).standard_normal((1, 6000))
    >>> ekg[0, 100::150] += 1000.0
    >>> peaks = detect_r_peaks(ekg, fs=200.0)
    >>> int(peaks.sum()), np.flatnonzero(peaks[0])[:3].tolist()
    (40, [100, 250, 400])
    """
    x = np.asarray(ekg, dtype=np.float64)
    d = np.diff(x, axis=-1, prepend=x[..., :1])
    energy = uniform_filter1d(d * d, size=max(1, int(round(SMOOTH_S * fs))), axis=-1)
    neighbourhood = 2 * int(round(REFRACTORY_S * fs)) + 1
    local_max = maximum_filter1d(energy, size=neighbourhood, axis=-1)
    previous = np.concatenate([np.full_like(energy[..., :1], -np.inf), energy[..., :-1]], axis=-1)
    level = np.quantile(energy, 0.99, axis=-1, keepdims=True)
    found = (energy == local_max) & (energy > previous) & (energy > THRESHOLD * level) & (level > 0)
    # The smoothed energy is flat-topped over the QRS, so noise moves its maximum by tens of ms:
    # put each beat on the largest |EKG| deflection within +-REFINE_S of it instead.
    row, col = np.nonzero(found)
    half = int(round(REFINE_S * fs))
    around = np.clip(col[:, None] + np.arange(-half, half + 1), 0, x.shape[-1] - 1)
    deflection = np.abs(x - x.mean(axis=-1, keepdims=True))
    best = np.argmax(deflection[row[:, None], around], axis=1)
    peaks = np.zeros(found.shape, dtype=bool)
    peaks[row, around[np.arange(len(col)), best]] = True
    return peaks


def heart_rate_stats(peaks, fs, rr_range=RR_RANGE_S, min_intervals=MIN_INTERVALS):
    """Heart rate and variability from an R-peak mask, vectorised over windows.

    Only plausible RR intervals (``rr_range``) between consecutive peaks count; RMSSD uses only
    successive pairs of plausible intervals [2]_.

    Parameters
    ----------
    peaks : array of bool, shape (n, n_samples)
        From :func:`detect_r_peaks`.
    fs : float
        Hz.
    rr_range : (float, float)
        s.
    min_intervals : int
        Windows with fewer plausible intervals are invalid.

    Returns
    -------
    dict of ndarray, shape (n,)
        ``hr`` (60 / median RR, bpm), ``sdnn`` (sample standard deviation of RR, ms), ``rmssd``
        (root mean square of successive RR differences, ms), ``nbeats`` (peaks per minute, any
        interval), ``rrregular`` (fraction of plausible intervals within 20 % of the median; 0
        without any), ``valid`` (1.0 when there are at least ``min_intervals`` plausible intervals
        and at least half are regular, else 0.0). Invalid windows get ``hr = sdnn = rmssd = 0``.

    References
    ----------
    .. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of
       measurement, physiological interpretation and clinical use. Circulation 93, 1043-1065.

    Examples
    --------
    >>> import numpy as np
    >>> peaks = np.zeros((1, 6000), dtype=bool)
    >>> peaks[0, 100::150] = True  # one beat every 0.75 s
    >>> stats = heart_rate_stats(peaks, fs=200.0)
    >>> float(stats["hr"][0]), float(stats["rmssd"][0]), float(stats["valid"][0])
    (80.0, 0.0, 1.0)
    """
    peaks = np.asarray(peaks, dtype=bool)
    n, n_samples = peaks.shape
    row, col = np.nonzero(peaks)  # row-major: sorted by window, then time
    same = row[1:] == row[:-1]
    rr = np.diff(col) / fs
    ok = same & (rr >= rr_range[0]) & (rr <= rr_range[1])
    rr_row, rr_val = row[1:][ok], rr[ok]
    count = np.bincount(rr_row, minlength=n)
    # median per window: sort by (window, rr) and pick the middle element(s)
    order = np.lexsort((rr_val, rr_row))
    sorted_rr = rr_val[order]
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    lo = start + np.maximum(count - 1, 0) // 2
    hi = start + count // 2
    med = np.zeros(n)
    if len(sorted_rr):
        last = len(sorted_rr) - 1
        mid = 0.5 * (sorted_rr[np.minimum(lo, last)] + sorted_rr[np.minimum(hi, last)])
        med = np.where(count > 0, mid, 0.0)
    s1 = np.bincount(rr_row, weights=rr_val, minlength=n)
    s2 = np.bincount(rr_row, weights=rr_val**2, minlength=n)
    mean = s1 / np.maximum(count, 1)
    var = np.maximum(s2 - count * mean**2, 0.0) / np.maximum(count - 1, 1)
    # successive differences: consecutive plausible intervals of the same window
    idx = np.flatnonzero(ok)
    succ = (np.diff(idx) == 1) & (rr_row[1:] == rr_row[:-1])
    ssd = np.diff(rr_val)[succ]
    ssd_row = rr_row[1:][succ]
    n_ssd = np.bincount(ssd_row, minlength=n)
    rmssd = np.sqrt(np.bincount(ssd_row, weights=ssd**2, minlength=n) / np.maximum(n_ssd, 1))
    near_median = np.abs(rr_val - med[rr_row]) <= REGULAR_TOLERANCE * med[rr_row]
    regular = np.bincount(rr_row, weights=near_median, minlength=n) / np.maximum(count, 1)
    valid = (count >= min_intervals) & (regular >= MIN_REGULAR)
    hr = np.where(valid & (med > 0), 60.0 / np.where(med > 0, med, 1.0), 0.0)
    return {
        "hr": hr,
        "sdnn": np.where(valid, np.sqrt(var) * 1e3, 0.0),
        "rmssd": np.where(valid, rmssd * 1e3, 0.0),
        "nbeats": np.bincount(row, minlength=n) * (60.0 * fs / n_samples),
        "rrregular": regular,
        "valid": valid.astype(np.float64),
    }


def qrs_leakage(eeg, ekg, peaks, fs):
    """How much of the EKG shows up in each EEG channel.

    - ``corr``: absolute Pearson correlation of each channel with the EKG;
    - ``ratio``: mean ``|eeg|`` within +-50 ms of the R peaks over mean ``|eeg|`` overall (1 when
      the EEG ignores the heartbeat, > 1 with QRS leakage; 1 without peaks: fill value).

    Parameters
    ----------
    eeg : array, shape (n, c, n_samples)
        EEG (e.g. bipolar derivations), µV.
    ekg : array, shape (n, n_samples)
        µV.
    peaks : array of bool, shape (n, n_samples)
        From :func:`detect_r_peaks`.
    fs : float
        Hz.

    Returns
    -------
    corr, ratio : ndarray, float64, shape (n, c)
        Flat channels give correlation 0 and ratio 1.
    """
    eeg = np.asarray(eeg)
    e = np.asarray(ekg, dtype=np.float32)
    e = e - e.mean(axis=-1, keepdims=True)
    half = int(round(QRS_HALF_WIDTH_S * fs))
    near = maximum_filter1d(np.asarray(peaks, dtype=np.uint8), size=2 * half + 1, axis=-1)
    near = near.astype(np.float32)
    cov, sumsq, near_sum, overall = (np.empty(eeg.shape[:2]) for _ in range(4))
    # LEAK_WINDOWS windows at a time: the centred copy of a block stays in cache (a chunk's is
    # ~23 MB); every product and sum below is per window, so the values are the same
    for a in range(0, eeg.shape[0], LEAK_WINDOWS):
        w = slice(a, a + LEAK_WINDOWS)
        x = np.empty(eeg[w].shape, np.float32)  # C order for the matmul
        np.subtract(eeg[w], np.mean(eeg[w], axis=-1, keepdims=True), out=x)
        cov[w] = np.matmul(x, e[w, :, None])[..., 0]
        sumsq[w] = np.einsum("nct,nct->nc", x, x, dtype=np.float64)
        amp = np.abs(x, out=x)  # x is not needed any more
        near_sum[w] = np.matmul(amp, near[w, :, None])[..., 0]
        overall[w] = amp.mean(axis=-1, dtype=np.float64)
    sx = np.sqrt(sumsq)
    se = np.sqrt(np.einsum("nt,nt->n", e, e, dtype=np.float64))[:, None]
    den = sx * se
    ok = den > 1e-12 * (1.0 + den.max(initial=0.0))
    corr = np.where(ok, np.abs(cov) / np.where(ok, den, 1.0), 0.0)
    n_near = near.sum(axis=-1)[:, None]
    near_mean = near_sum / np.maximum(n_near, 1)
    good = (n_near > 0) & (overall > 1e-12 * (1.0 + overall.max(initial=0.0)))
    ratio = np.where(good, near_mean / np.where(good, overall, 1.0), 1.0)
    return np.clip(corr, 0.0, 1.0), ratio


@register("ekg", spans=("50s",))
def compute(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """EKG family: ``ekg_{hr|sdnn|rmssd|nbeats|rrregular|valid}_all_{span}`` and leakage indicators
    ``ekg_leakcorr_{max|mean}_{span}`` / ``ekg_leakratio_{max|mean}_{span}`` over the 18
    bipolar derivations (see :func:`heart_rate_stats`, :func:`qrs_leakage` for units and fills);
    on a partial recording (``compute_features(present=...)``) over the present derivations.
    """
    peaks = detect_r_peaks(ctx.ekg, ctx.fs)
    stats = heart_rate_stats(peaks, ctx.fs)
    s = ctx.span
    out = {f"ekg_{k}_all_{s}": v for k, v in stats.items()}
    present = chain_groups()["all"]  # a partial recording: the derivations that exist only
    bip = ctx.bipolar if len(present) == ctx.bipolar.shape[1] else ctx.bipolar[:, present]
    corr, ratio = qrs_leakage(bip, ctx.ekg, peaks, ctx.fs)
    out[f"ekg_leakcorr_max_{s}"] = corr.max(axis=1)
    out[f"ekg_leakcorr_mean_{s}"] = corr.mean(axis=1)
    out[f"ekg_leakratio_max_{s}"] = ratio.max(axis=1)
    out[f"ekg_leakratio_mean_{s}"] = ratio.mean(axis=1)
    return out
