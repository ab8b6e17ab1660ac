"""EEG channel names, montages, preprocessing and Kaggle-style spectrograms.

Channel names live here, once. Everything else in the library imports them.
:func:`eeg_to_spectrogram` computes spectrogram rows like Kaggle's from referential EEG (for the
synthetic dataset and for whole recordings, which come without a spectrogram file).

Arrays inside the library are ``(windows, channels, samples)`` float32 in µV (ARCHITECTURE.md at
the root of the repository); the sampling rate ``fs`` is always an explicit parameter (Hz), 200 Hz
by default.
"""

from __future__ import annotations

import inspect
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from types import MappingProxyType

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sps

from .validation import check_eeg, values_checked

__all__ = [
    "FS",
    "EEG_COLUMNS",
    "SCALP_CHANNELS",
    "EKG_CHANNEL",
    "CHAINS",
    "HEMISPHERES",
    "BIPOLAR_PAIRS",
    "BIPOLAR_NAMES",
    "bipolar",
    "average_reference",
    "repair_nan",
    "filter_design",
    "filter_eeg",
    "preprocess",
    "PREPROCESS_DEFAULTS",
    "QUALITY_NAMES",
    "quality_counts",
    "window_quality",
    "LOG_EPS",
    "WELCH_SEGMENT_S",
    "welch_grid",
    "segment_spectra",
    "welch_psd",
    "log_power",
    "SPEC_NFFT",
    "SPEC_CHAINS",
    "SPEC_FREQS",
    "SPEC_FMAX",
    "SPEC_COLUMNS",
    "SPEC_WINDOW_S",
    "SPEC_STEP_S",
    "eeg_to_spectrogram",
]

#: Sampling rate of the HMS EEG files, Hz.
FS = 200.0

#: The 20 columns of a Kaggle ``*_eegs/{eeg_id}.parquet`` file, in file order.
EEG_COLUMNS = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz",
    "Pz", "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2", "EKG",
)
#: The 19 scalp electrodes (10-20 system), in file order.
SCALP_CHANNELS = EEG_COLUMNS[:19]
#: The electrocardiogram column, kept apart from every montage.
EKG_CHANNEL = "EKG"

#: Double-banana chains, each a list of electrodes from front to back. The four lateral chains
#: are named as in the Kaggle spectrogram files (LL, RL, LP, RP); ``C`` is the central chain.
CHAINS = {
    "LL": ("Fp1", "F7", "T3", "T5", "O1"),
    "LP": ("Fp1", "F3", "C3", "P3", "O1"),
    "RP": ("Fp2", "F4", "C4", "P4", "O2"),
    "RL": ("Fp2", "F8", "T4", "T6", "O2"),
    "C": ("Fz", "Cz", "Pz"),
}
#: Hemispheres as unions of lateral chains (the aggregation groups ``L`` and ``R``).
HEMISPHERES = {"L": ("LL", "LP"), "R": ("RP", "RL")}

#: The 18 bipolar derivations of the double banana as ``(chain, anode, cathode)``.
BIPOLAR_PAIRS = tuple(
    (chain, a, b) for chain, elec in CHAINS.items() for a, b in zip(elec[:-1], elec[1:])
)
#: Derivation names such as ``"Fp1-F7"``, in :data:`BIPOLAR_PAIRS` order.
BIPOLAR_NAMES = tuple(f"{a}-{b}" for _, a, b in BIPOLAR_PAIRS)

_INDEX = {name: i for i, name in enumerate(EEG_COLUMNS)}
_ANODES = np.array([_INDEX[a] for _, a, _ in BIPOLAR_PAIRS])
_CATHODES = np.array([_INDEX[b] for _, _, b in BIPOLAR_PAIRS])


def bipolar(eeg: np.ndarray) -> np.ndarray:
    """Double-banana bipolar montage.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples) or (20, n_samples)
        Referential EEG in µV with channels in :data:`EEG_COLUMNS` order (EKG last, ignored).

    Returns
    -------
    array, shape (n_windows, 18, n_samples) or (18, n_samples)
        ``anode - cathode`` in µV for each derivation of :data:`BIPOLAR_NAMES`, same dtype.
    """
    eeg = check_eeg(eeg, caller="bipolar", layout="any", dtype=None, order=None)
    # np.take keeps C order (fancy indexing with an ellipsis would put the channel axis first
    # in memory, and every FFT/matmul downstream would pay for the strides)
    return np.take(eeg, _ANODES, axis=-2) - np.take(eeg, _CATHODES, axis=-2)


def average_reference(eeg: np.ndarray) -> np.ndarray:
    """Common average reference of the 19 scalp channels.

    Parameters
    ----------
    eeg : array, shape (..., 20, n_samples)
        Referential EEG in µV, channels in :data:`EEG_COLUMNS` order.

    Returns
    -------
    array, shape (..., 19, n_samples)
        Each scalp channel minus the mean of the 19 scalp channels (µV); EKG dropped.
    """
    eeg = check_eeg(eeg, caller="average_reference", layout="any", dtype=None, order=None)
    scalp = eeg[..., :19, :]
    return scalp - scalp.mean(axis=-2, keepdims=True)


# ----------------------------------------------------------------------------- preprocessing

#: Largest magnitude (µV) kept when clipping is off, so float32 features cannot overflow.
_F32_SAFE = 1e15

#: Names of the per-window quality indicators returned by :func:`preprocess`.
QUALITY_NAMES = ("nan_fraction", "bad_channels", "clipped_fraction")


