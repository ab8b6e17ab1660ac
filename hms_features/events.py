"""Clinical annotations out: events from per-window probabilities, written and read back.

:func:`detect_events` turns the per-window class probabilities of a scan
(:func:`hms_features.recording.scan_recording`: ``start_s``, ``centre_s`` and the six class
columns) into events, one table row each::

    onset  duration  trial_type  peak_probability  peak_s

(seconds from the start of the recording; ``trial_type`` a class name of
:data:`~hms_features.metrics.CLASSES`). The same table is the in-memory form of reference
annotations read by :func:`read_events`.

The detection rule, for each class separately (events of different classes may overlap):

1. Window ``k`` stands for the ``segment_s`` seconds around its centre (by default the step
   between window centres, i.e. the labelled 10 s centre of a 50 s window scanned every 10 s).
2. **Hysteresis**: an event starts at a window whose probability is ``>= on`` and goes on while
   the probability stays ``>= off`` (``off <= on``); it ends at the last window ``>= off``.
   Windows more than 1.5 segments apart are not consecutive (a gap in the scan ends an event).
3. **Merge**: two events of one class separated by less than ``min_gap_s`` become one.
4. **Minimum duration**: events shorter than ``min_duration_s`` (after merging) are dropped.

Formats written and read:

* :class:`mne.Annotations` (:func:`to_annotations`), saved alone (:func:`write_annotations`:
  ``.fif``, ``.csv``, ``.txt``) or with a recording (:func:`write_annotated_fif`); all read by
  :func:`mne.read_annotations`.
* BIDS ``*_events.tsv`` (:func:`write_bids_events`): ``onset``, ``duration``, ``trial_type``,
  ``value`` (peak probability).
* SzCORE / ``epilepsy2bids`` annotation TSV for seizures (:func:`write_szcore_tsv`), written with
  ``epilepsy2bids.annotations.Annotations`` (columns ``onset duration eventType confidence
  channels dateTime recordingDuration``; seizures as ``sz``, a recording without seizures as one
  ``bckg`` row), the format of the SzCORE seizure-detection benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import HMSError
from .metrics import CLASSES

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_CLASSES",
    "detect_events",
    "to_annotations",
    "write_annotations",
    "write_annotated_fif",
    "write_bids_events",
    "write_szcore_tsv",
    "read_events",
]

#: Columns of an events table.
EVENT_COLUMNS = ("onset", "duration", "trial_type", "peak_probability", "peak_s")
#: Classes that give events by default ("other" is the background, not an event).
EVENT_CLASSES = tuple(c for c in CLASSES if c != "other")


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({"onset": pd.Series(dtype=float), "duration": pd.Series(dtype=float),
                         "trial_type": pd.Series(dtype=object),
                         "peak_probability": pd.Series(dtype=float),
                         "peak_s": pd.Series(dtype=float)})


def _window_centres(proba: pd.DataFrame) -> np.ndarray:
    if "centre_s" in proba.columns:
        return proba["centre_s"].to_numpy(dtype=float)
    if {"start_s", "end_s"} <= set(proba.columns):
        return (proba["start_s"].to_numpy(dtype=float) + proba["end_s"].to_numpy(dtype=float)) / 2
    raise ValueError("detect_events: proba needs a 'centre_s' column or 'start_s' and 'end_s' "
                     f"(seconds); got columns {list(proba.columns)}")


def detect_events(proba: pd.DataFrame, *, classes=EVENT_CLASSES, on: float = 0.5,
                  off: float = 0.3, min_duration_s: float = 0.0, min_gap_s: float = 0.0,
                  segment_s: float | None = None) -> pd.DataFrame:
    """Events from per-window class probabilities (the rule is in the module docstring).

    Parameters
    ----------
    proba : DataFrame
        One row per window: ``centre_s`` (or ``start_s`` and ``end_s``), s from the start of the
        recording, and one probability column per class of ``classes``, e.g. the output of
        :func:`~hms_features.recording.scan_recording`.
    classes : sequence of str
        Classes to detect events of (default: all but ``"other"``).
    on, off : float
        Hysteresis thresholds on the probability: an event starts at ``>= on`` and lasts while
        ``>= off``. ``0 < off <= on <= 1``.
    min_duration_s : float
        Events shorter than this (s) are dropped, after merging.
    min_gap_s : float
        Events of one class less than this (s) apart are merged.
    segment_s : float, optional
        Seconds each window stands for, centred on its centre. Default: the median distance
        between window centres (the scan step); with a single window, ``end_s - start_s``.

    Returns
    -------
    DataFrame
        Columns :data:`EVENT_COLUMNS`: ``onset`` and ``duration`` (s), ``trial_type`` (class),
        ``peak_probability`` (highest window probability in the event) and ``peak_s`` (centre of
        that window, s); sorted by onset, then class order. Empty (with these columns) when
        nothing passes.
    """
    if not 0 < off <= on <= 1:
        raise ValueError(f"detect_events: need 0 < off <= on <= 1, got on={on!r}, off={off!r}")
    if min_duration_s < 0 or min_gap_s < 0:
        raise ValueError("detect_events: min_duration_s and min_gap_s must be >= 0 s, got "
                         f"{min_duration_s!r} and {min_gap_s!r}")
    missing = [c for c in classes if c not in proba.columns]
    if missing:
        raise ValueError(f"detect_events: proba lacks class column(s) {missing}")
    if len(proba) == 0:
        return _empty_events()
    order = np.argsort(_window_centres(proba), kind="stable")
    centres = _window_centres(proba)[order]
    if segment_s is None:
        if len(centres) > 1:
            segment_s = float(np.median(np.diff(centres)))
        elif {"start_s", "end_s"} <= set(proba.columns):
            segment_s = float(proba["end_s"].iloc[0] - proba["start_s"].iloc[0])
        else:
            raise ValueError("detect_events: a single window needs segment_s (or start_s/end_s)")
    if not segment_s > 0:
        raise ValueError(f"detect_events: segment_s must be > 0 s, got {segment_s!r}")
    # a run of consecutive windows breaks where the scan has a gap
    breaks = np.flatnonzero(np.diff(centres) > 1.5 * segment_s) + 1

    rows = []
    for cls in classes:
        p = proba[cls].to_numpy(dtype=float)[order]
        above = p >= off
        # windows k-1 and k belong to one run when both pass ``off`` and no scan gap lies between
        linked = above[:-1] & above[1:]
        linked[breaks - 1] = False
        starts = np.flatnonzero(above & ~np.concatenate([[False], linked]))
        ends = np.flatnonzero(above & ~np.concatenate([linked, [False]])) + 1  # exclusive
        events = []
        for a, b in zip(starts, ends):
            hits = np.flatnonzero(p[a:b] >= on)
            if len(hits) == 0:
                continue
            a = a + hits[0]
            events.append([centres[a] - segment_s / 2, centres[b - 1] + segment_s / 2, a, b])
        merged = []
        for ev in events:
            if merged and ev[0] - merged[-1][1] < min_gap_s:
                merged[-1][1], merged[-1][3] = ev[1], ev[3]
            else:
                merged.append(ev)
        for t0, t1, a, b in merged:
            t0 = max(t0, 0.0)
            if t1 - t0 < min_duration_s:
                continue
            k = a + int(np.argmax(p[a:b]))  # peak over the merged span (gaps included)
            rows.append((t0, t1 - t0, cls, float(p[k]), float(centres[k])))
    if not rows:
        return _empty_events()
    out = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    out["_cls"] = [list(CLASSES).index(c) if c in CLASSES else len(CLASSES)
                   for c in out["trial_type"]]
    out = out.sort_values(["onset", "_cls"], kind="stable").drop(columns="_cls")
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- writers

def _check_events(events, fn: str) -> pd.DataFrame:
    events = pd.DataFrame(events)
    missing = [c for c in ("onset", "duration", "trial_type") if c not in events.columns]
    if missing:
        raise ValueError(f"{fn}: events lack column(s) {missing}; expected the output of "
                         "detect_events or read_events")
    return events


def to_annotations(events: pd.DataFrame, orig_time=None):
    """Events as :class:`mne.Annotations` (description = class).

    Parameters
    ----------
    events : DataFrame
        ``onset``, ``duration`` (s) and ``trial_type`` columns.
    orig_time : datetime or None
        Passed to :class:`mne.Annotations`; ``None`` makes onsets relative to the first sample
        of the recording the annotations are set on.

    Returns
    -------
    mne.Annotations
    """
    import mne

    events = _check_events(events, "to_annotations")
    return mne.Annotations(events["onset"].to_numpy(float), events["duration"].to_numpy(float),
                           events["trial_type"].astype(str).to_list(), orig_time=orig_time)


def write_annotations(events: pd.DataFrame, path) -> Path:
    """Save events as MNE annotations (``.fif``, name ending in ``-annot.fif``, or ``.txt``).

    Parameters
    ----------
    events : DataFrame
        ``onset``, ``duration`` (s) and ``trial_type``.
    path : path-like
        Output file; :func:`mne.read_annotations` reads it back. (MNE's ``.csv`` is not offered:
        it stores onsets as dates, and annotations not tied to a measurement date come back
        relative to the first event.)

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.suffix.lower() not in (".fif", ".txt"):
        raise ValueError(f"write_annotations: {path}: use a .fif (…-annot.fif) or .txt file")
    path.parent.mkdir(parents=True, exist_ok=True)
    to_annotations(events).save(path, overwrite=True, verbose="error")
    return path


