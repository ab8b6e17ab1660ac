"""``build_features``: the front door from an HMS dataset (or raw windows) to a feature table.

Work is split into chunks that each fit comfortably in memory, computed in parallel with
joblib, optionally cached as one parquet file per chunk (written atomically, so an interrupted
run resumes where it stopped), with a tqdm progress bar counting windows.

Dataset path: chunks are groups of whole recordings (label rows grouped by ``eeg_id``), so each
EEG parquet is read once. Each recording is preprocessed once in full (filters see the whole
recording; windows running past its end are NaN-padded and repaired), then its label windows
are cut and featurised in batches of about ``chunk_size``, pooled across small recordings, so a
recording with hundreds of label rows never holds all its windows at once. The ~6 overlapping
windows of a recording share their Welch spectra: the 2 s Hann periodograms are computed once
per recording on a 1 s grid and each window's PSD is the mean of the segments inside it, which
is *exactly* the per-window Welch estimate when the window starts on the 1 s grid (the HMS
offsets are whole seconds); other windows get a direct estimate.

Each chunk runs with one BLAS thread (threadpoolctl): the batched small products of the feature
code gain nothing from BLAS threads, which would only spin on the cores the workers use.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .features.base import WELCH_SEGMENT_S, segment_spectra, welch_psd
from .features.registry import compute_features, feature_names, resolve_families, span_slices
from .signal import EEG_COLUMNS, FS, SCALP_CHANNELS, bipolar, preprocess

__all__ = ["build_features", "HMSFeatureExtractor", "DEFAULT_CHUNK_SIZE", "BACKENDS"]

#: Default number of windows per chunk (raw arrays) or label rows per chunk (datasets).
DEFAULT_CHUNK_SIZE = 64
#: Parallel backends accepted by :func:`build_features`.
BACKENDS = ("loky", "threading", "sequential", "dask")
_EEG_WINDOW_S = 50.0
_SPEC_ROWS = 300


# ----------------------------------------------------------------------------- chunk workers


def _table(feats: dict, names: list[str], index) -> pd.DataFrame:
    # one float32 block: a dict of 3,000 columns costs pandas ~1 ms per window to consolidate
    values = np.empty((len(index), len(names)), np.float32)
    for j, k in enumerate(names):
        values[:, j] = feats[k]
    return pd.DataFrame(values, index=index, columns=names)


def _array_chunk(eeg, spec, fs, families, names, prep, index) -> pd.DataFrame:
    clean, quality = preprocess(eeg, fs, **prep)
    feats = compute_features(clean, fs, feature_set=families, spectrogram=spec, quality=quality)
    return _table(feats, names, index)


def _recording_windows(rec: np.ndarray, offsets: np.ndarray, fs: float, prep: dict,
                       batch: int):
    """Preprocess one recording once and cut its windows, ``batch`` label rows at a time.

    Welch PSDs are shared through the segment spectra of the recording (2 s segments every 1 s,
    computed once over the stretch the rows cover): a window on the segment grid averages its
    segments, one off the grid gets its own Welch estimate.

    Yields ``(first row, windows (k, 20, n) float32, quality dict, psd dict span -> (freqs,
    (k, 18, f)))`` for consecutive groups of ``k <= batch`` rows, so the memory held is one
    recording plus one batch of windows, however many label rows the recording has (the real
    train.csv has recordings with hundreds).
    """
    n_win = int(round(_EEG_WINDOW_S * fs))
    starts = np.rint(offsets * fs).astype(np.int64)
    if (starts < 0).any():
        raise ValueError(f"negative eeg_label_offset_seconds {offsets[starts < 0][0]}")
    need = int(starts.max()) + n_win
    raw = np.asarray(rec, dtype=np.float32).T[None]  # (1, 20, n_samples)
    if raw.shape[-1] < need:  # window past the end: NaN-pad, preprocessing repairs and flags it
        pad = np.full((1, raw.shape[1], need - raw.shape[-1]), np.nan, np.float32)
        raw = np.concatenate([raw, pad], axis=-1)
    clean, _ = preprocess(raw, fs, **prep)
    clean, raw = clean[0], raw[0]
    seg = int(round(WELCH_SEGMENT_S * fs))
    hop = seg // 2
    lo = int(starts.min()) // hop * hop  # the segment grid stays anchored at sample 0
    freqs, spectra = segment_spectra(bipolar(clean[:, lo:need]), fs, WELCH_SEGMENT_S)
    cs = np.zeros((spectra.shape[0], spectra.shape[1] + 1, spectra.shape[2]))
    np.cumsum(spectra, axis=1, out=cs[:, 1:])
    del spectra
    scalp = slice(0, len(SCALP_CHANNELS))
    clip = prep.get("clip_uv", 1024.0)
    spans = span_slices(n_win, fs)
    for a in range(0, len(starts), batch):
        st = starts[a:a + batch]
        idx = st[:, None] + np.arange(n_win)
        windows = np.ascontiguousarray(np.moveaxis(clean[:, idx], 1, 0))  # (k, 20, n_win)
        quality = {
            "nan_fraction": np.isnan(np.moveaxis(raw[scalp][:, idx], 1, 0)).mean(axis=(1, 2)),
            "bad_channels": (np.ptp(windows[:, scalp], axis=-1) == 0).sum(axis=1).astype(float),
            "clipped_fraction": (np.zeros(len(st)) if clip is None else
                                 (np.abs(windows[:, scalp]) >= clip).mean(axis=(1, 2))),
        }
        psd = {}
        for span, sl in spans.items():
            length = sl.stop - sl.start
            n_seg = (length - seg) // hop + 1
            first = st + sl.start
            out = np.empty((len(st), cs.shape[0], len(freqs)), np.float32)
            on_grid = first % hop == 0
            k0 = (first[on_grid] - lo) // hop
            out[on_grid] = np.moveaxis((cs[:, k0 + n_seg] - cs[:, k0]) / n_seg, 1, 0)
            if (~on_grid).any():
                out[~on_grid] = welch_psd(bipolar(windows[~on_grid][..., sl]), fs)[1]
            psd[span] = (freqs, out)
        yield a, windows, quality, psd


def _dataset_chunk(ds, rows: pd.DataFrame, families, names, prep, with_spec,
                   batch: int | None = None) -> pd.DataFrame:
    """Features of a chunk of label rows (whole recordings), computed ``batch`` rows at a time.

    Each EEG file is read and filtered once; windows from several recordings are pooled until a
    batch holds at least ``batch`` rows (default: the whole chunk), and a recording with more
    rows than that is cut into batches. The spectrogram windows are read per batch.
    """
    fs = ds.fs
    batch = len(rows) if batch is None else max(int(batch), 1)
    pending: list[tuple] = []
    tables = []

    def flush():
        windows = np.concatenate([w for _, w, _, _ in pending])
        quality = {k: np.concatenate([q[k] for _, _, q, _ in pending]) for k in pending[0][2]}
        psd = {s: (pending[0][3][s][0], np.concatenate([p[s][1] for *_, p in pending]))
               for s in pending[0][3]}
        pos = np.concatenate([i for i, _, _, _ in pending])
        spec = ds.spectrogram_windows(rows.loc[pos], pad=True) if with_spec else None
        feats = compute_features(windows, fs, feature_set=families, spectrogram=spec,
                                 quality=quality, psd=psd)
        # indexed by row position in the caller's label table; build_features restores its order
        tables.append(_table(feats, names, pd.Index(pos, name="position")))
        pending.clear()

    for _eeg_id, rec, group in ds.iter_recordings(rows):
        positions = group.index.to_numpy()
        offsets = group["eeg_label_offset_seconds"].to_numpy(float)
        for a, w, q, p in _recording_windows(rec, offsets, fs, prep, batch):
            pending.append((positions[a:a + len(w)], w, q, p))
            if sum(len(x[1]) for x in pending) >= batch:
                flush()
    if pending:
        flush()
    return pd.concat(tables) if len(tables) > 1 else tables[0]


def _index_column(rows: pd.DataFrame) -> str:
    return "label_id" if "label_id" in rows.columns else "eeg_id"


def _run_chunk(task, cache_path):
    from threadpoolctl import threadpool_limits

    fn, args = task
    # the BLAS calls are many small batched products: extra BLAS threads only spin and steal
    # the cores the chunk-level parallelism already uses
    with threadpool_limits(limits=1, user_api="blas"):
        df = fn(*args)
    if cache_path is not None:
        tmp = cache_path.with_name(f".{cache_path.name}.{os.getpid()}.tmp")
        df.to_parquet(tmp)
        os.replace(tmp, cache_path)
    return df


# ----------------------------------------------------------------------------- front door


def _as_inputs(data):
    """Normalise the accepted inputs to ('arrays', eeg, spec) or ('dataset', ds, None)."""
    from .data import HMSDataset

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
    eeg = np.asarray(eeg)
    if eeg.ndim != 3 or eeg.shape[1] != len(EEG_COLUMNS):
        raise ValueError(f"build_features: eeg must have shape (n_windows, {len(EEG_COLUMNS)}, "
                         f"n_samples) in EEG_COLUMNS order, got {eeg.shape}")
    if spec is not None:
        spec = np.asarray(spec)
        if spec.ndim != 3 or spec.shape[0] != eeg.shape[0] or spec.shape[2] != 400:
            raise ValueError(f"build_features: spectrogram must have shape ({eeg.shape[0]}, "
                             f"n_rows, 400), got {spec.shape}")
    return "arrays", eeg, spec


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Hash of the source files that decide feature values: the readers, the preprocessing, this
    module and every feature family. Part of the cache key, so that installing changed code
    under the same version number never serves features computed by the old code."""
    root = Path(__file__).resolve().parent
    files = [root / "data.py", root / "signal.py", root / "build.py",
             *sorted((root / "features").glob("*.py"))]
    h = hashlib.sha1()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _cache_key(kind, families, fs, prep, ident) -> str:
    from . import __version__

    blob = json.dumps([kind, families, fs, sorted(prep.items()), __version__,
                       _code_fingerprint(), ident], default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _parallel(n_jobs, backend):
    """The joblib executor of a backend name.

    ``"dask"`` runs the chunks on the workers of the current ``dask.distributed`` client
    (joblib's Dask backend); ``n_jobs`` is then the cluster's business.
    """
    from joblib import Parallel

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "dask":
        try:
            from dask.distributed import get_client
        except ImportError:
            raise ImportError("backend='dask' needs dask.distributed: "
                              "python3 -m pip install 'hms-features[dask]'") from None
        try:
            get_client()
        except ValueError:
            raise RuntimeError("backend='dask' needs a running dask.distributed Client, e.g. "
                               "Client(LocalCluster()) or Client('tcp://scheduler:8786')") from None
        from joblib import parallel_config

        with parallel_config(backend="dask"):  # registers joblib's Dask backend on first use
            return Parallel(n_jobs=-1, return_as="generator_unordered")
    if backend == "sequential":
        n_jobs = 1
    return Parallel(n_jobs=n_jobs, backend="loky" if backend == "sequential" else backend,
                    return_as="generator_unordered", max_nbytes="1M")


def build_features(data, feature_set="default", n_jobs: int = -1,
                   chunk_size: int | None = None, cache_dir=None, progress: bool = True,
                   labels: pd.DataFrame | None = None, backend: str = "loky",
                   fs: float = FS, preprocess_kwargs: dict | None = None) -> pd.DataFrame:
    """Compute a feature table from an HMS dataset or from raw EEG windows.

    Parameters
    ----------
    data : HMSDataset, path, dict or array
        * :class:`~hms_features.data.HMSDataset` (or its root folder): one row per label row
          (``labels``, default all of ``data.labels``); windows are the 50 s EEG windows at
          ``eeg_label_offset_seconds`` and, for families that need them, the 600 s spectrogram
          windows.
        * ``{"eeg": (n, 20, n_samples), "spectrogram": (n, 300, 400) optional}`` or a bare
          ``(n, 20, n_samples)`` array: referential EEG in µV, ``EEG_COLUMNS`` order; without a
          spectrogram the families needing one are left out.
    feature_set : {"default", "fast"} or list of str
        Families to compute, see :mod:`hms_features.features.registry`.
    n_jobs : int
        Parallel workers (joblib convention, -1 = all cores).
    chunk_size : int, optional
        Windows (arrays) or label rows (datasets) per chunk, the unit of parallel work and of
        the cache; default :data:`DEFAULT_CHUNK_SIZE`. A dataset chunk keeps whole recordings
        together (each EEG file is read once) but computes fewer than ``2 * chunk_size`` windows
        at a time (usually about ``chunk_size``), so a recording with hundreds of label rows
        does not hold them all in memory.
        Memory is bounded by one batch per worker (about ``chunk_size * 0.8`` MB of EEG plus
        temporaries) plus the recording being read.
    cache_dir : path, optional
        Folder for finished chunks (``{cache_dir}/{key}/chunk_*.parquet``, ``key`` hashing the
        feature set, settings, library version and input identity). A re-run computes only the
        chunks whose file is missing.
    progress : bool
        Show a tqdm bar counting windows (with windows/s).
    labels : DataFrame, optional
        Dataset label rows to featurise (e.g. ``ds.labels.iloc[:100]`` or ``ds.eeg_labels()``).
    backend : {"loky", "threading", "sequential", "dask"}
        joblib backend. ``"dask"`` sends the chunks to the workers of the active
        ``dask.distributed.Client`` (create one first: ``Client(LocalCluster())`` or
        ``Client("tcp://scheduler:8786")``); with ``cache_dir`` the workers write the chunk
        files, so it must be a folder they all see.
    fs : float
        Sampling rate of raw arrays, Hz (a dataset brings its own).
    preprocess_kwargs : dict, optional
        Passed to :func:`hms_features.signal.preprocess` (filter edges, clipping, ...).

    Returns
    -------
    DataFrame, float32
        One row per window, indexed by ``label_id`` (dataset; ``eeg_id`` when the rows have no
        ``label_id``) in the order of ``labels``, or a RangeIndex (arrays); columns in the stable
        order of :func:`~hms_features.features.registry.feature_names`. Never NaN or inf: the
        families' documented fill values stand in for undefined measures. ``df.attrs`` holds
        ``chunks_total`` and ``chunks_computed`` (chunks not taken from the cache).
    """
    from tqdm.auto import tqdm

    kind, src, spec = _as_inputs(data)
    families = resolve_families(feature_set)
    prep = dict(preprocess_kwargs or {})
    chunk_size = int(chunk_size or DEFAULT_CHUNK_SIZE)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    tasks, sizes, idents = [], [], []
    if kind == "arrays":
        fs = float(fs)
        with_spec = spec is not None
        names = feature_names(families, spectrogram=with_spec, fs=fs)
        n = src.shape[0]
        for a in range(0, n, chunk_size):
            b = min(a + chunk_size, n)
            sp = spec[a:b] if with_spec else None
            tasks.append((_array_chunk, (src[a:b], sp, fs, families, names, prep,
                                         pd.RangeIndex(a, b))))
            sizes.append(b - a)
            h = hashlib.sha1(np.ascontiguousarray(src[a:b]).view(np.uint8).data)
            if with_spec:
                h.update(np.ascontiguousarray(sp).view(np.uint8).data)
            idents.append(h.hexdigest()[:16])
        index = pd.RangeIndex(n)
        ident = ("arrays", src.shape, str(src.dtype), with_spec)
    else:
        ds = src
        fs = float(ds.fs)
        rows = ds.labels if labels is None else labels
        from .features.base import FAMILIES

        with_spec = any(FAMILIES[f].needs_spectrogram for f in families)
        names = feature_names(families, spectrogram=with_spec, fs=fs)
        rows = rows.reset_index(drop=True)
        col = _index_column(rows)
        index = pd.Index(rows[col].to_numpy(), name=col)
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
        for pos in chunks:
            sub = rows.iloc[np.sort(pos)]
            tasks.append((_dataset_chunk, (ds, sub, families, names, prep, with_spec,
                                           chunk_size)))
            sizes.append(len(sub))
            key = sub.reset_index()[["index", col, "eeg_id", "eeg_label_offset_seconds"]]
            if with_spec:
                key = key.join(sub.reset_index()[["spectrogram_id",
                                                  "spectrogram_label_offset_seconds"]])
            idents.append(hashlib.sha1(key.to_numpy(np.float64).tobytes()).hexdigest()[:16])
        ident = ("dataset", str(Path(ds.root).resolve()), ds.split)
    paths = [None] * len(tasks)
    done: dict[int, pd.DataFrame] = {}
    if cache_dir is not None:
        folder = Path(cache_dir) / _cache_key(kind, families, fs, prep, ident)
        folder.mkdir(parents=True, exist_ok=True)
        for i, h in enumerate(idents):
            paths[i] = folder / f"chunk_{i:06d}_{h}.parquet"
            if paths[i].is_file():
                try:
                    done[i] = pd.read_parquet(paths[i])
                except Exception:  # a damaged file (should not happen: writes are atomic)
                    paths[i].unlink(missing_ok=True)
    todo = [i for i in range(len(tasks)) if i not in done]
    bar = tqdm(total=int(sum(sizes)), disable=not progress, unit="win", desc="features",
               smoothing=0.1)
    bar.update(int(sum(sizes[i] for i in done)))
    try:
        if todo:
            from joblib import delayed

            par = _parallel(n_jobs if len(todo) > 1 else 1, backend)
            results = par(delayed(_indexed)(i, tasks[i], paths[i]) for i in todo)
            for i, df in results:
                done[i] = df
                bar.update(sizes[i])
    finally:
        bar.close()
    if tasks:
        table = pd.concat([done[i] for i in range(len(tasks))], axis=0)
        if kind == "dataset":  # chunks hold whole recordings: back to the caller's row order
            table = table.sort_index()
    else:
        table = pd.DataFrame(columns=names, dtype=np.float32)
    table = table.astype(np.float32)
    table.index = index
    table.attrs["chunks_total"] = len(tasks)
    table.attrs["chunks_computed"] = len(todo)
    return table


def _indexed(i, task, path):
    return i, _run_chunk(task, path)


# ----------------------------------------------------------------------------- sklearn


class HMSFeatureExtractor(TransformerMixin, BaseEstimator):
    """scikit-learn transformer from HMS label rows to features (the head of a Pipeline).

    Parameters
    ----------
    root : path-like, optional
        Root of the dataset in the Kaggle layout that the label rows refer to. Required at
        ``transform`` time (a parameter rather than global state, so a fitted pipeline says
        where its data come from and ``clone`` keeps it).
    split : {"train", "test"}
        Which parquet folders of ``root`` to read.
    feature_set : {"default", "fast"} or list of str
    n_jobs, chunk_size, cache_dir, progress, backend, preprocess_kwargs
        Passed to :func:`build_features`.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns of the label table seen in ``fit``.
    n_features_in_ : int
    feature_names_out_ : ndarray of str
        Feature columns produced by ``transform``.
    """

    def __init__(self, root=None, split="train", feature_set="default", n_jobs=1,
                 chunk_size=None, cache_dir=None, progress=False, backend="loky",
                 preprocess_kwargs=None):
        self.root = root
        self.split = split
        self.feature_set = feature_set
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir
        self.progress = progress
        self.backend = backend
        self.preprocess_kwargs = preprocess_kwargs

    def _check_rows(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("HMSFeatureExtractor: X must be a DataFrame of HMS label rows "
                            f"(eeg_id, eeg_label_offset_seconds, ...), got {type(X).__name__}")
        need = ["eeg_id", "eeg_label_offset_seconds"]
        from .features.base import FAMILIES

        if any(FAMILIES[f].needs_spectrogram for f in resolve_families(self.feature_set)):
            need += ["spectrogram_id", "spectrogram_label_offset_seconds"]
        missing = [c for c in need if c not in X.columns]
        if missing:
            raise ValueError(f"HMSFeatureExtractor: X lacks the label column(s) {missing}")
        return X

    def fit(self, X, y=None):
        """Check the label rows and fix the output columns; nothing is learned. Returns self."""
        X = self._check_rows(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(X.columns)
        from .features.base import FAMILIES

        fams = resolve_families(self.feature_set)
        spec = any(FAMILIES[f].needs_spectrogram for f in fams)
        self.feature_names_out_ = np.asarray(feature_names(fams, spectrogram=spec),
                                             dtype=object)
        return self

    def transform(self, X):
        """Features of the label rows ``X``: ndarray float32 (n_rows, n_features_out)."""
        from .data import HMSDataset

        if not hasattr(self, "feature_names_out_"):
            raise RuntimeError("HMSFeatureExtractor: call fit before transform")
        X = self._check_rows(X)
        if self.root is None:
            raise ValueError("HMSFeatureExtractor: set root= to the folder of the Kaggle HMS "
                             "layout the label rows refer to")
        ds = HMSDataset(self.root, self.split, check_files=False)
        df = build_features(ds, self.feature_set, n_jobs=self.n_jobs, chunk_size=self.chunk_size,
                            cache_dir=self.cache_dir, progress=self.progress, labels=X,
                            backend=self.backend, preprocess_kwargs=self.preprocess_kwargs)
        return df.to_numpy(dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns (ndarray of str)."""
        if not hasattr(self, "feature_names_out_"):
            raise RuntimeError("HMSFeatureExtractor: call fit before get_feature_names_out")
        return self.feature_names_out_.copy()