def repair_nan(eeg: np.ndarray, fs: float = FS, max_gap_s: float = 1.0, flat_uv: float = 1e-3):
    """Repair NaN gaps and zero dead channels, vectorised over windows and channels.

    A gap (run of NaN) of at most ``max_gap_s`` seconds between two valid samples is replaced by
    the straight line joining them; a gap touching either end of the window is held at the
    nearest valid value when at most ``max_gap_s`` long. Longer gaps become 0 µV. A channel with
    no valid sample, or whose valid samples span less than ``flat_uv`` (peak to peak), becomes all
    zeros ("bad").

    Parameters
    ----------
    eeg : array, shape (n_windows, n_channels, n_samples)
        EEG in µV, may hold NaN; read-only input is fine (never modified).
    fs : float
        Sampling rate, Hz.
    max_gap_s : float
        Longest gap interpolated, seconds.
    flat_uv : float
        Peak-to-peak amplitude (µV) below which a channel counts as flat.

    Returns
    -------
    clean : ndarray, float64, same shape, C order
        No NaN. Float64 so that interpolating between values near the float32 limit cannot
        overflow; :func:`preprocess` returns float32 after clipping.
    nan_fraction : ndarray, shape (n_windows, n_channels)
        Fraction of samples that were NaN.
    bad : ndarray of bool, shape (n_windows, n_channels)
        Channels set to zero (all-NaN or flat).
    """
    eeg = check_eeg(eeg, caller="repair_nan", n_channels=None, dtype=None, order=None,
                    add_window_axis=True)  # refuses infinite samples: only NaN is missing
    nan = np.isnan(eeg)
    nan_fraction = np.count_nonzero(nan, axis=-1) / eeg.shape[-1]
    x = np.array(eeg, dtype=np.float64, order="C")  # a C-ordered copy: input untouched, and
    # x.reshape below must be a view (a strided input, e.g. a sliding-window view, would copy)
    n = x.shape[-1]
    if not nan.any():  # the common case: the extremes of the input are those of x
        ptp = eeg.max(axis=-1).astype(np.float64) - eeg.min(axis=-1)
    else:
        rows = np.flatnonzero(nan.any(axis=-1).ravel())  # only (window, channel) rows with gaps
        _fill_gaps(x.reshape(-1, n), nan.reshape(-1, n)[rows], rows, max_gap_s * fs)
        ptp = x.max(axis=-1) - x.min(axis=-1)
    bad = (nan_fraction >= 1.0) | (ptp < flat_uv)
    x[bad] = 0.0
    return x, nan_fraction, bad


def _fill_gaps(flat: np.ndarray, nan: np.ndarray, rows: np.ndarray, max_gap: float) -> None:
    """Fill the NaN runs of ``flat[rows]`` in place (``nan``: their NaN masks), by
    :func:`repair_nan`'s rule, ``max_gap`` samples long at most.

    Work is per run and per missing sample, not per row: a 50 s channel with a 0.1 s gap costs
    its 20 samples, not 10,000 samples times a dozen whole-row passes. Each missing sample gets
    ``v_prev + w * (v_next - v_prev)`` with ``w = (i - prev) / (next - prev)`` between its run's
    valid neighbours ``prev`` and ``next`` (a run touching an end holds the one neighbour it
    has; a row without any valid sample gets 0).
    """
    n = flat.shape[-1]
    edges = np.diff(nan.view(np.int8), axis=-1, prepend=np.int8(0), append=np.int8(0))
    run, start = np.nonzero(edges == 1)  # row-major: the runs of each row in order
    end = np.nonzero(edges == -1)[1]
    row, length = rows[run], end - start
    prev, nxt = start - 1, end  # the valid neighbours (-1 / n: none), length + 1 apart
    left = flat[row, np.maximum(prev, 0)]
    right = flat[row, np.minimum(nxt, n - 1)]
    v_prev = np.where(prev >= 0, left, right)
    v_next = np.where(nxt < n, right, v_prev)
    k = np.repeat(np.arange(len(start)), length)  # the run of each missing sample
    i = np.arange(len(k)) - np.repeat(np.cumsum(length) - length, length) + start[k]
    w = (i - prev[k]) / (nxt[k] - prev[k])
    fill = v_prev[k] + w * (v_next[k] - v_prev[k])
    fill = np.where(length[k] <= max_gap, fill, 0.0)
    flat[row[k], i] = np.nan_to_num(fill, nan=0.0)  # NaN: a row with no valid sample


@lru_cache(maxsize=32)
def filter_design(fs: float = FS, l_freq: float | None = 0.5, h_freq: float | None = 40.0,
                  notch: float | None = 60.0, order: int = 4):
    """Zero-phase IIR filter cascade designed with MNE, as scipy second-order sections.

    The band-pass (``l_freq``–``h_freq`` Hz, or a high-/low-pass if one edge is None) and the notch
    (a band-stop ``notch ± (notch / 400 + 0.5)`` Hz, MNE's ``notch_filter(method="iir")`` default
    width and transition) are Butterworth filters of ``order`` designed by
    :func:`mne.filter.create_filter`; applied forwards and backwards (zero phase, squared
    magnitude response) after odd reflection padding of MNE's suggested length.

    Returns
    -------
    list of (sos, padlen)
        One entry per stage, in application order.
    """
    import mne

    iir = dict(order=order, ftype="butter", output="sos")
    stages = []
    if l_freq is not None or h_freq is not None:
        p = mne.filter.create_filter(None, fs, l_freq, h_freq, method="iir", iir_params=iir,
                                     verbose=False)
        stages.append((p["sos"], int(p["padlen"])))
    if notch is not None and notch < fs / 2:
        half = notch / 400.0 + 0.5  # MNE: notch width notch/200 plus half a 1 Hz transition
        p = mne.filter.create_filter(None, fs, notch + half, notch - half, method="iir",
                                     iir_params=iir, verbose=False)
        stages.append((p["sos"], int(p["padlen"])))
    return stages


