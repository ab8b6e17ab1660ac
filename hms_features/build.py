"""``build_features``: the front door from an HMS dataset (or raw windows) to a feature table.

Work is split into chunks that each fit comfortably in memory, computed in parallel with
joblib, optionally cached as one parquet file per chunk (written atomically, so an interrupted
run resumes where it stopped), with a tqdm progress bar counting windows. Three steps, each in
its own module of :mod:`hms_features._build`: the **plan** (:mod:`~hms_features._build.plan`:
inputs checked, families, columns, chunks and their input hashes), the **cache**
(:mod:`~hms_features._build.cache`: key, read, atomic write of chunk files) and the **run**
(:mod:`~hms_features._build.run`: joblib or Dask, progress bar); what one chunk computes is in
:mod:`~hms_features._build.chunks`.

Dataset path: chunks are groups of whole recordings (label rows grouped by ``eeg_id``), so each
EEG parquet is read once. By default (``context="window"``) every label window is cut out of the
raw recording first (:func:`hms_features.windows.cut_windows`) and then preprocessed on its own,
exactly as a standalone 50 s test file of those samples is: training and test features come from
the same computation. ``context="recording"`` instead preprocesses each recording once in full
(filters see the whole recording; windows running past its end are NaN-padded and repaired) and
cuts its windows afterwards; the ~6 overlapping windows of a recording then share their Welch
spectra (the 2 s Hann periodograms computed once on a 1 s grid, each window's PSD the mean of
the segments inside it: exactly the per-window Welch estimate when the window starts on the grid,
as the whole-second HMS offsets do). Either way windows are featurised in batches of about
``chunk_size``, pooled across small recordings, so a recording with hundreds of label rows never
holds all its windows at once.

Arrays follow the library's convention, ``(windows, channels, samples)`` float32 µV (see
ARCHITECTURE.md at the root of the repository).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ._build.cache import ChunkCache
from ._build.plan import make_plan, span_names
from ._build.run import BACKENDS, run_plan
from .features.registry import feature_names, resolve_families
from .signal import FS, PREPROCESS_DEFAULTS

__all__ = ["build_features", "HMSFeatureExtractor", "DEFAULT_CHUNK_SIZE", "BACKENDS",
           "CacheWarning", "PaddingWarning"]

#: Default number of windows per chunk (raw arrays) or label rows per chunk (datasets).
DEFAULT_CHUNK_SIZE = 64


def build_features(data, feature_set="default", n_jobs: int = -1,
                   chunk_size: int | None = None, cache_dir=None, progress: bool = True,
                   labels: pd.DataFrame | None = None, backend: str = "loky",
                   fs: float = FS, preprocess_kwargs: dict | None = None,
                   pad: bool = False, context: str = "window") -> pd.DataFrame:
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
        * any recording, brought to the 20 channels at 200 Hz by
          :func:`hms_features.montage.load_montage` (channels matched by name, 10-20 aliases,
          resampled without edge steps): an ``mne.io.Raw`` or a recording file (EDF, BDF,
          BrainVision ``.vhdr``, FIF, EEGLAB ``.set``; one row, the whole recording), an
          ``mne.Epochs`` (one row per epoch), or ``{"eeg": array, "ch_names": [...], "sfreq":
          Hz}`` with a ``(n_channels, n_samples)`` (one row) or ``(n_windows, n_channels,
          n_samples)`` array in µV. Windows need at least 10 s. For sliding windows along a long
          recording use :func:`hms_features.recording.recording_features`.
    feature_set : {"default", "fast"} or list of str
        Families to compute, see :mod:`hms_features.features.registry`.
    n_jobs : int
        Parallel workers (joblib convention, -1 = all cores). With the loky backend, fewer than
        four chunks to compute run in this process (starting a worker costs about one chunk).
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
    pad : bool
        Dataset rows whose EEG (offset + 50 s) or spectrogram (offset + 600 s) window reaches
        outside its recording (:meth:`~hms_features.data.HMSDataset.rows_outside`, read from
        the parquet footers before anything is computed): refused with an
        :class:`~hms_features.data.HMSError` naming the first one by default; with
        ``pad=True`` their windows are NaN-padded (preprocessing repairs and flags the EEG
        padding, ``quality_nanfraction_50s`` and ``spectrogram_nanfrac_all_600s`` record it),
        a warning says how many rows were padded and ``df.attrs["rows_padded"]`` holds the
        count. Memory never depends on the offsets.
    context : {"window", "recording"}
        Dataset input: what the preprocessing of a label window sees. ``"window"`` (default):
        the 50 s window alone, as a test file is (train/test parity). ``"recording"``: the
        whole recording, filtered once before the windows are cut. Raw arrays are always
        preprocessed window by window.

    Returns
    -------
    DataFrame, float32
        One row per window, indexed by ``label_id`` (dataset; ``eeg_id`` when the rows have no
        ``label_id``) in the order of ``labels``, or a RangeIndex (arrays); columns in the stable
        order of :func:`~hms_features.features.registry.feature_names`, the whole-window span
        named by the real window length (``_50s`` for the HMS windows, ``_30s`` for 30 s
        windows, ...). Never NaN or inf (the families' documented fill values stand in for
        undefined measures), except for a recording that lacks channels: the derivations
        they feed are dropped (``df.attrs["dropped_derivations"]``, and a warning), chain and
        hemisphere summaries average the derivations present, and a column whose group has
        none is NaN (see :func:`~hms_features.features.registry.compute_features`).
        ``df.attrs`` holds ``chunks_total``, ``chunks_computed`` (chunks not taken from the
        cache), ``chunks_rejected`` (cached chunk files that did not verify and were
        recomputed; a warning says so once), ``rows_padded`` and ``preprocess`` (the
        preprocessing settings, with the clipping level ``clip_uv`` in µV).

    Raises
    ------
    HMSError
        A dataset file that cannot be read, label rows outside their recording (unless
        ``pad``), offsets that are NaN, infinite or negative.
    ValueError, TypeError
        Raw arrays of the wrong shape or dtype, non-finite or beyond float32, or a bad ``fs``
        (:func:`hms_features.validation.check_eeg`).
    """
    import warnings

    plan = make_plan(data, feature_set, int(chunk_size or DEFAULT_CHUNK_SIZE), labels=labels,
                     fs=fs, preprocess_kwargs=preprocess_kwargs, pad=pad,
                     context=context)
    cache = None if cache_dir is None else ChunkCache(cache_dir, plan)
    tables, n_computed = run_plan(plan, cache, n_jobs=n_jobs, backend=backend,
                                  progress=progress)
    if plan.chunks:
        table = pd.concat([tables[i] for i in range(len(plan.chunks))], axis=0)
        if plan.kind == "dataset":  # chunks hold whole recordings: back to the caller's row order
            table = table.sort_index()
    else:
        table = pd.DataFrame(columns=plan.names, dtype=np.float32)
    table = table.astype(np.float32)
    table.index = plan.index
    table.columns = span_names(list(table.columns), plan.window_s)
    table.attrs["preprocess"] = {"clip_uv": PREPROCESS_DEFAULTS["clip_uv"], **plan.prep}
    if plan.dropped:
        table.attrs["dropped_derivations"] = list(plan.dropped)
    table.attrs["chunks_total"] = len(plan.chunks)
    table.attrs["chunks_computed"] = n_computed
    table.attrs["chunks_rejected"] = 0 if cache is None else sum(cache.rejected.values())
    table.attrs["rows_padded"] = plan.n_padded
    if cache is not None and cache.report():
        warnings.warn(cache.report(), CacheWarning, stacklevel=2)
    if plan.n_padded:
        warnings.warn(f"build_features: {plan.n_padded} label row(s) whose window reaches outside "
                      "the recording were padded with NaN (pad=True)", PaddingWarning,
                      stacklevel=2)
    return table


