"""The plan of a :func:`hms_features.build.build_features` call: what to compute, in which chunks.

A :class:`Plan` is pure data made before anything is computed: the kind of input, the families
and output columns, the rows' index, and the list of :class:`Chunk` (worker, arguments, number of
windows, hash of the chunk's inputs). The cache (:mod:`.cache`) keys files by the plan, the
runner (:mod:`.run`) executes its chunks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..data import HMSDataset
from ..features.base import FAMILIES
from ..features.registry import feature_names, resolve_families
from ..signal import BIPOLAR_NAMES, EEG_COLUMNS
from ..validation import check_eeg, check_spectrogram
from .chunks import CONTEXTS, array_chunk, dataset_chunk

__all__ = ["Chunk", "Plan", "make_plan", "span_names"]


def span_names(names: list, window_s: float) -> list:
    """Feature names for windows of ``window_s`` seconds: the whole-window span suffix
    ``_50s`` (how the families name it) becomes the real length, e.g. ``_30s``; unchanged for
    50 s windows."""
    if np.isclose(window_s, 50.0):
        return list(names)
    tag = f"_{window_s:g}s".replace(".", "p")
    return [n[:-4] + tag if n.endswith("_50s") else n for n in names]


@dataclass(frozen=True)
class Chunk:
    """One unit of parallel work and of the cache.

    Attributes
    ----------
    fn : callable
        The worker (:func:`.chunks.array_chunk` or :func:`.chunks.dataset_chunk`).
    args : tuple
        Its arguments; ``fn(*args)`` returns the chunk's float32 DataFrame.
    size : int
        Windows (rows of the result) in the chunk.
    ident : str
        Hash of the chunk's inputs (part of its cache file name): the windows' bytes, or the
        label rows and the identity of every parquet file the chunk reads.
    index : pandas.Index
        Index of the chunk's table (window numbers, or row positions in the label table).
    """

    fn: Callable
    args: tuple
    size: int
    ident: str
    index: pd.Index


@dataclass
class Plan:
    """Everything decided before computing.

    Attributes
    ----------
    kind : {"arrays", "dataset"}
    families : list of str
        Resolved feature families.
    names : list of str
        Output columns, in order.
    fs : float
        Sampling rate, Hz.
    prep : dict
        Keyword arguments of :func:`hms_features.signal.preprocess`.
    chunks : list of Chunk
    index : pandas.Index
        Index of the final table (``label_id``/``eeg_id`` for a dataset, a RangeIndex for arrays).
    ident : tuple
        Identity of the whole input (part of the cache key).
    window_s : float
        Window length, s (the output columns say it: :func:`span_names`).
    dropped : tuple of str
        Derivations a recording input lacks (its features use the others).
    n_padded : int
        Label rows whose window reaches outside their recording, NaN-padded (``pad=True``).
    """

    kind: str
    families: list
    names: list
    fs: float
    prep: dict
    chunks: list
    index: pd.Index
    ident: tuple
    window_s: float = 50.0
    dropped: tuple = ()
    n_padded: int = 0

    @property
    def n_windows(self) -> int:
        """Total windows over all chunks."""
        return int(sum(c.size for c in self.chunks))


#: File extensions of single recordings (read with MNE) that build_features accepts.
RECORDING_SUFFIXES = (".edf", ".bdf", ".vhdr", ".fif", ".set")


def _is_mne(data) -> bool:
    return type(data).__module__.split(".")[0] == "mne"


def recording_windows_input(data, fs: float = 200.0):
    """A recording in any form -> its referential windows ``(n, 20, n_samples)`` at ``fs``.

    ``mne.io.Raw`` and recording files (EDF/BDF/BrainVision/FIF/EEGLAB) give one window, the
    whole recording; ``mne.Epochs`` one window per epoch; ``{"eeg": array, "ch_names": [...],
    "sfreq": Hz}`` one window per ``(n_channels, n_samples)`` slice of a 2-D or 3-D array.
    Channels are matched by name and resampled with
    :func:`hms_features.montage.load_referential` (missing channels allowed: the derivations
    they feed are dropped). Returns ``(windows, present (18,) bool)``, or None for the other
    inputs of build_features.
    """
    from ..montage import load_referential

    if isinstance(data, dict) and ("ch_names" in data or "sfreq" in data):
        if "eeg" not in data or "ch_names" not in data or "sfreq" not in data:
            raise ValueError("build_features: a dict with channel names needs 'eeg' "
                             "((n_channels, n_samples) or (n_windows, n_channels, n_samples), "
                             "µV), 'ch_names' and 'sfreq' (Hz)")
        x, _, present = load_referential(np.asarray(data["eeg"]), ch_names=data["ch_names"],
                                         sfreq=float(data["sfreq"]), fs=fs, allow_missing=True)
    elif _is_mne(data) or (isinstance(data, (str, os.PathLike))
                           and Path(data).suffix.lower() in RECORDING_SUFFIXES):
        x, _, present = load_referential(data, fs=fs, allow_missing=True)
    else:
        return None
    return (x[None] if x.ndim == 2 else x), present


def _as_inputs(data, fs):
    """Normalise the accepted inputs to ('arrays', eeg, spec, present) or ('dataset', ds, None,
    None); ``present`` (18,) bool marks the derivations of a recording input, else None."""
    if isinstance(data, HMSDataset):
        return "dataset", data, None, None
    rec = recording_windows_input(data)
    if rec is not None:
        return "arrays", rec[0], None, rec[1]
    if isinstance(data, (str, os.PathLike)):
        return "dataset", HMSDataset(data), None, None
    if isinstance(data, dict):
        if "eeg" not in data:
            raise ValueError("build_features: a dict input needs an 'eeg' array "
                             "(n_windows, 20, n_samples) and optionally 'spectrogram'")
        eeg, spec = data["eeg"], data.get("spectrogram")
    else:
        eeg, spec = data, None
    eeg = check_eeg(eeg, caller="build_features", n_channels=len(EEG_COLUMNS), dtype=None,
                    order=None, fs=fs)
    if spec is not None:
        spec = check_spectrogram(spec, eeg.shape[0], "build_features")
    return "arrays", eeg, spec, None


def _index_column(rows: pd.DataFrame) -> str:
    return "label_id" if "label_id" in rows.columns else "eeg_id"


def _plan_arrays(eeg, spec, families, fs, prep, chunk_size, present=None) -> Plan:
    fs = float(fs)
    with_spec = spec is not None
    names = feature_names(families, spectrogram=with_spec, fs=fs)
    n = eeg.shape[0]
    partial = present is not None and not np.all(present)
    chunks = []
    for a in range(0, n, chunk_size):
        b = min(a + chunk_size, n)
        sp = spec[a:b] if with_spec else None
        h = hashlib.sha1(np.ascontiguousarray(eeg[a:b]).view(np.uint8).data)
        if with_spec:
            h.update(np.ascontiguousarray(sp).view(np.uint8).data)
        if partial:
            h.update(present.tobytes())
        chunks.append(Chunk(array_chunk, (eeg[a:b], sp, fs, families, names, prep,
                                          pd.RangeIndex(a, b), present if partial else None),
                            b - a, h.hexdigest()[:16], pd.RangeIndex(a, b)))
    dropped = tuple(n for n, ok in zip(BIPOLAR_NAMES, present) if not ok) if partial else ()
    return Plan("arrays", families, names, fs, prep, chunks, pd.RangeIndex(n),
                ("arrays", eeg.shape, str(eeg.dtype), with_spec, dropped),
                window_s=eeg.shape[-1] / fs, dropped=dropped)


def _group_recordings(rows: pd.DataFrame, chunk_size: int) -> list[np.ndarray]:
    """Row positions of each chunk: whole recordings, at least ``chunk_size`` rows a chunk."""
    groups = list(rows.groupby("eeg_id", sort=False).indices.values())
    current, count = [], 0
    chunks = []
    for g in groups:
        current.append(g)
        count += len(g)
        if count >= chunk_size:
            chunks.append(np.concatenate(current))
            current, count = [], 0
    if current:
        chunks.append(np.concatenate(current))
    return chunks


def _plan_dataset(ds, labels, families, prep, chunk_size, pad, context) -> Plan:
    fs = float(ds.fs)
    rows = ds.labels if labels is None else labels
    with_spec = any(FAMILIES[f].needs_spectrogram for f in families)
    names = feature_names(families, spectrogram=with_spec, fs=fs)
    ds.check_rows(rows, spectrogram=with_spec)
    rows = rows.reset_index(drop=True)
    # the one offset rule (HMSDataset.rows_outside), from the parquet footers: refused unless
    # pad, before anything is read or allocated
    outside = ds.rows_outside(rows, spectrogram=with_spec)
    if len(outside) and not pad:
        raise ds.outside_error(outside)
    col = _index_column(rows)
    index = pd.Index(rows[col].to_numpy(), name=col)
    chunks = []
    for pos in _group_recordings(rows, chunk_size):
        sub = rows.iloc[np.sort(pos)]
        key = sub.reset_index()[["index", col, "eeg_id", "eeg_label_offset_seconds"]]
        files = [ds.file_info(ds.eeg_path(i), "EEG")[0] for i in sub["eeg_id"].unique()]
        if with_spec:
            key = key.join(sub.reset_index()[["spectrogram_id",
                                              "spectrogram_label_offset_seconds"]])
            files += [ds.file_info(ds.spectrogram_path(i), "spectrogram")[0]
                      for i in sub["spectrogram_id"].unique()]
        h = hashlib.sha1(key.to_numpy(np.float64).tobytes())
        h.update("|".join(files).encode())  # an edited recording changes its chunks' ident
        # the chunk's handle holds its own rows only (the same object as ``sub``: pickled once)
        args = (ds._with_labels(sub), sub, families, names, prep, with_spec, chunk_size,
                context)
        chunks.append(Chunk(dataset_chunk, args, len(sub), h.hexdigest()[:16], sub.index))
    # the context is part of the input's identity, hence of the cache key
    return Plan("dataset", families, names, fs, prep, chunks, index,
                ("dataset", str(Path(ds.root).resolve()), ds.split, context),
                n_padded=int(outside["position"].nunique()))


def make_plan(data, feature_set, chunk_size: int, labels=None, fs: float = 200.0,
              preprocess_kwargs: dict | None = None, pad: bool = False,
              context: str = "window") -> Plan:
    """The plan of ``build_features(data, feature_set, ...)`` (same parameters, see there)."""
    if context not in CONTEXTS:
        raise ValueError(f"build_features: context must be one of {CONTEXTS}, got {context!r}")
    kind, src, spec, present = _as_inputs(data, fs)
    if present is not None:  # a recording: brought to 200 Hz by load_referential
        fs = 200.0
    families = resolve_families(feature_set)
    prep = dict(preprocess_kwargs or {})
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if kind == "arrays":
        return _plan_arrays(src, spec, families, fs, prep, chunk_size, present)
    return _plan_dataset(src, labels, families, prep, chunk_size, pad, context)