def filter_eeg(eeg: np.ndarray, fs: float = FS, l_freq: float | None = 0.5,
               h_freq: float | None = 40.0, notch: float | None = 60.0, order: int = 4):
    """Zero-phase band-pass and notch filtering along the last axis.

    Equals ``mne.filter.filter_data(x, fs, l_freq, h_freq, method="iir",
    iir_params=dict(order=order, ftype="butter", output="sos"))`` followed by
    ``mne.filter.notch_filter(x, fs, notch, method="iir", iir_params=...)``, i.e.
    ``scipy.signal.sosfiltfilt`` of each stage with odd padding (same SOS, same padding, same
    initial states). Up to :data:`FFT_FILTER_MAX` samples (a 50 s window, not a 10 min
    block) each stage is computed in the frequency domain (:func:`_zero_phase`), 1.2-1.5x
    faster than scipy's two passes and equal to them to float64 rounding (1e-13 of the input's
    largest magnitude with the default design; the float32 output of :func:`preprocess` moves
    by one unit in the last place in about one sample in 50,000); longer signals take scipy's
    passes, to the bit.

    Parameters
    ----------
    eeg : array, shape (..., n_samples)
        Finite signal, µV.
    fs : float
        Sampling rate, Hz.
    l_freq, h_freq : float or None
        Pass-band edges, Hz (None: no high-pass / no low-pass).
    notch : float or None
        Line frequency removed, Hz (None: no notch).
    order : int
        Butterworth order of each stage.

    Returns
    -------
    ndarray, float64, same shape, µV
    """
    x = np.asarray(eeg, dtype=np.float64)
    n = x.shape[-1]
    stages = _zero_phase_stages(float(fs), l_freq, h_freq, notch, int(order))
    if n < 2 or not stages:
        return x.copy() if x is eeg else x
    flat = x.reshape(-1, n)
    out = np.empty(flat.shape)
    # blocks of rows of ~1 MB that stay in the CPU's cache (for the FFTs, blocks of 12 rows of
    # a 50 s window were 2x slower than blocks of 8, for scipy's passes 16 MB blocks 20 %
    # slower than 1 MB ones; the padded copies of a whole 64-window chunk peaked at 530 MB);
    # the same values, rows are filtered independently
    stages = [(sos, zi, min(p, n - 1), _fft_length(n, min(p, n - 1), sos))
              for sos, zi, p in stages]
    rows = max(1, 2**17 // max(m for *_, m in stages))
    for a in range(0, flat.shape[0], rows):
        y = flat[a:a + rows]
        dest = out[a:a + rows]
        for i, (sos, zi, padlen, m) in enumerate(stages):
            if m <= FFT_FILTER_MAX:
                last = i == len(stages) - 1
                y = _zero_phase(sos, y, padlen, m, out=dest if last else None)
            else:
                y = _sosfiltfilt(sos, zi, y, padlen)
        if y is not dest:
            dest[...] = y
    return out.reshape(x.shape)


#: Impulse-response samples below this fraction of the largest are dropped by :func:`_zero_phase`
#: (their effect is below float64 rounding of the output).
_IMPULSE_TOL = 1e-16

#: Longest FFT (samples) with which :func:`filter_eeg` filters in the frequency domain; longer
#: signals take scipy's two passes per stage. On 20 rows, 0.5-40 Hz + 60 Hz notch at 200 Hz, the
#: frequency domain took 0.58-0.81x the CPU time of the passes up to 55,000 samples (FFTs of
#: up to 61,440) and 0.99-1.16x from 60,000 samples (FFTs of 67,500 and more, 2026-12-02).
FFT_FILTER_MAX = 2**16


def _fft_length(n: int, padlen: int, sos) -> int:
    """The FFT length :func:`_zero_phase` uses for ``n`` samples: ``h2 * e`` is exact on the
    kept samples ``[padlen, padlen + n)`` when nothing of ``e`` wraps onto them, i.e. with at
    least ``n + padlen + len(h)`` samples."""
    return sp_fft.next_fast_len(n + padlen + _impulse_response(_sos_key(sos)).size,
                                real=True)


def _zero_phase(sos: np.ndarray, x: np.ndarray, padlen: int, m: int,
                out=None) -> np.ndarray:
    """``scipy.signal.sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=padlen)`` of a 2-D
    float64 block, in the frequency domain with FFTs of length ``m`` (:func:`_fft_length`), to
    float64 rounding (written to ``out`` if given).

    sosfiltfilt odd-extends ``x`` to ``ext`` (length ``N``), runs the cascade forwards from the
    steady state of ``c = ext[0]``, then backwards over that output from the steady state of its
    last value, and keeps the middle. With ``h`` the impulse response, ``G`` the DC gain and
    ``e = ext - c`` (zero before the start), linearity gives exactly

        y[t] = (h2 * e)[t] + c G**2 + d' tail(N - t) - W(N - t) . s_N

    where ``h2 * e`` is ``e`` filtered with the squared magnitude response (one FFT pair, long
    enough that nothing wraps around into the kept samples), and the last two terms correct the
    end, where the backward pass starts from the constant ``y_f[N - 1] = c G + d'`` instead of
    the forward pass's free decay: ``d' = sum_k h[k] e[N-1-k]``, ``tail(m) = sum_{k>=m} h[k]``,
    ``s_N`` the forward state after the last sample and ``W(m) = C A^(m-1) Q`` that state's
    effect on the backward pass (``A, B, C`` the cascade's state space,
    ``Q = sum_j A^j B C A^j``). Both corrections vanish beyond the impulse response's length
    from the end.
    """
    n = x.shape[-1]
    N = n + 2 * padlen
    key = _sos_key(sos)
    size, into, outof, G = _impulse(key)
    L = min(size, N)
    c = 2 * x[:, :1] - x[:, padlen:padlen + 1]  # ext[0]
    e = _odd_extension(x, padlen, np.zeros((x.shape[0], max(m, N))), shift=c)
    # [d', s_N] from the last L samples, then the end correction at t = N - L .. N - 1
    end = (e[:, N - L:N] @ into[size - L:]) @ outof[:, size - L:]
    spec = sp_fft.rfft(e[:, :m], axis=-1)
    spec *= _squared_gain(key, m)
    y = sp_fft.irfft(spec, n=m, axis=-1)
    lo = max(N - L, padlen)  # the corrected samples that are kept
    y[:, lo:N - padlen] += end[:, lo - (N - L):L - padlen]
    return np.add(y[:, padlen:padlen + n], c * (G * G), out=out)


@lru_cache(maxsize=32)
def _zero_phase_stages(fs, l_freq, h_freq, notch, order):
    """:func:`filter_design` with each stage's step-response initial state
    (``scipy.signal.sosfilt_zi``, a linear solve worth computing once, not per block)."""
    return [(sos, sps.sosfilt_zi(sos)[:, None, :], padlen)
            for sos, padlen in filter_design(fs, l_freq, h_freq, notch, order)]


def _sosfiltfilt(sos, zi, x, padlen):
    """``scipy.signal.sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=padlen)`` of a 2-D
    float64 block with the stage's initial state ``zi`` (n_sections, 1, 2) precomputed: the
    same operations in the same order (odd extension, forward pass started from the steady
    state of the first sample, backward pass from that of the last), so the same values."""
    n = x.shape[-1]
    ext = _odd_extension(x, padlen, np.empty((x.shape[0], n + 2 * padlen)))
    y, _ = sps.sosfilt(sos, ext, axis=-1, zi=zi * ext[:, :1])
    y, _ = sps.sosfilt(sos, y[:, ::-1], axis=-1, zi=zi * y[:, -1:])
    return y[:, ::-1][:, padlen:padlen + n]


def _odd_extension(x, padlen, out, shift=0.0):
    """sosfiltfilt's odd extension of the rows of ``x`` by ``padlen`` samples at both ends,
    minus ``shift`` (a scalar or a column), written to the first ``n + 2 * padlen`` columns of
    ``out``; returns ``out``."""
    n = x.shape[-1]
    np.subtract(x, shift, out=out[:, padlen:padlen + n])
    np.subtract(2 * x[:, :1] - shift, x[:, padlen:0:-1], out=out[:, :padlen])
    np.subtract(2 * x[:, -1:] - shift, x[:, -2:-(padlen + 2):-1],
                out=out[:, padlen + n:n + 2 * padlen])
    return out


def _state_space(sos):
    """``(A, B, C, D)`` of the cascade as scipy's ``sosfilt`` runs it (direct form II
    transposed, two state variables per section), read off one step of the recurrence."""
    d = 2 * len(sos)

    def step(state, u):
        state = state.copy()
        for k, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            y = b0 * u + state[2 * k]
            state[2 * k] = b1 * u - a1 * y + state[2 * k + 1]
            state[2 * k + 1] = b2 * u - a2 * y
            u = y
        return state, u

    A, C = np.empty((d, d)), np.empty(d)
    for i in range(d):
        A[:, i], C[i] = step(np.eye(d)[i], 0.0)
    B, D = step(np.zeros(d), 1.0)
    return A, B, C, D


def _sos_key(sos) -> bytes:
    """A design's cache key: its float64 coefficients' bytes."""
    return np.ascontiguousarray(sos, np.float64).tobytes()


@lru_cache(maxsize=16)
def _impulse_response(sos_bytes: bytes) -> np.ndarray:
    """A design's impulse response (computed once per design and process; not to be modified)
    up to its last sample above :data:`_IMPULSE_TOL` of the largest, at most
    ``2 * FFT_FILTER_MAX`` samples (longer ones are cut there: such designs, e.g. a 0.001 Hz
    high-pass, never take the frequency domain)."""
    sos = np.frombuffer(sos_bytes).reshape(-1, 6).copy()
    size = 2**14
    while True:  # long enough that the response has died out (narrow bands ring for longer)
        h = sps.sosfilt(sos, np.eye(1, size)[0])
        keep = np.flatnonzero(np.abs(h) > _IMPULSE_TOL * np.abs(h).max())
        if keep[-1] < size // 2 or size >= 4 * FFT_FILTER_MAX:
            return h[:min(keep[-1] + 1, 2 * FFT_FILTER_MAX)]
        size *= 2


@lru_cache(maxsize=16)
def _impulse(sos_bytes: bytes):
    """What :func:`_zero_phase` needs of a design, computed once: the length of its impulse
    response ``h`` (:func:`_impulse_response`), the matrices taking the last samples to
    ``[d', s_N]`` and those to the end correction, and the DC gain ``G``."""
    sos = np.frombuffer(sos_bytes).reshape(-1, 6).copy()
    h = _impulse_response(sos_bytes)
    A, B, C, _ = _state_space(sos)
    K = np.empty((h.size, B.size))  # K[j] = A^j B: the state after e[N - 1 - j]
    P = np.empty((h.size, B.size))  # P[j] = C A^j: the free decay's output j samples on
    v, w = B.copy(), C.copy()
    Q, Aj = np.zeros((B.size, B.size)), np.eye(B.size)
    BC = np.outer(B, C)
    for j in range(h.size):
        K[j], P[j] = v, w
        Q += Aj @ BC @ Aj
        v, w, Aj = A @ v, w @ A, A @ Aj
    W = P @ Q  # W(m) = C A^(m-1) Q in row m - 1
    tail = np.append(np.cumsum(h[::-1])[::-1][1:], 0.0)  # tail(m) = sum_{k>=m} h[k], m = 1..
    gain = float(np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1)))  # DC gain
    # in the order of the samples: e[N-L:N] @ into[-L:] = [d', s_N] (row i weighs e[N-L+i],
    # j = L-1-i samples before the end), and [d', s_N] @ outof[:, -L:] is the correction at
    # t = N - L .. N - 1 (m = N - t = L .. 1)
    into = np.column_stack([h, K])[::-1]
    outof = np.vstack([tail, -W.T])[:, ::-1]
    return h.size, np.ascontiguousarray(into), np.ascontiguousarray(outof), gain


