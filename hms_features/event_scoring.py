"""Event-level seizure scoring as the field does it (SzCORE, with the ``timescoring`` package).

:func:`evaluate` compares detected events with reference annotations, per recording and pooled,
with the two SzCORE scorings implemented by ``timescoring`` [1]_:

* **event-based** (``timescoring.scoring.EventScoring``, default parameters of SzCORE): events
  closer than 90 s are merged and events longer than 5 min split, in both lists; a reference
  event, widened by 30 s before and 60 s after, is detected when any detection overlaps it; a
  detection overlapping no widened reference event is a false alarm.
* **sample-based** (``timescoring.scoring.SampleScoring``): every 1 s sample (``sample_fs``) is
  a positive or negative decision.

Scores: ``sensitivity = tp / n_ref``, ``precision = tp / (tp + fp)``, ``f1 = 2 tp / (2 tp + fp +
fn)`` and ``fp_per_24h`` (false alarms per 24 h of recording), NaN where undefined (no
reference events for sensitivity, no detections for precision). The pooled row sums ``tp``,
``fp``, the reference count and the recording durations over recordings before computing the
scores (as the SzCORE evaluation does), so long recordings weigh more.

References
----------
.. [1] Dan J. et al. (2024). SzCORE: Seizure Community Open-Source Research Evaluation framework
   for the validation of electroencephalography-based automated seizure detection algorithms.
   Epilepsia. doi:10.1111/epi.18113
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = ["SCORE_COLUMNS", "evaluate"]

_SCORES = ("sensitivity", "precision", "f1", "fp_per_24h", "tp", "fp", "n_ref")
#: Columns of the table returned by :func:`evaluate`.
SCORE_COLUMNS = (("recording", "duration_s")
                 + tuple(f"event_{s}" for s in _SCORES) + tuple(f"sample_{s}" for s in _SCORES))


def _intervals(events, trial_type, duration_s, what):
    """(start, end) pairs in s, clipped to the recording, of one class."""
    if isinstance(events, pd.DataFrame):
        missing = [c for c in ("onset", "duration") if c not in events.columns]
        if missing:
            raise ValueError(f"evaluate: {what} events lack column(s) {missing}")
        if trial_type is not None and "trial_type" in events.columns:
            events = events[events["trial_type"] == trial_type]
        onset = events["onset"].to_numpy(float)
        pairs = np.column_stack([onset, onset + events["duration"].to_numpy(float)])
    else:
        pairs = np.asarray(list(events), dtype=float).reshape(-1, 2)
    if not np.isfinite(pairs).all() or (pairs[:, 1] < pairs[:, 0]).any():
        raise ValueError(f"evaluate: {what} events need finite onsets and durations >= 0 s")
    pairs = np.clip(pairs, 0.0, duration_s)
    pairs = pairs[pairs[:, 1] > pairs[:, 0]]
    return [tuple(map(float, p)) for p in pairs[np.argsort(pairs[:, 0], kind="stable")]]


def _scores(tp, fp, n_ref, duration_s):
    fn = n_ref - tp
    return {
        "sensitivity": tp / n_ref if n_ref > 0 else np.nan,
        "precision": tp / (tp + fp) if tp + fp > 0 else np.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if n_ref + fp > 0 else np.nan,
        "fp_per_24h": fp / (duration_s / 86400.0),
        "tp": tp, "fp": fp, "n_ref": n_ref,
    }


def _score_one(ref, hyp, duration_s, trial_type, sample_fs, event_params):
    from timescoring.annotations import Annotation
    from timescoring.scoring import EventScoring, SampleScoring

    fs = 10  # annotation resolution, Hz (EventScoring works at 10 Hz)
    n = int(round(duration_s * fs))
    r = Annotation(_intervals(ref, trial_type, duration_s, "reference"), fs, n)
    h = Annotation(_intervals(hyp, trial_type, duration_s, "detected"), fs, n)
    params = EventScoring.Parameters(**(event_params or {}))
    ev = EventScoring(r, h, params)
    sa = SampleScoring(r, h, sample_fs)
    return {"event": (int(ev.tp), int(ev.fp), int(ev.refTrue)),
            "sample": (int(sa.tp), int(sa.fp), int(sa.refTrue))}


def _read(events):
    """A path -> :func:`~hms_features.events.read_events`; anything else as it is."""
    if isinstance(events, (str, os.PathLike)):
        from .events import read_events

        return read_events(events)
    return events


def _duration(duration, ref, hyp):
    """The given duration, else the one an SzCORE file carries."""
    if duration is not None:
        return duration
    for ev in (ref, hyp):
        d = getattr(ev, "attrs", {}).get("recording_duration_s")
        if d is not None and np.isfinite(d):
            return d
    raise ValueError("evaluate: the recording's duration is unknown (only SzCORE TSV files "
                     "carry it); pass duration_s")


def evaluate(reference_events, detected_events, duration_s=None, *, recordings=None,
             trial_type: str | None = "seizure", sample_fs: float = 1.0,
             event_params: dict | None = None) -> pd.DataFrame:
    """Score detected events against reference events, per recording and pooled.

    Parameters
    ----------
    reference_events, detected_events : events, or a list of events (one per recording)
        Events of one recording: a DataFrame with ``onset`` and ``duration`` (s) and optionally
        ``trial_type`` (as returned by :func:`~hms_features.events.detect_events` and
        :func:`~hms_features.events.read_events`), a sequence of ``(start, end)`` pairs in s,
        or a file :func:`~hms_features.events.read_events` reads (BIDS events.tsv, SzCORE TSV,
        MNE annotations, EDF+). For several recordings, lists of those, one per recording.
    duration_s : float or sequence of float, optional
        Length of each recording, s. Events are clipped to ``[0, duration_s]``. Default (or
        None in the list): the ``recordingDuration`` of an SzCORE TSV among the two.
    recordings : sequence of str, optional
        Recording names for the ``recording`` column (default ``"0"``, ``"1"``, ...).
    trial_type : str or None
        Only events of this class are scored (``"seizure"``); None scores all events of a
        DataFrame as one class. Ignored for ``(start, end)`` pairs.
    sample_fs : float
        Rate of the sample-based scoring, Hz (SzCORE: 1 Hz).
    event_params : dict, optional
        Keyword arguments of ``timescoring.scoring.EventScoring.Parameters``
        (``toleranceStart=30``, ``toleranceEnd=60``, ``minOverlap=0``,
        ``maxEventDuration=300``, ``minDurationBetweenEvents=90``; seconds).

    Returns
    -------
    DataFrame
        Columns :data:`SCORE_COLUMNS`: one row per recording, then a ``"pooled"`` row (counts and
        durations summed over recordings, then scored) when several recordings are given.
        ``event_*`` counts are events; ``sample_*`` counts are samples at ``sample_fs`` (so
        ``sample_fp_per_24h`` is false-positive samples per 24 h, as ``timescoring`` reports).
    """
    single = isinstance(reference_events, (pd.DataFrame, str, os.PathLike)) or (
        duration_s is not None and np.ndim(duration_s) == 0)
    if single:
        reference_events, detected_events = [reference_events], [detected_events]
        duration_s = [duration_s]
    reference_events = [_read(e) for e in reference_events]
    detected_events = [_read(e) for e in detected_events]
    if duration_s is None:
        duration_s = [None] * len(reference_events)
    duration_s = [_duration(d, r, h) for d, r, h in zip(duration_s, reference_events,
                                                         detected_events)]
    durations = [float(d) for d in duration_s]
    if not (len(reference_events) == len(detected_events) == len(durations)):
        raise ValueError(f"evaluate: {len(reference_events)} reference, {len(detected_events)} "
                         f"detected event lists and {len(durations)} durations; need one each "
                         "per recording")
    if any(not (np.isfinite(d) and d > 0) for d in durations):
        raise ValueError(f"evaluate: durations must be > 0 s, got {durations}")
    names = [str(r) for r in recordings] if recordings is not None else [
        str(k) for k in range(len(durations))]
    rows, totals = [], {"event": np.zeros(3, int), "sample": np.zeros(3, int)}
    for name, ref, hyp, dur in zip(names, reference_events, detected_events, durations):
        counts = _score_one(ref, hyp, dur, trial_type, sample_fs, event_params)
        row = {"recording": name, "duration_s": dur}
        for kind, (tp, fp, n_ref) in counts.items():
            totals[kind] += (tp, fp, n_ref)
            row.update({f"{kind}_{k}": v for k, v in _scores(tp, fp, n_ref, dur).items()})
        rows.append(row)
    if not single:
        row = {"recording": "pooled", "duration_s": sum(durations)}
        for kind, (tp, fp, n_ref) in totals.items():
            row.update({f"{kind}_{k}": v
                        for k, v in _scores(int(tp), int(fp), int(n_ref), sum(durations)).items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