def write_annotated_fif(raw, events: pd.DataFrame, path) -> Path:
    """Write a recording with the events added to its annotations, as FIF.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (not modified; a copy is annotated). Its own annotations are kept.
    events : DataFrame
        ``onset``, ``duration`` (s from the first sample of ``raw``) and ``trial_type``.
    path : path-like
        Output FIF file (MNE's convention: the name ends in ``raw.fif``).

    Returns
    -------
    Path
    """
    events = _check_events(events, "write_annotated_fif")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = raw.copy()
    # annotation onsets count from meas_date when it is set (then the first sample is at
    # first_time) and from the first sample otherwise
    shift = out.first_time if out.annotations.orig_time is not None else 0.0
    out.annotations.append(events["onset"].to_numpy(float) + shift,
                           events["duration"].to_numpy(float),
                           events["trial_type"].astype(str).to_list())
    out.save(path, overwrite=True, verbose="error")
    return path


def write_bids_events(events: pd.DataFrame, path) -> Path:
    """Write a BIDS ``*_events.tsv``.

    Columns ``onset`` and ``duration`` (s, 3 decimals), ``trial_type`` (class) and ``value``
    (the peak probability, 4 decimals; ``n/a`` when unknown), tab-separated, ``n/a`` for missing
    values as BIDS requires.

    Parameters
    ----------
    events : DataFrame
        ``onset``, ``duration``, ``trial_type`` and optionally ``peak_probability``.
    path : path-like
        Output file (BIDS names it ``sub-<label>_..._events.tsv``).

    Returns
    -------
    Path
    """
    events = _check_events(events, "write_bids_events")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = (events["peak_probability"] if "peak_probability" in events.columns
             else pd.Series(np.nan, index=events.index))
    table = pd.DataFrame({
        "onset": events["onset"].map("{:.3f}".format),
        "duration": events["duration"].map("{:.3f}".format),
        "trial_type": events["trial_type"].astype(str),
        "value": value.map(lambda v: "n/a" if pd.isna(v) else f"{v:.4f}"),
    })
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path


