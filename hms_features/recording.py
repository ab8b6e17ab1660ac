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

import re
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from .data import HMSError, read_eeg_parquet
from .metrics import CLASSES
from .signal import EEG_COLUMNS, EKG_CHANNEL, FS, SCALP_CHANNELS
from .validation import check_eeg
from .windows import cut_windows

__all__ = [
    "CHANNEL_ALIASES",
    "REFERENCE_SUFFIXES",
    "normalize_channel_name",
    "match_channels",
    "read_recording",
    "resample",
    "sliding_windows",
    "scan_recording",
    "scan_file",
    "plot_scan",
]

#: Modern 10-20 names (and spelling variants) -> the names of :data:`EEG_COLUMNS`, upper case.
CHANNEL_ALIASES = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}
#: Reference suffixes removed before matching (upper case): common reference, linked or left
#: ear, average reference, mastoids.
REFERENCE_SUFFIXES = ("-REF", "-LE", "-RE", "-AR", "-AVG", "-AV", "-A1A2", "-A1", "-A2",
                      "-M1M2", "-M1", "-M2")
#: Prefixes naming the signal type in EDF labels (``"EEG Fp1"``, ``"POL Fp1"``), removed first.
_PREFIXES = ("EEG", "POL")
#: A name that is an electrocardiogram lead once normalised: EKG, EKG1, ECG, ECG2, ECGL, ...
_EKG_PATTERN = re.compile(r"^(EKG|ECG)[0-9LR]*$")

_CANONICAL = {c.upper(): c for c in EEG_COLUMNS}


def normalize_channel_name(name: str) -> str:
    """Normalise a channel label for matching.

    Upper-cases, removes spaces, a leading ``"EEG"``/``"POL"`` type prefix and one trailing
    reference suffix of :data:`REFERENCE_SUFFIXES`, then applies :data:`CHANNEL_ALIASES`.

    Parameters
    ----------
    name : str
        A channel label as stored in the file, e.g. ``"EEG T7-REF"``.

    Returns
    -------
    str
        The normalised label, e.g. ``"T3"``; electrocardiogram leads normalise to ``"EKG"``.
    """
    n = "".join(str(name).split()).upper()
    for prefix in _PREFIXES:
        if n.startswith(prefix) and len(n) > len(prefix):
            n = n[len(prefix):]
            break
    for suffix in REFERENCE_SUFFIXES:
        if n.endswith(suffix) and len(n) > len(suffix):
            n = n[: -len(suffix)]
            break
    n = CHANNEL_ALIASES.get(n, n)
    if _EKG_PATTERN.match(n):
        return EKG_CHANNEL.upper()
    return n


def match_channels(names, source: str = "recording") -> tuple[list[int | None], list[str]]:
    """Map the channel labels of a file onto :data:`EEG_COLUMNS`.

    Parameters
    ----------
    names : sequence of str
        Channel labels in file order.
    source : str
        The file name, used in error messages.

    Returns
    -------
    index : list of (int or None), length 20
        For each of ``EEG_COLUMNS``, the position of its channel in ``names``; ``None`` only for a
        missing EKG. When several labels map to one column (``"T3"`` and ``"T7"``, or ``"EKG1"``
        and ``"EKG2"``) the first in file order wins.
    notes : list of str
        Human-readable remarks (ambiguous names, missing EKG) for a warning.

    Raises
    ------
    HMSError
        If any of the 19 scalp channels is missing; the message lists them, the file and the
        labels found.
    """
    normalised = [normalize_channel_name(n) for n in names]
    index: list[int | None] = []
    notes: list[str] = []
    for column in EEG_COLUMNS:
        hits = [i for i, n in enumerate(normalised) if n == column.upper()]
        if len(hits) > 1:
            notes.append(
                f"{column}: several channels match ({', '.join(repr(names[i]) for i in hits)}); "
                f"using {names[hits[0]]!r}"
            )
        index.append(hits[0] if hits else None)
    missing = [c for c, i in zip(SCALP_CHANNELS, index) if i is None]
    if missing:
        raise HMSError(
            f"{source}: missing EEG channel(s) {', '.join(missing)}; expected the 19 channels "
            f"{', '.join(SCALP_CHANNELS)} (10-20 aliases T7/T8/P7/P8 accepted, case and "
            f"'EEG '/'-REF'/'-LE' ignored); channels in the file: {', '.join(map(str, names))}"
        )
    if index[-1] is None:
        notes.append("no EKG/ECG channel: EKG set to zeros")
    return index, notes