class CacheWarning(UserWarning):
    """Cached chunk files did not verify and were recomputed (the result is still exact)."""


class PaddingWarning(UserWarning):
    """Label windows reaching outside their recording were NaN-padded (``pad=True``)."""


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
    n_jobs, chunk_size, cache_dir, progress, backend, preprocess_kwargs, context
        Passed to :func:`build_features`.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns of the label table seen in ``fit``.
    n_features_in_ : int
    feature_names_out_ : ndarray of str
        Feature columns produced by ``transform``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        From ``transform`` and ``get_feature_names_out`` before ``fit``.
    """

    def __init__(self, root=None, split="train", feature_set="default", n_jobs=1,
                 chunk_size=None, cache_dir=None, progress=False, backend="loky",
                 preprocess_kwargs=None, context="window"):
        self.root = root
        self.split = split
        self.feature_set = feature_set
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir
        self.progress = progress
        self.backend = backend
        self.preprocess_kwargs = preprocess_kwargs
        self.context = context

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

    def _recording_table(self, X) -> pd.DataFrame:
        """Features of a recording input (Raw, Epochs, recording file, dict with ch_names)."""
        return build_features(X, self.feature_set, n_jobs=self.n_jobs, chunk_size=self.chunk_size,
                              cache_dir=self.cache_dir, progress=self.progress,
                              backend=self.backend, preprocess_kwargs=self.preprocess_kwargs)

    @staticmethod
    def _is_recording(X) -> bool:
        from ._build.plan import RECORDING_SUFFIXES, _is_mne

        return (_is_mne(X) or (isinstance(X, dict) and "ch_names" in X)
                or (isinstance(X, (str, Path)) and Path(X).suffix.lower() in RECORDING_SUFFIXES))

    def fit(self, X, y=None):
        """Check the label rows and fix the output columns; nothing is learned. Returns self.

        ``X`` may also be a recording (``mne.io.Raw``, ``mne.Epochs``, a recording file, or
        ``{"eeg", "ch_names", "sfreq"}``; see :func:`build_features`): the output columns are
        then those its windows give.
        """
        if self._is_recording(X):
            self.feature_names_out_ = np.asarray(self._recording_table(X).columns, dtype=object)
            return self
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
        from sklearn.utils.validation import check_is_fitted

        from .data import HMSDataset

        check_is_fitted(self, "feature_names_out_")
        if self._is_recording(X):
            return self._recording_table(X).to_numpy(dtype=np.float32)
        X = self._check_rows(X)
        if self.root is None:
            raise ValueError("HMSFeatureExtractor: set root= to the folder of the Kaggle HMS "
                             "layout the label rows refer to")
        ds = HMSDataset(self.root, self.split, check_files=False)
        df = build_features(ds, self.feature_set, n_jobs=self.n_jobs, chunk_size=self.chunk_size,
                            cache_dir=self.cache_dir, progress=self.progress, labels=X,
                            backend=self.backend, preprocess_kwargs=self.preprocess_kwargs,
                            context=self.context)
        return df.to_numpy(dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns (ndarray of str)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()
