"""Statistics of the Kaggle spectrogram windows (the seed notebook's features, done right).

Each Kaggle spectrogram row holds, for the four lateral chains in file order LL, RL, LP, RP,
100 power values at ``(k + 3) * 200 / 1024`` Hz (k = 0..99, 0.59–19.92 Hz); rows are 2 s apart
and a label's window holds 300 rows (10 min) centred on the labelled 10 s.

Log power is ``ln(1 + p)`` with ``p`` clipped to [0, 3.4e38] (the float32 range, so ``inf``
stays finite): finite for zero power, monotonic, and close to ``ln p`` for the large values
typical of the files. NaN entries (missing rows, e.g. 8.65 % of some files) are
ignored by every statistic; a statistic with no finite value at all is 0 (the log power of
silence) and the NaN fraction of each time window is reported alongside.

Time windows (rows ``(m - k) // 2`` to ``(m - k) // 2 + k`` of an ``m``-row window, the same rows
:meth:`hms_features.data.HMSDataset.spectrogram_windows` cuts for the shorter spans):

- ``600s``: all 300 rows;
- ``20s``: the central 10 rows;
- ``10s``: the central 5 rows (the seed notebook's "10 s" window used 10 rows, i.e. 20 s).

References
----------
.. [1] Jing J. et al. (2024). HMS - Harmful Brain Activity Classification. Kaggle competition
   (spectrogram file layout).
.. [2] The project's seed notebook (issue 4): per chain and bin, mean and min of the log
   spectrogram power over the 10 min window and a central window labelled "10 s" that held
   10 rows (20 s).
"""

from __future__ import annotations

import numpy as np

from ..signal import SPEC_CHAINS, SPEC_COLUMNS, SPEC_FMAX, SPEC_FREQS, SPEC_STEP_S
from ..signal import log_power as _log
from .base import FeatureContext, register, select_bands

__all__ = ["SPEC_WINDOWS", "SPEC_BANDS", "log_power", "central_rows", "window_stats",
           "band_log_power", "spectrogram_features"]

#: Time windows: name -> length in s (None: the whole window).
SPEC_WINDOWS = {"600s": None, "20s": 20.0, "10s": 10.0}
#: Bands aggregated from the spectrogram bins, Hz (``lo <= f < hi``): delta to beta of
#: :data:`~.base.BANDS` clipped at the spectrogram's top, :data:`~hms_features.signal.SPEC_FMAX`
#: (the bins end at 19.92 Hz), so beta is 13-20 Hz here.
SPEC_BANDS = select_bands(["delta", "theta", "alpha", "beta"], fmax=SPEC_FMAX)

_FREQS = np.asarray(SPEC_FREQS)
#: Largest float32: power is clipped to [0, _MAX] so inf (or overflowed) entries stay finite.
_MAX = np.float32(np.finfo(np.float32).max)
_BIN_NAMES = [c.split("_", 1)[1] for c in SPEC_COLUMNS[: len(SPEC_FREQS)]]


