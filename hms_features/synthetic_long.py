"""Synthetic whole recordings: hours of 19-channel EEG as EDF with events at known times.

:func:`make_long_recording` writes what a clinic would hand over, an EDF file of referential
EEG (``"EEG Fp1-REF"`` ... plus ``"ECG"``, µV, 200 Hz by default) with the truth as EDF+
annotations, and the truth again as a BIDS ``*_events.tsv`` of every pattern and an SzCORE TSV
of the seizures (:mod:`hms_features.events`). The signals come from the generators of
:mod:`hms_features.synthetic` (imported, not copied):

* **Background**, in blocks of ``block_s`` seconds, each a :func:`~hms_features.synthetic.
  synthesize_eeg` recording of the same patient with the "other" pattern (1/f background,
  alpha, EKG and its leakage, line noise, eye blinks, muscle, chewing, electrode pops). Each
  block's channel means are replaced by the patient's fixed DC offsets, and consecutive blocks
  overlap by ``crossfade_s`` seconds with a linear cross-fade, so no step marks a block edge.
* **Events**: seizures (``seizure_s`` long, evolving in frequency and spreading as in the Kaggle
  generator, starting at their onset) and LPD/GPD/LRDA/GRDA stretches (``pattern_s`` long),
  added onto the background with 2 s linear fades at both ends. Events never overlap and are at
  least ``min_gap_s`` apart.

The whole recording is built in memory as float32 (about 58 MB per hour at 200 Hz), then
written with ``edfio`` at 0.1 µV resolution (physical range ±3276.8 µV; larger values are
clipped). NaN gaps and flat/disconnected channels of the Kaggle generator are not used (EDF
holds no NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .events import write_bids_events, write_szcore_tsv
from .metrics import CLASSES
from .signal import EEG_COLUMNS, FS
from .synthetic import (
    _add_pattern,
    _draw_artifacts,
    _draw_patient,
    _draw_pattern,
    synthesize_eeg,
)

__all__ = ["make_long_recording", "LONG_LABELS"]

#: Channel labels written to the EDF file (a common hospital style), in EEG_COLUMNS order.
LONG_LABELS = tuple(f"EEG {c}-REF" for c in EEG_COLUMNS[:19]) + ("ECG",)
_OTHER = CLASSES.index("other")
_PHYS = (-3276.8, 3276.7)  # µV: 0.1 µV per digital step over the 16-bit range


def _place(rng, durations, total_s, min_gap_s, margin_s):
    """Onsets (s) of non-overlapping events of the given durations, in the given order."""
    durations = np.asarray(durations, float)
    slack = total_s - 2 * margin_s - durations.sum() - max(len(durations) - 1, 0) * min_gap_s
    if slack < 0:
        raise ValueError(f"make_long_recording: {len(durations)} events of {durations.sum():g} s "
                         f"in total do not fit in {total_s:g} s with {min_gap_s:g} s gaps")
    parts = rng.dirichlet(np.ones(len(durations) + 1)) * slack
    before = np.concatenate([[0.0], np.cumsum(durations[:-1] + min_gap_s)])
    return margin_s + np.cumsum(parts[:-1]) + before


def _background(rng, patient, n, fs, block_s, crossfade_s, dc):
    """(20, n) float32 background built block by block with cross-faded joins."""
    out = np.zeros((len(EEG_COLUMNS), n), np.float32)
    block, fade = int(round(block_s * fs)), int(round(crossfade_s * fs))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    start = 0
    while start < n:
        m = min(block + fade, n - start)
        rec = {"patient": patient, "length_s": m / fs, "main": {"cls": _OTHER}, "second": None,
               "artifacts": [a for a in _draw_artifacts(rng, m / fs)
                             if a[0] not in ("nan_gap", "bad_channel")],
               "ekg_leak": float(rng.choice([0.0, rng.uniform(0.002, 0.015)]))}
        x = synthesize_eeg(rec, rng, fs).T  # (20, m)
        x = x - x.mean(axis=1, keepdims=True) + dc
        if start > 0 and fade:
            k = min(fade, m)
            x[:, :k] = out[:, start:start + k] * (1 - ramp[:k]) + x[:, :k] * ramp[:k]
        out[:, start:start + m] = x
        start += block
    return out


def make_long_recording(root, *, hours: float = 1.0, seed: int = 0, name: str = "sub-01",
                        seizures: int | None = None, patterns: int | None = None,
                        seizure_s=(40.0, 120.0), pattern_s=(120.0, 480.0),
                        min_gap_s: float = 300.0, block_s: float = 600.0,
                        crossfade_s: float = 5.0, fs: float = FS) -> dict:
    """Write a synthetic whole recording as EDF with its reference annotations.

    Parameters
    ----------
    root : path-like
        Output folder (created).
    hours : float
        Length of the recording, h.
    seed : int
        Seed of everything drawn (patient, events, signals): same seed, same files.
    name : str
        File name stem: ``{name}_eeg.edf`` (EDF+ with the events as annotations: onset,
        duration, class name), ``{name}_events.tsv`` (BIDS, every pattern) and
        ``{name}_sz.tsv`` (SzCORE, seizures only).
    seizures, patterns : int, optional
        Number of seizures and of LPD/GPD/LRDA/GRDA stretches (default: one of each per
        started hour).
    seizure_s, pattern_s : (float, float)
        Ranges (s) the event durations are drawn from, uniformly.
    min_gap_s : float
        Least distance between two events, s (also kept free at both ends: half of it).
    block_s, crossfade_s : float
        Background block length and the overlap cross-faded between blocks, s.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    dict
        ``edf``, ``events_tsv``, ``szcore_tsv`` (paths), ``events`` (DataFrame ``onset``,
        ``duration``, ``trial_type``: the truth), ``duration_s`` (float).
    """
    if not hours > 0:
        raise ValueError(f"make_long_recording: hours must be > 0, got {hours!r}")
    rng = np.random.default_rng(seed)
    total_s = float(round(hours * 3600.0 * fs) / fs)
    n = int(round(total_s * fs))
    started = int(np.ceil(hours))
    n_sz = started if seizures is None else int(seizures)
    n_pat = started if patterns is None else int(patterns)
    kinds = [CLASSES.index("seizure")] * n_sz + list(
        rng.choice([CLASSES.index(c) for c in ("lpd", "gpd", "lrda", "grda")], n_pat))
    kinds = [int(k) for k in rng.permutation(kinds)] if kinds else []
    durations = [float(rng.uniform(*(seizure_s if k == 0 else pattern_s))) for k in kinds]
    onsets = _place(rng, durations, total_s, min_gap_s, min_gap_s / 2) if kinds else []

    patient = _draw_patient(rng)
    dc = rng.normal(-40.0, 50.0, (len(EEG_COLUMNS), 1)).astype(np.float32)
    eeg = _background(rng, patient, n, fs, block_s, crossfade_s, dc)

    rows = []
    for k, onset, dur in zip(kinds, onsets, durations):
        side = "left" if rng.random() < 0.5 else "right"
        p = _draw_pattern(rng, k, dur, side)
        if k == 0:  # the seizure starts at the event onset and evolves within it
            p["onset"] = 0.0
            p["evo"] = float(min(p["evo"], 0.7 * dur))
        i0 = int(round(onset * fs))
        m = min(int(round(dur * fs)), n - i0)
        z = np.zeros((len(EEG_COLUMNS), m), np.float32)
        _add_pattern(rng, z, p, patient, fs)
        f = min(int(2 * fs), m // 2)
        taper = np.ones(m, np.float32)
        taper[:f] = np.linspace(0, 1, f)
        taper[m - f:] = np.linspace(1, 0, f)
        eeg[:, i0:i0 + m] += z * taper
        rows.append((float(onset), float(dur), CLASSES[k]))
    events = pd.DataFrame(rows, columns=["onset", "duration", "trial_type"])

    import edfio

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    edf_path = root / f"{name}_eeg.edf"
    np.clip(eeg, *_PHYS, out=eeg)
    edfio.Edf([edfio.EdfSignal(x.astype(np.float64), fs, label=label,
                               physical_dimension="uV", physical_range=_PHYS)
               for x, label in zip(eeg, LONG_LABELS)],
              annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in rows]).write(edf_path)
    return {
        "edf": edf_path,
        "events_tsv": write_bids_events(events, root / f"{name}_events.tsv"),
        "szcore_tsv": write_szcore_tsv(events, root / f"{name}_sz.tsv", duration_s=total_s),
        "events": events,
        "duration_s": total_s,
    }