@lru_cache(maxsize=64)
def _squared_gain(sos_bytes: bytes, m: int) -> np.ndarray:
    """``|H|**2`` of the cascade at the ``m // 2 + 1`` frequencies of a length-``m`` rfft."""
    sos = np.frombuffer(sos_bytes).reshape(-1, 6).copy()
    H = sps.sosfreqz(sos, worN=2 * np.pi * np.arange(m // 2 + 1) / m)[1]
    return H.real**2 + H.imag**2


#: Samples (all channels) that :func:`preprocess` cleans at a time, in blocks of whole windows
#: (at least one): 10 windows of 20 x 10,000 samples, whose float64 temporaries (16 MB each)
#: glibc serves from the heap (below its 32 MiB mmap ceiling). On 64 windows of 50 s,
#: one block of all 64 took 11.6 ms of CPU per window and blocks of 8 took 8.8 ms (8 interleaved
#: runs, 2026-12-02; 12, 16 and 24 windows: 9.4-10.2 ms), with identical output.
PREPROCESS_BLOCK_VALUES = 2**21


def preprocess(eeg: np.ndarray, fs: float = FS, *, l_freq: float | None = 0.5,
               h_freq: float | None = 40.0, notch: float | None = 60.0, order: int = 4,
               clip_uv: float | None = 1024.0, max_gap_s: float = 1.0, flat_uv: float = 1e-3):
    """Clean referential EEG windows: NaN repair, dead channels, filtering, clipping.

    Steps, in order: :func:`repair_nan` (short gaps interpolated, long gaps 0 µV, all-NaN or flat
    channels zeroed), per-channel mean removal, :func:`filter_eeg` (zero-phase Butterworth band-pass
    ``l_freq``–``h_freq`` Hz and ``notch`` Hz band-stop, MNE design), then clipping to
    ``±clip_uv`` µV (with ``clip_uv=None`` still to ±1e15 µV, so float32 sums of squares stay
    finite). Mean removal and filtering run in float64. Bad channels stay exactly zero. Each
    window is cleaned on its own (in blocks of whole windows, :data:`PREPROCESS_BLOCK_VALUES`
    samples, to bound the float64 temporaries): its output does not depend on the batch.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples) or (20, n_samples)
        Referential EEG in µV (``EEG_COLUMNS`` order), may hold NaN; never modified.
    fs : float
        Sampling rate, Hz.
    l_freq, h_freq, notch, order
        Filter settings, see :func:`filter_eeg`; ``l_freq = h_freq = notch = None`` skips
        filtering.
    clip_uv : float or None
        Clip the filtered signal to ``[-clip_uv, clip_uv]`` µV; None disables.
    max_gap_s, flat_uv
        See :func:`repair_nan`.

    Returns
    -------
    clean : ndarray, float32, shape (n_windows, 20, n_samples)
        µV, finite.
    quality : dict of ndarray (n_windows,)
        :func:`window_quality` of the input and output: ``nan_fraction`` (fraction of NaN
        scalp samples), ``bad_channels`` (scalp channels zeroed as all-NaN or flat) and
        ``clipped_fraction`` (fraction of scalp samples clipped).
    """
    raw = check_eeg(eeg, caller="preprocess", dtype=None, order=None, add_window_axis=True)
    clean = np.empty(raw.shape, np.float32)
    parts = []
    # windows are independent: blocks of them give the same values (bit for bit) with float64
    # temporaries small enough to be reused from the heap and to stay in cache (see
    # PREPROCESS_BLOCK_VALUES)
    step = max(1, PREPROCESS_BLOCK_VALUES // max(int(np.prod(raw.shape[1:])), 1))
    with values_checked():  # repair_nan need not scan the same samples again
        for a in range(0, max(len(raw), 1), step):
            sl = slice(a, a + step)
            clean[sl] = _clean(raw[sl], fs, l_freq=l_freq, h_freq=h_freq, notch=notch,
                               order=order, clip_uv=clip_uv, max_gap_s=max_gap_s,
                               flat_uv=flat_uv)
            parts.append(window_quality(raw[sl], clean[sl], clip_uv))
    quality = parts[0] if len(parts) == 1 else {
        k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
    return clean, quality


def _clean(raw, fs, *, l_freq, h_freq, notch, order, clip_uv, max_gap_s, flat_uv):
    """:func:`preprocess` without the quality indicators, on checked (n, 20, n_samples) input
    (a recording preprocessed whole takes its windows' indicators from running counts)."""
    x, _, bad = repair_nan(raw, fs, max_gap_s=max_gap_s, flat_uv=flat_uv)
    # x is float64 (from repair_nan) until clipped: huge float32 inputs must not overflow
    x -= x.mean(axis=-1, keepdims=True)
    if l_freq is not None or h_freq is not None or notch is not None:
        x = filter_eeg(x, fs, l_freq, h_freq, notch, order)
    limit = _F32_SAFE if clip_uv is None else min(float(clip_uv), _F32_SAFE)
    x = np.clip(x, -limit, limit, out=x).astype(np.float32)
    x[bad] = 0.0
    return x


#: The preprocessing parameters (the keyword-only arguments of :func:`preprocess`) and their
#: defaults, read from its signature: the one place a feature table's recorded preprocessing,
#: the model manifest and the report complete a partial setting from.
PREPROCESS_DEFAULTS = MappingProxyType({
    k: p.default for k, p in inspect.signature(preprocess).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY})


def quality_counts(raw: np.ndarray, clean: np.ndarray, clip_uv: float | None = 1024.0):
    """The per-sample counts the quality indicators are made of.

    Each indicator of :func:`window_quality` is a count over a window's samples, so windows
    cut from one recording can share running sums of these counts
    (``build_features(context="recording")`` and ``scan`` do) and get the same bits.

    Parameters
    ----------
    raw, clean : array, shape (..., 20, n_samples)
        Windows or a whole recording before and after :func:`preprocess`, µV.
    clip_uv : float or None
        The clipping level ``clean`` was clipped to, µV (None: no clipping).

    Returns
    -------
    nan : ndarray of int, shape (..., n_samples)
        NaN samples of ``raw`` over the 19 scalp channels, at each sample.
    clipped : ndarray of int, shape (..., n_samples), or None
        Scalp samples of ``clean`` at the clipping level (``|x| >= clip_uv``); None without
        clipping.
    changes : ndarray of bool, shape (..., 19, n_samples - 1)
        Whether each scalp channel of ``clean`` changes between consecutive samples (a
        channel is constant, i.e. zeroed as all-NaN or flat, when it never does).
    """
    scalp = slice(0, len(SCALP_CHANNELS))
    nan = np.count_nonzero(np.isnan(raw[..., scalp, :]), axis=-2)
    clipped = (None if clip_uv is None else
               np.count_nonzero(np.abs(clean[..., scalp, :]) >= clip_uv, axis=-2))
    changes = clean[..., scalp, 1:] != clean[..., scalp, :-1]
    return nan, clipped, changes


def window_quality(raw: np.ndarray, clean: np.ndarray, clip_uv: float | None = 1024.0):
    """The per-window quality indicators, one definition for every path.

    Parameters
    ----------
    raw : array, shape (n_windows, 20, n_samples)
        The windows before preprocessing, µV (NaN = missing sample).
    clean : array, shape (n_windows, 20, n_samples)
        The same windows after :func:`preprocess` (or cut from a recording preprocessed whole).
    clip_uv : float or None
        The clipping level ``clean`` was clipped to, µV (None: no clipping).

    Returns
    -------
    dict of ndarray of float64, shape (n_windows,)
        ``nan_fraction``: fraction of NaN samples over the 19 scalp channels of ``raw``;
        ``bad_channels``: number of scalp channels that are exactly constant in ``clean``
        (zeroed by preprocessing as all-NaN or flat); ``clipped_fraction``: fraction of scalp
        samples of ``clean`` at the clipping level (``|x| >= clip_uv``), 0 without clipping.
        Sums of :func:`quality_counts` over each window.
    """
    nan, clipped, changes = quality_counts(raw, clean, clip_uv)
    size = len(SCALP_CHANNELS) * raw.shape[-1]
    return {
        "nan_fraction": nan.sum(axis=-1) / size,
        "bad_channels": (~changes.any(axis=-1)).sum(axis=-1).astype(np.float64),
        "clipped_fraction": (np.zeros(len(clean)) if clipped is None else
                             clipped.sum(axis=-1) / size),
    }


# ============================================================================ spectral engine
# One place computes Hann-windowed segment spectra: Welch PSDs of the feature families, the
# sub-window spectra of evolution and sequences, the cross-spectra of the spatial family and the
# Kaggle-style spectrogram rows all call :func:`segment_spectra`.

#: Floor added to a power (µV², µV²/Hz) before its logarithm, so silent channels stay finite.
LOG_EPS = 1e-6
#: Welch segment length, seconds (0.5 Hz resolution), Hann window, 50 % overlap, mean averaging.
WELCH_SEGMENT_S = 2.0


def welch_grid(first, length: int, fs: float = FS):
    """Where a stretch of signal finds its Welch segments on the default segment grid.

    The grid is that of :func:`segment_spectra`'s defaults on a signal starting at sample 0:
    segments of ``nperseg = round(WELCH_SEGMENT_S * fs)`` samples every
    ``hop = nperseg - nperseg // 2`` (scipy's 50 % overlap, ``noverlap = nperseg // 2``).
    A stretch ``[first, first + length)`` starting on the grid (``first % hop == 0``) and at
    least one segment long is covered exactly by the grid segments ``k0 .. k0 + n_seg - 1``,
    the segments its own Welch estimate would use (trailing samples that fill no segment
    dropped), so its PSD is their mean. Feature contexts, evolution's sub-windows and a
    recording's windows all take their shared segments from here.

    Parameters
    ----------
    first : int or array of int
        First sample(s) of the stretch(es), counted from the grid's origin.
    length : int
        Samples per stretch.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    on_grid : bool or ndarray of bool
        Whether each stretch can use the grid (False everywhere when ``length < nperseg``).
    k0 : int or ndarray of int
        Index of its first grid segment (meaningful where ``on_grid``).
    n_seg : int
        Grid segments per stretch (0 when shorter than one segment).
    hop : int
        Samples between grid segments (segment ``k`` starts at sample ``k * hop``).

    Examples
    --------
    At 200 Hz, 2 s segments every 1 s: the 10 s starting at 20 s uses segments 20..28.

    >>> welch_grid(4000, 2000, 200.0)
    (True, 20, 9, 200)
    """
    nperseg = int(round(WELCH_SEGMENT_S * fs))
    hop = nperseg - nperseg // 2
    first = np.asarray(first, dtype=np.int64)
    if hop < 1 or length < nperseg:
        on_grid, n_seg = np.zeros(first.shape, bool), 0
    else:
        on_grid, n_seg = first % hop == 0, (int(length) - nperseg) // hop + 1
    hop = max(hop, 1)
    k0 = first // hop
    if first.ndim == 0:
        return bool(on_grid), int(k0), n_seg, hop
    return on_grid, k0, n_seg, hop

def segment_spectra(x: np.ndarray, fs: float = FS, segment_s: float = WELCH_SEGMENT_S,
                    step_s: float | None = None, *, starts=None, fmin: float | None = None,
                    fmax: float | None = None, detrend: bool = False, periodic: bool = True,
                    scaling: str | None = "density", average: int | None = None):
    """Spectra of Hann-windowed segments: the one spectral engine of the library.

    Segment ``j`` is ``x[..., s_j : s_j + nperseg]`` with ``nperseg = round(segment_s * fs)``
    (clipped to the signal length) and ``s_j = j * step`` (default step
    ``nperseg - nperseg // 2``, Welch's 50 % overlap as scipy counts it; trailing samples that
    fill no segment are dropped) or the given ``starts``.
    Each segment is optionally mean-removed, multiplied by a Hann window and Fourier-transformed.
    With ``scaling="density"`` the result is the one-sided power spectral density

    ``P(f_k) = c_k |sum_t w_t x_t exp(-2 pi i k t / N)|^2 / (fs sum_t w_t^2)`` (µV²/Hz),

    ``c_k = 2`` except at 0 Hz and (even ``N``) Nyquist, exactly as :func:`scipy.signal.welch`
    (``scaling="density"``, ``detrend=False``) scales each segment, so the mean over segments is
    the Welch PSD [1]_.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        Signal, µV. float32 is computed in float32 (half the memory traffic), anything else in
        float64.
    fs : float
        Sampling rate, Hz.
    segment_s : float
        Segment length, seconds.
    step_s : float, optional
        Hop between segment starts, seconds; default ``nperseg - nperseg // 2`` samples
        (scipy's ``noverlap = nperseg // 2``).
    starts : array of int, optional
        Explicit segment start samples (overrides ``step_s``), e.g. the segments of consecutive
        sub-windows, or spectrogram rows centred on given samples.
    fmin, fmax : float, optional
        Keep only the bins with ``fmin <= f <= fmax``, Hz (saves the squaring of the rest).
    detrend : bool
        Remove each segment's mean before windowing (``scipy``'s ``detrend="constant"``).
    periodic : bool
        Periodic Hann window (scipy's ``"hann"``, the Welch default) or symmetric
        (``numpy.hanning``).
    scaling : {"density", None}
        ``"density"``: µV²/Hz as above; None: the complex DFT of the windowed segment, µV.
    average : int, optional
        With ``scaling="density"``: average each run of ``average`` consecutive segments (e.g.
        the Welch segments of one sub-window) while they are in cache, and scale the mean.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Hz, ``rfftfreq(nperseg, 1 / fs)`` restricted to ``[fmin, fmax]``.
    spectra : ndarray, shape (..., n_segments, n_freqs)
        Real density or complex spectrum of each segment; with ``average``, shape
        (..., n_segments // average, n_freqs).

    References
    ----------
    .. [1] Welch, P. (1967). The use of fast Fourier transform for the estimation of power
       spectra. IEEE Trans. Audio Electroacoust. 15(2), 70-73.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import welch
    >>> x = np.random.default_rng(0).standard_normal(1000)
    >>> f, p = segment_spectra(x, fs=200.0)
    >>> p.shape
    (4, 201)
    >>> bool(np.allclose(p.mean(axis=0), welch(x, 200.0, nperseg=400, detrend=False)[1]))
    True
    """
    if scaling not in ("density", None):
        raise ValueError(f"segment_spectra: scaling={scaling!r}; expected 'density' or None")
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float64)
    n = x.shape[-1]
    nperseg = min(int(round(segment_s * fs)), n)
    if nperseg < 1:
        raise ValueError(f"segment_spectra: segment_s={segment_s} s at fs={fs} Hz on {n} samples "
                         "gives no sample per segment")
    if starts is None:
        # Welch's 50 % overlap as scipy counts it: noverlap = nperseg // 2 (odd nperseg: the
        # step is the larger half)
        step = max(nperseg - nperseg // 2 if step_s is None else int(round(step_s * fs)), 1)
        n_seg = (n - nperseg) // step + 1
        take = slice(0, step * (n_seg - 1) + 1, step)  # a view: no gather copy
    else:
        take = np.asarray(starts, dtype=np.intp).ravel()
        if take.size and (take.min() < 0 or take.max() + nperseg > n):
            raise ValueError(f"segment_spectra: segment starts {take.min()}..{take.max()} with "
                             f"{nperseg} samples per segment run outside the {n} samples")
        n_seg = take.size
    freqs = np.fft.rfftfreq(nperseg, 1.0 / fs)
    lo = 0 if fmin is None else int(np.searchsorted(freqs, fmin, side="left"))
    hi = len(freqs) if fmax is None else int(np.searchsorted(freqs, fmax, side="right"))
    win = sps.get_window("hann", nperseg, fftbins=periodic).astype(x.dtype)
    if scaling == "density":
        scale = np.full(len(freqs), 2.0 / (fs * float((win.astype(np.float64) ** 2).sum())))
        scale[0] /= 2
        if nperseg % 2 == 0:
            scale[-1] /= 2  # the Nyquist bin is not doubled
        scale = scale[lo:hi].astype(x.dtype)
        out_dtype = x.dtype
    else:
        out_dtype = np.complex64 if x.dtype == np.float32 else np.complex128
    n_out = n_seg
    if average is not None:
        if scaling != "density" or average < 1 or n_seg % average:
            raise ValueError(f"segment_spectra: average={average!r} must divide the {n_seg} "
                             "segments, with scaling='density'")
        n_out = n_seg // average
    flat = x.reshape(-1, n)
    out = np.empty((flat.shape[0], n_out, hi - lo), out_dtype)
    # blocks of signals whose windowed segments (~rows x n_seg x nperseg values) stay in cache:
    # on a whole chunk the segment copy and the spectrum are tens of MB streamed through RAM
    rows = max(1, 2**19 // max(n_seg * nperseg * x.itemsize, 1))
    for a in range(0, flat.shape[0], rows):
        segs = np.lib.stride_tricks.sliding_window_view(flat[a:a + rows], nperseg,
                                                        axis=-1)[:, take, :]
        if detrend:
            segs = segs - segs.mean(axis=-1, keepdims=True)
        if detrend or not isinstance(take, slice):  # segs is a copy already: window in place
            segs *= win
        else:
            segs = segs * win
        spec = sp_fft.rfft(segs, axis=-1)[..., lo:hi]
        ob = out[a:a + rows]
        if scaling is None:
            ob[...] = spec
        elif average is not None:
            power = spec.real**2 + spec.imag**2
            ob[...] = power.reshape(-1, n_out, average, hi - lo).mean(axis=-2)
            ob *= scale
        else:
            np.multiply(spec.real, spec.real, out=ob)
            ob += spec.imag * spec.imag
            ob *= scale
    return freqs[lo:hi], out.reshape(x.shape[:-1] + (n_out, hi - lo))


def welch_psd(x: np.ndarray, fs: float = FS, segment_s: float = WELCH_SEGMENT_S):
    """Welch power spectral density along the last axis.

    Equal to ``scipy.signal.welch(x, fs, window="hann", nperseg=segment_s * fs,
    noverlap=nperseg // 2, detrend=False, average="mean")``: the mean over segments of
    :func:`segment_spectra` (float32 input stays float32).

    Parameters
    ----------
    x : array, shape (..., n_samples)
        Signal in µV.
    fs : float
        Sampling rate, Hz.
    segment_s : float
        Segment length, seconds.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Hz.
    psd : ndarray, shape (..., n_freqs)
        One-sided density, µV²/Hz.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2000) / 200.0
    >>> f, p = welch_psd(10 * np.sin(2 * np.pi * 10 * t))
    >>> float(f[np.argmax(p)])
    10.0
    >>> round(float(p.sum() * (f[1] - f[0])), 1)  # total power = variance = 10**2 / 2 µV²
    50.0
    """
    freqs, p = segment_spectra(x, fs, segment_s)
    return freqs, p.mean(axis=-2)


def log_power(p, eps: float = LOG_EPS, base: float = 10.0, out=None) -> np.ndarray:
    """The library's log-power convention: ``log_base(p + eps)``.

    Every logarithm of a power or amplitude goes through here, so that the convention is
    explicit where a family deviates from the default ``log10(p + 1e-6)``: the EEG sequences use
    the natural log (``base=np.e``), the Kaggle spectrogram statistics ``ln(1 + p)``
    (``eps=1, base=np.e``), whose values are in arbitrary file units.

    Parameters
    ----------
    p : array
        Non-negative power (µV², µV²/Hz, or spectrogram units); NaN stays NaN.
    eps : float
        Floor added before the logarithm, same units as ``p``.
    base : float
        10 or ``numpy.e`` (any other positive base works, through ``ln / ln(base)``).
    out : ndarray, optional
        Where to write the result (may be ``p`` itself, saving a temporary).

    Returns
    -------
    ndarray
        Same floating dtype as ``p`` (float32 stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> log_power(np.array([0.0, 99.999999]))
    array([-6.,  2.])
    >>> log_power(np.array([0.0, np.e - 1]), eps=1.0, base=np.e)
    array([0., 1.])
    """
    p = np.asarray(p)
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    v = np.add(p, p.dtype.type(eps), out=out)
    if base == 10.0:
        return np.log10(v, out=v)
    np.log(v, out=v)
    if base != np.e:
        v /= p.dtype.type(np.log(base))
    return v


# ================================================================== Kaggle-style spectrograms
# Spectrogram gain: ratio of the Kaggle spectrogram values to the mean Hann-window magnitude
# spectrum of the chain's derivations, measured on the real EEG 1628180742 / spectrogram 353733.
_GAIN_F = np.array([0.59, 0.98, 1.56, 2.15, 3.12, 4.49, 6.05, 7.62, 9.57, 11.52, 13.48, 16.21,
                    19.92])
_GAIN = np.array([0.0063, 0.0120, 0.0121, 0.0130, 0.0111, 0.0085, 0.0065, 0.0051, 0.0037, 0.0036,
                  0.0035, 0.0032, 0.0030])
# ---------------------------------------------------------------- the Kaggle spectrogram layout
# Everything about the layout of a ``*_spectrograms/{id}.parquet`` file is defined here, once.

#: Hann window length of one spectrogram row, samples (5.12 s at 200 Hz).
SPEC_NFFT = 1024
# First FFT bin of the files (bins 3..102 of a 1024-point FFT at 200 Hz).
_SPEC_FIRST_BIN = 3
#: Chains of the Kaggle spectrogram files, in file-column order.
SPEC_CHAINS = ("LL", "RL", "LP", "RP")
#: Centre frequencies of the 100 spectrogram bins per chain, Hz: ``(k + 3) * 200 / 1024``.
SPEC_FREQS = tuple((k + _SPEC_FIRST_BIN) * FS / SPEC_NFFT for k in range(100))
#: Top of the spectrogram's frequency range, Hz (the last bin is centred at 19.92 Hz): bands
#: computed from the files are clipped here (e.g. beta becomes 13-20 Hz).
SPEC_FMAX = 20.0
#: Length of a label's spectrogram window, seconds.
SPEC_WINDOW_S = 600
#: Time step between spectrogram rows, seconds.
SPEC_STEP_S = 2


def _freq_label(f: float) -> str:
    # Kaggle rounds half up to 2 decimals and drops trailing zeros: 3.125 -> "3.13", 4.1 -> "4.1".
    d = Decimal(repr(f)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(d.normalize(), "f")


#: The 400 spectrogram value columns, ``LL_0.59`` ... ``RP_19.92``.
SPEC_COLUMNS = tuple(f"{c}_{_freq_label(f)}" for c in SPEC_CHAINS for f in SPEC_FREQS)
_SPEC_GAIN = np.exp(np.interp(np.log(SPEC_FREQS), np.log(_GAIN_F), np.log(_GAIN)))
# Bipolar derivation indices of each spectrogram chain, in file order
_SPEC_CHAIN_ROWS = [[i for i, (ch, _, _) in enumerate(BIPOLAR_PAIRS) if ch == name]
                    for name in SPEC_CHAINS]


def eeg_to_spectrogram(eeg: np.ndarray, centres: np.ndarray, fs: float = FS) -> np.ndarray:
    """Kaggle-style spectrogram rows computed from referential EEG.

    Parameters
    ----------
    eeg : array, shape (n_samples, 20)
        File-layout EEG, µV.
    centres : array of int, shape (m,)
        Sample index of the centre of each row's 1024-sample (5.12 s at 200 Hz) Hann window;
        all windows must lie inside the recording.
    fs : float
        Sampling rate, Hz (the bins are at ``(k + 3) * fs / 1024``).

    Returns
    -------
    ndarray of float32, shape (m, 400)
        Per chain (LL, RL, LP, RP): the mean over the chain's 4 bipolar derivations of the Hann
        magnitude spectrum at bins 3..102, times the gain that maps it to the value range of the
        real Kaggle spectrograms. NaN where the window holds NaN.
    """
    bip = bipolar(np.asarray(eeg).T).astype(np.float64)  # (18, n)
    k0 = _SPEC_FIRST_BIN
    _, spec = segment_spectra(bip, fs, SPEC_NFFT / fs, starts=np.asarray(centres) - SPEC_NFFT // 2,
                              fmin=(k0 - 0.5) * fs / SPEC_NFFT, fmax=(k0 + 99.5) * fs / SPEC_NFFT,
                              detrend=True, periodic=False, scaling=None)
    mag = np.abs(spec)  # (18, m, 100) Hann magnitude spectrum, µV
    out = np.concatenate([mag[rows].mean(axis=0) for rows in _SPEC_CHAIN_ROWS], axis=-1)
    return (out * np.tile(_SPEC_GAIN, 4)).astype(np.float32)