def log_power(values):
    """``ln(1 + p)`` of spectrogram power clipped to [0, 3.4e38], NaN kept as NaN.

    The spectrogram convention of :func:`hms_features.signal.log_power` (``eps=1``, natural
    log): finite for zero power and close to ``ln p`` for the large values of the files.

    Parameters
    ----------
    values : array
        Spectrogram power (file units, µV²-like), may contain NaN.

    Returns
    -------
    ndarray, float32

    Examples
    --------
    >>> import numpy as np
    >>> log_power(np.array([0.0, np.e - 1.0, np.nan, np.inf])).round(2)
    array([ 0.  ,  1.  ,   nan, 88.72], dtype=float32)
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, _MAX)  # NaN propagates, inf -> max
    # log(1 + p) rather than log1p: numpy's float32 log is SIMD-vectorised and ~8x faster, and
    # the precision log1p adds for p < 1e-7 is irrelevant for spectrogram power.
    return _log(v, eps=1.0, base=np.e, out=v)


def central_rows(n_rows, seconds, step_s=SPEC_STEP_S):
    """Slice of the central ``seconds`` of an ``n_rows``-row window (rows ``step_s`` apart).

    Parameters
    ----------
    n_rows : int
        Rows in the window.
    seconds : float or None
        Span, s; None for all rows.
    step_s : float
        Row spacing, s.

    Returns
    -------
    slice
        ``(n_rows - k) // 2`` to ``(n_rows - k) // 2 + k``, ``k = round(seconds / step_s)``.

    Examples
    --------
    >>> central_rows(300, 10.0)  # the central 5 rows of a 10 min window
    slice(147, 152, None)
    """
    if seconds is None:
        return slice(0, n_rows)
    k = int(round(seconds / step_s))
    if not 1 <= k <= n_rows:
        raise ValueError(f"central_rows: {seconds} s is {k} rows, window has {n_rows} rows")
    start = (n_rows - k) // 2
    return slice(start, start + k)


def window_stats(logp):
    """NaN-aware mean and minimum over rows (axis 1).

    Parameters
    ----------
    logp : array, shape (n, rows, columns)
        Log power, may contain NaN.

    Returns
    -------
    mean, minimum : ndarray, float32, shape (n, columns)
        Over the finite rows; 0 where a column has no finite row (fill value).
    nan_fraction : ndarray, float32, shape (n,)
        Fraction of NaN entries in the window.
    """
    logp = np.asarray(logp, dtype=np.float32)
    # Every window through the plain reductions (NaN propagates into a column's sum and min),
    # then only the windows holding a NaN again through the NaN-aware path: the same values as
    # running the NaN-aware path on all of them, at the cost of the plain one.
    total = logp.sum(axis=1)
    mean = np.divide(total, np.float32(logp.shape[1]), dtype=np.float32)
    lowest = logp.min(axis=1)
    nan_fraction = np.zeros(logp.shape[0], np.float32)
    gaps = np.flatnonzero(np.isnan(total).any(axis=1))
    if gaps.size:
        mean[gaps], lowest[gaps], nan_fraction[gaps] = _window_stats_nan(logp[gaps])
    return mean, lowest, nan_fraction


def _window_stats_nan(logp):
    """:func:`window_stats` of windows holding NaN: statistics over the finite rows."""
    finite = ~np.isnan(logp)
    count = finite.sum(axis=1)
    total = np.where(finite, logp, np.float32(0.0)).sum(axis=1)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
    lowest = np.where(finite, logp, np.float32(np.inf)).min(axis=1)
    lowest = np.where(count > 0, lowest, 0.0).astype(np.float32)
    nan_fraction = 1.0 - count.sum(axis=-1) / float(logp.shape[1] * logp.shape[2])
    return mean, lowest, nan_fraction.astype(np.float32)


def band_log_power(values, freqs=_FREQS, bands=SPEC_BANDS, n_chains=4):
    """Log of the mean linear power over each band's bins, per chain and row.

    Parameters
    ----------
    values : array, shape (n, rows, n_chains * n_bins)
        Spectrogram power, chains in file order, may contain NaN (ignored; a row whose band bins
        are all NaN stays NaN).
    freqs : array, shape (n_bins,)
        Bin frequencies, Hz.
    bands : dict
        name -> (lo, hi) Hz.
    n_chains : int
        Chains in the file (4: LL, RL, LP, RP).

    Returns
    -------
    ndarray, float32, shape (n, rows, n_chains, n_bands)
        ``ln(1 + mean power)``.

    Examples
    --------
    A spectrogram row with power 1 in every bin gives ``ln 2`` in every band:

    >>> import numpy as np
    >>> out = band_log_power(np.ones((1, 1, 400)))
    >>> out.shape, round(float(out[0, 0, 0, 0]), 3)
    ((1, 1, 4, 4), 0.693)
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, _MAX)
    return _band_log_power(v, freqs, bands, n_chains)


def _band_log_power(v, freqs, bands, n_chains):
    """:func:`band_log_power` of power already clipped to [0, 3.4e38], float32 (not modified)."""
    n, rows, _ = v.shape
    v = v.reshape(n * rows * n_chains, len(freqs))
    freqs = np.asarray(freqs)
    member = [np.flatnonzero((freqs >= lo) & (freqs < hi)) for lo, hi in bands.values()]
    # float64 sums (100 bins of up to 3.4e38 would overflow float32), of a slice when the band's
    # bins are contiguous (they are for the Kaggle bins): no float64 copy of the whole block
    sums = np.stack([
        v[:, idx[0]:idx[-1] + 1].sum(axis=1, dtype=np.float64)
        if idx.size and idx[-1] - idx[0] + 1 == idx.size
        else v[:, idx].sum(axis=1, dtype=np.float64)
        for idx in member], axis=1)
    mean = sums / np.array([max(idx.size, 1) for idx in member], dtype=np.float64)
    # a NaN bin makes its band's sum NaN: only those rows again, averaging their finite bins
    gaps = np.flatnonzero(np.isnan(sums).any(axis=1))
    if gaps.size:
        g = v[gaps]
        finite = ~np.isnan(g)
        g[~finite] = 0.0
        total = np.stack([g[:, idx].sum(axis=1, dtype=np.float64) for idx in member], axis=1)
        cnt = np.stack([finite[:, idx].sum(axis=1) for idx in member], axis=1)
        mean[gaps] = np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)
    out = _log(mean, eps=1.0, base=np.e)
    return out.reshape(n, rows, n_chains, len(bands)).astype(np.float32)


