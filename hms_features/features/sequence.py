"""Sequences of features for the LSTM embedder (``LSTMEmbedder``); the ``seq`` family.

Two builders turn one label's windows into a short sequence of cheap feature vectors
``(n_windows, T, d)`` float32, so that an LSTM can see how the EEG evolves over the window:

* :func:`subwindow_sequence` cuts the 50 s EEG window into consecutive sub-windows (5 s by
  default: ``T = 10``) and describes each by log band powers and log line length of the
  double-banana bipolar montage, averaged per chain (LL, LP, RP, RL, C);
* :func:`spectrogram_sequence` averages the 10 min Kaggle spectrogram (``(n, 300, 400)``, one row
  per 2 s) into frames (30 frames of 20 s by default) and gives log band powers per chain (LL, RL,
  LP, RP).

Both are pure, vectorised numpy functions, NaN-safe (missing samples / cells are ignored; a
sub-window or frame with no data at all gives NaN, which the embedder's standardisation turns into
the training mean), and accept read-only input. :func:`sequence_table` flattens a sequence into a
DataFrame with step-major columns (``seq.reshape(n, -1)`` with names), the 2-D form that
``LSTMEmbedder(n_steps=T)`` reads inside a scikit-learn pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..signal import (
    CHAINS,
    EEG_COLUMNS,
    FS,
    SPEC_CHAINS,
    SPEC_FMAX,
    SPEC_FREQS,
    SPEC_STEP_S,
    bipolar,
    log_power,
    segment_spectra,
)
from .base import FeatureContext, chain_groups, register, select_bands

__all__ = ["BANDS", "SUBWINDOW_CHAINS", "SEQ_STEP_S", "subwindow_sequence",
           "spectrogram_sequence", "sequence_table", "compute_seq"]

#: Default bands of both sequences, Hz, half-open ``[low, high)``: delta to beta of
#: :data:`hms_features.features.base.BANDS` clipped at the spectrogram's top
#: (:data:`~hms_features.signal.SPEC_FMAX`, beta 13-20 Hz), so that the EEG and the spectrogram
#: sequences describe the same bands. As ``(name, low, high)`` triples (a mapping
#: ``name -> (low, high)`` is accepted too).
BANDS = tuple((name, lo, hi) for name, (lo, hi) in
              select_bands(["delta", "theta", "alpha", "beta"], fmax=SPEC_FMAX).items())
#: Bipolar chains averaged by :func:`subwindow_sequence`, in output order.
SUBWINDOW_CHAINS = tuple(CHAINS)


def _check_bands(bands, nyquist: float, where: str):
    """Bands as ``(name, low, high)`` triples, from a mapping ``name -> (low, high)`` or triples."""
    if isinstance(bands, dict):
        bands = tuple((name, lo, hi) for name, (lo, hi) in bands.items())
    bands = tuple(tuple(b) for b in bands)
    if not bands:
        raise ValueError(f"{where}: bands is empty; expected (name, low_hz, high_hz) triples")
    for band in bands:
        if len(band) != 3 or not 0 <= band[1] < band[2] <= nyquist:
            raise ValueError(
                f"{where}: band {band!r}; expected (name, low_hz, high_hz) with "
                f"0 <= low < high <= {nyquist:g} Hz"
            )
    return bands


def _fmt(x: float) -> str:
    return f"{x:g}"


def subwindow_sequence(
    eeg: np.ndarray,
    fs: float = FS,
    step_s: float = 5.0,
    bands=BANDS,
    eps: float = 1e-6,
    relative: bool = True,
    chunk: int = 8,
    return_names: bool = False,
):
    """Per-sub-window log band powers and line length of the bipolar montage.

    The window is cut into ``T = n_samples // round(step_s * fs)`` consecutive, non-overlapping
    sub-windows (trailing samples that do not fill one are dropped). In each sub-window and each
    of the 18 bipolar derivations (:func:`hms_features.signal.bipolar`):

    * the mean is removed and a periodic Hann-windowed periodogram computed — the one-sided PSD
      of :func:`scipy.signal.periodogram` with ``window="hann", detrend="constant",
      scaling="density"`` (µV²/Hz); band power is the sum of the PSD over bins with
      ``low <= f < high`` times the bin width ``fs / L`` (µV²);
    * line length is the mean absolute first difference (µV per sample).

    Both are averaged over the derivations of each chain (``LL, LP, RP, RL, C``) and logged:
    ``log(power + eps)``, ``log(line_length + eps)`` (natural log). With ``relative=True``
    (default) the band log-powers are replaced by log relative powers
    ``log(power_b + eps) - log(total + eps)``, ``total = sum_b power_b``, followed by
    ``log(total + eps)`` — the same information, in a form that separates spectral shape from
    amplitude (on the synthetic benchmark it lowered an LSTM's cross-validated KL from 1.09 to
    1.00).

    NaN samples are ignored: the mean and line length use the valid samples only, NaN is set to 0
    after removing the mean and the power is scaled by ``L / n_valid``; derivations without any
    valid sample are left out of their chain's average, and a chain without any gives NaN.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples)
        Referential EEG in µV, channels in :data:`~hms_features.signal.EEG_COLUMNS` order.
    fs : float
        Sampling rate, Hz.
    step_s : float
        Sub-window length, seconds.
    bands : dict name -> (low_hz, high_hz), or sequence of (name, low_hz, high_hz)
        Frequency bands, Hz; default :data:`BANDS` (delta, theta, alpha, beta 13-20 Hz).
    eps : float
        Added before the logarithm (µV² for power, µV for line length).
    relative : bool
        Relative band powers plus total power (default) instead of absolute band powers.
    chunk : int
        Windows processed per vectorised block (bounds memory; no effect on the result).
    return_names : bool
        Also return the ``d`` feature names.

    Returns
    -------
    seq : ndarray of float32, shape (n_windows, T, d)
        Per chain: ``relative=True``: the band log relative powers, the log total power and the
        log line length (``d = 5 * (len(bands) + 2)``, 30 by default); ``relative=False``: the
        band log-powers and the log line length (``d = 5 * (len(bands) + 1)``).
    names : list of str, only if ``return_names``
        ``seq_logrelpower_{band}_{chain}_{step}s``, ``seq_logpower_total_{chain}_{step}s``
        (or ``seq_logpower_{band}_{chain}_{step}s``) and ``seq_loglinelength_{chain}_{step}s``.

    References
    ----------
    P. Welch, "The use of fast Fourier transform for the estimation of power spectra", IEEE
    Trans. Audio Electroacoust. 15(2), 1967 (periodogram scaling). R. Esteller et al., "Line
    length: an efficient feature for seizure onset detection", IEEE EMBS 2001.

    Examples
    --------
    >>> import numpy as np
    >>> eeg = np.random.default_rng(0).standard_normal((2, 20, 10000)).astype(np.float32)
    >>> seq, names = subwindow_sequence(eeg, return_names=True)
    >>> seq.shape, names[:2]
    ((2, 10, 30), ['seq_logrelpower_delta_LL_5s', 'seq_logrelpower_theta_LL_5s'])
    """
    eeg = np.asarray(eeg)
    if eeg.ndim != 3 or eeg.shape[1] != len(EEG_COLUMNS):
        raise ValueError(
            f"subwindow_sequence: eeg must have shape (n_windows, {len(EEG_COLUMNS)}, n_samples) "
            f"with channels {EEG_COLUMNS}; got {eeg.shape}"
        )
    if not fs > 0:
        raise ValueError(f"subwindow_sequence: fs={fs!r}; expected a positive rate in Hz")
    L = int(round(step_s * fs))
    n, _, n_samples = eeg.shape
    if L < 2 or n_samples // L < 1:
        raise ValueError(
            f"subwindow_sequence: step_s={step_s} s at fs={fs} Hz gives {L} samples per "
            f"sub-window; need 2 <= that <= n_samples ({n_samples})"
        )
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"subwindow_sequence: chunk={chunk!r}; expected a positive integer")
    bands = _check_bands(bands, fs / 2, "subwindow_sequence")
    T = n_samples // L

    fmax = max(hi for _, _, hi in bands)  # bins above the highest band are never needed
    freqs = np.fft.rfftfreq(L, d=1.0 / fs)
    freqs = freqs[freqs <= fmax]
    masks = np.stack([(freqs >= lo) & (freqs < hi) for _, lo, hi in bands]).astype(np.float64)
    band_op = (masks * (fs / L)).T  # (n_freqs, n_bands): band power = sum of PSD bins * df

    groups = chain_groups()
    member = np.zeros((len(SUBWINDOW_CHAINS), 18))
    for k, chain in enumerate(SUBWINDOW_CHAINS):
        member[k, groups[chain]] = 1.0

    nb = len(bands)
    band_op = band_op.astype(np.float32)
    out = np.empty((n, T, len(SUBWINDOW_CHAINS), nb + 1), dtype=np.float32)
    for start in range(0, n, chunk):
        x = bipolar(eeg[start : start + chunk, :, : T * L]).astype(np.float32, copy=False)
        x = x.reshape(x.shape[0], 18, T, L)
        valid = np.isfinite(x)
        if valid.all():  # fast path: no gaps
            n_valid = np.full(x.shape[:-1], L)
            x0 = x - x.mean(axis=-1, keepdims=True)
            ll = np.abs(np.diff(x, axis=-1)).mean(axis=-1)
            n_d = n_valid - 1
        else:
            n_valid = valid.sum(axis=-1)  # (b, 18, T)
            x0 = np.where(valid, x, np.float32(0))
            mean = x0.sum(axis=-1, dtype=np.float64) / np.maximum(n_valid, 1)
            x0 = np.where(valid, x0 - mean[..., None].astype(np.float32), np.float32(0))
            d = np.abs(np.diff(x, axis=-1))
            d_ok = np.isfinite(d)
            n_d = d_ok.sum(axis=-1)
            ll = np.where(d_ok, d, 0.0).sum(axis=-1, dtype=np.float64) / np.maximum(n_d, 1)
        # one periodogram per sub-window: segments of L samples, hop L (µV²/Hz)
        _, psd = segment_spectra(x0.reshape(x0.shape[0], 18, T * L), fs, L / fs, L / fs,
                                 fmax=fmax)
        power = psd @ band_op  # (b, 18, T, nb)
        power *= (L / np.maximum(n_valid, 1))[..., None].astype(np.float32)

        feats = np.concatenate([power, ll[..., None].astype(np.float32)], axis=-1)
        ok = np.concatenate(
            [np.broadcast_to((n_valid > 0)[..., None], power.shape), (n_d > 0)[..., None]],
            axis=-1,
        )
        num = np.einsum("kc,bctf->btkf", member, np.where(ok, feats, 0.0))
        den = np.einsum("kc,bctf->btkf", member, ok.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            chain_mean = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        out[start : start + chunk] = log_power(chain_mean, eps, base=np.e)

    span = _fmt(L / fs)
    if relative:
        out = _relative(out, nb, eps)
        per_chain = [f"seq_logrelpower_{b[0]}" for b in bands] + ["seq_logpower_total"]
    else:
        per_chain = [f"seq_logpower_{b[0]}" for b in bands]
    seq = out.reshape(n, T, -1)
    if not return_names:
        return seq
    names = [
        name
        for chain in SUBWINDOW_CHAINS
        for name in [f"{p}_{chain}_{span}s" for p in per_chain]
        + [f"seq_loglinelength_{chain}_{span}s"]
    ]
    return seq, names


def _relative(logs: np.ndarray, nb: int, eps: float) -> np.ndarray:
    """``[log p_1 .. log p_nb, rest...]`` (last axis) -> ``[log p_b - log P, log P, rest...]``.

    ``log p_b`` is ``log(p_b + eps)``; ``P = sum_b p_b`` and ``log P`` is ``log(P + eps)``.
    """
    power = np.exp(logs[..., :nb].astype(np.float64)) - eps
    log_total = log_power(power.sum(axis=-1, keepdims=True), eps, base=np.e)
    rel = logs[..., :nb] - log_total
    return np.concatenate([rel, log_total, logs[..., nb:]], axis=-1).astype(np.float32)


def spectrogram_sequence(
    spec: np.ndarray,
    frames: int = 30,
    bands=BANDS,
    eps: float = 1e-3,
    relative: bool = True,
    step_s: float = SPEC_STEP_S,
    return_names: bool = False,
):
    """Log band power per chain in consecutive frames of a Kaggle spectrogram window.

    The ``m`` rows (one per ``step_s`` = 2 s) are split into ``frames`` consecutive frames with
    boundaries ``floor(linspace(0, m, frames + 1) + 0.5)`` (300 rows and 30 frames: 20 s each).
    For each frame, chain (the four 100-column blocks LL, RL, LP, RP of
    :data:`~hms_features.signal.SPEC_COLUMNS`) and band, the value is ``log(mean + eps)`` where
    ``mean`` averages every finite cell of the frame's rows and of the chain's bins whose centre
    frequency ``(k + 3) * 200 / 1024`` Hz lies in ``[low, high)`` — an average power per bin in the
    spectrogram's own units. Frames without any finite cell in a band give NaN. With
    ``relative=True`` (default) each chain's band values become ``log(mean_b + eps) -
    log(total + eps)`` with ``total = sum_b mean_b``, followed by ``log(total + eps)``.

    Parameters
    ----------
    spec : array, shape (n_windows, m, 400)
        Spectrogram windows as ``HMSDataset.spectrogram_windows`` returns them.
    frames : int
        Number of frames ``T`` (1 <= frames <= m).
    bands : dict name -> (low_hz, high_hz), or sequence of (name, low_hz, high_hz)
        Frequency bands, Hz; default :data:`BANDS`. Each must contain at least one bin
        (bins span 0.59–19.92 Hz).
    eps : float
        Added before the natural logarithm, in the spectrogram's units.
    relative : bool
        Relative band values plus the total (default) instead of absolute band values.
    step_s : float
        Seconds per spectrogram row (2 s in the Kaggle files); only used for the names.
    return_names : bool
        Also return the ``d`` feature names.

    Returns
    -------
    seq : ndarray of float32, shape (n_windows, frames, d)
        Chain-major: all values of LL, then RL, LP, RP; ``d = 4 * (len(bands) + 1)`` (20 by
        default) with ``relative=True``, else ``4 * len(bands)``.
    names : list of str, only if ``return_names``
        ``specseq_logrelpower_{band}_{chain}_{frame}s`` and ``specseq_logpower_total_{chain}_
        {frame}s`` (or ``specseq_logpower_{band}_{chain}_{frame}s``).

    Examples
    --------
    >>> import numpy as np
    >>> spec = np.ones((1, 300, 400), np.float32)
    >>> seq, names = spectrogram_sequence(spec, return_names=True)
    >>> seq.shape, names[4]
    ((1, 30, 20), 'specseq_logpower_total_LL_20s')
    """
    spec = np.asarray(spec)
    n_bins = len(SPEC_FREQS)
    if spec.ndim != 3 or spec.shape[2] != len(SPEC_CHAINS) * n_bins:
        raise ValueError(
            f"spectrogram_sequence: spec must have shape (n_windows, n_rows, "
            f"{len(SPEC_CHAINS) * n_bins}) with columns SPEC_COLUMNS; got {spec.shape}"
        )
    n, m, _ = spec.shape
    if not (isinstance(frames, (int, np.integer)) and 1 <= frames <= m):
        raise ValueError(
            f"spectrogram_sequence: frames={frames!r}; expected an integer in 1..{m} (rows)"
        )
    bands = _check_bands(bands, 100.0, "spectrogram_sequence")
    freqs = np.asarray(SPEC_FREQS)
    masks = np.stack([(freqs >= lo) & (freqs < hi) for _, lo, hi in bands]).astype(np.float64)
    empty = np.flatnonzero(masks.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"spectrogram_sequence: band {bands[empty[0]]!r} contains no spectrogram bin "
            f"(bins span {freqs[0]:.2f}-{freqs[-1]:.2f} Hz)"
        )
    x = spec.reshape(n, m, len(SPEC_CHAINS), n_bins)
    ok = np.isfinite(x)
    sums = np.where(ok, x, 0.0).astype(np.float64) @ masks.T  # (n, m, 4, nb)
    counts = ok.astype(np.float64) @ masks.T
    edges = np.floor(np.linspace(0, m, frames + 1) + 0.5).astype(np.int64)
    sums = np.add.reduceat(sums, edges[:-1], axis=1)
    counts = np.add.reduceat(counts, edges[:-1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
    logs = log_power(mean, eps, base=np.e)  # (n, frames, 4, nb)
    nb = len(bands)
    if relative:
        logs = _relative(logs, nb, eps)
        per_chain = [f"specseq_logrelpower_{b[0]}" for b in bands] + ["specseq_logpower_total"]
    else:
        per_chain = [f"specseq_logpower_{b[0]}" for b in bands]
    seq = logs.astype(np.float32).reshape(n, frames, -1)
    if not return_names:
        return seq
    span = _fmt(m * step_s / frames)
    names = [f"{p}_{chain}_{span}s" for chain in SPEC_CHAINS for p in per_chain]
    return seq, names


def sequence_table(seq: np.ndarray, names, index=None) -> pd.DataFrame:
    """Flatten ``(n, T, d)`` sequences into a table with step-major columns.

    Column ``t * d + j`` holds feature ``j`` at step ``t`` and is named ``f"{names[j]}_t{t:02d}"``
    (e.g. ``seq_logpower_delta_LL_5s_t03``): exactly the layout ``LSTMEmbedder(n_steps=T)``
    reshapes back, and a common prefix (``seq_`` / ``specseq_``) selects the block.

    Parameters
    ----------
    seq : array, shape (n_windows, T, d)
    names : sequence of str, length d
        Feature names, e.g. from ``subwindow_sequence(..., return_names=True)``.
    index : array-like, optional
        Row index (e.g. the ``label_id`` of each window).

    Returns
    -------
    DataFrame, shape (n_windows, T * d)
        A copy of the values of ``seq``.

    Examples
    --------
    >>> import numpy as np
    >>> sequence_table(np.arange(8.0).reshape(1, 2, 4), ["a", "b", "c", "d"]).columns[:5].tolist()
    ['a_t00', 'b_t00', 'c_t00', 'd_t00', 'a_t01']
    """
    seq = np.asarray(seq)
    names = [str(c) for c in names]
    if seq.ndim != 3 or seq.shape[2] != len(names):
        raise ValueError(
            f"sequence_table: seq must have shape (n_windows, T, d) with d == len(names) "
            f"({len(names)}); got {seq.shape}"
        )
    columns = [f"{c}_t{t:02d}" for t in range(seq.shape[1]) for c in names]
    return pd.DataFrame(seq.reshape(seq.shape[0], -1).copy(), columns=columns, index=index)


# ===================================================================== the opt-in seq family
# Opt-in ``seq`` family: the LSTM's input sequence as feature columns.
#
# the LSTM embedder (``LSTMEmbedder``) reads a window as a short sequence of feature
# vectors. This family computes that sequence -
# :func:`subwindow_sequence` on the preprocessed 50 s window: ten 5 s
# sub-windows, each described per chain (LL, LP, RP, RL, C) by the log relative power of delta,
# theta, alpha and beta, the log total power and the log line length (30 values) - and flattens it
# step-major with
# :func:`sequence_table`, so it travels in the feature table like
# any other family: 300 columns ``seq_{measure}_{chain}_5s_t{step:02d}``, which
# ``LSTMEmbedder(n_steps=10)`` reshapes back (select them with the ``"seq_"`` prefix).
#
# Not in the ``default`` or ``fast`` sets (``register(..., default=False)``): the booster gains
# little from the raw sequence, and the columns only serve an LSTM. Ask for it by name:
# ``build_features(ds, ["spectral", ..., "seq"])`` or ``hms-features ... --feature-set
# default,seq``; ``--embedders lstm`` on the command line adds it by itself.
#
# Fill values: the preprocessed windows have no gaps, and a silent chain gives ``log(eps)``
# terms (finite), so the columns are always finite.

#: Sub-window length of the sequence, seconds (T = 50 s / 5 s = 10 steps).
SEQ_STEP_S = 5.0


@register("seq", spans=(), fast=False, default=False)
def compute_seq(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """``seq_*_t{step}`` columns: :func:`subwindow_sequence` of the whole window, step-major."""
    seq, names = subwindow_sequence(ctx.eeg, fs=ctx.fs, step_s=SEQ_STEP_S, return_names=True)
    table = sequence_table(seq, names)
    return {c: table[c].to_numpy() for c in table.columns}
