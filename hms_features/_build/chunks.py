"""What one chunk of :func:`hms_features.build.build_features` computes.

The plan (:mod:`.plan`) names one of the two workers below for each chunk: :func:`array_chunk`
(raw windows: preprocess each window) or :func:`dataset_chunk` (label rows of whole recordings,
each EEG file read once). A dataset chunk has two contexts: ``"window"`` (the default) cuts each
label window out of the raw recording first and preprocesses it on its own
(:func:`standalone_windows`), exactly as a test file of the same 50 s is; ``"recording"``
preprocesses each recording once and cuts its windows afterwards, sharing the Welch spectra of
overlapping windows (:func:`recording_windows`; filters see minutes of context a test file does
not have). Both return a float32 DataFrame, one row per window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import EEG_WINDOW_S
from ..features.base import WELCH_SEGMENT_S, segment_spectra, welch_psd
from ..features.registry import compute_features, span_slices
from ..signal import (
    PREPROCESS_DEFAULTS,
    SCALP_CHANNELS,
    _clean,
    bipolar,
    preprocess,
    quality_counts,
    welch_grid,
)
from ..validation import check_eeg, values_checked
from ..windows import cut_windows, window_samples

__all__ = ["CONTEXTS", "array_chunk", "dataset_chunk", "recording_windows", "standalone_windows"]

#: The preprocessing contexts of a dataset window (see the module docstring).
CONTEXTS = ("window", "recording")


def table(feats: dict, names: list[str], index) -> pd.DataFrame:
    """Feature dict -> float32 DataFrame with the columns ``names`` in order."""
    # one float32 block: a dict of 3,000 columns costs pandas ~1 ms per window to consolidate
    values = np.empty((len(index), len(names)), np.float32)
    for j, k in enumerate(names):
        values[:, j] = feats[k]
    return pd.DataFrame(values, index=index, columns=names)


def array_chunk(eeg, spec, fs, families, names, prep, index, present=None) -> pd.DataFrame:
    """Features of raw windows ``eeg`` (n, 20, n_samples) µV: preprocess, then compute
    (``present``: the derivations a partial recording provides, None for all)."""
    clean, quality = preprocess(eeg, fs, **prep)
    extra = {} if present is None else {"present": present}
    feats = compute_features(clean, fs, feature_set=families, spectrogram=spec, quality=quality,
                             **extra)
    return table(feats, names, index)


def recording_windows(rec: np.ndarray, offsets: np.ndarray, fs: float, prep: dict, batch: int,
                      window_s: float = EEG_WINDOW_S):
    """Preprocess one recording once and cut its windows, ``batch`` label rows at a time.

    Parameters
    ----------
    rec : array, shape (20, n_samples)
        One recording, µV, library layout (ARCHITECTURE.md), as yielded by
        :meth:`hms_features.data.HMSDataset.iter_recordings`.
    offsets : array of float, shape (n_rows,)
        ``eeg_label_offset_seconds`` of the rows, seconds.
    fs : float
        Sampling rate, Hz.
    prep : dict
        Keyword arguments of :func:`hms_features.signal.preprocess`.
    batch : int
        Rows per yielded batch.
    window_s : float
        Window length, s (the HMS 50 s by default; a scan may use others).

    Yields
    ------
    tuple
        ``(first row, windows (k, 20, n) float32 (a read-only view into the preprocessed
        recording), quality dict, psd dict span -> (freqs, (k, 18, f)))`` for consecutive
        groups of ``k <= batch`` rows, so the memory held is one recording plus one batch of
        windows' results, however many label rows the recording has (the real train.csv has
        recordings with hundreds).

    Notes
    -----
    Windows running past the end of the recording are NaN-padded before preprocessing, which
    repairs and flags them (a window starting after the end is moved to the end: all padding
    either way, and the padding stays at most one window long). Welch PSDs are shared through
    the segment spectra of the recording (2 s segments every 1 s, computed once over the
    stretch the rows cover): a window on the segment grid averages its segments, one off the
    grid gets its own Welch estimate. The quality indicators come from running counts over the
    recording (:func:`_shared_quality`, bit-identical to
    :func:`~hms_features.signal.window_quality` of each window).
    """
    rec = check_eeg(rec, name="rec", caller="recording_windows", layout="recording",
                    fs=fs, order=None, allow_empty=True)
    # a window starting past the end is all padding wherever it starts: start it at the end, so
    # that memory never depends on the offset (the padded length is at most one window)
    offsets = np.minimum(np.asarray(offsets, np.float64), rec.shape[-1] / fs)
    starts, n_win = window_samples(offsets, window_s, fs)
    if (starts < 0).any():
        raise ValueError(f"negative eeg_label_offset_seconds {offsets[starts < 0][0]}")
    need = int(starts.max()) + n_win
    # the whole recording, NaN-padded to the end of the last window: preprocessing repairs and
    # flags the padding
    length = max(rec.shape[-1], need)
    raw = cut_windows(rec, [0.0], length / fs, fs, pad=True)  # (1, 20, length)
    # the segment grid stays anchored at sample 0: the spectra start at the grid segment
    # holding the first window's start
    _, k_lo, _, hop = welch_grid(int(starts.min()), n_win, fs)
    lo = k_lo * hop
    with values_checked():  # made of rec's checked samples
        # _clean: preprocess without the whole recording's own quality indicators, which would
        # be discarded (the windows' come from running counts, _shared_quality)
        clean = _clean(check_eeg(raw, caller="recording_windows", dtype=None, order=None),
                       fs, **{**PREPROCESS_DEFAULTS, **prep})
        clean, raw = clean[0], raw[0]
        freqs, spectra = segment_spectra(bipolar(clean[:, lo:need]), fs, WELCH_SEGMENT_S)
    cs = np.zeros((spectra.shape[0], spectra.shape[1] + 1, spectra.shape[2]))
    np.cumsum(spectra, axis=1, out=cs[:, 1:])
    del spectra
    clip_uv = prep.get("clip_uv", PREPROCESS_DEFAULTS["clip_uv"])
    quality_of = _shared_quality(raw, clean, n_win, clip_uv)
    del raw
    spans = span_slices(n_win, fs)
    for a in range(0, len(starts), batch):
        st = starts[a:a + batch]
        # (k, 20, n_win), a read-only view: the families read it as they read a copy, and
        # copying overlapping windows (five times the samples at a 10 s step) costs time
        windows = cut_windows(clean, offsets[a:a + batch], window_s, fs)
        quality = quality_of(st)
        psd = {}
        for span, sl in spans.items():
            on_grid, k0, n_seg, _ = welch_grid(st + sl.start, sl.stop - sl.start, fs)
            k0 = k0[on_grid] - k_lo
            out = np.empty((len(st), cs.shape[0], len(freqs)), np.float32)
            out[on_grid] = np.moveaxis((cs[:, k0 + n_seg] - cs[:, k0]) / n_seg, 1, 0)
            if (~on_grid).any():
                out[~on_grid] = welch_psd(bipolar(windows[~on_grid][..., sl]), fs)[1]
            psd[span] = (freqs, out)
        yield a, windows, quality, psd


def _shared_quality(raw: np.ndarray, clean: np.ndarray, n_win: int, clip_uv):
    """:func:`~hms_features.signal.window_quality` of windows of one recording, from counts.

    ``raw`` and ``clean`` are the whole recording (20, n) before and after preprocessing. Each
    indicator is a sum of :func:`~hms_features.signal.quality_counts` over a window's samples;
    running sums of these counts are taken once over the recording, so overlapping windows
    share them; the returned function ``quality_of(starts)`` (window starts in samples) gives
    exactly ``window_quality`` of the windows ``[s, s + n_win)`` (integer counts divided by
    the same sample counts: bit-identical).
    """
    def running(counts, dtype=np.int64):  # cumulative sum along the last axis, from 0
        out = np.zeros(counts.shape[:-1] + (counts.shape[-1] + 1,), dtype)
        np.cumsum(counts, axis=-1, out=out[..., 1:])
        return out

    nan, clipped, changes = quality_counts(raw, clean, clip_uv)
    nan_cs = running(nan)
    clip_cs = None if clipped is None else running(clipped)
    change_cs = running(changes, np.int32)  # (19, n - 1 + 1)
    del nan, clipped, changes
    size = len(SCALP_CHANNELS) * n_win

    def quality_of(starts):
        s = np.asarray(starts, np.int64)
        e = s + n_win
        changes = change_cs[:, e - 1] - change_cs[:, s]  # (19, k) changes inside each window
        return {
            "nan_fraction": (nan_cs[e] - nan_cs[s]) / size,
            "bad_channels": (changes == 0).sum(axis=0).astype(np.float64),
            "clipped_fraction": (np.zeros(len(s)) if clip_cs is None else
                                 (clip_cs[e] - clip_cs[s]) / size),
        }

    return quality_of


def standalone_windows(rec: np.ndarray, offsets: np.ndarray, fs: float, prep: dict,
                       batch: int):
    """Cut the label windows of one recording, then preprocess each window on its own.

    Every window is what a standalone 50 s test file holding those samples would give: the same
    cut (:func:`~hms_features.windows.cut_windows`, NaN-padded past the end), then
    :func:`~hms_features.signal.preprocess` of the window alone (filters, NaN repair and
    clipping see no sample outside it). Preprocessing is vectorised over the batch; each
    window's Welch spectra are its own (filtered differently, overlapping windows share none).
    Parameters and yielded tuples are those of :func:`recording_windows`, with ``psd`` None
    (the features compute each window's Welch estimate themselves).
    """
    rec = check_eeg(rec, name="rec", caller="standalone_windows", layout="recording",
                    fs=fs, order=None, allow_empty=True)
    offsets = np.asarray(offsets, dtype=np.float64)
    if (offsets < 0).any():
        raise ValueError(f"negative eeg_label_offset_seconds {offsets[offsets < 0][0]}")
    for a in range(0, len(offsets), batch):
        raw = cut_windows(rec, offsets[a:a + batch], EEG_WINDOW_S, fs, pad=True)
        windows, quality = preprocess(raw, fs, **prep)
        yield a, np.ascontiguousarray(windows, dtype=np.float32), quality, None


def dataset_chunk(ds, rows: pd.DataFrame, families, names, prep, with_spec,
                  batch: int | None = None, context: str = "window") -> pd.DataFrame:
    """Features of a chunk of label rows (whole recordings), computed ``batch`` rows at a time.

    Each EEG file is read once; its windows are preprocessed each on its own
    (``context="window"``, :func:`standalone_windows`) or after filtering the whole recording
    (``context="recording"``, :func:`recording_windows`). Windows from several recordings are
    pooled until a batch holds at least ``batch`` rows (default: the whole chunk), and a
    recording with more rows than that is cut into batches. The spectrogram windows are read
    per batch.
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    windows_of = standalone_windows if context == "window" else recording_windows
    fs = ds.fs
    batch = len(rows) if batch is None else max(int(batch), 1)
    pending: list[tuple] = []
    tables = []

    def flush():
        windows = np.concatenate([w for _, w, _, _ in pending])
        quality = {k: np.concatenate([q[k] for _, _, q, _ in pending]) for k in pending[0][2]}
        psd = None if pending[0][3] is None else {
            s: (pending[0][3][s][0], np.concatenate([p[s][1] for *_, p in pending]))
            for s in pending[0][3]}
        pos = np.concatenate([i for i, _, _, _ in pending])
        spec = ds.spectrogram_windows(rows.loc[pos], pad=True) if with_spec else None
        feats = compute_features(windows, fs, feature_set=families, spectrogram=spec,
                                 quality=quality, psd=psd)
        # indexed by row position in the caller's label table; build_features restores its order
        tables.append(table(feats, names, pd.Index(pos, name="position")))
        pending.clear()

    for _eeg_id, rec, group in ds.iter_recordings(rows):
        positions = group.index.to_numpy()
        offsets = group["eeg_label_offset_seconds"].to_numpy(float)
        for a, w, q, p in windows_of(rec, offsets, fs, prep, batch):
            pending.append((positions[a:a + len(w)], w, q, p))
            if sum(len(x[1]) for x in pending) >= batch:
                flush()
    if pending:
        flush()
    return pd.concat(tables) if len(tables) > 1 else tables[0]
