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

import os
import warnings
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

    if "patient_id" not in labels:
        raise HMSError("patient_folds: the label table has no 'patient_id' column")
    groups = labels["patient_id"].to_numpy()
    n_patients = len(np.unique(groups))
    if not 2 <= n_splits <= n_patients:
        raise HMSError(
            f"patient_folds: n_splits={n_splits} needs 2 <= n_splits <= number of patients "
            f"({n_patients})"
        )
    folds = np.empty(len(labels), dtype=np.int64)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_splits).split(groups, groups=groups)):
        folds[test] = k
    return folds


def _read_table(path: Path, expected: tuple[str, ...], kind: str) -> pa.Table:
    """Read a parquet file and check its value columns are exactly ``expected``."""
    try:
        # one thread: the callers already run one reader per core, and Arrow's own threads only
        # add CPU time on these small files (measured -25 % CPU per 401-column spectrogram)
        table = pq.read_table(path, use_threads=False)
    except FileNotFoundError:
        raise HMSError(f"{path}: file not found ({kind} listed in the label table)") from None
    except (pa.ArrowException, OSError) as err:
        raise HMSError(f"{path}: not a readable parquet file ({err})") from None
    names = table.schema.names
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
        t = table.schema.field(c).type
        if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise HMSError(f"{path}: column {c!r} has type {t}, expected float")
    return table


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
    if "time" in table.schema.names:
        raise HMSError(f"{path}: unexpected column 'time' in an EEG file")
    return np.column_stack(
        [table.column(c).to_numpy().astype(np.float32, copy=False) for c in EEG_COLUMNS]
    ) if table.num_rows else np.empty((0, len(EEG_COLUMNS)), np.float32)


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
    if "time" not in table.schema.names:
        raise HMSError(f"{path}: missing column 'time' (integer seconds)")
    ttype = table.schema.field("time").type
    if not pa.types.is_integer(ttype):
        raise HMSError(f"{path}: column 'time' has type {ttype}, expected an integer type")
    time = table.column("time").to_numpy().astype(np.int64)
    if len(time) > 1 and not (np.diff(time) > 0).all():
        raise HMSError(f"{path}: column 'time' is not strictly increasing")
    values = np.empty((table.num_rows, len(SPEC_COLUMNS)), np.float32)
    for j, c in enumerate(SPEC_COLUMNS):
        values[:, j] = table.column(c).to_numpy(zero_copy_only=False)
    return time, values


