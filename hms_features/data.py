"""The Kaggle HMS layout: schema checks, label tables, vote targets and window cutting.

Layout read (``root`` is the unzipped competition download, or a synthetic dataset)::

    root/train.csv                                 label rows (15 columns, see TRAIN_COLUMNS)
    root/test.csv                                  spectrogram_id, eeg_id, patient_id
    root/{split}_eegs/{eeg_id}.parquet             20 float columns (EEG_COLUMNS), 200 Hz, µV
    root/{split}_spectrograms/{spectrogram_id}.parquet
                                                   ``time`` (integer s) + 400 columns SPEC_COLUMNS

Each train label row points at a 50 s EEG window starting at ``eeg_label_offset_seconds`` and a
600 s spectrogram window starting at ``spectrogram_label_offset_seconds``; the experts labelled the
central 10 s, and the centre of the EEG window (offset + 25 s) is the centre of the spectrogram
window (offset + 300 s).

Rows outside their recording, the one rule (:meth:`HMSDataset.rows_outside`, applied by
:meth:`HMSDataset.eeg_windows`, :meth:`HMSDataset.spectrogram_windows`,
:meth:`HMSDataset.validate` and :func:`hms_features.build.build_features`): a row's EEG window
covers the samples ``[round(offset * 200), round(offset * 200) + 10,000)`` and must lie inside
the file's rows; its spectrogram window is the 300 rows from the first with ``time >= offset``,
all with ``time < offset + 600``. Lengths are read from the parquet footers (and the
spectrogram's ``time`` column), never from the values, so memory does not depend on an
offset. Outside rows are an :class:`HMSError` unless ``pad=True`` asks for NaN padding (then
counted and reported). Offsets that are NaN, infinite, negative or beyond 3.2e8 s are refused
when the label table is read (or, for rows passed in, by :meth:`HMSDataset.check_rows`).

Array conventions (ARCHITECTURE.md at the root of the repository): the file-layout readers
:func:`read_eeg_parquet` and :meth:`HMSDataset.read_eeg_parquet` return a file as stored,
``(n_samples, 20)``; everything else is in the library's layout: a recording
(:meth:`HMSDataset.iter_recordings`) is ``(20, n_samples)`` and windows
(:meth:`HMSDataset.eeg_windows`, cut by :func:`hms_features.windows.cut_windows`) are
``(n_windows, 20, n_samples)`` float32 in µV. Spectrogram windows are ``(n_windows, n_rows, 400)``
float32 (one row per 2 s, the file's columns). NaN gaps are kept as NaN (repair is
preprocessing's job) and can be counted with :func:`count_nan`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .metrics import CLASSES
from .signal import (
    EEG_COLUMNS,
    FS,
    SPEC_CHAINS,
    SPEC_COLUMNS,
    SPEC_FREQS,
    SPEC_STEP_S,
    SPEC_WINDOW_S,
)
from .windows import WindowError, cut_windows

__all__ = [
    "HMSDataset",
    "HMSError",
    "TRAIN_COLUMNS",
    "TEST_COLUMNS",
    "VOTE_COLUMNS",
    "CONSENSUS_NAMES",
    "SPEC_CHAINS",
    "SPEC_FREQS",
    "SPEC_COLUMNS",
    "EEG_WINDOW_S",
    "SPEC_WINDOW_S",
    "SPEC_STEP_S",
    "count_nan",
    "patient_folds",
    "read_eeg_parquet",
    "read_spectrogram_file",
]

#: The six vote columns of train.csv, in :data:`~hms_features.metrics.CLASSES` order.
VOTE_COLUMNS = tuple(f"{c}_vote" for c in CLASSES)
#: The ``expert_consensus`` values of train.csv, in :data:`~hms_features.metrics.CLASSES` order.
CONSENSUS_NAMES = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
#: train.csv columns, in Kaggle's order.
TRAIN_COLUMNS = (
    "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id", "spectrogram_sub_id",
    "spectrogram_label_offset_seconds", "label_id", "patient_id", "expert_consensus",
) + VOTE_COLUMNS
#: test.csv columns, in Kaggle's order.
TEST_COLUMNS = ("spectrogram_id", "eeg_id", "patient_id")
_INT_COLUMNS = (
    "eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "label_id", "patient_id",
)
_OFFSET_COLUMNS = ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds")


#: Length of a label's EEG window, seconds.
EEG_WINDOW_S = 50
_F32_MAX = float(np.finfo(np.float32).max)
#: Largest label offset accepted, seconds (ten years: any larger value is a typo, and keeping
#: offsets below it keeps every sample index exact and far from int64 overflow).
_MAX_OFFSET_S = 3.2e8


#: ``(path, kind)`` -> (stat stamp, file_info result) of the parquet files seen in this process.
_FILE_INFO: dict = {}


class HMSError(ValueError):
    """A file, column or row of an HMS dataset is not what the Kaggle layout promises."""


def count_nan(windows: np.ndarray) -> np.ndarray:
    """Number of NaN samples per window and channel.

    Parameters
    ----------
    windows : array, shape (n_windows, n_channels, n_samples)

    Returns
    -------
    ndarray of int64, shape (n_windows, n_channels)
    """
    return np.isnan(windows).sum(axis=-1)



def patient_groups(labels: pd.DataFrame, n_splits: int, who: str) -> np.ndarray:
    """The ``patient_id`` column of ``labels``, checked for ``n_splits`` patient-grouped folds.

    Raises
    ------
    HMSError
        No ``patient_id`` column, or ``n_splits`` outside ``2 .. number of patients``; the
        message starts with ``who``.
    """
    if "patient_id" not in labels:
        raise HMSError(f"{who}: the label table has no 'patient_id' column")
    groups = labels["patient_id"].to_numpy()
    n_patients = len(np.unique(groups))
    if not 2 <= n_splits <= n_patients:
        raise HMSError(f"{who}: n_splits={n_splits} needs 2 <= n_splits <= number of patients "
                       f"({n_patients})")
    return groups


def patient_folds(labels: pd.DataFrame, n_splits: int = 5) -> np.ndarray:
    """Deterministic patient-grouped fold index per row.

    Uses :class:`sklearn.model_selection.GroupKFold` on ``patient_id`` (largest patients first,
    balanced fold sizes), so no patient appears in two folds and the same table always gives the
    same folds.

    Parameters
    ----------
    labels : DataFrame
        Label rows with a ``patient_id`` column.
    n_splits : int
        Number of folds (at least 2, at most the number of patients).

    Returns
    -------
    ndarray of int, shape (n_rows,)
        Fold number 0..n_splits-1 of each row.
    """
    from sklearn.model_selection import GroupKFold

    groups = patient_groups(labels, n_splits, "patient_folds")
    folds = np.empty(len(labels), dtype=np.int64)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_splits).split(groups, groups=groups)):
        folds[test] = k
    return folds


def _one_line(err) -> str:
    """An exception's message on one line (Arrow/thrift messages span several)."""
    return " ".join(str(err).split())


