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
from ..signal import EEG_COLUMNS
from ..validation import check_eeg
from .chunks import CONTEXTS, array_chunk, dataset_chunk

__all__ = ["Chunk", "Plan", "make_plan"]


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
        Hash of the chunk's inputs (part of its cache file name).
    """

    fn: Callable
    args: tuple
    size: int
    ident: str


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
    """

    kind: str
    families: list
    names: list
    fs: float
    prep: dict
    chunks: list
    index: pd.Index
    ident: tuple

    @property
    def n_windows(self) -> int:
        """Total windows over all chunks."""
        return int(sum(c.size for c in self.chunks))


def _as_inputs(data):
    """Normalise the accepted inputs to ('arrays', eeg, spec) or ('dataset', ds, None)."""
    if isinstance(data, HMSDataset):
        return "dataset", data, None
    if isinstance(data, (str, os.PathLike)):
        return "dataset", HMSDataset(data), None
    if isinstance(data, dict):
        if "eeg" not in data:
            raise ValueError("build_features: a dict input needs an 'eeg' array "
                             "(n_windows, 20, n_samples) and optionally 'spectrogram'")
        eeg, spec = data["eeg"], data.get("spectrogram")
    else:
        eeg, spec = data, None
    eeg = check_eeg(eeg, caller="build_features", n_channels=len(EEG_COLUMNS), dtype=None,
                    order=None)
    if spec is not None:
        spec = np.asarray(spec)
        if spec.ndim != 3 or spec.shape[0] != eeg.shape[0] or spec.shape[2] != 400:
            raise ValueError(f"build_features: spectrogram must have shape ({eeg.shape[0]}, "
                             f"n_rows, 400), got {spec.shape}")
    return "arrays", eeg, spec


def _index_column(rows: pd.DataFrame) -> str:
    return "label_id" if "label_id" in rows.columns else "eeg_id"


def _plan_arrays(eeg, spec, families, fs, prep, chunk_size) -> Plan:
    fs = float(fs)
    with_spec = spec is not None
    names = feature_names(families, spectrogram=with_spec, fs=fs)
    n = eeg.shape[0]
    chunks = []
    for a in range(0, n, chunk_size):
        b = min(a + chunk_size, n)
        sp = spec[a:b] if with_spec else None
        h = hashlib.sha1(np.ascontiguousarray(eeg[a:b]).view(np.uint8).data)
        if with_spec:
            h.update(np.ascontiguousarray(sp).view(np.uint8).data)
        chunks.append(Chunk(array_chunk, (eeg[a:b], sp, fs, families, names, prep,
                                          pd.RangeIndex(a, b)), b - a, h.hexdigest()[:16]))
    return Plan("arrays", families, names, fs, prep, chunks, pd.RangeIndex(n),
                ("arrays", eeg.shape, str(eeg.dtype), with_spec))


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


def _plan_dataset(ds, labels, families, prep, chunk_size, context) -> Plan:
    fs = float(ds.fs)
    rows = ds.labels if labels is None else labels
    with_spec = any(FAMILIES[f].needs_spectrogram for f in families)
    names = feature_names(families, spectrogram=with_spec, fs=fs)
    rows = rows.reset_index(drop=True)
    col = _index_column(rows)
    index = pd.Index(rows[col].to_numpy(), name=col)
    chunks = []
    for pos in _group_recordings(rows, chunk_size):
        sub = rows.iloc[np.sort(pos)]
        key = sub.reset_index()[["index", col, "eeg_id", "eeg_label_offset_seconds"]]
        if with_spec:
            key = key.join(sub.reset_index()[["spectrogram_id",
                                              "spectrogram_label_offset_seconds"]])
        ident = hashlib.sha1(key.to_numpy(np.float64).tobytes()).hexdigest()[:16]
        chunks.append(Chunk(dataset_chunk, (ds, sub, families, names, prep, with_spec,
                                            chunk_size, context), len(sub), ident))
    # the context is part of the input's identity, hence of the cache key
    return Plan("dataset", families, names, fs, prep, chunks, index,
                ("dataset", str(Path(ds.root).resolve()), ds.split, context))


def make_plan(data, feature_set, chunk_size: int, labels=None, fs: float = 200.0,
              preprocess_kwargs: dict | None = None, context: str = "window") -> Plan:
    """The plan of ``build_features(data, feature_set, ...)`` (same parameters, see there)."""
    if context not in CONTEXTS:
        raise ValueError(f"build_features: context must be one of {CONTEXTS}, got {context!r}")
    kind, src, spec = _as_inputs(data)
    families = resolve_families(feature_set)
    prep = dict(preprocess_kwargs or {})
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if kind == "arrays":
        return _plan_arrays(src, spec, families, fs, prep, chunk_size)
    return _plan_dataset(src, labels, families, prep, chunk_size, context)