def resample(eeg: np.ndarray, fs_in: float, fs_out: float = FS) -> np.ndarray:
    """Resample along the last axis with a polyphase filter.

    Parameters
    ----------
    eeg : array, shape (..., n_samples)
        Signal in µV sampled at ``fs_in``.
    fs_in, fs_out : float
        Sampling rates, Hz. Their ratio is approximated by a fraction with denominator at most
        1000 (exact for all common rates: 128, 250, 256, 500, 512, 1000, 1024 Hz -> 200 Hz).

    Returns
    -------
    ndarray of float32, shape (..., round(n_samples * fs_out / fs_in))
        Resampled with :func:`scipy.signal.resample_poly` (Kaiser-windowed anti-aliasing FIR).
    """
    from scipy.signal import resample_poly

    if not (np.isfinite(fs_in) and fs_in > 0):
        raise ValueError(f"resample: fs_in must be a positive number of Hz, got {fs_in!r}")
    ratio = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)
    if ratio == 1:
        return np.asarray(eeg, dtype=np.float32)
    out = resample_poly(np.asarray(eeg, dtype=np.float64), ratio.numerator, ratio.denominator,
                        axis=-1)
    return out.astype(np.float32)


def _read_edf(path: Path) -> tuple[np.ndarray, float]:
    import mne

    readers = {".edf": mne.io.read_raw_edf, ".bdf": mne.io.read_raw_bdf}
    try:
        raw = readers[path.suffix.lower()](path, preload=False, verbose="error")
    except (ValueError, OSError, RuntimeError, KeyError, IndexError) as err:
        raise HMSError(f"{path}: not a readable {path.suffix.upper()[1:]} file ({err})") from None
    index, notes = match_channels(raw.ch_names, str(path))
    picks = [i for i in index if i is not None]
    # MNE stores volts whatever the file's physical dimension (uV, mV, V); back to µV.
    data = raw.get_data(picks=picks) * 1e6
    fs = float(raw.info["sfreq"])
    eeg = np.zeros((len(EEG_COLUMNS), data.shape[1]), np.float32)
    rows = [k for k, i in enumerate(index) if i is not None]
    eeg[rows] = data
    if notes:
        warnings.warn(f"{path}: " + "; ".join(notes), UserWarning, stacklevel=3)
    return eeg, fs