def _check_is_file(path: Path, kind: str) -> None:
    if path.is_dir():
        raise HMSError(f"{path}: is a directory, expected a {kind} parquet file")
    if not path.is_file():
        raise HMSError(f"{path}: file not found ({kind} listed in the label table)")


def _check_schema(path: Path, schema: pa.Schema, expected: tuple[str, ...], kind: str) -> None:
    """Column names and types of a file against the Kaggle layout (one rule for every path).

    The value columns must be exactly ``expected`` (any order, each once) and floating point;
    a spectrogram file also has an integer ``time`` column, an EEG file has none.
    """
    names = schema.names
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise HMSError(f"{path}: column(s) {dup[:5]} appear more than once")
    have, want = set(names), set(expected)
    missing = [c for c in expected if c not in have]
    extra = [c for c in names if c not in want and c != "time"]
    if missing or extra:
        raise HMSError(
            f"{path}: {kind} columns do not match the Kaggle layout; "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}"
        )
    for c in expected:
        t = schema.field(c).type
        if not pa.types.is_floating(t):
            raise HMSError(f"{path}: column {c!r} has type {t}, expected float (µV or power)")
    if kind == "EEG" and "time" in have:
        raise HMSError(f"{path}: unexpected column 'time' in an EEG file")
    if kind == "spectrogram":
        if "time" not in have:
            raise HMSError(f"{path}: missing column 'time' (integer seconds)")
        ttype = schema.field("time").type
        if not pa.types.is_integer(ttype):
            raise HMSError(f"{path}: column 'time' has type {ttype}, expected an integer type")


def _check_time(path: Path, time: np.ndarray) -> None:
    if len(time) > 1 and not (np.diff(time) > 0).all():
        i = int(np.flatnonzero(np.diff(time) <= 0)[0])
        raise HMSError(f"{path}: column 'time' is not strictly increasing (row {i + 1}: "
                       f"{time[i + 1]} after {time[i]})")


def _read_table(path: Path, expected: tuple[str, ...], kind: str,
                columns: list[str] | None = None) -> pa.Table:
    """Read a parquet file (or some of its columns) after checking its schema."""
    _check_is_file(path, kind)
    try:
        # the file opened and its footer parsed once (read_schema then read_table parsed the
        # 401-column footer twice: 1.7x the CPU time of a spectrogram file)
        with pq.ParquetFile(path) as f:
            _check_schema(path, f.schema_arrow, expected, kind)
            # one thread: the callers already run one reader per core, and Arrow's own threads
            # only add CPU time on these small files (-25 % CPU per 401-column spectrogram)
            return f.read(columns=columns, use_threads=False)
    except HMSError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise HMSError(f"{path}: not a readable parquet file ({_one_line(err)})") from None


def read_eeg_parquet(path) -> np.ndarray:
    """Read one EEG parquet file in its file layout, ``(n_samples, 20)``.

    The file layout (one row per sample, one column per channel) is kept so that a row of the
    result is a row of the file; :meth:`HMSDataset.iter_recordings` and
    :func:`hms_features.recording.read_recording` return the library's ``(20, n_samples)``
    (see ARCHITECTURE.md at the root of the repository).

    Parameters
    ----------
    path : path-like
        A ``{eeg_id}.parquet`` file with the 20 columns of ``EEG_COLUMNS`` (any order).

    Returns
    -------
    ndarray of float32, shape (n_samples, 20)
        µV, columns in ``EEG_COLUMNS`` order, 200 Hz; NaN kept.
    """
    path = Path(path)
    table = _read_table(path, EEG_COLUMNS, "EEG")
    values = np.empty((table.num_rows, len(EEG_COLUMNS)), np.float32)
    for j, c in enumerate(EEG_COLUMNS):
        values[:, j] = _finite_or_nan(path, c, table.column(c).to_numpy(zero_copy_only=False))
    return values


def read_eeg_file(path) -> np.ndarray:
    """Deprecated alias of :func:`read_eeg_parquet` (same ``(n_samples, 20)`` result)."""
    warnings.warn("read_eeg_file is deprecated, use read_eeg_parquet (same result, "
                  "(n_samples, 20) file layout)", DeprecationWarning, stacklevel=2)
    return read_eeg_parquet(path)