def spectrogram_features(spec, step_s=SPEC_STEP_S, windows=SPEC_WINDOWS):
    """All spectrogram statistics of a block of windows.

    Parameters
    ----------
    spec : array, shape (n, rows, 400)
        Spectrogram windows (``SPEC_COLUMNS`` order), power, may contain NaN.
    step_s : float
        Row spacing, s.
    windows : dict
        Time-window name -> seconds (None: all rows).

    Returns
    -------
    dict
        ``spectrogram_{mean|min}_{bin}_{chain}_{window}`` (bins named as in ``SPEC_COLUMNS``,
        e.g. ``0.59``), ``spectrogram_{mean|min}_{band}_{chain}_{window}`` (band log power) and
        ``spectrogram_nanfrac_all_{window}``, each float32 of shape (n,).
    """
    spec = np.asarray(spec)
    if spec.ndim != 3 or spec.shape[2] != len(SPEC_COLUMNS):
        raise ValueError(
            f"spectrogram_features: expected shape (n, rows, {len(SPEC_COLUMNS)}), got {spec.shape}"
        )
    n, rows, _ = spec.shape
    out = {}
    n_bins = len(SPEC_FREQS)
    # SPEC_WINDOWS_BLOCK windows at a time: a block's copies stay in cache (a chunk's are
    # ~15 MB each); every statistic is per window, so the values are the same
    parts = [_block_stats(spec[a:a + SPEC_WINDOWS_BLOCK], step_s, windows)
             for a in range(0, n, SPEC_WINDOWS_BLOCK)]
    for wname in windows:
        mean, lowest, nanfrac, bmean, bmin = (
            np.concatenate([p[wname][i] for p in parts]) for i in range(5))
        for ci, chain in enumerate(SPEC_CHAINS):
            for stat, arr in (("mean", mean), ("min", lowest)):
                for k, b in enumerate(_BIN_NAMES):
                    out[f"spectrogram_{stat}_{b}_{chain}_{wname}"] = arr[:, ci * n_bins + k]
        for ci, chain in enumerate(SPEC_CHAINS):
            for stat, arr in (("mean", bmean), ("min", bmin)):
                for j, band in enumerate(SPEC_BANDS):
                    col = ci * len(SPEC_BANDS) + j
                    out[f"spectrogram_{stat}_{band}_{chain}_{wname}"] = arr[:, col]
        out[f"spectrogram_nanfrac_all_{wname}"] = nanfrac
    return out


def _block_stats(spec, step_s, windows):
    """Per time window: bin mean, minimum, NaN fraction, band mean and minimum of ``spec``."""
    n, rows, _ = spec.shape
    # one clipped copy: the band powers read it, then it becomes the log power in place
    # (log_power and band_log_power would each clip their own copy; same values)
    logp = np.clip(np.asarray(spec, dtype=np.float32), 0.0, _MAX)
    band_logp = _band_log_power(logp, _FREQS, SPEC_BANDS, 4).reshape(n, rows, -1)
    _log(logp, eps=1.0, base=np.e, out=logp)
    out = {}
    for wname, seconds in windows.items():
        rs = central_rows(rows, seconds, step_s)
        mean, lowest, nanfrac = window_stats(logp[:, rs])
        bmean, bmin, _ = window_stats(band_logp[:, rs])
        out[wname] = (mean, lowest, nanfrac, bmean, bmin)
    return out


#: Windows per block of :func:`spectrogram_features`.
SPEC_WINDOWS_BLOCK = 4


@register("spectrogram", spans=(), needs_spectrogram=True, fast=False)
def compute(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Spectrogram family (see :func:`spectrogram_features`); nothing when there is none.

    2,400 bin statistics (4 chains x 100 bins x mean/min x 3 windows), 96 band statistics and
    3 NaN fractions. Returns an empty dict when ``ctx.spectrogram`` is None (the registry decides
    whether to run the family). A spectrogram row of a chain is the mean over its four
    derivations, so on a partial recording (``compute_features(present=...)``) the columns of
    a chain that is not whole are NaN (set by the registry).
    """
    if ctx.spectrogram is None:
        return {}
    return spectrogram_features(ctx.spectrogram)
