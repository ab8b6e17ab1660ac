"""Whole recordings: read a Kaggle parquet or an EDF file, slide the 50 s window along it.

Beyond the competition, a model trained on HMS label windows can scan a whole clinical
recording: :func:`read_recording` brings any supported file to the library's layout
(``(20, n_samples)``, channels in :data:`~hms_features.signal.EEG_COLUMNS` order, µV, 200 Hz; see
ARCHITECTURE.md at the root of the repository), :func:`sliding_windows` cuts the 50 s windows
(``(n_windows, 20, n_samples)``) as a zero-copy view with
:func:`hms_features.windows.cut_windows`, :func:`scan_recording` applies a probability function
to each window and :func:`plot_scan` draws the class probabilities over time.

A whole recording has no Kaggle spectrogram (Kaggle computed those files offline for the
competition only), so a scan uses **EEG features only** unless the caller passes a spectrogram
aligned with the EEG to :func:`scan_recording`.

Channel names in EDF files vary between hospitals and devices (``"EEG Fp1-REF"``, ``"FP1-LE"``,
``"T7"``, ``"ECG"``, ...). :func:`match_channels` maps them onto ``EEG_COLUMNS``: names are
compared case-insensitively after removing spaces, an ``"EEG"`` / ``"ECG"``-type prefix and a
reference suffix (:data:`REFERENCE_SUFFIXES`), and the modern 10-20 names are aliases of the old
ones the Kaggle files use (:data:`CHANNEL_ALIASES`: T7 = T3, T8 = T4, P7 = T5, P8 = T6).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .data import HMSError, read_eeg_parquet
from .metrics import CLASSES
from .montage import (  # noqa: F401 - channel matching is montage's; re-exported here
    CHANNEL_ALIASES,
    REFERENCE_SUFFIXES,
    match_channels,
    normalize_channel_name,
)
from .signal import BIPOLAR_NAMES, EEG_COLUMNS, FS, PREPROCESS_DEFAULTS
from .validation import check_eeg, values_checked
from .windows import cut_windows

__all__ = [
    "CHANNEL_ALIASES",
    "REFERENCE_SUFFIXES",
    "normalize_channel_name",
    "match_channels",
    "read_recording",
    "sliding_windows",
    "scan_recording",
    "scan_file",
    "ScanResult",
    "recording_features",
    "plot_scan",
    "recording_spectrogram",
]

def _read_mne(path: Path) -> tuple[np.ndarray, float]:
    """A file MNE reads -> (20, n) float32 µV at the file's rate (one read, notes warned once)."""
    from .montage import read_any, referential

    data, names, fs = read_any(path)
    eeg, notes, _ = referential(data, names, source=str(path))
    for note in notes:
        warnings.warn(f"{path}: {note}", UserWarning, stacklevel=3)
    return eeg, fs


#: Extensions read with MNE (:func:`mne.io.read_raw`).
MNE_SUFFIXES = (".edf", ".bdf", ".vhdr", ".fif", ".set", ".gz")