def read_spectrogram_file(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one Kaggle spectrogram parquet file.

    Parameters
    ----------
    path : path-like
        A ``{spectrogram_id}.parquet`` with an integer ``time`` column (int16 in the test split,
        int64 in train; seconds, the centre of each 2 s step: 1, 3, 5, ...) and the 400 columns of
        ``SPEC_COLUMNS``.

    Returns
    -------
    time : ndarray of int64, shape (n_rows,)
        Seconds.
    values : ndarray of float32, shape (n_rows, 400)
        Power in ``SPEC_COLUMNS`` order; NaN kept.
    """
    path = Path(path)
    table = _read_table(path, SPEC_COLUMNS, "spectrogram")
    time = table.column("time").to_numpy(zero_copy_only=False).astype(np.int64)
    _check_time(path, time)
    values = np.empty((table.num_rows, len(SPEC_COLUMNS)), np.float32)
    for j, c in enumerate(SPEC_COLUMNS):
        col = table.column(c).to_numpy(zero_copy_only=False)
        # a float32 column (the Kaggle files') is checked below with the others, in one pass
        values[:, j] = col if col.dtype == np.float32 else _finite_or_nan(path, c, col)
    if np.isinf(values).any():  # the message names the column and row
        for c in SPEC_COLUMNS:
            _finite_or_nan(path, c, table.column(c).to_numpy(zero_copy_only=False))
    return time, values


def _finite_or_nan(path: Path, column: str, x: np.ndarray) -> np.ndarray:
    """A column's values, refused if infinite or beyond the float32 range (NaN = missing)."""
    with np.errstate(invalid="ignore", over="ignore"):
        big = np.isinf(x) if x.dtype == np.float32 else np.abs(x) > _F32_MAX
    if big.any():
        i = int(np.argmax(big))
        raise HMSError(f"{path}: column {column!r}, row {i}: value {float(x[i]):g} is infinite "
                       f"or beyond the float32 range ({int(big.sum())} such value(s); missing "
                       "samples must be NaN)")
    return x


#: Largest id accepted in a label table: ids are file names, and a float id (``1e20``) is exact
#: only below 2**53.
_MAX_ID = 2**53
#: Largest vote count accepted (a row has a few dozen votes at most).
_MAX_VOTE = 10**6


def _check_label_table(df: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise HMSError(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    # pandas.read_csv renames a repeated header "eeg_id" to "eeg_id.1"
    names = [str(c) for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1}
                 | {n.rsplit(".", 1)[0] for n in names
                    if "." in n and n.rsplit(".", 1)[1].isdigit() and n.rsplit(".", 1)[0] in names})
    if dup:
        raise HMSError(f"{path}: column(s) {dup} appear more than once")
    if len(df) == 0:
        raise HMSError(f"{path}: no rows")
    df = df.loc[:, list(columns)].copy()
    numeric = [c for c in columns if c != "expert_consensus"]

    def fail(c, mask, what):
        i = int(np.flatnonzero(np.asarray(mask))[0])
        v = df[c].iloc[i]
        v = repr(v) if isinstance(v, str) else f"{v}"
        raise HMSError(f"{path}: column {c!r}, row {i} (line {i + 2}): {v} {what}")

    for c in numeric:
        col = pd.to_numeric(df[c], errors="coerce")
        x = col.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(x).all():
            fail(c, ~np.isfinite(x), "is not a finite number")
        if c in _INT_COLUMNS or c in VOTE_COLUMNS:
            top, what = ((_MAX_ID, "is not an integer id in [0, 2**53)") if c in _INT_COLUMNS
                         else (_MAX_VOTE, f"is not a vote count (an integer in [0, {_MAX_VOTE}])"))
            # range and integrality checked in float64 before any cast (1e20 or 1e30 would
            # overflow int64 silently)
            bad = (x < 0) | (x > top) | (x != np.round(x))
            if pd.api.types.is_integer_dtype(col.dtype):
                ints = col.to_numpy()
                bad = (ints < 0) | (ints > top)
            if bad.any():
                fail(c, bad, what)
            col = col.astype(np.int64)
        else:
            if (x < 0).any():
                fail(c, x < 0, "is a negative offset (seconds)")
            if (x > _MAX_OFFSET_S).any():
                fail(c, x > _MAX_OFFSET_S, f"is not an offset within any recording "
                                           f"(more than {_MAX_OFFSET_S:g} s)")
            col = col.astype(np.float64)
        df[c] = col
    if "label_id" in columns:
        dup = df["label_id"].duplicated()
        if dup.any():
            raise HMSError(f"{path}: label_id {df['label_id'][dup].iloc[0]} appears twice")
    if VOTE_COLUMNS[0] in columns:
        votes = df[list(VOTE_COLUMNS)].to_numpy()
        zero = votes.sum(axis=1) == 0
        if zero.any():
            i = int(np.argmax(zero))
            raise HMSError(
                f"{path}: label_id {df['label_id'].iloc[i]} (row {i}) has zero votes in total"
            )
    return df.reset_index(drop=True)


class HMSDataset:
    """A dataset in the Kaggle HMS layout (the real download or a synthetic one).

    Parameters
    ----------
    root : path-like
        Folder holding ``train.csv`` / ``test.csv`` and the parquet folders.
    split : {"train", "test"}
        Which label file and parquet folders to read.
    check_files : bool
        Check up front that a parquet file exists for every ``eeg_id`` and ``spectrogram_id`` of
        the label file (a directory listing, cheap). :meth:`validate` also checks every file's
        schema.

    Attributes
    ----------
    labels : DataFrame
        One row per label (Kaggle rows; the test split has one row per ``eeg_id`` with both offsets
        0 and ``label_id = eeg_id``), integer ids, float offsets in seconds, integer votes, plus
        ``n_votes`` for the train split.
    fs : float
        Sampling rate of the EEG files, Hz (200).
    """

    def __init__(self, root, split: str = "train", *, check_files: bool = True):
        if split not in ("train", "test"):
            raise HMSError(f"split must be 'train' or 'test', got {split!r}")
        self.root = Path(root)
        self.split = split
        self.fs = FS
        if not self.root.is_dir():
            raise HMSError(f"{self.root}: no such folder (expected the Kaggle HMS layout)")
        self.eeg_dir = self.root / f"{split}_eegs"
        self.spec_dir = self.root / f"{split}_spectrograms"
        csv = self.root / f"{split}.csv"
        if not csv.is_file():
            raise HMSError(f"{csv}: file not found")
        try:
            raw = pd.read_csv(csv)
        except pd.errors.EmptyDataError:
            raise HMSError(f"{csv}: empty file (expected a header and label rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise HMSError(f"{csv}: not a readable CSV file ({err})") from None
        if split == "train":
            labels = _check_label_table(raw, csv, TRAIN_COLUMNS)
            labels["expert_consensus"] = labels["expert_consensus"].astype(str)
            labels["n_votes"] = labels[list(VOTE_COLUMNS)].sum(axis=1)
        else:
            labels = _check_label_table(raw, csv, TEST_COLUMNS)
            dup = labels["eeg_id"].duplicated(keep=False).to_numpy()
            if dup.any():
                lines = ", ".join(str(i + 2) for i in np.flatnonzero(dup)[:6])
                raise HMSError(f"{csv}: eeg_id {labels['eeg_id'][dup].iloc[0]} appears more than "
                               f"once (lines {lines}); each test recording is predicted once")
            labels = labels.assign(
                eeg_sub_id=0, eeg_label_offset_seconds=0.0, spectrogram_sub_id=0,
                spectrogram_label_offset_seconds=0.0, label_id=labels["eeg_id"],
            )
        self.labels = labels
        if check_files:
            self._check_files_exist()
            if split == "test" and (self.root / "sample_submission.csv").exists():
                self.check_sample_submission()

    def __repr__(self) -> str:
        return (
            f"HMSDataset({str(self.root)!r}, split={self.split!r}: {len(self.labels)} labels, "
            f"{self.labels['eeg_id'].nunique()} EEGs, {self.labels['patient_id'].nunique()} "
            "patients)"
        )

    def _with_labels(self, labels: pd.DataFrame) -> HMSDataset:
        """A shallow copy of this handle whose label table is ``labels`` (same folder, split
        and rate; nothing read or checked again). A build chunk carries one holding only its
        own rows: pickled to a worker with the whole table, every chunk of the real train.csv
        (106,800 rows, 14 MB) cost about 30 ms of pickling, some 50 s of CPU per build."""
        out = copy.copy(self)
        out.labels = labels
        return out

    # ---------------------------------------------------------------- files
    def eeg_path(self, eeg_id) -> Path:
        """Path of the parquet file of ``eeg_id``."""
        return self.eeg_dir / f"{int(eeg_id)}.parquet"

    def spectrogram_path(self, spectrogram_id) -> Path:
        """Path of the parquet file of ``spectrogram_id``."""
        return self.spec_dir / f"{int(spectrogram_id)}.parquet"

    def _check_files_exist(self) -> None:
        for folder, column in ((self.eeg_dir, "eeg_id"), (self.spec_dir, "spectrogram_id")):
            if not folder.is_dir():
                raise HMSError(f"{folder}: no such folder (needed for the {column}s of "
                               f"{self.split}.csv)")
            present = {f[:-8] for f in os.listdir(folder) if f.endswith(".parquet")}
            ids = self.labels[column].astype(str).unique()
            missing = [i for i in ids if i not in present]
            if missing:
                raise HMSError(
                    f"{folder}: no parquet file for {len(missing)} {column}(s) listed in "
                    f"{self.split}.csv, e.g. {', '.join(m + '.parquet' for m in missing[:3])}"
                )

    def check_sample_submission(self) -> None:
        """Check ``sample_submission.csv`` against ``test.csv`` (test split), up front (by the
        constructor and :meth:`validate`), before any feature is computed; see
        :func:`check_sample_submission`."""
        check_sample_submission(self.root / "sample_submission.csv", self.labels["eeg_id"])

    # ---------------------------------------------------------------- lengths and the offset rule
    def file_info(self, path: Path, kind: str):
        """Identity and length of one parquet file, from its footer (no value is read).

        Returns
        -------
        ident : str
            ``size:mtime_ns:sha1(footer)[:16]`` (the footer holds the row groups, page offsets
            and column statistics): part of the cache key of every chunk reading the file.
        n_rows : int
            Rows of the file (samples of an EEG file, 2 s steps of a spectrogram).
        time : ndarray of int64 or None
            The ``time`` column of a spectrogram file (seconds), None for an EEG file.

        Raises
        ------
        HMSError
            A directory, a missing file, a file that is not parquet, a schema differing from the
            Kaggle layout (names, types, duplicates) or an unsorted ``time`` column.
        """
        import hashlib

        path = Path(path)
        _check_is_file(path, kind)
        st = path.stat()
        # remembered per process while the file's stat is unchanged (its ctime cannot be set
        # back by a user), so planning a build over 28,000 files twice reads the footers once
        key, stamp = (str(path.resolve()), kind), (st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                   st.st_ino)
        hit = _FILE_INFO.get(key)
        if hit is not None and hit[0] == stamp:
            ident, n, time = hit[1]
            return ident, n, (np.arange(*time) if isinstance(time, tuple) else time)
        try:
            with open(path, "rb") as f:
                f.seek(max(st.st_size - 8, 0))
                tail = f.read(8)
                n_footer = int.from_bytes(tail[:4], "little") if len(tail) == 8 else -1
                if tail[4:] != b"PAR1" or not 0 < n_footer <= st.st_size - 12:
                    raise HMSError(f"{path}: not a parquet file (no parquet footer)")
                f.seek(st.st_size - 8 - n_footer)
                footer = f.read(n_footer)
            pf = pq.ParquetFile(path)  # one footer parse (pq.read_table(columns=) is 5x slower)
            meta = pf.metadata
            expected = EEG_COLUMNS if kind == "EEG" else SPEC_COLUMNS
            _check_schema(path, pf.schema_arrow, expected, kind)
            time = None
            if kind == "spectrogram":
                time = pf.read(columns=["time"], use_threads=False).column(
                    "time").to_numpy(zero_copy_only=False)
                if time.dtype.kind != "i":
                    raise HMSError(f"{path}: column 'time' has missing values")
                time = time.astype(np.int64)
                _check_time(path, time)
        except HMSError:
            raise
        except (pa.ArrowException, OSError, ValueError) as err:
            raise HMSError(f"{path}: not a readable parquet file ({_one_line(err)})") from None
        ident = f"{st.st_size}:{st.st_mtime_ns}:{hashlib.sha1(footer).hexdigest()[:16]}"
        small = time  # a regular time column is remembered as its range
        if time is not None and len(time) > 1 and (np.diff(time) == time[1] - time[0]).all():
            small = (int(time[0]), int(time[-1]) + 1, int(time[1] - time[0]))
        if len(_FILE_INFO) > 100_000:
            _FILE_INFO.clear()
        _FILE_INFO[key] = (stamp, (ident, int(meta.num_rows), small))
        return ident, int(meta.num_rows), time

    def check_rows(self, labels: pd.DataFrame, *, eeg: bool = True,
                   spectrogram: bool = True) -> pd.DataFrame:
        """Check label rows given by a caller (ids, offsets) before anything is read.

        Parameters
        ----------
        labels : DataFrame
            Rows with ``eeg_id`` and ``eeg_label_offset_seconds`` (and ``spectrogram_id``,
            ``spectrogram_label_offset_seconds`` if ``spectrogram``).
        eeg, spectrogram : bool
            Whether the EEG / spectrogram columns are needed.

        Returns
        -------
        DataFrame
            The rows, unchanged.

        Raises
        ------
        HMSError
            A missing column, an id that is not a non-negative integer, an offset that is NaN,
            infinite, negative or beyond any recording (naming the row and the value).
        """
        need = ["eeg_id", "eeg_label_offset_seconds"] if eeg else []
        if spectrogram:
            need += ["spectrogram_id", "spectrogram_label_offset_seconds"]
        if not isinstance(labels, pd.DataFrame):
            raise HMSError(f"labels must be a DataFrame of label rows, got {type(labels).__name__}")
        missing = [c for c in need if c not in labels.columns]
        if missing:
            raise HMSError(f"label rows lack the column(s) {missing}")
        for c in need:
            try:
                x = labels[c].to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                raise HMSError(f"label rows: column {c!r} is not numeric") from None
            if c.endswith("_id"):
                bad = ~np.isfinite(x) | (x < 0) | (x > _MAX_ID) | (x != np.round(x))
                what = "is not an integer id in [0, 2**53)"
            else:
                bad = ~np.isfinite(x) | (x < 0) | (x > _MAX_OFFSET_S)
                what = f"is not an offset in [0, {_MAX_OFFSET_S:g}] s"
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                v = labels[c].iloc[i]
                v = repr(v) if isinstance(v, str) else f"{v}"
                raise HMSError(f"label rows: column {c!r}, row {i}: {v} {what}")
        return labels

    def rows_outside(self, labels: pd.DataFrame | None = None, *,
                     spectrogram: bool = True) -> pd.DataFrame:
        """Label rows whose EEG or spectrogram window reaches outside its recording.

        The one rule of the library, the same in :meth:`eeg_windows`,
        :meth:`spectrogram_windows`, :meth:`validate` and
        :func:`hms_features.build.build_features`: the EEG window of a row covers the samples
        ``[round(offset * 200), round(offset * 200) + 10,000)`` (50 s) and must lie inside the
        file's rows; the spectrogram window covers the 300 rows from the first with
        ``time >= offset`` and they must all have ``time < offset + 600``. Lengths come from the
        parquet footers (and the spectrogram's ``time`` column): no EEG value is read, and the
        memory used does not depend on the offsets.

        Parameters
        ----------
        labels : DataFrame, optional
            Rows of :attr:`labels` or alike (default: all).
        spectrogram : bool
            Check the spectrogram windows too.

        Returns
        -------
        DataFrame
            One row per window outside (empty if none): ``position`` (of the row in
            ``labels``), ``label_id``, ``kind`` (``"EEG"`` or ``"spectrogram"``), ``file_id``,
            ``offset_s``, ``window_s`` and ``length_s`` (the recording's length, seconds).
        """
        rows = self.check_rows(self._rows(labels), spectrogram=spectrogram)
        lab = rows["label_id"] if "label_id" in rows else rows["eeg_id"]
        out = []
        eeg_off = rows["eeg_label_offset_seconds"].to_numpy(np.float64)
        for eeg_id, pos in rows.groupby("eeg_id", sort=False).indices.items():
            _, n, _ = self.file_info(self.eeg_path(eeg_id), "EEG")
            # in float64: no int64 cast of a huge offset; the offsets are <= 3.2e8 s (checked)
            start = np.rint(eeg_off[pos] * self.fs)
            bad = pos[start + EEG_WINDOW_S * self.fs > n]
            out += [(int(p), lab.iloc[p], "EEG", int(eeg_id), eeg_off[p], EEG_WINDOW_S,
                     n / self.fs) for p in bad]
        if spectrogram:
            spec_off = rows["spectrogram_label_offset_seconds"].to_numpy(np.float64)
            for spec_id, pos in rows.groupby("spectrogram_id", sort=False).indices.items():
                _, n, time = self.file_info(self.spectrogram_path(spec_id), "spectrogram")
                _, inside = _spec_window_rows(time, spec_off[pos], SPEC_WINDOW_S)
                length = float(time[-1] + SPEC_STEP_S / 2) if len(time) else 0.0
                out += [(int(p), lab.iloc[p], "spectrogram", int(spec_id), spec_off[p],
                         SPEC_WINDOW_S, length) for p in pos[~inside]]
        cols = ["position", "label_id", "kind", "file_id", "offset_s", "window_s", "length_s"]
        return pd.DataFrame(out, columns=cols).sort_values(["position", "kind"],
                                                           ignore_index=True)

    def validate(self, progress: bool = False, *, data: bool = True,
                 strict: bool = True) -> list[str]:
        """Check every file the label table points at, and every label window against them.

        What :func:`hms_features.build.build_features` would stumble on, found before any
        feature is computed: each parquet file exists, is a file, has a readable footer and the
        Kaggle schema (names once each, float value columns, an increasing integer ``time`` in
        a spectrogram), its values decode (``data=True``), every label row's EEG and
        spectrogram windows lie inside their recording (:meth:`rows_outside`), and for the test
        split ``sample_submission.csv`` matches ``test.csv``. (The label table itself was
        checked by the constructor: numbers, ids, offsets, votes, duplicates.)

        Parameters
        ----------
        progress : bool
            Show a progress bar over the files.
        data : bool
            Also read every value of every file (catches a corrupt data page; one pass over
            the data). False reads the footers and spectrogram ``time`` columns only.
        strict : bool
            Raise at the end if anything was found (else just return the problems).

        Returns
        -------
        list of str
            One line per problem (empty: the dataset is usable as it is).

        Raises
        ------
        HMSError
            With ``strict``, if any problem was found: the count and the first problem.
        """
        from tqdm.auto import tqdm

        problems = []
        jobs = [(self.eeg_path(i), "EEG") for i in self.labels["eeg_id"].unique()]
        jobs += [(self.spectrogram_path(i), "spectrogram")
                 for i in self.labels["spectrogram_id"].unique()]
        broken = set()
        for path, kind in tqdm(jobs, disable=not progress, desc="validate", unit="file"):
            try:
                self.file_info(path, kind)
                if data:
                    (read_eeg_parquet if kind == "EEG" else read_spectrogram_file)(path)
            except HMSError as err:
                problems.append(str(err))
                broken.add(path)
        if self.split == "test" and (self.root / "sample_submission.csv").exists():
            try:
                self.check_sample_submission()
            except HMSError as err:
                problems.append(str(err))
        ok = ~(self.labels["eeg_id"].map(lambda i: self.eeg_path(i) in broken)
               | self.labels["spectrogram_id"].map(lambda i: self.spectrogram_path(i) in broken))
        outside = self.rows_outside(self.labels[ok.to_numpy()].reset_index(drop=True))
        for r in outside.itertuples():
            what = "eeg_id" if r.kind == "EEG" else "spectrogram_id"
            problems.append(
                f"{self.split}.csv: label_id {r.label_id}: {r.kind} window [{r.offset_s:.10g} s, "
                f"{r.offset_s + r.window_s:.10g} s) reaches outside the recording ({what} "
                f"{r.file_id}, {r.length_s:g} s)")
        if problems and strict:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise HMSError(f"{problems[0]}{more}")
        return problems

    def outside_error(self, outside: pd.DataFrame) -> HMSError:
        """The error for label rows outside their recording (first row named, count given)."""
        r = outside.iloc[0]
        what = "eeg_id" if r["kind"] == "EEG" else "spectrogram_id"
        n = outside["position"].nunique()
        return HMSError(
            f"label_id {r['label_id']}: {r['kind']} window [{r['offset_s']:.10g} s, "
            f"{r['offset_s'] + r['window_s']:.10g} s) reaches outside the recording ({what} "
            f"{r['file_id']}, {r['length_s']:g} s); {n} row(s) outside in all (see "
            "HMSDataset.rows_outside); pass pad=True (--pad-outside) to pad them with NaN")

    # ---------------------------------------------------------------- labels
    def _rows(self, labels) -> pd.DataFrame:
        return self.labels if labels is None else labels

    def votes(self, labels: pd.DataFrame | None = None) -> np.ndarray:
        """Vote counts, shape (n_rows, 6), float64, in ``CLASSES`` order."""
        rows = self._rows(labels)
        if self.split == "test" and VOTE_COLUMNS[0] not in rows:
            raise HMSError("the test split has no votes")
        return rows[list(VOTE_COLUMNS)].to_numpy(dtype=np.float64)

    def targets(self, labels: pd.DataFrame | None = None) -> np.ndarray:
        """Vote distributions, shape (n_rows, 6), rows summing to 1, in ``CLASSES`` order."""
        v = self.votes(labels)
        return v / v.sum(axis=1, keepdims=True)

    def eeg_labels(self) -> pd.DataFrame:
        """One row per ``eeg_id``, votes summed over all of its label rows.

        What most public HMS solutions train on. The window kept for each EEG is that of its
        *middle* label row (rows sorted by ``eeg_label_offset_seconds``, the one at position
        ``n // 2``): its ``label_id``, offsets and sub-ids are kept, the votes are the sums over
        all rows of that EEG, ``n_votes`` their total and ``n_labels`` the number of rows summed.
        """
        if self.split == "test":
            return self.labels.copy()
        df = self.labels.sort_values(["eeg_id", "eeg_label_offset_seconds"], kind="stable")
        pos = df.groupby("eeg_id", sort=False).cumcount()
        size = df.groupby("eeg_id", sort=False)["eeg_id"].transform("size")
        middle = df[pos == size // 2].set_index("eeg_id")
        sums = df.groupby("eeg_id", sort=False)[list(VOTE_COLUMNS)].sum()
        out = middle.drop(columns=list(VOTE_COLUMNS) + ["n_votes"]).join(sums)
        out["n_votes"] = out[list(VOTE_COLUMNS)].sum(axis=1)
        out["n_labels"] = df.groupby("eeg_id", sort=False).size()
        out["expert_consensus"] = [
            CONSENSUS_NAMES[i] for i in out[list(VOTE_COLUMNS)].to_numpy().argmax(axis=1)
        ]
        order = self.labels["eeg_id"].drop_duplicates()
        return out.loc[order].reset_index()[list(self.labels.columns) + ["n_labels"]]

    # ---------------------------------------------------------------- signals
    def read_eeg_parquet(self, eeg_id) -> np.ndarray:
        """The file of ``eeg_id`` in its layout: (n_samples, 20) float32, µV, ``EEG_COLUMNS``.

        :meth:`iter_recordings` gives the library's ``(20, n_samples)`` instead.
        """
        return read_eeg_parquet(self.eeg_path(eeg_id))

    def read_eeg(self, eeg_id) -> np.ndarray:
        """Deprecated alias of :meth:`read_eeg_parquet` (same ``(n_samples, 20)`` result)."""
        warnings.warn("HMSDataset.read_eeg is deprecated, use HMSDataset.read_eeg_parquet "
                      "(same result, (n_samples, 20) file layout)", DeprecationWarning,
                      stacklevel=2)
        return self.read_eeg_parquet(eeg_id)

    def read_spectrogram(self, spectrogram_id) -> tuple[np.ndarray, np.ndarray]:
        """The whole spectrogram: ``time`` (n_rows,) int64 seconds, ``values`` (n_rows, 400)."""
        return read_spectrogram_file(self.spectrogram_path(spectrogram_id))

    def iter_recordings(self, labels: pd.DataFrame | None = None):
        """Yield ``(eeg_id, recording, rows)`` once per EEG file.

        ``recording`` is (20, n_samples) float32 in µV, the library's layout (a transposed view of
        :meth:`read_eeg_parquet`); ``rows`` the label rows (a DataFrame in their original order)
        whose windows lie in it. Each parquet file is read exactly once.
        """
        rows = self._rows(labels)
        for eeg_id, group in rows.groupby("eeg_id", sort=False):
            yield eeg_id, self.read_eeg_parquet(eeg_id).T, group

    def eeg_windows(self, labels: pd.DataFrame | None = None, seconds: float = EEG_WINDOW_S,
                    *, pad: bool = False) -> np.ndarray:
        """Cut EEG windows centred on each label's window centre.

        Parameters
        ----------
        labels : DataFrame, optional
            Rows of :attr:`labels` (default: all).
        seconds : float
            Window length, s: 50 gives ``[offset, offset + 50 s)``; 10 the central 10 s the
            experts labelled, ``[offset + 20 s, offset + 30 s)``.
        pad : bool
            If a window runs past the end of its recording, pad it with NaN instead of raising.

        Returns
        -------
        ndarray of float32, shape (n_rows, 20, seconds * 200)
            Channels-first, µV, ``EEG_COLUMNS`` order; NaN gaps of the file are kept. Cut by
            :func:`hms_features.windows.cut_windows`.
        """
        rows = self.check_rows(self._rows(labels), spectrogram=False)
        n_samp = int(round(seconds * self.fs))
        out = np.empty((len(rows), len(EEG_COLUMNS), n_samp), np.float32)
        offsets = rows["eeg_label_offset_seconds"].to_numpy(np.float64)
        labs = (rows["label_id"] if "label_id" in rows else rows["eeg_id"]).to_numpy()
        # by position, not by label_id: a repeated row gets its window too
        for eeg_id, pos in rows.groupby("eeg_id", sort=False).indices.items():
            rec = self.read_eeg_parquet(eeg_id).T
            starts = offsets[pos] + (EEG_WINDOW_S - seconds) / 2
            try:
                windows = cut_windows(rec, starts, seconds, self.fs, pad=pad)
            except WindowError as err:
                raise HMSError(
                    f"eeg_id {eeg_id}, label_id {labs[pos[err.window]]}: window "
                    f"[{err.start_s:g} s, {err.stop_s:g} s) runs {err.where} of the recording "
                    f"({err.length_s:g} s, {self.eeg_path(eeg_id)}); pass pad=True to pad with NaN"
                ) from None
            out[pos] = windows
        return out

    def spectrogram_windows(self, labels: pd.DataFrame | None = None,
                            seconds: float = SPEC_WINDOW_S, *, pad: bool = False) -> np.ndarray:
        """Cut spectrogram windows centred on each label's window centre.

        Parameters
        ----------
        labels : DataFrame, optional
            Rows of :attr:`labels` (default: all).
        seconds : float
            Window length, s, a multiple of 2: 600 gives the rows with
            ``offset <= time < offset + 600`` (300 rows); 10 the central 10 s (5 rows).
        pad : bool
            Pad a window that runs past the end of the file with NaN rows instead of raising.

        Returns
        -------
        ndarray of float32, shape (n_rows, seconds // 2, 400)
        """
        rows = self.check_rows(self._rows(labels), eeg=False)
        n_rows = int(round(seconds / SPEC_STEP_S))
        out = np.empty((len(rows), n_rows, len(SPEC_COLUMNS)), np.float32)
        labs = (rows["label_id"] if "label_id" in rows else rows["eeg_id"]).to_numpy()
        offsets = rows["spectrogram_label_offset_seconds"].to_numpy(np.float64)
        for spec_id, pos in rows.groupby("spectrogram_id", sort=False).indices.items():
            time, values = self.read_spectrogram(spec_id)
            starts = offsets[pos] + (SPEC_WINDOW_S - seconds) / 2
            first, inside = _spec_window_rows(time, starts, seconds)
            if not inside.all() and not pad:
                k = int(np.flatnonzero(~inside)[0])
                raise HMSError(
                    f"spectrogram_id {spec_id}, label_id {labs[pos[k]]}: window [{starts[k]:g} s, "
                    f"{starts[k] + seconds:g} s) runs past the end of the spectrogram (last row at "
                    f"{time[-1] if len(time) else 'none'} s, {self.spectrogram_path(spec_id)})"
                    "; pass pad=True to pad with NaN")
            for i, f0, start, ok in zip(pos, first, starts, inside):
                if ok:
                    out[i] = values[f0:f0 + n_rows]
                else:  # only the rows inside the window, the rest NaN (bounded by n_rows)
                    keep = values[f0:f0 + n_rows][time[f0:f0 + n_rows] < start + seconds]
                    out[i] = np.nan
                    out[i, :len(keep)] = keep
        return out


def _spec_window_rows(time: np.ndarray, starts: np.ndarray, seconds: float = SPEC_WINDOW_S):
    """First row and inside flag of spectrogram windows (the one rule, see ``rows_outside``).

    A window ``[start, start + seconds)`` takes the ``seconds / 2`` rows from the first with
    ``time >= start``; it is inside when they all exist and the last has ``time < start +
    seconds``.
    """
    n_rows = int(round(seconds / SPEC_STEP_S))
    starts = np.asarray(starts, np.float64)
    first = np.searchsorted(time, starts)
    if len(time) == 0:
        return first, np.zeros(len(starts), bool)
    last = first + n_rows
    inside = (last <= len(time)) & (time[np.minimum(last, len(time)) - 1] < starts + seconds)
    return first, inside



def check_sample_submission(sample, eeg_ids) -> None:
    """Check a sample submission: Kaggle's columns and exactly the ids ``eeg_ids``, each once.

    The one check of ``sample_submission.csv`` (:meth:`HMSDataset.check_sample_submission` and
    :func:`hms_features.submission.write_submission` use it).

    Parameters
    ----------
    sample : str, Path or DataFrame
        ``sample_submission.csv`` or its table: columns ``eeg_id`` and the six ``*_vote``.
    eeg_ids : array-like of int
        The ids the submission holds (``test.csv``'s ``eeg_id``), in any order.

    Raises
    ------
    HMSError
        Naming the file and the first offending column or id.
    """
    want = ["eeg_id", *VOTE_COLUMNS]
    if isinstance(sample, pd.DataFrame):
        name = "sample submission"
    else:
        name = Path(sample)
        if not name.is_file():
            raise HMSError(f"{name}: not a file (expected the Kaggle sample submission)")
        try:
            sample = pd.read_csv(name)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise HMSError(f"{name}: not a readable CSV file ({_one_line(err)})") from None
    if [str(c) for c in sample.columns] != want:
        raise HMSError(f"{name}: columns {[str(c) for c in sample.columns][:8]}, expected {want}")
    ids = pd.to_numeric(sample["eeg_id"], errors="coerce").to_numpy(float, na_value=np.nan)
    bad = ~np.isfinite(ids) | (ids != np.round(ids)) | (ids < 0) | (ids > _MAX_ID)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HMSError(f"{name}: row {i} (line {i + 2}): eeg_id {sample['eeg_id'].iloc[i]!r} "
                       "is not an integer id")
    ids = ids.astype(np.int64)
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        raise HMSError(f"{name}: eeg_id {ids[dup][0]} appears more than once")
    test_ids = np.asarray(eeg_ids, dtype=np.int64)
    missing = np.setdiff1d(test_ids, ids)
    extra = np.setdiff1d(ids, test_ids)
    if len(missing) or len(extra):
        raise HMSError(f"{name}: its eeg_ids differ from test.csv's: {len(missing)} missing "
                       f"(e.g. {missing[:3].tolist()}), {len(extra)} not in test.csv "
                       f"(e.g. {extra[:3].tolist()})")


def vote_weights(votes, cap: float = 10.0) -> np.ndarray:
    """Training row weights from the number of expert votes: ``min(n_votes, cap) / cap``.

    Rows with many annotators carry a more reliable vote distribution, and the strongest public
    HMS solutions weight them up; ``cap=10`` gives every row with 10 or more votes weight 1.

    Parameters
    ----------
    votes : array-like, shape (n_rows, 6)
        Vote counts in :data:`~hms_features.metrics.CLASSES` order (e.g. :meth:`HMSDataset.votes`).
    cap : float
        Number of votes from which a row has full weight (> 0).

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        Weights in ``(0, 1]``.
    """
    v = np.asarray(votes, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != len(CLASSES):
        raise ValueError(f"vote_weights: votes must have shape (n_rows, {len(CLASSES)}), "
                         f"got {v.shape}")
    if not cap > 0:
        raise ValueError(f"vote_weights: cap must be > 0, got {cap!r}")
    return np.minimum(v.sum(axis=1), cap) / cap