def read_recording(path, *, fs: float = FS) -> tuple[np.ndarray, float]:
    """Read a whole EEG recording into the library layout, ``(20, n_samples)``.

    Unlike the file-layout reader :func:`hms_features.data.read_eeg_parquet` (``(n_samples,
    20)``, as the parquet file stores it), the result is channels first, the library's layout
    for one recording (see ARCHITECTURE.md at the root of the repository).

    Parameters
    ----------
    path : path-like
        A Kaggle-style EEG parquet file (20 columns ``EEG_COLUMNS``, µV, 200 Hz) or an EDF/BDF
        file (read with :func:`mne.io.read_raw_edf` / ``read_raw_bdf``; channels matched by
        :func:`match_channels`; any physical unit, converted to µV).
    fs : float
        Sampling rate to return, Hz (200, the rate the models are trained at). Recordings at
        other rates are resampled with :func:`resample` (polyphase; a NaN gap, possible only in
        parquet files, then spreads over the filter length).

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
        If the file does not exist, has an unsupported extension, cannot be parsed, or lacks
        any of the 19 scalp channels (the message lists the missing ones and the file).
    """
    path = Path(path)
    if not path.is_file():
        raise HMSError(f"{path}: file not found (expected an EEG .parquet or .edf recording)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        eeg, fs_in = np.ascontiguousarray(read_eeg_parquet(path).T), FS
    elif suffix in (".edf", ".bdf"):
        eeg, fs_in = _read_edf(path)
    else:
        raise HMSError(
            f"{path}: unsupported file type {path.suffix!r}; expected a Kaggle-style .parquet or "
            "an .edf/.bdf file"
        )
    if eeg.shape[1] == 0:
        raise HMSError(f"{path}: the recording holds no samples")
    if not np.isclose(fs_in, fs):
        eeg = resample(eeg, fs_in, fs)
    return eeg, float(fs)


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


def plot_scan(df: pd.DataFrame, path, *, title: str | None = None, stacked: bool = True):
    """Plot class probabilities over a recording.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`scan_recording` (``centre_s`` and the six class columns).
    path : path-like
        PNG file to write.
    title : str, optional
        Figure title.
    stacked : bool
        Stacked areas (they fill [0, 1] when rows sum to 1) if True, one line per class if False.

    Returns
    -------
    Path
        ``path``.
    """
    from .report import CLASS_COLORS, new_figure, save_figure

    missing = [c for c in ("centre_s",) + CLASSES if c not in df.columns]
    if missing:
        raise ValueError(f"plot_scan: df lacks column(s) {missing}; expected the output of "
                         "scan_recording")
    t = df["centre_s"].to_numpy(dtype=float)
    minutes = len(t) > 0 and t.max() > 600
    x = t / 60 if minutes else t
    p = df[list(CLASSES)].to_numpy(dtype=float)
    fig = new_figure(figsize=(12, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    colors = [CLASS_COLORS[c] for c in CLASSES]
    if stacked:
        ax.stackplot(x, p.T, labels=CLASSES, colors=colors, alpha=0.85, linewidth=0)
    else:
        for j, c in enumerate(CLASSES):
            ax.plot(x, p[:, j], color=colors[j], label=c, lw=1.5)
    if len(x) > 1:
        ax.set_xlim(x.min(), x.max())
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"window centre ({'min' if minutes else 's'} from start of recording)")
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "class probabilities over the recording (50 s windows)")
    return save_figure(fig, path)


def scan_file(path, predict_proba, out_csv=None, *, step_s: float = 10.0,
              window_s: float = 50.0, spectrogram=None, batch_size: int = 32,
              progress: bool = False, plot: bool = True) -> pd.DataFrame:
    """Read a recording, scan it and write the probabilities over time (the ``scan`` command).

    Parameters
    ----------
    path : path-like
        A Kaggle-style EEG parquet or an EDF/BDF file (see :func:`read_recording`).
    predict_proba : callable
        As in :func:`scan_recording`, e.g. for a fitted model on the feature table::

            lambda w: model.predict_proba(build_features(w, progress=False, n_jobs=1))

    out_csv : path-like, optional
        Write the table here (``start_s, centre_s, seizure, ..., other``); with ``plot`` also the
        picture of :func:`plot_scan` next to it, same name with ``.png``.
    step_s, window_s, spectrogram, batch_size, progress
        As in :func:`scan_recording` (the recording is brought to 200 Hz first).
    plot : bool
        Write the PNG next to ``out_csv``.

    Returns
    -------
    DataFrame
        The output of :func:`scan_recording`.
    """
    path = Path(path)
    eeg, fs = read_recording(path)
    if eeg.shape[1] < window_s * fs:
        raise HMSError(f"{path}: the recording lasts {eeg.shape[1] / fs:g} s, shorter than one "
                       f"{window_s:g} s window")
    df = scan_recording(predict_proba, eeg, fs=fs, step_s=step_s, spectrogram=spectrogram,
                        window_s=window_s, batch_size=batch_size, progress=progress)
    if out_csv is not None:
        out_csv = Path(out_csv)
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out_csv, index=False, float_format="%.6g")
        if plot:
            plot_scan(df, out_csv.with_suffix(".png"),
                      title=f"{path.name}: class probabilities ({window_s:g} s windows, "
                            f"step {step_s:g} s)")
    return df


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