def read_recording(path, *, fs: float = FS) -> tuple[np.ndarray, float]:
    """Read a whole EEG recording into the library layout, ``(20, n_samples)``.

    Unlike the file-layout reader :func:`hms_features.data.read_eeg_parquet` (``(n_samples,
    20)``, as the parquet file stores it), the result is channels first, the library's layout
    for one recording (see ARCHITECTURE.md at the root of the repository). The whole recording
    is held in memory (float32); to process a long recording in blocks use
    :func:`recording_features` / :func:`scan_file`, which stream it.

    Parameters
    ----------
    path : path-like
        A Kaggle-style EEG parquet file (20 columns ``EEG_COLUMNS``, µV, 200 Hz) or a recording
        MNE reads (EDF/BDF/BrainVision ``.vhdr``/FIF/EEGLAB; channels matched by
        :func:`match_channels`; any physical unit, converted to µV).
    fs : float
        Sampling rate to return, Hz (200, the rate the models are trained at). Recordings at
        other rates are resampled with :func:`hms_features.montage.resample` (mean removed,
        edge padding: no step at the ends).

    Returns
    -------
    eeg : ndarray of float32, shape (20, n_samples)
        µV, channels in ``EEG_COLUMNS`` order (EKG last; zeros, with a warning, when the file
        has no EKG/ECG channel). NaN gaps of a parquet file are kept.
    fs : float
        The sampling rate of ``eeg``, Hz (the ``fs`` argument).

    Raises
    ------
    HMSError
        If the file does not exist, has an unsupported extension, cannot be parsed, lacks any
        of the 19 scalp channels (the message lists the missing ones and the file) or is
        sampled below 100 Hz.
    """
    from .montage import resample

    path = Path(path)
    if not path.is_file():
        raise HMSError(f"{path}: file not found (expected an EEG .parquet, .edf, .bdf, .vhdr "
                       "or .fif recording)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        eeg, fs_in = np.ascontiguousarray(read_eeg_parquet(path).T), FS
    elif suffix in MNE_SUFFIXES:
        eeg, fs_in = _read_mne(path)
    else:
        raise HMSError(
            f"{path}: unsupported file type {path.suffix!r}; expected a Kaggle-style .parquet or "
            "a recording MNE reads (.edf, .bdf, .vhdr, .fif, .set)"
        )
    if eeg.shape[1] == 0:
        raise HMSError(f"{path}: the recording holds no samples")
    _check_rate(fs_in, path)
    if not np.isclose(fs_in, fs):
        eeg = resample(eeg, fs_in, fs)
    return eeg, float(fs)


#: Lowest sampling rate accepted, Hz (the features use frequencies up to 50 Hz).
MIN_SFREQ = 100.0


def _check_rate(rate: float, label) -> None:
    if not rate >= MIN_SFREQ:
        raise HMSError(f"{label}: sampling rate {rate:g} Hz is below {MIN_SFREQ:g} Hz (the "
                       "features use frequencies up to 50 Hz)")


def sliding_windows(eeg: np.ndarray, fs: float = FS, window_s: float = 50.0,
                    step_s: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a whole recording, as a read-only view (no copy for float32 input).

    Parameters
    ----------
    eeg : array, shape (n_channels, n_samples)
        A recording, µV (any channel count; 20 for the models).
    fs : float
        Sampling rate, Hz.
    window_s : float
        Window length, s (50, the HMS EEG window). ``window_s * fs`` must be a whole number.
    step_s : float
        Distance between window starts, s. ``step_s * fs`` must be a whole number.

    Returns
    -------
    windows : ndarray of float32, shape (n_windows, n_channels, window_s * fs)
        Read-only strided view into ``eeg`` cut by :func:`hms_features.windows.cut_windows` (a
        float32 copy is made first only when ``eeg`` is not float32). Window ``k`` covers
        ``[k * step_s, k * step_s + window_s)``; a tail shorter than one step after the last full
        window is not covered.
    starts_s : ndarray of float64, shape (n_windows,)
        Start time of each window, s from the start of the recording.

    Raises
    ------
    HMSError
        If the recording is shorter than one window (a ``ValueError`` subclass).
    ValueError
        On a non-2-D array or non-integer sample counts.
    """
    eeg = check_eeg(eeg, caller="sliding_windows", layout="recording", n_channels=None,
                    fs=fs, order=None)
    win = _samples(window_s, fs, "window_s")
    step = _samples(step_s, fs, "step_s")
    n = eeg.shape[1]
    if n < win:
        raise HMSError(
            f"sliding_windows: the recording lasts {n / fs:g} s, shorter than one window "
            f"(window_s={window_s:g} s)"
        )
    starts = np.arange((n - win) // step + 1) * (step / fs)
    return cut_windows(eeg, starts, win / fs, fs), starts


def _samples(seconds: float, fs: float, name: str) -> int:
    n = seconds * fs
    if not (np.isfinite(n) and n >= 1 and abs(n - round(n)) < 1e-6):
        raise ValueError(
            f"{name}={seconds!r} s at fs={fs!r} Hz must be a positive whole number of samples"
        )
    return int(round(n))


def _spectrogram_windows(spectrogram, centres_s: np.ndarray, seconds: float = 600.0,
                         step: float = 2.0) -> np.ndarray:
    """Cut (n, seconds/step, 400) spectrogram windows centred on ``centres_s``, NaN-padded."""
    try:
        time, values = spectrogram
    except (TypeError, ValueError):
        raise ValueError("scan_recording: spectrogram must be a (time, values) pair as returned "
                         "by hms_features.data.read_spectrogram_file") from None
    time = np.asarray(time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or len(time) != len(values):
        raise ValueError(f"scan_recording: spectrogram time {time.shape} and values "
                         f"{values.shape} do not match (expected (n_rows,) and (n_rows, 400))")
    n_rows = int(round(seconds / step))
    out = np.full((len(centres_s), n_rows, values.shape[1]), np.nan, np.float32)
    for k, c in enumerate(centres_s):
        start = c - seconds / 2
        a = int(np.searchsorted(time, start))
        b = int(np.searchsorted(time, start + seconds))
        rows = np.clip(np.floor((time[a:b] - start) / step).astype(int), 0, n_rows - 1)
        out[k, rows] = values[a:b]
    return out


def scan_recording(predict_proba, eeg: np.ndarray, fs: float = FS, step_s: float = 10.0,
                   spectrogram=None, *, window_s: float = 50.0, batch_size: int = 32,
                   progress: bool = False) -> pd.DataFrame:
    """Slide the HMS window along a whole recording and predict the six classes at each step.

    Parameters
    ----------
    predict_proba : callable
        ``predict_proba(windows)`` with ``windows`` of shape (n, 20, window_s * fs) float32 µV
        (a C-contiguous copy of one batch: code that assumes C order, or reshapes and writes
        back, sees an ordinary array) returning (n, 6) probabilities in :data:`CLASSES` order;
        when ``spectrogram`` is given it is called as ``predict_proba(windows, spectrograms)``
        with ``spectrograms`` of shape (n, 300, 400), the 600 s around each window's centre.
    eeg : array, shape (20, n_samples)
        The recording, µV, ``EEG_COLUMNS`` order (as returned by :func:`read_recording`).
    fs : float
        Sampling rate, Hz.
    step_s : float
        Distance between window starts, s.
    spectrogram : (time, values), optional
        A Kaggle-layout spectrogram aligned with the EEG: ``time`` in s since the start of the
        recording (row centres, 2 s steps), ``values`` (n_rows, 400) in ``SPEC_COLUMNS`` order.
        A whole recording normally has none (Kaggle made them for the competition only), and the
        scan then uses EEG features only. Rows outside the spectrogram are NaN.
    window_s : float
        Window length, s (50 for models trained on HMS windows).
    batch_size : int
        Windows passed to ``predict_proba`` per call (bounds memory: a batch of 32 windows of
        50 s is 26 MB; the whole recording is never copied at once).
    progress : bool
        Show a tqdm progress bar over batches.

    Returns
    -------
    DataFrame
        One row per window: ``start_s`` and ``centre_s`` (s from the start of the recording;
        the centre is the middle of the labelled-10-s equivalent) and one column per class of
        :data:`CLASSES` with its probability.

    Raises
    ------
    ValueError
        If ``predict_proba`` returns an array of the wrong shape or with NaN.
    """
    from tqdm.auto import tqdm

    eeg = check_eeg(eeg, caller="scan_recording", layout="recording",
                    n_channels=len(EEG_COLUMNS), fs=fs, order=None)
    if batch_size < 1:
        raise ValueError(f"scan_recording: batch_size must be >= 1, got {batch_size}")
    windows, starts = sliding_windows(eeg, fs, window_s, step_s)
    centres = starts + window_s / 2
    proba = np.empty((len(starts), len(CLASSES)), np.float64)
    for a in tqdm(range(0, len(starts), batch_size), disable=not progress, desc="scan",
                  unit="batch"):
        b = min(a + batch_size, len(starts))
        batch = np.ascontiguousarray(windows[a:b])
        if spectrogram is None:
            p = predict_proba(batch)
        else:
            p = predict_proba(batch, _spectrogram_windows(spectrogram, centres[a:b]))
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (b - a, len(CLASSES)):
            raise ValueError(f"scan_recording: predict_proba returned shape {p.shape} for "
                             f"{b - a} windows; expected ({b - a}, {len(CLASSES)})")
        if not np.isfinite(p).all():
            raise ValueError(f"scan_recording: predict_proba returned NaN/inf for the window "
                             f"starting at {starts[a]:g} s or a later one of its batch")
        proba[a:b] = p
    df = pd.DataFrame(proba, columns=list(CLASSES))
    df.insert(0, "centre_s", centres)
    df.insert(0, "start_s", starts)
    return df


# ----------------------------------------------------------------------------- streaming scan

#: Seconds of signal kept on each side of a block's windows, so filters see context there.
CONTEXT_S = 10.0


def _open(source, fs: float, block_s: float, overlap_s: float):
    """``(label, stem, duration_s, raw, blocks, present)`` of a recording; ``blocks`` yields
    ``(start_s, eeg (20, n) float32 at fs)``; each file is read once, block by block. ``raw``
    is the mne Raw, or for a parquet file (read whole) the pair ``(eeg, fs)``; ``present`` the
    derivations the channels give ((18,) bool, None for a Kaggle parquet)."""
    import mne

    from .montage import _open_raw, iter_montage

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise HMSError(f"{path}: file not found (expected an EEG .parquet, .edf, .bdf, "
                           ".vhdr or .fif recording)")
        if path.suffix.lower() == ".parquet":
            eeg, _ = read_recording(path, fs=fs)
            step = int(round(block_s * fs))
            span = step + int(round(overlap_s * fs))
            blocks = ((i / fs, eeg[:, i:i + span]) for i in range(0, eeg.shape[1], step))
            return str(path), path.stem, eeg.shape[1] / fs, (eeg, fs), blocks, None
        if path.suffix.lower() not in MNE_SUFFIXES:
            raise HMSError(f"{path}: unsupported file type {path.suffix!r}; expected a "
                           "Kaggle-style .parquet or a recording MNE reads (.edf, .bdf, .vhdr, "
                           ".fif, .set)")
    elif not isinstance(source, mne.io.BaseRaw):
        raise TypeError(f"expected a recording file or an mne.io.Raw, got "
                        f"{type(source).__name__}")
    from .montage import referential

    raw, label = _open_raw(source)
    _check_rate(float(raw.info["sfreq"]), label)
    names = [n for n, t in zip(raw.ch_names, raw.get_channel_types()) if t != "stim"]
    # the derivations the channels give (names only: one sample of zeros)
    present = referential(np.zeros((len(names), 1)), names, source=label,
                          allow_missing=True)[2]
    stem = Path(label).stem if label != type(raw).__name__ else "recording"
    if stem.endswith(".edf") or stem.endswith(".fif"):  # .edf.gz, .fif.gz
        stem = Path(stem).stem
    blocks = iter_montage(raw, block_s=block_s, overlap_s=overlap_s, fs=fs,
                          layout="referential", min_sfreq=MIN_SFREQ, allow_missing=True)
    return label, stem, raw.n_times / float(raw.info["sfreq"]), raw, blocks, present


def _window_blocks(source, *, window_s, step_s, fs, block_s, context_s=CONTEXT_S):
    """The recording in blocks and, per block, the windows it computes.

    Windows start every ``step_s`` seconds; block ``k`` (data ``[k B, k B + B + O)``,
    ``O = window_s - step_s + 2 context_s``) computes the windows starting in
    ``[k B + context_s, (k + 1) B + context_s)`` (the first block from 0), so filters see at
    least ``context_s`` of signal around every window but the recording's first and last.

    Returns ``(label, stem, duration_s, raw, starts_s (all windows), generator of (start_s,
    eeg, positions, offsets_s), present)``.
    """
    win = _samples(window_s, fs, "window_s")
    step = _samples(step_s, fs, "step_s")
    _samples(block_s, fs, "block_s")
    if block_s < step_s:
        raise ValueError(f"block_s={block_s:g} s must be at least step_s={step_s:g} s")
    overlap_s = window_s - step_s + 2 * context_s
    label, stem, duration_s, raw, blocks, present = _open(source, fs, block_s,
                                                          max(overlap_s, 0.0))
    n = int(round(duration_s * fs))
    if n < win:
        raise HMSError(f"{label}: the recording lasts {duration_s:g} s, shorter than one "
                       f"{window_s:g} s window")
    starts = np.arange((n - win) // step + 1) * (step / fs)

    def gen():
        for start, eeg in blocks:
            lo = 0.0 if start == 0 else start + context_s
            hi = start + block_s + context_s
            pos = np.flatnonzero((starts >= lo - 1e-9) & (starts < hi - 1e-9))
            if len(pos):
                yield start, eeg, pos, starts[pos] - start

    return label, stem, duration_s, raw, starts, gen(), present


def _stream(source, *, feature_set="fast", predict_windows=None, window_s=50.0, step_s=10.0,
            fs=FS, preprocess_kwargs=None, spectrogram=None, block_s=600.0, batch_size=64,
            progress=False):
    """Features (or window-callable probabilities) of every sliding window, block by block.

    Returns ``dict(label, stem, duration_s, raw, starts, table, rms)``: ``table`` the feature
    table (or the (n, 6) probabilities of ``predict_windows``), ``rms`` (n, 18) the RMS of the
    preprocessed bipolar derivations in each window's central 10 s, µV.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    from ._build.chunks import recording_windows, table
    from ._build.plan import span_names
    from .features import evolution
    from .features.base import FAMILIES
    from .features.registry import compute_features, feature_names, resolve_families
    from .signal import eeg_to_spectrogram

    prep = dict(preprocess_kwargs or {})
    label, stem, duration_s, raw, starts, blocks, present = _window_blocks(
        source, window_s=window_s, step_s=step_s, fs=fs, block_s=block_s)
    partial = {} if present is None or present.all() else {"present": present}
    families = resolve_families(feature_set) if predict_windows is None else []
    spec_fams = [f for f in families if FAMILIES[f].needs_spectrogram]
    if spectrogram is None:
        spectrogram = bool(spec_fams)
    eeg_fams = [f for f in families if not FAMILIES[f].needs_spectrogram]
    names = feature_names(eeg_fams, spectrogram=False, fs=fs) if eeg_fams else []
    # evolution's sub-window measures are shared by the overlapping windows (a partial montage
    # keeps the family's own path, which averages the present derivations only)
    shared_evolution = "evolution" in eeg_fams and not partial
    # so are temporal's 10 s pieces (when the window is made of them: 50 s, 30 s, ...)
    n_pieces = _temporal_pieces(_samples(window_s, fs, "window_s"), fs)
    shared_temporal = "temporal" in eeg_fams and not partial and n_pieces is not None
    # and spatial's broadband correlation moments and delta decimation of the same pieces
    shared_spatial = "spatial" in eeg_fams and not partial and n_pieces is not None
    shared = {"evolution": shared_evolution, "temporal": shared_temporal,
              "spatial": shared_spatial}
    per_window = [f for f in eeg_fams if not shared.get(f)]
    n = len(starts)
    out = (np.empty((n, len(names)), np.float32) if predict_windows is None
           else np.empty((n, len(CLASSES)), np.float64))
    rms = np.empty((n, 18), np.float32)
    spec_t, spec_v = [], []
    half = int(round(5 * fs))
    from .signal import SPEC_NFFT as nfft  # samples of one Kaggle-style spectrogram row
    bar = tqdm(total=n, disable=not progress, unit="win", desc="scan", smoothing=0.1)
    # one BLAS thread, as build_features' chunks run: the many small batched products gain
    # nothing from more, which would only spin (12 % more CPU time per scanned hour measured)
    limits = threadpool_limits(limits=1, user_api="blas")
    try:
        for b0, eeg, pos, offsets in blocks:
            for a, w, q, psd in recording_windows(eeg, offsets, fs, prep, batch_size, window_s):
                rows = pos[a:a + len(w)]
                starts_n = np.rint(offsets[a:a + len(w)] * fs).astype(np.int64)
                # the derivations of the stretch the windows cover, computed once (not once per
                # window holding a sample), and the windows as views into them
                bip = _bipolar_windows(w, starts_n)
                c = w.shape[-1] // 2
                rms[rows] = np.sqrt(np.mean(np.square(bip[..., c - half:c + half],
                                                      dtype=np.float64), axis=-1))
                if predict_windows is not None:
                    out[rows] = _checked_proba(predict_windows(w), len(w), starts[rows[0]])
                elif eeg_fams:
                    # w and bip are views of the block recording_windows checked
                    with values_checked():
                        feats = (compute_features(w, fs, feature_set=per_window, quality=q, psd=psd,
                                                  bipolar=bip, **partial) if per_window else {})
                        cut = {}  # pieces cut once when both families use the same ones
                        if shared_temporal or shared_spatial:
                            cut[n_pieces] = _pieces(bip, starts_n, n_pieces)
                        if shared_temporal:
                            feats.update(_shared_temporal(w, starts_n, fs, cut[n_pieces]))
                        if shared_spatial:
                            feats.update(_shared_spatial(w, starts_n, fs, bip, cut[n_pieces],
                                                         quality=q, psd=psd))
                        if shared_evolution:
                            n_sub = evolution.N_SUBWINDOWS
                            pieces = cut.get(n_sub) or _pieces(bip, starts_n, n_sub)
                            feats.update(_shared_evolution(w, starts_n, fs, pieces,
                                                           psd.get("10s")))
                    out[rows] = table(feats, names, pd.RangeIndex(len(w))).to_numpy()
                bar.update(len(w))
            if spectrogram:  # Kaggle-style rows every 2 s, centred on odd seconds
                lo = 1.0 if b0 == 0 else b0 + CONTEXT_S
                t = np.arange(np.ceil((lo - 1) / 2) * 2 + 1, b0 + block_s + CONTEXT_S, 2.0)
                c = np.rint((t - b0) * fs).astype(np.int64)
                inside = (c >= nfft // 2) & (c + nfft // 2 <= eeg.shape[1])
                t, c = t[inside], c[inside]
                if len(t):
                    spec_t.append(t)
                    spec_v.append(eeg_to_spectrogram(eeg.T, c, fs))
    finally:
        bar.close()
        limits.restore_original_limits()
    if predict_windows is None:
        tab = pd.DataFrame(out, columns=names)
        if spec_fams:
            time_s = np.concatenate(spec_t) if spec_t else np.zeros(0)
            values = np.concatenate(spec_v) if spec_v else np.zeros((0, 400), np.float32)
            tab = _spectrogram_features(tab, families, spec_fams, (time_s, values),
                                        starts + window_s / 2, fs, batch_size, **partial)
        tab.columns = span_names(list(tab.columns), window_s)
        tab.index = pd.Index(starts, name="start_s")
        tab.attrs["preprocess"] = {"clip_uv": PREPROCESS_DEFAULTS["clip_uv"], **prep}
        tab.attrs["window_s"] = float(window_s)
        tab.attrs["step_s"] = float(step_s)
        tab.attrs["duration_s"] = float(duration_s)
        tab.attrs["source"] = label
        if partial:
            tab.attrs["dropped_derivations"] = [n for n, ok in zip(BIPOLAR_NAMES, present)
                                                if not ok]
        out = tab
    return dict(label=label, stem=stem, duration_s=duration_s, raw=raw, starts=starts,
                table=out, rms=rms)


def _pieces(windows: np.ndarray, starts: np.ndarray, n_pieces: int):
    """The distinct pieces of windows of one recording cut into ``n_pieces`` consecutive parts.

    Returns ``(pieces (m, c, n_samples // n_pieces) float32, contiguous (each distinct piece
    once, in time order), which (k, n_pieces) int)``: ``which[i, j]`` is the piece ``j`` of
    window ``i``. ``windows`` (k, c, n_samples) are any signals (the bipolar derivations for the
    shared families), ``starts`` their first samples in the recording (any common origin).
    """
    k, _, n_samples = windows.shape
    length = n_samples // n_pieces
    sub = np.asarray(starts, np.int64)[:, None] + np.arange(n_pieces) * length  # (k, p)
    _, first, which = np.unique(sub.ravel(), return_index=True, return_inverse=True)
    win, part = np.divmod(first, n_pieces)  # a window holding each distinct piece
    chunks = np.stack([windows[i, :, j * length:(j + 1) * length] for i, j in zip(win, part)])
    return chunks, which.reshape(k, n_pieces)


def _bipolar_windows(windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """:func:`~hms_features.signal.bipolar` of overlapping windows, each sample computed once.

    When the windows (sorted ``starts``, samples in the recording) cover one stretch without
    gaps, its derivations are computed once and the windows returned as views into them (the
    same float32 values: the montage is one subtraction per sample); otherwise per window.
    """
    from .signal import bipolar

    n = windows.shape[-1]
    step = np.diff(np.asarray(starts, np.int64))
    if len(windows) < 2 or (step <= 0).any() or (step > n).any():
        return bipolar(windows)
    # window i adds the last step[i - 1] samples to the stretch of the ones before it
    stretch = bipolar(np.concatenate([windows[0]] + [windows[i, :, n - d:]
                                                     for i, d in enumerate(step, 1)], axis=-1))
    view = np.lib.stride_tricks.sliding_window_view(stretch, n, axis=-1)  # (18, total-n+1, n)
    # evenly spaced windows (a scan) are a strided view, others a copy
    even = (step == step[0]).all()
    at = slice(None, None, int(step[0])) if even else np.asarray(starts) - starts[0]
    return view[:, at].transpose(1, 0, 2)


def _temporal_pieces(n_samples: int, fs: float) -> int | None:
    """Pieces per window for :func:`_shared_temporal`: the window must be a whole, odd number of
    pieces the length of the ``10s`` span, with that span the middle piece (None otherwise)."""
    from .features.registry import span_slices

    centre = span_slices(n_samples, fs)["10s"]
    length = centre.stop - centre.start
    p = n_samples // length
    if p * length != n_samples or p < 2 or centre.start != (p // 2) * length:
        return None
    return p


def _shared_temporal(windows: np.ndarray, starts: np.ndarray, fs: float,
                     pieces=None) -> dict:
    """The ``temporal`` family's columns for windows of one recording, sharing 10 s pieces.

    A window is cut into consecutive pieces the length of its ``10s`` span (five for 50 s, the
    middle one being that span, see :func:`_temporal_pieces`); with 50 s windows every 10 s each
    piece belongs to five windows. Every distinct piece is summed once
    (:func:`~hms_features.features.temporal.sums`, the family's own first step); the ``10s``
    columns are the middle piece's measures (:func:`~hms_features.features.temporal.finish`,
    the family's values exactly) and the ``50s`` ones pool the window's pieces
    (:func:`~hms_features.features.temporal.pool`), except the sharp-transient count, whose
    threshold is a median over the whole span: it is counted per window
    (:func:`~hms_features.features.temporal.sharp_transients`) on the pieces' ``|x|`` joined.
    The ``50s`` columns equal the family's values on the same windows up to the family's
    float32 accumulation (the pooled power sums are float64), the ``10s`` ones exactly.

    Parameters
    ----------
    windows : array, shape (k, 20, n_samples)
        Preprocessed windows, µV.
    starts : array of int, shape (k,)
        Their first samples in the recording (any common origin).
    fs : float
        Sampling rate, Hz.
    pieces : tuple, optional
        :func:`_pieces` of the windows' bipolar derivations with :func:`_temporal_pieces`
        parts, when already cut.

    Returns
    -------
    dict
        ``temporal_{measure}_{group}_{50s|10s}`` -> float32 (k,), finite.

    Raises
    ------
    ValueError
        If the windows are not made of such pieces.
    """
    from .features.temporal import (
        SPIKE_REFRACTORY_S,
        SPIKE_THRESHOLD,
        _transients,
        columns,
        finish,
        pool,
        sums,
    )
    from .signal import bipolar

    k, _, n_samples = windows.shape
    p = _temporal_pieces(n_samples, fs)
    if p is None:
        raise ValueError(f"_shared_temporal: windows of {n_samples} samples are not a whole odd "
                         "number of 10 s pieces around their 10 s centre")
    if pieces is None:
        chunks, which = _pieces(windows, starts, p)
        pieces = bipolar(chunks), which
    chunks, which = pieces
    m, r, length = chunks.shape
    parts = sums(chunks)
    absx = np.abs(chunks)
    # the 10 s span is the middle piece: the family's own measures of it
    mid = which[:, p // 2]
    centre = finish({key: v[mid] for key, v in parts.items()}, length, fs,
                    _transients(absx[mid], fs, SPIKE_THRESHOLD, SPIKE_REFRACTORY_S))
    out = columns(centre, length / fs, "10s")
    # the 50 s span pools its pieces; its sharp transients are counted on the joined |x|
    count = np.empty((k, r))
    step = 8  # windows joined at once (cache-sized)
    for a in range(0, k, step):
        joined = absx[which[a:a + step]].transpose(0, 2, 1, 3).reshape(-1, r, p * length)
        count[a:a + step] = _transients(joined, fs, SPIKE_THRESHOLD, SPIKE_REFRACTORY_S)
    out.update(columns(finish(pool(parts, which, length), n_samples, fs, count),
                       n_samples / fs, "50s"))
    return _finite32(out)


def _shared_evolution(windows: np.ndarray, starts: np.ndarray, fs: float,
                      pieces=None, centre_psd=None) -> dict:
    """The ``evolution`` family's columns for windows of one recording, sharing sub-windows.

    The family cuts each window into :data:`~hms_features.features.evolution.N_SUBWINDOWS`
    consecutive sub-windows and measures each on its own (its Welch PSD and line length see no
    sample outside it), so a sub-window's measures depend only on where it starts in the
    recording: with 50 s windows every 10 s, each 10 s sub-window belongs to five windows. Here
    every distinct sub-window of the batch is measured once
    (:func:`~hms_features.features.evolution.subwindow_measures` with one sub-window), then each
    window's sequence of measures is summarised as the family does (slope and range,
    :func:`~hms_features.features.evolution.summarise`). Equal to the family's values on the same
    windows up to float32 rounding (the sub-window PSDs are computed directly, or taken from
    ``centre_psd``, rather than averaged from the window's segment spectra).

    Parameters
    ----------
    windows : array, shape (k, 20, n_samples)
        Preprocessed windows, µV.
    starts : array of int, shape (k,)
        Their first samples in the recording (any common origin).
    fs : float
        Sampling rate, Hz.
    pieces : tuple, optional
        :func:`_pieces` of the windows' bipolar derivations with ``N_SUBWINDOWS`` parts, when
        already cut.
    centre_psd : tuple, optional
        ``(freqs, (k, 18, f))`` the Welch PSDs of the windows' ``10s`` spans (as
        :func:`~hms_features._build.chunks.recording_windows` shares them): when that span is
        the middle sub-window, its PSD is taken from there instead of being recomputed.

    Returns
    -------
    dict
        ``evolution_{measure}_{slope|range}_{group}_50s`` -> float32 (k,), finite (as
        :func:`~hms_features.features.registry.compute_features` returns them).
    """
    from .features.evolution import (
        N_SUBWINDOWS,
        TOTAL_BAND,
        subwindow_measures,
        subwindow_psd,
        summarise,
    )
    from .signal import bipolar

    if pieces is None:
        chunks, which = _pieces(windows, starts, N_SUBWINDOWS)
        pieces = bipolar(chunks), which
    chunks, which = pieces
    psd = None
    if centre_psd is not None and _temporal_pieces(windows.shape[-1], fs) == N_SUBWINDOWS:
        # the 10 s span's PSD of a window is its middle sub-window's; the others (at the ends of
        # the batch) are computed
        freqs, cpsd = centre_psd
        hi = int(np.searchsorted(freqs, TOTAL_BAND[1], side="right"))
        psd = np.empty((len(chunks), chunks.shape[1], 1, hi), np.float32)
        mid = which[:, N_SUBWINDOWS // 2]
        psd[mid, :, 0] = cpsd[..., :hi]
        rest = np.setdiff1d(np.arange(len(chunks)), mid)
        if len(rest):
            psd[rest] = subwindow_psd(chunks[rest], fs, 1, fmax=TOTAL_BAND[1])[1]
        psd = freqs[:hi], psd
    measures = subwindow_measures(chunks, fs, n_sub=1, psd=psd)  # (m, 1) each
    out = summarise({key: v[:, 0][which] for key, v in measures.items()},
                    chunks.shape[-1] / fs, "50s")
    return _finite32(out)


def _shared_spatial(windows: np.ndarray, starts: np.ndarray, fs: float, bip: np.ndarray,
                    pieces=None, quality=None, psd=None) -> dict:
    """The ``spatial`` family's columns for windows of one recording, sharing 10 s pieces.

    Cut as for :func:`_shared_temporal` (consecutive pieces the length of the ``10s`` span, the
    middle one being that span), every distinct piece's raw moments are summed once
    (:func:`~hms_features.features.spatial.piece_moments`, float64) and each span's broadband
    covariance pooled from its pieces'
    (:func:`~hms_features.features.spatial.covariance_from_moments`; the ``10s`` span is the
    middle piece), normalised as the family does
    (:func:`~hms_features.features.spatial.correlation_from_covariance`). The delta
    cross-spectral matrices are pooled from per-piece sums of segment cross-products
    (:func:`_shared_delta_csd`: each piece decimated and its segments transformed once; the
    family's own path when the pieces are no whole number of segment hops). The rest
    (band-power asymmetries and gradients from the shared PSDs) is the family's own
    (:func:`~hms_features.features.spatial.columns`). The correlation columns (``spatial_corr_*``,
    ``spatial_sync_*``, ``spatial_synceig_*``) and the delta ones (``spatial_deltacoh_*``,
    ``spatial_deltacorr_*``, ``spatial_deltasync_*``) equal the family's up to its float32 /
    complex64 accumulation (the pooled sums are float64 / complex128), the others exactly.

    Parameters
    ----------
    windows : array, shape (k, 20, n_samples)
        Preprocessed windows, µV.
    starts : array of int, shape (k,)
        Their first samples in the recording (any common origin).
    fs : float
        Sampling rate, Hz.
    bip : array, shape (k, 18, n_samples)
        The windows' bipolar derivations (:func:`_bipolar_windows`).
    pieces : tuple, optional
        :func:`_pieces` of ``bip`` with :func:`_temporal_pieces` parts, when already cut.
    quality, psd : dict, optional
        As :func:`~hms_features.features.registry.compute_features` takes them (``psd``: span ->
        ``(freqs, (k, 18, f))`` Welch PSDs).

    Returns
    -------
    dict
        ``spatial_*_{50s|10s}`` -> float32 (k,), finite.

    Raises
    ------
    ValueError
        If the windows are not made of such pieces.
    """
    from .features import spatial
    from .features.registry import span_context, span_slices

    k, _, n_samples = windows.shape
    p = _temporal_pieces(n_samples, fs)
    if p is None:
        raise ValueError(f"_shared_spatial: windows of {n_samples} samples are not a whole odd "
                         "number of 10 s pieces around their 10 s centre")
    chunks, which = pieces if pieces is not None else _pieces(bip, starts, p)
    length = chunks.shape[-1]
    sums, cross = spatial.piece_moments(chunks)
    mid = which[:, p // 2]
    corr = {"50s": spatial.correlation_from_covariance(spatial.covariance_from_moments(
                sums[which].sum(axis=1), cross[which].sum(axis=1), n_samples)),
            "10s": spatial.correlation_from_covariance(spatial.covariance_from_moments(
                sums[mid], cross[mid], length))}
    delta = (_shared_delta_csd(chunks, which, fs, spatial.delta_factor(fs))
             or {"50s": None, "10s": None})
    contexts = {}
    slices = span_slices(n_samples, fs)
    whole = span_context("50s", contexts, windows, fs, slices, None, quality, psd)
    whole.__dict__["bipolar"] = bip  # the cached property, given (as compute_features does)
    out = {}
    for span in ("50s", "10s"):
        ctx = span_context(span, contexts, windows, fs, slices, None, quality, psd)
        out.update(spatial.columns(ctx, corr=corr[span], delta_csd=delta[span]))
    return _finite32(out)


def _finite32(out: dict) -> dict:
    """Shared columns as :func:`~hms_features.features.registry.compute_features` returns
    them: float32 (k,), non-finite values 0 (one guard over the (columns, windows) table)."""
    table = np.stack([np.asarray(v, np.float32).reshape(-1) for v in out.values()])
    if not np.isfinite(table).all():
        np.nan_to_num(table, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return dict(zip(out, table))


def _shared_delta_csd(chunks, which, fs, q) -> dict | None:
    """The spatial family's delta cross-spectral matrices of both spans, pooled from pieces.

    ``chunks, which`` are the :func:`_pieces` of the windows' derivations. Each piece is
    decimated once (:func:`~hms_features.features.spatial.boxcar_decimate`; the piece's length
    a multiple of ``q``, its blocks of ``q`` samples are the window's). A window's Hann segments
    (:func:`~hms_features.features.spatial.segment_ffts` of its decimated span) start every
    ``hop`` samples; when a piece holds a whole number of hops, they are grouped by the piece
    they start in, and every piece's sum of segment cross-products (complex128) is made once:
    in full (its last segments running into the piece that follows it in the recording) and
    without the segments that run past its end. A window's matrix sums its pieces' full sums
    and its last piece's partial one, the ``10s`` span's is its middle piece's partial one, each
    divided by its segment count (the mean of :func:`~hms_features.features.spatial.
    cross_spectral_matrix`, whose complex64 products it equals up to float32 rounding).

    Returns span -> complex128 (k, 18, 18, f) over the delta bins, or None when the segments do
    not fall on whole hops of a piece.
    """
    from .features import spatial
    from .features.base import WELCH_SEGMENT_S, segment_spectra

    p = which.shape[1]
    n_piece = chunks.shape[-1] // q
    fs_d = fs / q
    nper = min(int(round(WELCH_SEGMENT_S * fs_d)), n_piece)
    hop = nper - nper // 2  # as segment_ffts (scipy's noverlap = nperseg // 2)
    if chunks.shape[-1] % q or n_piece % hop:
        return None
    dec = spatial.boxcar_decimate(chunks, q)  # (m, 18, n_piece)
    # each piece followed by the one after it in the recording (zeros if no window has it)
    succ = np.full(len(dec), -1)
    succ[which[:, :-1]] = which[:, 1:]
    n_in = n_piece // hop  # segments starting in a piece
    n_last = (n_piece - nper) // hop + 1  # of them, those inside it
    tail = (n_in - 1) * hop + nper - n_piece  # samples the last one takes from the next piece
    ext = np.concatenate([dec, dec[succ, :, :tail]], axis=-1)
    ext[succ < 0, :, n_piece:] = 0.0
    band = spatial.BANDS["delta"]
    freqs, spec = segment_spectra(ext, fs_d, WELCH_SEGMENT_S, starts=np.arange(n_in) * hop,
                                  fmax=band[1], scaling=None)  # (m, 18, n_in, f)
    spec = spec[..., (freqs >= band[0]) & (freqs < band[1])].astype(np.complex128)
    a = np.moveaxis(spec, -1, 1)  # (m, f, 18, n_in)

    def products(seg):
        return np.matmul(a[..., seg], a[..., seg].conj().transpose(0, 1, 3, 2))

    part = products(slice(0, n_last))  # (m, f, 18, 18)
    full = part + products(slice(n_last, n_in))
    n50 = (p - 1) * n_in + n_last
    csd50 = part[which[:, -1]]
    for j in range(p - 1):
        csd50 += full[which[:, j]]
    csd50 /= n50
    csd10 = part[which[:, p // 2]] / n_last
    return {"50s": np.moveaxis(csd50, 1, -1), "10s": np.moveaxis(csd10, 1, -1)}


def _spectrogram_features(tab, families, spec_fams, spectrogram, centres, fs, batch,
                          present=None):
    """Append the spectrogram families' columns (computed from Kaggle-style spectrogram windows
    of the whole recording) and order the columns as :func:`feature_names` does; with
    ``present`` (a partial recording) the chains not whole are NaN (see compute_features)."""
    from .features.registry import compute_features, feature_names

    parts = []
    dummy = np.zeros((batch, 20, int(round(10 * fs))), np.float32)  # these families read no EEG
    for a in range(0, len(centres), batch):
        c = centres[a:a + batch]
        feats = compute_features(dummy[:len(c)], fs, feature_set=spec_fams,
                                 spectrogram=_spectrogram_windows(spectrogram, c),
                                 present=present)
        parts.append(pd.DataFrame(feats))
    spec = pd.concat(parts, ignore_index=True)
    full = pd.concat([tab, spec], axis=1)
    return full[feature_names(families, spectrogram=True, fs=fs)].astype(np.float32)


def _checked_proba(p, n, start_s):
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n, len(CLASSES)):
        raise ValueError(f"scan: predict_proba returned shape {p.shape} for {n} windows; "
                         f"expected ({n}, {len(CLASSES)})")
    if not np.isfinite(p).all():
        raise ValueError(f"scan: predict_proba returned NaN/inf for the window starting at "
                         f"{start_s:g} s or a later one of its batch")
    return p


def recording_features(source, feature_set="fast", *, window_s: float = 50.0,
                       step_s: float = 10.0, preprocess_kwargs: dict | None = None,
                       spectrogram: bool | None = None, block_s: float = 600.0,
                       batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """Feature table of the sliding windows of a whole recording, streamed block by block.

    The recording is read once, ``block_s`` seconds at a time (with
    :func:`hms_features.montage.iter_montage`; a 24 h file is never in memory at once), brought
    to 200 Hz (:func:`hms_features.montage.resample`), preprocessed per block with
    ``CONTEXT_S`` = 10 s of context around its windows, and the windows of each block share
    their filtering, their Welch segment spectra and the counts behind their quality
    indicators (:func:`hms_features._build.chunks.recording_windows`, the dataset path of
    :func:`~hms_features.build.build_features`), the ``evolution`` family's sub-window
    measures (each distinct 10 s sub-window is measured once, not once per window holding it;
    :func:`_shared_evolution`), the ``temporal`` family's sums (each distinct 10 s piece
    summed once; :func:`_shared_temporal`) and the ``spatial`` family's broadband correlation
    moments and delta cross-spectra (each distinct piece summed, decimated and its segments
    transformed once; :func:`_shared_spatial`). Values equal the
    per-window computation on the same windows up to float32 rounding.

    Parameters
    ----------
    source : path-like or mne.io.Raw
        A Kaggle-style EEG parquet or a recording MNE reads (EDF/BDF/BrainVision/FIF), or a Raw.
        The 19 scalp channels must be present (matched by :func:`match_channels`).
    feature_set : {"default", "fast"} or list of str
        Families (see :func:`~hms_features.features.registry.resolve_families`). Families that
        need the Kaggle spectrogram get one computed from the EEG (:func:`recording_spectrogram`
        rows, the 600 s around each window's centre).
    window_s, step_s : float
        Window length and the step between window starts, s. Column names end in the window
        length (``_50s`` for the default; ``_30s`` for ``window_s=30``) and ``_10s`` for the
        central 10 s.
    preprocess_kwargs : dict, optional
        Passed to :func:`hms_features.signal.preprocess` (e.g. ``{"clip_uv": 2000}``).
    spectrogram : bool, optional
        Compute spectrogram rows (default: when a family needs them).
    block_s : float
        Seconds read per block (memory: about ``block_s * 200 * 20 * 4`` bytes of signal plus a
        batch of windows).
    batch_size : int
        Windows featurised together.
    progress : bool
        A tqdm bar counting windows.

    Returns
    -------
    DataFrame, float32
        One row per window, index ``start_s`` (s from the start); ``attrs``: ``preprocess``
        (the settings, with ``clip_uv``), ``window_s``, ``step_s``, ``duration_s``, ``source``.
    """
    return _stream(source, feature_set=feature_set, window_s=window_s, step_s=step_s,
                   preprocess_kwargs=preprocess_kwargs, spectrogram=spectrogram,
                   block_s=block_s, batch_size=batch_size, progress=progress)["table"]


def plot_scan(df: pd.DataFrame, path, *, title: str | None = None, stacked: bool = True,
              events: pd.DataFrame | None = None, reference: pd.DataFrame | None = None,
              rms: np.ndarray | None = None):
    """Plot class probabilities over a recording, under the EEG, with events.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`scan_recording` / :attr:`ScanResult.proba` (``centre_s`` and the six
        class columns).
    path : path-like
        PNG file to write.
    title : str, optional
        Figure title.
    stacked : bool
        Stacked areas (they fill [0, 1] when rows sum to 1) if True, one line per class if False.
    events, reference : DataFrame, optional
        Detected and reference events (``onset``, ``duration``, ``trial_type``), drawn as bars
        under the probabilities, one row each.
    rms : array, shape (n_windows, 18), optional
        RMS of each bipolar derivation in each window (µV), drawn above the probabilities as
        an image (log scale): the EEG of a long recording at a glance.

    Returns
    -------
    Path
        ``path``.
    """
    from .report.figures import CLASS_COLORS, new_figure, save_figure
    from .signal import BIPOLAR_NAMES

    missing = [c for c in ("centre_s",) + CLASSES if c not in df.columns]
    if missing:
        raise ValueError(f"plot_scan: df lacks column(s) {missing}; expected the output of "
                         "scan_recording")
    t = df["centre_s"].to_numpy(dtype=float)
    span = t.max() if len(t) else 0.0
    unit, scale = (("h", 3600.0) if span > 3 * 3600 else ("min", 60.0) if span > 600
                   else ("s", 1.0))
    x = t / scale
    p = df[list(CLASSES)].to_numpy(dtype=float)
    strips = [("detected", events), ("reference", reference)]
    strips = [(n, e) for n, e in strips if e is not None]
    heights = ([2.2] if rms is not None else []) + [2.6] + [0.5] * len(strips)
    fig = new_figure(figsize=(13, 1.2 + sum(heights)))
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.08)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    k = 0
    step = float(np.median(np.diff(t))) if len(t) > 1 else 10.0
    extent_x = ((t.min() - step / 2) / scale, (t.max() + step / 2) / scale) if len(t) else (0, 1)
    if rms is not None:
        ax = axes[0]
        img = np.log10(np.maximum(np.asarray(rms, float).T, 1e-3))
        ax.imshow(img, aspect="auto", interpolation="nearest", cmap="magma",
                  extent=(*extent_x, len(BIPOLAR_NAMES) - 0.5, -0.5))
        ax.set_yticks(range(0, len(BIPOLAR_NAMES), 2))
        ax.set_yticklabels(BIPOLAR_NAMES[::2], fontsize=7)
        ax.set_ylabel("EEG RMS\n(log µV)")
        k = 1
    ax = axes[k]
    colors = [CLASS_COLORS[c] for c in CLASSES]
    if stacked:
        ax.stackplot(x, p.T, labels=CLASSES, colors=colors, alpha=0.85, linewidth=0)
    else:
        for j, c in enumerate(CLASSES):
            ax.plot(x, p[:, j], color=colors[j], label=c, lw=1.5)
    ax.set_xlim(*extent_x)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    for (name, ev), ax in zip(strips, axes[k + 1:]):
        for _, e in pd.DataFrame(ev).iterrows():
            ax.axvspan(e["onset"] / scale, (e["onset"] + e["duration"]) / scale,
                       color=CLASS_COLORS.get(str(e["trial_type"]), "0.4"), alpha=0.9)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel(f"time ({unit} from the start of the recording)")
    axes[0].set_title(title or "class probabilities over the recording")
    return save_figure(fig, path)


@dataclass
class ScanResult:
    """What :func:`scan_file` found and wrote.

    Attributes
    ----------
    proba : DataFrame
        One row per window: ``start_s``, ``centre_s`` (s) and the six class probabilities.
    events : DataFrame
        Detected events (:func:`hms_features.events.detect_events`: ``onset``, ``duration``,
        ``trial_type``, ``peak_probability``, ``peak_s``).
    duration_s : float
        Length of the recording, s.
    source : str
        The recording's name.
    files : dict
        Kind -> path of every file written (``csv``, ``events_tsv``, ``szcore_tsv``,
        ``annotations``, ``png``, ``html``, ``fif``).
    rms : ndarray, shape (n_windows, 18)
        RMS of the preprocessed bipolar derivations in each window's central 10 s, µV.
    """

    proba: pd.DataFrame
    events: pd.DataFrame
    duration_s: float
    source: str
    files: dict = field(default_factory=dict)
    rms: np.ndarray | None = None


def _output_paths(out, stem: str) -> dict:
    out = Path(out)
    if out.suffix.lower() == ".csv":  # a CSV path: the other files beside it, same stem
        base = out.with_suffix("")
        csv = out
    else:
        base = out / f"{stem}_scan"
        csv = base.with_name(base.name + ".csv")
    name = base.name
    return {"csv": csv, "png": base.with_name(name + ".png"),
            "html": base.with_name(name + ".html"),
            "events_tsv": base.with_name(name + "_events.tsv"),
            "szcore_tsv": base.with_name(name + "_sz.tsv"),
            "annotations": base.with_name(name + "_annot.txt"),
            "fif": base.with_name(name + "_raw.fif")}


def scan_file(source, model, out=None, *, step_s: float = 10.0, window_s: float = 50.0,
              clip_uv: float | None = 1024.0, on: float = 0.5, off: float = 0.3,
              min_duration_s: float = 0.0, min_gap_s: float = 0.0, reference=None,
              fif: bool = False, plot: bool = True, html: bool = True, block_s: float = 600.0,
              batch_size: int = 64, progress: bool = False) -> ScanResult:
    """Scan a whole recording: probabilities per window, events, annotation files, pictures.

    The ``scan`` command. The recording is read once, in blocks (:func:`recording_features`);
    events come from :func:`hms_features.events.detect_events` with the thresholds given.

    Parameters
    ----------
    source : path-like or mne.io.Raw
        A Kaggle-style EEG parquet, a recording MNE reads (EDF/BDF/BrainVision/FIF) or a Raw.
    model : fitted HMSPipeline or callable
        A model with ``input_spec()`` and ``predict_proba(feature_table)`` (a saved
        :class:`~hms_features.models.HMSPipeline`: its feature set is recomputed from the
        recording), or a callable ``predict_proba(windows (n, 20, window_s * 200) float32 µV)
        -> (n, 6)`` on preprocessed windows.
    out : path-like, optional
        A folder (files ``{stem}_scan.csv``, ``_scan.png``, ``_scan.html``,
        ``_scan_events.tsv``, ``_scan_sz.tsv``, ``_scan_annot.txt``, ``_scan_raw.fif``) or a
        ``.csv`` path (the other files beside it with its stem). None writes nothing.
    step_s, window_s : float
        Step between window starts and window length, s. A model trained on the HMS 50 s
        windows (columns ``*_50s``) only takes ``window_s=50``.
    clip_uv : float or None
        Clipping level of :func:`hms_features.signal.preprocess`, µV.
    on, off, min_duration_s, min_gap_s
        Event detection, see :func:`hms_features.events.detect_events`.
    reference : path-like or DataFrame, optional
        Reference events (any format :func:`hms_features.events.read_events` reads), drawn
        under the detected ones.
    fif : bool
        Also write the recording with the detected events as annotations (FIF).
    plot, html : bool
        Write the PNG, and an HTML page with the PNG and the events table.
    block_s, batch_size, progress
        See :func:`recording_features`.

    Returns
    -------
    ScanResult
    """
    from .events import detect_events, read_events

    if reference is not None and not isinstance(reference, pd.DataFrame):
        reference = read_events(reference)  # bad reference files fail before the long scan
    prep = {"clip_uv": clip_uv}
    if callable(model) and not hasattr(model, "predict_proba"):
        res = _stream(source, predict_windows=model, window_s=window_s, step_s=step_s,
                      preprocess_kwargs=prep, block_s=block_s, batch_size=batch_size,
                      progress=progress)
        proba = res["table"]
    else:
        spec = model.input_spec() if hasattr(model, "input_spec") else None
        if spec is None:
            raise ValueError("scan_file: the model was not fitted on a feature table of "
                             "build_features, so its input cannot be recomputed")
        if not np.isclose(window_s, 50.0):
            raise HMSError(f"--window-s {window_s:g}: the model was trained on 50 s windows "
                           "(its columns end in _50s); scan it with --window-s 50")
        res = _stream(source, feature_set=spec["feature_set"], window_s=window_s,
                      step_s=step_s, preprocess_kwargs=prep, spectrogram=spec["spectrogram"],
                      block_s=block_s, batch_size=batch_size, progress=progress)
        proba = np.asarray(model.predict_proba(res["table"]), dtype=np.float64)
    starts = res["starts"]
    df = pd.DataFrame(proba, columns=list(CLASSES))
    df.insert(0, "centre_s", starts + window_s / 2)
    df.insert(0, "start_s", starts)
    events = detect_events(df, on=on, off=off, min_duration_s=min_duration_s,
                           min_gap_s=min_gap_s, segment_s=step_s)
    result = ScanResult(df, events, float(res["duration_s"]), res["label"], {}, res["rms"])
    if out is not None:
        _write_outputs(result, res, _output_paths(out, res["stem"]), reference=reference,
                       fif=fif, plot=plot, html=html, title=f"{Path(res['label']).name}: "
                       f"{window_s:g} s windows every {step_s:g} s")
    return result


def _write_outputs(result, res, paths, *, reference, fif, plot, html, title):
    from .events import write_annotated_fif, write_annotations, write_bids_events, write_szcore_tsv

    paths["csv"].parent.mkdir(parents=True, exist_ok=True)
    result.proba.to_csv(paths["csv"], index=False, float_format="%.6g")
    files = {"csv": paths["csv"]}
    files["events_tsv"] = write_bids_events(result.events, paths["events_tsv"])
    files["szcore_tsv"] = write_szcore_tsv(result.events, paths["szcore_tsv"],
                                           duration_s=result.duration_s)
    files["annotations"] = write_annotations(result.events, paths["annotations"])
    if fif:
        raw = res["raw"]
        if isinstance(raw, tuple):  # a parquet file, already in memory: 20 channels at 200 Hz
            import mne

            eeg, fs = raw
            info = mne.create_info(list(EEG_COLUMNS), fs,
                                   ["eeg"] * (len(EEG_COLUMNS) - 1) + ["ecg"])
            raw = mne.io.RawArray(np.nan_to_num(eeg.astype(np.float64)) * 1e-6, info,
                                  verbose="error")
        files["fif"] = write_annotated_fif(raw, result.events, paths["fif"])
    if plot:
        files["png"] = plot_scan(result.proba, paths["png"], title=title, events=result.events,
                                 reference=reference, rms=result.rms)
        if html:
            files["html"] = _write_html(result, files, paths["html"], title, reference)
    result.files = files


def _write_html(result, files, path, title, reference) -> Path:
    import base64
    import html as _html

    png = base64.b64encode(Path(files["png"]).read_bytes()).decode()

    def table(ev):
        if ev is None:
            return ""
        cols = [c for c in ("onset", "duration", "trial_type", "peak_probability")
                if c in ev.columns]
        return ev[cols].to_html(index=False, float_format=lambda v: f"{v:.1f}"
                                if abs(v) >= 1 else f"{v:.3f}", border=0)

    links = "".join(f"<li><a href='{Path(p).name}'>{Path(p).name}</a></li>"
                    for k, p in files.items() if k != "html")
    body = (f"<h1>{_html.escape(title)}</h1><p>{_html.escape(result.source)}: "
            f"{result.duration_s / 3600:.2f} h, {len(result.proba)} windows, "
            f"{len(result.events)} detected events.</p>"
            f"<img src='data:image/png;base64,{png}' style='max-width:100%'>"
            f"<h2>Detected events</h2>{table(result.events)}"
            + (f"<h2>Reference events</h2>{table(reference)}" if reference is not None else "")
            + f"<h2>Files</h2><ul>{links}</ul>")
    path = Path(path)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                    f"{_html.escape(title)}</title><style>body{{font-family:sans-serif;"
                    f"margin:2em}} td,th{{padding:0 .8em;text-align:right}}</style></head>"
                    f"<body>{body}</body></html>", encoding="utf-8")
    return path


def recording_spectrogram(eeg: np.ndarray, fs: float = FS) -> tuple[np.ndarray, np.ndarray]:
    """A Kaggle-style spectrogram of a whole recording, one row every 2 s.

    A whole recording comes without the Kaggle spectrogram file, so models trained with the
    ``spectrogram`` features get one computed from the EEG the way the Kaggle files were
    (:func:`hms_features.signal.eeg_to_spectrogram`), to pass to :func:`scan_recording`.

    Parameters
    ----------
    eeg : array, shape (20, n_samples)
        A recording as :func:`read_recording` returns it, µV.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    time : ndarray of int64, shape (m,)
        Row centres, s from the start: 1, 3, 5, ... (the Kaggle step of 2 s).
    values : ndarray of float32, shape (m, 400)
        Rows in the Kaggle column order (4 chains x 100 bins); NaN for rows whose 5.12 s
        window does not lie inside the recording.
    """
    # imported here only to keep this appended function's hunk in one place (no circle)
    from .data import SPEC_STEP_S
    from .signal import SPEC_CHAINS, SPEC_FREQS, SPEC_NFFT, eeg_to_spectrogram

    eeg = np.asarray(eeg)
    if eeg.ndim != 2 or eeg.shape[0] != len(EEG_COLUMNS):
        raise ValueError(f"recording_spectrogram: eeg must be ({len(EEG_COLUMNS)}, n_samples), "
                         f"got {eeg.shape}")
    n = eeg.shape[1]
    half = SPEC_NFFT // 2
    time_s = np.arange(SPEC_STEP_S // 2, int(n / fs), SPEC_STEP_S, dtype=np.int64)
    centres = (time_s * fs).astype(np.int64)
    inside = (centres >= half) & (centres + half <= n)
    values = np.full((len(centres), len(SPEC_CHAINS) * len(SPEC_FREQS)), np.nan, np.float32)
    if inside.any():
        values[inside] = eeg_to_spectrogram(eeg.T, centres[inside], fs)
    return time_s, values