def _check_label_table(df: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise HMSError(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    if len(df) == 0:
        raise HMSError(f"{path}: no rows")
    df = df.loc[:, list(columns)].copy()
    numeric = [c for c in columns if c != "expert_consensus"]
    for c in numeric:
        col = pd.to_numeric(df[c], errors="coerce")
        bad = col.isna() | ~np.isfinite(col.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise HMSError(
                f"{path}: column {c!r}, row {i} (line {i + 2}): {df[c].iloc[i]!r} is not a number"
            )
        if c in _INT_COLUMNS or c in VOTE_COLUMNS:
            if (col != np.round(col)).any():
                i = int(np.flatnonzero((col != np.round(col)).to_numpy())[0])
                raise HMSError(f"{path}: column {c!r}, row {i}: {col.iloc[i]} is not an integer")
            col = col.astype(np.int64)
        else:
            col = col.astype(np.float64)
        df[c] = col
    for c in [c for c in _OFFSET_COLUMNS if c in columns]:
        neg = df[c] < 0
        if neg.any():
            i = int(np.flatnonzero(neg.to_numpy())[0])
            raise HMSError(f"{path}: column {c!r}, row {i}: negative offset {df[c].iloc[i]}")
    if "label_id" in columns:
        dup = df["label_id"].duplicated()
        if dup.any():
            raise HMSError(f"{path}: label_id {df['label_id'][dup].iloc[0]} appears twice")
    if VOTE_COLUMNS[0] in columns:
        votes = df[list(VOTE_COLUMNS)].to_numpy()
        neg = (votes < 0).any(axis=1)
        if neg.any():
            i = int(np.argmax(neg))
            raise HMSError(
                f"{path}: label_id {df['label_id'].iloc[i]} (row {i}) has a negative vote"
            )
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
            labels = labels.assign(
                eeg_sub_id=0, eeg_label_offset_seconds=0.0, spectrogram_sub_id=0,
                spectrogram_label_offset_seconds=0.0, label_id=labels["eeg_id"],
            )
        self.labels = labels
        if check_files:
            self._check_files_exist()

    def __repr__(self) -> str:
        return (
            f"HMSDataset({str(self.root)!r}, split={self.split!r}: {len(self.labels)} labels, "
            f"{self.labels['eeg_id'].nunique()} EEGs, {self.labels['patient_id'].nunique()} "
            "patients)"
        )

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

    def validate(self, progress: bool = False) -> None:
        """Check the schema of every parquet file the label table points at (footers only).

        Raises
        ------
        HMSError
            At the first file whose columns or types differ from the Kaggle layout.
        """
        from tqdm.auto import tqdm

        jobs = [(self.eeg_path(i), EEG_COLUMNS, "EEG") for i in self.labels["eeg_id"].unique()]
        jobs += [(self.spectrogram_path(i), SPEC_COLUMNS, "spectrogram")
                 for i in self.labels["spectrogram_id"].unique()]
        for path, expected, kind in tqdm(jobs, disable=not progress, desc="validate", unit="file"):
            try:
                schema = pq.read_schema(path)
            except (pa.ArrowException, OSError) as err:
                raise HMSError(f"{path}: not a readable parquet file ({err})") from None
            names = [n for n in schema.names if n != "time"]
            if sorted(names) != sorted(expected):
                missing = sorted(set(expected) - set(names))
                extra = sorted(set(names) - set(expected))
                raise HMSError(f"{path}: {kind} columns do not match the Kaggle layout; "
                               f"missing {missing[:5]}, unexpected {extra[:5]}")
            if (kind == "spectrogram") != ("time" in schema.names):
                state = "missing" if kind == "spectrogram" else "unexpected"
                raise HMSError(f"{path}: 'time' column {state} in a {kind} file")

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
        rows = self._rows(labels)
        n_samp = int(round(seconds * self.fs))
        out = np.empty((len(rows), len(EEG_COLUMNS), n_samp), np.float32)
        where = {lab: i for i, lab in enumerate(rows["label_id"].to_numpy())}
        for eeg_id, rec, group in self.iter_recordings(rows):
            starts = (group["eeg_label_offset_seconds"].to_numpy() + (EEG_WINDOW_S - seconds) / 2)
            labs = group["label_id"].to_numpy()
            try:
                windows = cut_windows(rec, starts, seconds, self.fs, pad=pad)
            except WindowError as err:
                raise HMSError(
                    f"eeg_id {eeg_id}, label_id {labs[err.window]}: window [{err.start_s:g} s, "
                    f"{err.stop_s:g} s) runs {err.where} of the recording ({err.length_s:g} s, "
                    f"{self.eeg_path(eeg_id)}); pass pad=True to pad with NaN"
                ) from None
            out[[where[lab] for lab in labs]] = windows
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
        rows = self._rows(labels)
        n_rows = int(round(seconds / SPEC_STEP_S))
        out = np.empty((len(rows), n_rows, len(SPEC_COLUMNS)), np.float32)
        pos = np.arange(len(rows))
        for spec_id, idx in pd.Series(pos).groupby(rows["spectrogram_id"].to_numpy(), sort=False):
            time, values = self.read_spectrogram(spec_id)
            sub = rows.iloc[idx.to_numpy()]
            centre_shift = (SPEC_WINDOW_S - seconds) / 2
            starts = sub["spectrogram_label_offset_seconds"].to_numpy() + centre_shift
            for i, lab, start in zip(idx.to_numpy(), sub["label_id"].to_numpy(), starts):
                first = int(np.searchsorted(time, start))
                last = first + n_rows
                if last <= len(time) and time[last - 1] < start + seconds:
                    out[i] = values[first:last]
                elif pad:
                    out[i] = np.nan
                    keep = values[first:last][time[first:last] < start + seconds]
                    out[i, : len(keep)] = keep
                else:
                    raise HMSError(
                        f"spectrogram_id {spec_id}, label_id {lab}: window [{start:g} s, "
                        f"{start + seconds:g} s) runs past the end of the spectrogram (last row at "
                        f"{time[-1] if len(time) else 'none'} s, {self.spectrogram_path(spec_id)})"
                        "; pass pad=True to pad with NaN"
                    )
        return out


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