def write_szcore_tsv(events: pd.DataFrame, path, duration_s: float, *, date_time=None,
                     trial_type: str = "seizure") -> Path:
    """Write the seizures of ``events`` as an SzCORE / epilepsy2bids annotation TSV.

    Uses ``epilepsy2bids.annotations.Annotations.saveTsv``: one ``sz`` row per event of class
    ``trial_type`` with ``confidence`` the peak probability (``n/a`` when unknown), or a single
    ``bckg`` row spanning the recording when there is none.

    Parameters
    ----------
    events : DataFrame
        ``onset``, ``duration`` (s), ``trial_type``, optionally ``peak_probability``.
    path : path-like
        Output ``.tsv``.
    duration_s : float
        Length of the whole recording, s (the ``recordingDuration`` column, needed by scorers).
    date_time : datetime, optional
        Start of the recording (``dateTime`` column); ``n/a`` when not given.
    trial_type : str
        The class written as seizures.

    Returns
    -------
    Path
    """
    try:
        from epilepsy2bids.annotations import Annotation, Annotations, EventType
    except ImportError as err:  # pragma: no cover - the recordings extra is not installed
        raise ImportError("write_szcore_tsv needs epilepsy2bids: pip install "
                          "'hms-features[recordings]'") from err
    events = _check_events(events, "write_szcore_tsv")
    if not duration_s > 0:
        raise ValueError(f"write_szcore_tsv: duration_s must be > 0 s, got {duration_s!r}")
    sz = events[events["trial_type"] == trial_type]
    out = Annotations()
    conf = (sz["peak_probability"] if "peak_probability" in sz.columns
            else pd.Series(np.nan, index=sz.index))
    for onset, duration, c in zip(sz["onset"], sz["duration"], conf):
        out.events.append(Annotation(
            onset=float(onset), duration=float(duration), eventType=EventType.sz,
            confidence="n/a" if pd.isna(c) else float(c), channels="n/a",
            dateTime=date_time if date_time is not None else "n/a",
            recordingDuration=float(duration_s)))
    if not out.events:
        out.events.append(Annotation(
            onset=0.0, duration=float(duration_s), eventType=EventType.bckg, confidence="n/a",
            channels="n/a", dateTime=date_time if date_time is not None else "n/a",
            recordingDuration=float(duration_s)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.saveTsv(str(path))
    return path


# ----------------------------------------------------------------------------- readers

def _canonical_type(label) -> str:
    s = str(label).strip().lower()
    return "seizure" if s == "sz" or s.startswith("sz_") else s


def _read_szcore(path: Path, table: pd.DataFrame) -> pd.DataFrame:
    from epilepsy2bids.annotations import Annotations, SeizureType

    bad = table["eventType"].astype(str)
    unknown = sorted(set(bad) - set(SeizureType._member_names_) - {"bckg"})
    if unknown:
        raise HMSError(f"{path}: unknown eventType value(s) {unknown} (SzCORE uses 'bckg', 'sz' "
                       "and the sz_* types of epilepsy2bids)")
    ann = Annotations.loadTsv(str(path))
    rows = [(e["onset"], e["duration"], "seizure",
             e["confidence"] if isinstance(e["confidence"], float) else np.nan, np.nan)
            for e in ann.events if e["eventType"].value in SeizureType._member_names_]
    out = pd.DataFrame(rows, columns=list(EVENT_COLUMNS)) if rows else _empty_events()
    dur = table["recordingDuration"]
    out.attrs["recording_duration_s"] = float(dur.iloc[0]) if len(dur) else np.nan
    return out


def read_events(path) -> pd.DataFrame:
    """Read reference (or detected) annotations from any format written by this module.

    Parameters
    ----------
    path : path-like
        * ``.tsv`` with an ``eventType`` column: SzCORE / epilepsy2bids annotations (read with
          ``epilepsy2bids``); ``sz`` and ``sz_*`` rows become ``seizure`` events, ``bckg`` rows
          are skipped. The recording duration is in ``result.attrs["recording_duration_s"]``.
        * other ``.tsv``: BIDS events (``onset``, ``duration``, optional ``trial_type`` and
          ``value``; ``n/a`` allowed in ``duration`` (taken as 0 s) and ``value``).
        * anything :func:`mne.read_annotations` reads (``.fif``, ``.csv``, ``.txt``, EDF+/BDF
          annotations, ...): description becomes ``trial_type``.

        Labels are lower-cased; ``sz``/``sz_*`` become ``seizure``.

    Returns
    -------
    DataFrame
        Columns :data:`EVENT_COLUMNS` (``peak_probability`` from ``value``/``confidence`` when
        present, else NaN; ``peak_s`` NaN), sorted by onset.

    Raises
    ------
    HMSError
        If the file is missing, empty, or lacks the required columns.
    """
    path = Path(path)
    if not path.is_file():
        raise HMSError(f"{path}: annotation file not found")
    if path.stat().st_size == 0:
        raise HMSError(f"{path}: empty annotation file (expected a header line at least)")
    if path.suffix.lower() == ".tsv":
        try:
            table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise HMSError(f"{path}: not a readable TSV file ({err})") from None
        if "eventType" in table.columns:
            need = ("onset", "duration", "eventType", "recordingDuration")
        else:
            need = ("onset", "duration")
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise HMSError(f"{path}: missing column(s) {', '.join(missing)}; expected a BIDS "
                           "events.tsv (onset, duration, trial_type) or an SzCORE TSV (onset, "
                           "duration, eventType, ..., recordingDuration)")
        if "eventType" in table.columns:
            out = _read_szcore(path, table)
        else:
            prob = (table["value"] if "value" in table.columns
                    else pd.Series(np.nan, index=table.index))
            out = pd.DataFrame({
                "onset": pd.to_numeric(table["onset"], errors="coerce"),
                "duration": pd.to_numeric(table["duration"], errors="coerce").fillna(0.0),
                "trial_type": (table["trial_type"].fillna("event").map(_canonical_type)
                               if "trial_type" in table.columns else "event"),
                "peak_probability": pd.to_numeric(prob, errors="coerce"),
                "peak_s": np.nan,
            })
            if out["onset"].isna().any():
                row = int(np.flatnonzero(out["onset"].isna())[0]) + 2
                raise HMSError(f"{path}: line {row}: onset is not a number")
    else:
        import mne

        try:
            ann = mne.read_annotations(path)
        except (ValueError, OSError, RuntimeError, KeyError, IndexError) as err:
            raise HMSError(f"{path}: not an annotation file MNE can read ({err})") from None
        out = pd.DataFrame({"onset": np.asarray(ann.onset, float),
                            "duration": np.asarray(ann.duration, float),
                            "trial_type": [_canonical_type(d) for d in ann.description],
                            "peak_probability": np.nan, "peak_s": np.nan})
    attrs = dict(out.attrs)
    out = out.sort_values("onset", kind="stable").reset_index(drop=True)
    out.attrs.update(attrs)
    return out
