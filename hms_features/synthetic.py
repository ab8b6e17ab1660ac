"""A realistic synthetic HMS dataset in the exact Kaggle layout (the library's embedded default).

:func:`make_synthetic_hms` writes ``train.csv``, ``test.csv``, ``sample_submission.csv`` and the
four parquet folders exactly as the Kaggle download lays them out, so every part of the library
runs on it unchanged, plus ``synthetic_truth.csv`` (never read by :class:`~hms_features.data.
HMSDataset`) with the true class distribution of every row and the parameters it was drawn from.

How a dataset is drawn
----------------------
1. **Structure.** Patients hold a few EEG recordings; each recording holds several overlapping
   50 s label windows a few (mostly even) seconds apart, as in the real ``train.csv``.
2. **Parameters, per recording** (:func:`synthetic_labels`): the main pattern (ACNS terminology
   [1]_): LPD, GPD, LRDA, GRDA, an evolving seizure or "other" (background only), its side,
   degree of lateralisation ``laterality`` in [0, 1] (0 symmetric, 1 one hemisphere only),
   amplitude relative to the patient's background (``intensity``), discharge rate or rhythm
   frequency, seizure onset and evolution, an optional second pattern, and artifact events
   (eye blinks, slow eye movements, muscle bursts, rhythmic chewing, electrode pops, a flat or
   disconnected channel, NaN gaps, EKG leakage).
3. **Truth, per row.** An "ideal expert" posterior computed only from what those parameters make
   visible in the row's window: a weakly lateralised periodic pattern gives an LPD/GPD mixture,
   a faint pattern leans to "other", fast periodic discharges lean to seizure, chewing or eye
   movements add some rhythmic-delta probability, and a seizure is called with more confidence
   when it evolves within the window.
4. **Votes.** The number of annotators (many rows 1-3, a sizeable group 10-28) is drawn per
   recording, more often 10-28 for ambiguous recordings (harder cases went to more raters), then
   multinomial votes per row from the truth. The class prior, one-hot share and
   mean vote entropy are calibrated to the real training set (see ``data/README.md``).
5. **Signals** (:func:`synthesize_eeg`), from the same parameters: spatially correlated 1/f
   background with a posterior alpha rhythm, per-patient amplitude and spectral slope, a common
   reference drift and DC offsets, 60 Hz line noise, an EKG with QRS complexes and leakage into
   the scalp channels, the patterns' waveforms on their spatial fields, and the artifacts where
   they were placed. Values are µV rounded to 0.01 µV, float32, like the real files.
6. **Spectrograms** in the Kaggle format (:func:`~hms_features.signal.eeg_to_spectrogram`): per
   2 s step, the magnitude spectrum of a 1024-sample Hann window of each of the 4 bipolar
   derivations of a chain (LL, RL, LP, RP), averaged over the chain, at ``(k + 3) * 200 / 1024``
   Hz, times a frequency-dependent gain measured on the real pair in ``hms_mini`` so that value
   ranges match. Parts of the (longer) spectrogram that lie outside the EEG come from a cheap
   model: the recording's median spectrum with slow log-normal fluctuations. Spectrogram time
   ``t`` is EEG time ``t - shift``, with
   ``spectrogram_label_offset_seconds + 300 = eeg_label_offset_seconds + 25 + shift``.

References
----------
.. [1] Hirsch L.J. et al. (2021). American Clinical Neurophysiology Society's Standardized
   Critical Care EEG Terminology: 2021 Version. J Clin Neurophysiol 38(1):1-29.
.. [2] Jing J. et al. (2023). Development of expert-level classification of seizures and rhythmic
   and periodic patterns during EEG interpretation. Neurology 100(17):e1750-e1762.
"""

from __future__ import annotations

import os
import pathlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.fft import next_fast_len

from .data import CONSENSUS_NAMES, TRAIN_COLUMNS, VOTE_COLUMNS
from .metrics import CLASSES
from .signal import EEG_COLUMNS, FS, SPEC_COLUMNS, SPEC_NFFT, eeg_to_spectrogram

__all__ = [
    "make_synthetic_hms",
    "draw_recordings",
    "synthetic_labels",
    "synthesize_eeg",
    "truth_distribution",
    "TRUTH_FILE",
    "ELECTRODE_POSITIONS",
]

#: Name of the file holding the true class distribution of every row.
TRUTH_FILE = "synthetic_truth.csv"

_SZ, _LPD, _GPD, _LRDA, _GRDA, _OTHER = range(6)
_N_SCALP = 19

#: Approximate 2-D scalp positions of the 19 electrodes (x: left -1 .. right +1, y: back -1 ..
#: front +1), in :data:`~hms_features.signal.EEG_COLUMNS` order.
ELECTRODE_POSITIONS = {
    "Fp1": (-0.30, 0.95), "F3": (-0.42, 0.50), "C3": (-0.50, 0.0), "P3": (-0.42, -0.50),
    "F7": (-0.80, 0.58), "T3": (-1.00, 0.0), "T5": (-0.80, -0.58), "O1": (-0.30, -0.95),
    "Fz": (0.0, 0.45), "Cz": (0.0, 0.0), "Pz": (0.0, -0.45),
    "Fp2": (0.30, 0.95), "F4": (0.42, 0.50), "C4": (0.50, 0.0), "P4": (0.42, -0.50),
    "F8": (0.80, 0.58), "T4": (1.00, 0.0), "T6": (0.80, -0.58), "O2": (0.30, -0.95),
}
_POS = np.array([ELECTRODE_POSITIONS[c] for c in EEG_COLUMNS[:_N_SCALP]])
_CH = {c: i for i, c in enumerate(EEG_COLUMNS)}
_LEFT = np.array([_CH[c] for c in ("Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1")])
_RIGHT = np.array([_CH[c] for c in ("Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2")])
_TEMPORAL = np.array([_CH[c] for c in ("F7", "T3", "T5", "F8", "T4", "T6")])

# Foci of lateralised patterns (left-side coordinates; mirrored for the right).
_FOCI = np.array([[-0.55, 0.45], [-0.85, 0.05], [-0.5, -0.1], [-0.55, -0.5]])

# Cholesky factor of the background's spatial correlation (Gaussian in scalp distance).
_CHOL = np.linalg.cholesky(
    np.exp(-((_POS[:, None, :] - _POS[None, :, :]) ** 2).sum(-1) / (2 * 0.45**2))
    + 1e-6 * np.eye(_N_SCALP)).astype(np.float32)

# ------------------------------------------------------------------ calibration constants
# Probability of each nominal main pattern of a recording (CLASSES order), tuned so that the
# class prior of the normalised votes matches the real one (see tests and benchmarks).
_PATTERN_P = np.array([0.250, 0.190, 0.120, 0.062, 0.105, 0.273])
# Number of annotators: P(1), P(2), P(3), P(4..9), P(10..28).
_NVOTE_P = np.array([0.22, 0.11, 0.26, 0.07, 0.34])
# Expert decisiveness (power applied to the ideal-expert posterior before renormalising).
_SHARPNESS = 2.0
# Inter-rater confusion: row i is how experts spread a clear class-i pattern over the classes
# (seizure<->LPD, LPD<->GPD, LRDA<->GRDA, rhythmic<->periodic, anything<->other).
_CONFUSION = np.array([
    # sz    lpd   gpd   lrda  grda  other
    [0.84, 0.07, 0.02, 0.03, 0.02, 0.02],
    [0.06, 0.80, 0.06, 0.03, 0.00, 0.05],
    [0.03, 0.07, 0.78, 0.00, 0.06, 0.06],
    [0.02, 0.04, 0.00, 0.74, 0.10, 0.10],
    [0.02, 0.00, 0.04, 0.08, 0.74, 0.12],
    [0.01, 0.01, 0.01, 0.01, 0.02, 0.94],
])
_CONFUSION = 0.25 * np.eye(6) + 0.75 * _CONFUSION  # strength calibrated to the vote entropy


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ================================================================== parameters and truth
def _draw_structure(rng, n_patients):
    """Patients -> recordings -> label rows (offsets in s)."""
    pids = rng.choice(np.arange(1000, 65536), size=n_patients, replace=False)
    recs = []
    for p in pids:
        n_eeg = 1 + rng.poisson(2.3)
        for _ in range(n_eeg):
            n_rows = min(1 + rng.negative_binomial(1.3, 1.3 / (1.3 + 4.9)), 30)
            gaps = rng.choice([2, 4, 6, 8, 10, 12, 1, 3, 5],
                              p=[0.26, 0.24, 0.16, 0.1, 0.06, 0.04, 0.05, 0.05, 0.04],
                              size=n_rows - 1)
            offsets = np.concatenate([[0], np.cumsum(gaps)]).astype(float)
            recs.append({"patient_id": int(p), "offsets": offsets})
    return recs


def _draw_patient(rng):
    return {
        "bg_uv": float(rng.lognormal(np.log(14.0), 0.25)),   # background scale, µV
        "beta": float(rng.uniform(1.7, 2.5)),               # 1/f exponent
        "alpha_hz": float(rng.uniform(7.5, 11.0)),
        "alpha_rel": float(rng.beta(1.2, 2.0) * 1.6),       # alpha amplitude / background
        "slowing": float(rng.beta(1.5, 3.0)),               # polymorphic delta excess
        "ekg_uv": float(rng.lognormal(np.log(800.0), 0.9)),
        "hr_bpm": float(rng.uniform(55, 115)),
        "line_uv": float(rng.lognormal(np.log(4.0), 1.0)),
        "floor_uv": float(rng.lognormal(np.log(2.0), 0.4)),  # amplifier/EMG floor
    }


def _draw_pattern(rng, cls, length_s, side):
    """Parameters of one pattern occupying a recording."""
    p = {"cls": int(cls), "side": side}
    lateral = cls in (_LPD, _LRDA)
    general = cls in (_GPD, _GRDA)
    if lateral:
        p["lam"] = float(rng.beta(6.0, 1.2))
    elif general:
        p["lam"] = float(rng.beta(1.2, 7.0))
    else:  # seizure: focal or generalised
        p["lam"] = float(rng.beta(2.5, 1.3)) if rng.random() < 0.65 else float(rng.beta(1.1, 4.0))
    p["intensity"] = float(rng.lognormal(np.log(3.5), 0.5))
    p["focus"] = int(rng.integers(len(_FOCI))) if not general else -1
    p["mod_depth"] = float(rng.uniform(0.0, 0.35))
    p["mod_period"] = float(rng.uniform(15.0, 60.0))
    p["mod_phase"] = float(rng.uniform(0, 2 * np.pi))
    if cls in (_LPD, _GPD):
        p["freq"] = float(rng.uniform(0.5, 2.5) if cls == _LPD else rng.uniform(0.8, 2.5))
        p["triphasic"] = bool(cls == _GPD and rng.random() < 0.6)
    elif cls in (_LRDA, _GRDA):
        p["freq"] = float(rng.uniform(0.8, 2.7))
        p["triphasic"] = False
    elif cls == _SZ:
        if rng.random() < 0.7:
            p["onset"] = float(-rng.uniform(0.0, 60.0))
        else:
            p["onset"] = float(rng.uniform(5.0, max(6.0, length_s - 20.0)))
        p["evo"] = float(rng.uniform(20.0, 60.0))
        f0 = float(rng.uniform(2.5, 8.0))
        if f0 > 4.0 and rng.random() < 0.7:  # slows down as it evolves
            f1 = max(f0 * rng.uniform(0.4, 0.7), 2.0)
        else:  # speeds up
            f1 = min(f0 * rng.uniform(1.3, 1.8), 9.0)
        p["freq0"], p["freq1"] = f0, float(f1)
        p["spread"] = float(rng.uniform(0.0, 1.0))
        p["spiky"] = float(rng.uniform(0.5, 1.0))
        p["freq"] = f0
        p["triphasic"] = False
    return p


def _draw_artifacts(rng, length_s):
    """Artifact events of one recording: list of (kind, start_s, stop_s, extra dict)."""
    ev = []
    if rng.random() < 0.45:  # eye blinks
        rate = rng.uniform(0.08, 0.4)
        t = np.sort(rng.uniform(0, length_s, rng.poisson(rate * length_s)))
        ev += [("blink", float(a), float(a + 0.4), {"amp": float(rng.uniform(60, 250))})
               for a in t]
    if rng.random() < 0.12:  # slow (roving/lateral) eye movements: frontal delta mimic
        a = rng.uniform(0, max(1.0, length_s - 20))
        ev.append(("eye_movement", float(a), float(a + rng.uniform(8, 30)),
                   {"amp": float(rng.uniform(40, 140)), "freq": float(rng.uniform(0.4, 1.4))}))
    for _ in range(rng.poisson(0.5)):  # muscle bursts on temporal channels
        a = rng.uniform(0, length_s)
        ev.append(("muscle", float(a), float(a + rng.uniform(0.5, 4.0)),
                   {"amp": float(rng.uniform(10, 40)), "side": int(rng.integers(3))}))
    if rng.random() < 0.08:  # rhythmic chewing: rhythmic temporal bursts, mimics RDA
        a = rng.uniform(0, max(1.0, length_s - 15))
        ev.append(("chewing", float(a), float(a + rng.uniform(6, 25)),
                   {"amp": float(rng.uniform(20, 60)), "freq": float(rng.uniform(1.0, 2.0))}))
    for _ in range(rng.poisson(0.25)):  # electrode pops
        a = rng.uniform(0, length_s)
        ev.append(("pop", float(a), float(a + 1.0),
                   {"amp": float(rng.choice([-1, 1]) * rng.uniform(100, 400)),
                    "ch": int(rng.integers(_N_SCALP)), "tau": float(rng.uniform(0.1, 0.5))}))
    if rng.random() < 0.10:  # flat or disconnected channel for the whole recording
        ev.append(("bad_channel", 0.0, float(length_s),
                   {"ch": int(rng.integers(_N_SCALP)),
                    "kind": "flat" if rng.random() < 0.5 else "disconnected"}))
    if rng.random() < 0.05:  # NaN gap (all channels)
        a = rng.uniform(0, max(1.0, length_s - 5))
        ev.append(("nan_gap", float(a), float(a + rng.uniform(0.2, 4.0)), {}))
    return ev


def _envelope(p, t):
    """Amplitude envelope (0..~1.35) of pattern ``p`` at EEG times ``t`` (s)."""
    t = np.asarray(t, dtype=float)
    if p["cls"] == _SZ:
        prog = np.clip((t - p["onset"]) / p["evo"], 0.0, 1.0)
        fade = np.clip((t - p["onset"]) / 2.0, 0.0, 1.0)
        return fade * (0.35 + 0.65 * prog)
    return 1.0 + p["mod_depth"] * np.sin(2 * np.pi * t / p["mod_period"] + p["mod_phase"])


def _frequency(p, t):
    """Instantaneous discharge rate / rhythm frequency (Hz) of ``p`` at times ``t`` (s)."""
    t = np.asarray(t, dtype=float)
    if p["cls"] == _SZ:
        prog = np.clip((t - p["onset"]) / p["evo"], 0.0, 1.0)
        return p["freq0"] + (p["freq1"] - p["freq0"]) * prog
    return np.full(t.shape, p["freq"])


def _spread(p, t):
    """Seizure generalisation 0..spread at times ``t``; 0 for the other patterns."""
    if p["cls"] != _SZ:
        return np.zeros(np.shape(t))
    return p["spread"] * np.clip((np.asarray(t, float) - p["onset"]) / p["evo"], 0.0, 1.0)


def truth_distribution(kind, strength, laterality, freq, evolution, mimic):
    """The "ideal expert" posterior over the six classes, vectorised over rows.

    Parameters
    ----------
    kind : array of int, shape (n,)
        Pattern family per row: 0 seizure, 1 periodic discharges, 3 rhythmic delta, 5 none
        (class indices of :data:`~hms_features.metrics.CLASSES`; 2 and 4 are treated as 1 and 3).
    strength : array, shape (n,)
        Visible amplitude of the pattern in the row's central 10 s relative to the patient's
        background (dimensionless; 0 = absent).
    laterality : array, shape (n,)
        0 = bilaterally symmetric, 1 = one hemisphere only.
    freq : array, shape (n,)
        Discharge rate or rhythm frequency at the window centre, Hz.
    evolution : array, shape (n,)
        Visible evolution of a seizure within the 50 s window, 0..1.
    mimic : array, shape (n, 6)
        Additive evidence from artifacts that mimic patterns (chewing, eye movements, EKG).

    Returns
    -------
    ndarray, shape (n, 6)
        Rows summing to 1, in CLASSES order.
    """
    kind = np.asarray(kind)
    n = kind.shape[0]
    strength = np.asarray(strength, float)
    lat = _sigmoid((np.asarray(laterality, float) - 0.5) / 0.12)
    freq = np.asarray(freq, float)
    evolution = np.asarray(evolution, float)
    dist = np.zeros((n, 6))
    pd_ = np.isin(kind, (_LPD, _GPD))
    rda = np.isin(kind, (_LRDA, _GRDA))
    sz = kind == _SZ
    # periodic discharges: lateralised vs generalised; fast PDs approach the ictal end.
    ictal = 0.55 * _sigmoid((freq - 2.2) / 0.25)
    dist[pd_, _SZ] = ictal[pd_]
    dist[pd_, _LPD] = ((1 - ictal) * lat)[pd_]
    dist[pd_, _GPD] = ((1 - ictal) * (1 - lat))[pd_]
    ictal_r = 0.45 * _sigmoid((freq - 2.6) / 0.15)
    dist[rda, _SZ] = ictal_r[rda]
    dist[rda, _LRDA] = ((1 - ictal_r) * lat)[rda]
    dist[rda, _GRDA] = ((1 - ictal_r) * (1 - lat))[rda]
    # evolution or a fast rhythm (> 2.5 Hz, ACNS ictal range) make the call confident
    s_sz = 0.55 + 0.45 * np.maximum(evolution, _sigmoid((freq - 2.5) / 0.4))
    rest = 1 - s_sz
    dist[sz, _SZ] = s_sz[sz]
    dist[sz, _LPD] = (0.4 * rest * lat)[sz]
    dist[sz, _GPD] = (0.4 * rest * (1 - lat))[sz]
    dist[sz, _LRDA] = (0.6 * rest * lat)[sz]
    dist[sz, _GRDA] = (0.6 * rest * (1 - lat))[sz]
    # clarity: faint patterns lean to "other"; seizures are called at lower amplitude.
    thresh = np.where(sz, 1.1, 1.5)
    clarity = np.where(kind == _OTHER, 0.0, _sigmoid((strength - thresh) / 0.4))
    clarity = np.where(strength > 0, clarity, 0.0)
    p = clarity[:, None] * dist
    p[:, _OTHER] += 1 - clarity
    m = np.asarray(mimic, float)
    p = (p + m) / (1 + m.sum(axis=1, keepdims=True))
    p = p ** _SHARPNESS
    p /= p.sum(axis=1, keepdims=True)
    p = p @ _CONFUSION
    p[p < 1e-4] = 0.0
    return p / p.sum(axis=1, keepdims=True)


def _n_votes(rng, ambiguity):
    """Number of annotators of one recording.

    As in the HMS collection, harder recordings went to more raters: the chance of the 10-28
    group grows with ``ambiguity`` (1 - the largest true class probability, averaged over rows).
    """
    p_many = np.clip(0.10 + 1.3 * ambiguity, 0.05, 0.9)
    if rng.random() < p_many:
        return int(10 + (rng.geometric(0.14) - 1) % 19)
    group = rng.choice(4, p=_NVOTE_P[:4] / _NVOTE_P[:4].sum())
    return int((1, 2, 3, rng.integers(4, 10))[group])


def _row_parameters(rec):
    """Per-row visible quantities of one recording (lists of dicts, one per row)."""
    main, second, arts = rec["main"], rec["second"], rec["artifacts"]
    rows = []
    for off in rec["offsets"]:
        cen = np.linspace(off + 20.0, off + 30.0, 11)
        r = {"offset": off}
        pats = [main] + ([second] if second is not None else [])
        strengths = []
        for p in pats:
            if p["cls"] == _OTHER:
                strengths.append(0.0)
                continue
            s = p["intensity"] * p.get("weight", 1.0) * float(_envelope(p, cen).mean())
            strengths.append(s)
        r["strengths"] = strengths
        r["freq_c"] = [float(_frequency(p, off + 25.0)) if p["cls"] != _OTHER else 0.0
                       for p in pats]
        r["lam_c"] = [float(p["lam"] * (1 - _spread(p, off + 25.0))) if p["cls"] != _OTHER
                      else 0.0 for p in pats]
        if main["cls"] == _SZ:
            f0, f1 = _frequency(main, [off, off + 50.0])
            e0, e1 = _envelope(main, [off + 5.0, off + 45.0])
            r["freq_start"], r["freq_end"] = float(f0), float(f1)
            amp_change = abs(e1 - e0) / max(e0, e1, 1e-9)
            r["evolution"] = float(np.clip(abs(f1 - f0) / 1.0 + amp_change / 0.4, 0, 1))
        else:
            f = r["freq_c"][0]
            r["freq_start"] = r["freq_end"] = f
            r["evolution"] = 0.0
        kinds, mimic = set(), np.zeros(6)
        for kind, a, b, extra in arts:
            if b > off and a < off + 50.0:
                kinds.add(kind)
            central = b > off + 20.0 and a < off + 30.0
            if central and kind == "chewing":
                mimic += extra["amp"] / 60.0 * np.array([0, 0, 0, 0.12, 0.22, 0])
            if central and kind == "eye_movement":
                mimic += extra["amp"] / 140.0 * np.array([0, 0, 0, 0, 0.18, 0])
        leak = rec["ekg_leak"]
        if leak > 0.02:  # visible periodic EKG artifact, recognised by most readers
            mimic += np.array([0, 0.02, 0.06, 0, 0, 0]) * min(leak / 0.04, 1.0)
        r["artifacts"], r["mimic"] = kinds, mimic
        rows.append(r)
    return rows


def _row_truth(rec, rows):
    """True class distribution of each row of a recording (n_rows, 6).

    Each pattern present gets its ideal-expert distribution; with two patterns the two are
    mixed in proportion to their squared visible strengths.
    """
    pats = [rec["main"]] + ([rec["second"]] if rec["second"] is not None else [])
    family = {_SZ: _SZ, _LPD: _LPD, _GPD: _LPD, _LRDA: _LRDA, _GRDA: _LRDA}
    n = len(rows)
    strength = np.array([[r["strengths"][j] for r in rows] for j in range(len(pats))])
    dist = truth_distribution(
        np.repeat([family.get(p["cls"], _OTHER) for p in pats], n),
        strength.ravel(),
        np.array([[r["lam_c"][j] for r in rows] for j in range(len(pats))]).ravel(),
        np.array([[r["freq_c"][j] for r in rows] for j in range(len(pats))]).ravel(),
        np.concatenate([[r["evolution"] for r in rows], np.zeros(n * (len(pats) - 1))]),
        np.tile(np.array([r["mimic"] for r in rows]), (len(pats), 1)),
    ).reshape(len(pats), n, 6)
    if len(pats) == 1:
        return dist[0]
    w = np.maximum(strength, 1e-3) ** 2
    out = (w[..., None] * dist).sum(axis=0) / w.sum(axis=0)[:, None]
    return out / out.sum(axis=1, keepdims=True)


def _draw_recordings(rng, n_patients, n_test):
    """All recording-level parameters, train then test."""
    recs = _draw_structure(rng, n_patients)
    n_train_rec = len(recs)
    tpids = rng.choice(np.arange(1000, 65536), size=n_test, replace=False)
    recs += [{"patient_id": int(p), "offsets": np.array([0.0]), "test": True} for p in tpids]
    # Main pattern per recording by systematic sampling over the label rows in a random order of
    # recordings: each class gets its share of rows up to one recording, so the class prior does
    # not wander with the seed as an independent draw per recording would.
    rows = np.array([len(r["offsets"]) for r in recs], float)
    order = rng.permutation(len(recs))
    mid = (np.cumsum(rows[order]) - rows[order] / 2) / rows.sum()
    classes = np.empty(len(recs), int)
    classes[order] = np.searchsorted(np.cumsum(_PATTERN_P), (mid + rng.random()) % 1.0,
                                     side="right").clip(0, 5)
    patients = {}
    for rec, cls in zip(recs, classes):
        pid = rec["patient_id"] + (1 << 20 if rec.get("test") else 0)
        if pid not in patients:
            patients[pid] = _draw_patient(rng)
        pat = patients[pid]
        rec["patient"] = pat
        rec["test"] = bool(rec.get("test", False))
        if rec["test"]:
            rec["length_s"] = 50
            rec["shift_s"] = 275
        else:
            rec["length_s"] = int(rec["offsets"][-1] + 50 + 2 * rng.integers(0, 6))
            rec["shift_s"] = int(275 + 2 * rng.integers(0, 120))
        cls = int(cls)
        side = "left" if rng.random() < 0.5 else "right"
        rec["main"] = _draw_pattern(rng, cls, rec["length_s"], side)
        rec["second"] = None
        if cls != _OTHER and rng.random() < 0.18:
            partner = {_LPD: _LRDA, _GPD: _GRDA, _LRDA: _LPD, _GRDA: _GPD, _SZ: _LPD}[cls]
            sec = _draw_pattern(rng, partner, rec["length_s"], side)
            sec["weight"] = float(rng.uniform(0.3, 0.9))
            rec["second"] = sec
        rec["artifacts"] = _draw_artifacts(rng, rec["length_s"])
        rec["ekg_leak"] = float(rng.choice([0.0, rng.uniform(0.002, 0.015),
                                             rng.uniform(0.015, 0.06)], p=[0.3, 0.55, 0.15]))
    return recs, n_train_rec


def _build_tables(recs, rng):
    """train.csv, test.csv and truth tables from the drawn recordings."""
    n_rec = len(recs)
    eeg_ids = 10**6 + rng.choice(2**32 - 10**6, size=n_rec, replace=False)
    spec_ids = 10**5 + rng.choice(2**31 - 10**5, size=n_rec, replace=False)
    n_rows = sum(len(r["offsets"]) for r in recs)
    label_ids = 10**5 + rng.choice(2**32 - 10**5, size=n_rows, replace=False)
    train, truth, k = [], [], 0
    for i, rec in enumerate(recs):
        rec["eeg_id"], rec["spectrogram_id"] = int(eeg_ids[i]), int(spec_ids[i])
        rows = _row_parameters(rec)
        dist = _row_truth(rec, rows)
        rec["rows"], rec["truth"] = rows, dist
        n_v = _n_votes(rng, float(1 - dist.max(axis=1).mean()))
        votes = np.array([rng.multinomial(n_v, d) for d in dist])
        main, second = rec["main"], rec["second"]
        for j, (r, d) in enumerate(zip(rows, dist)):
            lab = int(rec["eeg_id"]) if rec["test"] else int(label_ids[k])
            k += 1
            off = float(r["offset"])
            spec_off = off + rec["shift_s"] - 275.0
            if not rec["test"]:
                train.append((rec["eeg_id"], j, off, rec["spectrogram_id"], j, spec_off, lab,
                              rec["patient_id"], CONSENSUS_NAMES[int(np.argmax(votes[j]))],
                              *[int(v) for v in votes[j]]))
            t = {"split": "test" if rec["test"] else "train", "label_id": lab,
                 "eeg_id": rec["eeg_id"], "patient_id": rec["patient_id"]}
            t.update({c: float(x) for c, x in zip(CLASSES, d)})
            t.update({
                "pattern": CLASSES[main["cls"]],
                "pattern2": CLASSES[second["cls"]] if second is not None else "",
                "side": main["side"] if main["cls"] != _OTHER else "",
                "laterality": round(r["lam_c"][0], 4),
                "intensity": round(main["intensity"], 4) if main["cls"] != _OTHER else 0.0,
                "strength": round(r["strengths"][0], 4),
                "strength2": round(r["strengths"][1], 4) if second is not None else 0.0,
                "frequency_hz": round(r["freq_c"][0], 4),
                "freq_start_hz": round(r["freq_start"], 4),
                "freq_end_hz": round(r["freq_end"], 4),
                "evolution": round(r["evolution"], 4),
                "seizure_onset_s": round(main["onset"] - off, 3) if main["cls"] == _SZ else np.nan,
                "artifacts": ";".join(sorted(r["artifacts"])),
                "bad_channel": next((EEG_COLUMNS[e[3]["ch"]] + ":" + e[3]["kind"]
                                     for e in rec["artifacts"] if e[0] == "bad_channel"), ""),
                "ekg_leak": round(rec["ekg_leak"], 4),
                "eeg_offset_s": off,
                "spectrogram_shift_s": rec["shift_s"],
                "background_uv": round(rec["patient"]["bg_uv"], 3),
            })
            truth.append(t)
    train_df = pd.DataFrame(train, columns=list(TRAIN_COLUMNS))
    test_df = pd.DataFrame(
        [(r["spectrogram_id"], r["eeg_id"], r["patient_id"]) for r in recs if r["test"]],
        columns=["spectrogram_id", "eeg_id", "patient_id"])
    return train_df, test_df, pd.DataFrame(truth)


def _draw_all(n_patients, seed, n_test):
    ss = np.random.SeedSequence([int(seed), 0x4D5])
    s_par, s_sig = ss.spawn(2)
    rng = np.random.default_rng(s_par)
    recs, _ = _draw_recordings(rng, n_patients, n_test)
    train, test, truth = _build_tables(recs, rng)
    return recs, train, test, truth, s_sig


def draw_recordings(n_patients: int = 100, seed: int = 0, *, n_test: int = 8) -> list:
    """The drawn recordings behind :func:`make_synthetic_hms`, without their signals.

    Parameters
    ----------
    n_patients, seed, n_test
        As for :func:`make_synthetic_hms`.

    Returns
    -------
    list of dict
        One dict per recording (train first, then test) with ``eeg_id``, ``spectrogram_id``,
        ``patient_id``, ``test`` (bool), ``length_s`` (EEG length, s), ``shift_s`` (spectrogram
        time minus EEG time, s), ``offsets`` (label offsets, s), ``patient`` (background
        parameters: ``bg_uv``, ``beta``, ``alpha_hz``, ``hr_bpm``, ...), ``main`` and ``second``
        (pattern parameters: ``cls`` index into CLASSES, ``side``, ``lam`` laterality,
        ``intensity``, ``freq`` Hz, and for seizures ``onset`` s, ``evo`` s, ``freq0``/``freq1``
        Hz), ``artifacts`` (list of ``(kind, start_s, stop_s, extra)``), ``ekg_leak`` and
        ``truth`` (n_rows, 6). Pass one to :func:`synthesize_eeg` to get its signal.
    """
    _check_args(n_patients, seed, n_test)
    return _draw_all(n_patients, seed, n_test)[0]


def synthetic_labels(n_patients: int = 100, seed: int = 0, *, n_test: int = 8):
    """The label tables of :func:`make_synthetic_hms` without any signal (fast).

    Draws exactly what :func:`make_synthetic_hms` writes to ``train.csv``, ``test.csv`` and
    ``synthetic_truth.csv`` for the same arguments; useful to study the vote model.

    Parameters
    ----------
    n_patients : int
        Number of training patients (about 20 label rows each).
    seed : int
        Seed of the random generator.
    n_test : int
        Number of test recordings (one row each, own patients).

    Returns
    -------
    train : DataFrame
        The Kaggle ``train.csv`` columns (:data:`~hms_features.data.TRAIN_COLUMNS`).
    test : DataFrame
        ``spectrogram_id, eeg_id, patient_id``.
    truth : DataFrame
        One row per train ``label_id`` and per test ``eeg_id``: ``split``, ``label_id``,
        ``eeg_id``, ``patient_id``, the true class distribution in columns named after
        :data:`~hms_features.metrics.CLASSES`, and the generation parameters.
    """
    _check_args(n_patients, seed, n_test)
    _, train, test, truth, _ = _draw_all(n_patients, seed, n_test)
    return train, test, truth


# ================================================================== signals
def _fast_len(n):
    """Smallest FFT length >= n with only small prime factors (synthesise, then truncate)."""
    return next_fast_len(int(n), real=True)


def _colored_noise(rng, n_ch, n, fs, beta, knee=0.5):
    """``n_ch`` independent Gaussian series with PSD ∝ 1/(knee^beta + f^beta), unit std."""
    n_out, n = n, _fast_len(n)
    f = np.fft.rfftfreq(n, 1 / fs)
    shape = 1.0 / np.sqrt(knee**beta + f**beta)
    shape[0] = 0.0
    spec = (rng.standard_normal((n_ch, f.size)) + 1j * rng.standard_normal((n_ch, f.size)))
    x = np.fft.irfft(spec * shape, n=n, axis=-1)[:, :n_out]
    return x / x.std(axis=-1, keepdims=True)


def _bandpass_noise(rng, n, fs, lo, hi, n_ch=1):
    """Gaussian noise band-limited to [lo, hi] Hz by FFT masking, unit std."""
    n_out, n = n, _fast_len(n)
    f = np.fft.rfftfreq(n, 1 / fs)
    band = np.flatnonzero((f >= lo) & (f <= hi))
    spec = np.zeros((n_ch, f.size), np.complex128)
    spec[:, band] = (rng.standard_normal((n_ch, band.size))
                     + 1j * rng.standard_normal((n_ch, band.size)))
    x = np.fft.irfft(spec, n=n, axis=-1)[:, :n_out]
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)


def _field(focus_xy, width, laterality, side, general):
    """Spatial field (19,) of a pattern: peak 1 at its maximum."""
    if general:
        centres = np.array([[0.0, 0.6]])
        amps = np.array([1.0])
        # generalised, frontally predominant, a little asymmetric if laterality > 0
        d2 = ((_POS[:, None, :] - centres[None]) ** 2).sum(-1)
        g = (amps * np.exp(-d2 / (2 * 0.5**2))).sum(-1)
        x = _POS[:, 0] * (1 if side == "right" else -1)
        g = g * (1 + laterality * np.clip(x, -1, 1))
        return g / g.max()
    fx, fy = focus_xy
    if side == "right":
        fx = -fx
    own = np.exp(-((_POS[:, 0] - fx) ** 2 + (_POS[:, 1] - fy) ** 2) / (2 * width**2))
    mirror = np.exp(-((_POS[:, 0] + fx) ** 2 + (_POS[:, 1] - fy) ** 2) / (2 * width**2))
    g = own + (1 - laterality) * mirror
    return g / g.max()


def _discharge_template(fs, triphasic):
    """One periodic discharge, peak |amplitude| 1 (surface-negative sharp wave first)."""
    t = np.arange(int(0.5 * fs)) / fs
    if triphasic:
        w = (-0.35 * np.exp(-((t - 0.06) / 0.03) ** 2) + 1.0 * np.exp(-((t - 0.15) / 0.05) ** 2)
             - 0.55 * np.exp(-((t - 0.3) / 0.08) ** 2))
    else:
        w = -1.0 * np.exp(-((t - 0.06) / 0.03) ** 2) + 0.5 * np.exp(-((t - 0.2) / 0.08) ** 2)
    return w / np.abs(w).max()


def _pattern_source(rng, p, n, fs):
    """Source waveform (n,) of a pattern before its spatial field, envelope included."""
    t = np.arange(n) / fs
    env = _envelope(p, t)
    if p["cls"] in (_LPD, _GPD):
        period = 1.0 / p["freq"]
        n_dis = int(n / fs / period) + 3
        iv = period * (1 + 0.07 * rng.standard_normal(n_dis))
        times = rng.uniform(0, period) + np.concatenate([[0], np.cumsum(iv[:-1])])
        idx = np.round(times * fs).astype(int)
        idx = idx[idx < n]
        train = np.zeros(n)
        train[idx] = rng.uniform(0.8, 1.15, idx.size)
        tpl = _discharge_template(fs, p["triphasic"])
        src = np.convolve(train, tpl)[:n]
    else:
        f_inst = _frequency(p, t)
        wobble = 1 + 0.04 * _colored_noise(rng, 1, n, fs, 2.0, knee=0.05)[0]
        phase = 2 * np.pi * np.cumsum(f_inst * wobble) / fs + rng.uniform(0, 2 * np.pi)
        if p["cls"] == _SZ:
            h = p["spiky"]
            src = np.sin(phase) + 0.5 * h * np.sin(2 * phase + 0.5) + 0.3 * h * np.sin(3 * phase)
        else:
            src = np.sin(phase) + 0.25 * np.sin(2 * phase + 0.9)
        src = src / np.abs(src).max()
    return src * env


def _add_pattern(rng, x, p, pat, fs):
    n = x.shape[1]
    # periodic discharges carry less power than a continuous rhythm of the same peak amplitude;
    # they are drawn taller, as they look on the page
    scale = 4.0 if p["cls"] in (_LPD, _GPD) else 3.2
    amp = p["intensity"] * p.get("weight", 1.0) * pat["bg_uv"] * scale
    src = _pattern_source(rng, p, n, fs) * amp
    general = p["cls"] in (_GPD, _GRDA)
    focus = _FOCI[max(p["focus"], 0)]
    if p["cls"] == _SZ and p["lam"] < 0.5:
        general = True
    field = _field(focus, 0.38, p["lam"], p["side"], general)
    if p["cls"] == _SZ:
        s = _spread(p, np.arange(n) / fs)
        gen = _field(focus, 0.38, 0.0, p["side"], True)
        x[:_N_SCALP] += field[:, None] * (src * (1 - s)) + gen[:, None] * (src * s)
    else:
        x[:_N_SCALP] += field[:, None] * src


def _add_artifacts(rng, x, rec, fs):
    n = x.shape[1]
    t = np.arange(n) / fs
    for kind, a, b, e in rec["artifacts"]:
        i0, i1 = int(a * fs), min(int(np.ceil(b * fs)), n)
        if i1 <= i0:
            continue
        if kind == "blink":
            c = (a + 0.2)
            w = np.exp(-((t[i0:i1] - c) / 0.08) ** 2) * e["amp"]
            for ch, g in (("Fp1", 1.0), ("Fp2", 1.0), ("F7", 0.3), ("F8", 0.3), ("F3", 0.35),
                          ("F4", 0.35), ("Fz", 0.3)):
                x[_CH[ch], i0:i1] += g * w
        elif kind == "eye_movement":
            seg = np.sin(2 * np.pi * e["freq"] * t[i0:i1] + rng.uniform(0, 6.3))
            seg *= np.hanning(i1 - i0) * e["amp"]
            for ch, g in (("Fp1", 1.0), ("Fp2", 1.0), ("F7", 0.7), ("F8", -0.7), ("F3", 0.3),
                          ("F4", 0.3)):
                x[_CH[ch], i0:i1] += g * seg
        elif kind == "muscle":
            chans = _TEMPORAL[:3] if e["side"] == 0 else (
                _TEMPORAL[3:] if e["side"] == 1 else _TEMPORAL)
            burst = _bandpass_noise(rng, i1 - i0, fs, 20, 90, len(chans))
            x[chans, i0:i1] += e["amp"] * burst * np.hanning(i1 - i0)
        elif kind == "chewing":
            m = i1 - i0
            burst = _bandpass_noise(rng, m, fs, 25, 90, len(_TEMPORAL))
            gate = np.maximum(np.sin(2 * np.pi * e["freq"] * t[i0:i1]), 0.0) ** 3
            slow = 0.25 * np.sin(2 * np.pi * e["freq"] * t[i0:i1])
            x[_TEMPORAL, i0:i1] += e["amp"] * (burst * gate * 1.8 + slow)
        elif kind == "pop":
            seg = e["amp"] * np.exp(-(t[i0:i1] - a) / e["tau"])
            x[e["ch"], i0:i1] += seg
    return x


def _ekg(rng, n, fs, pat):
    """EKG trace (n,) µV with QRS complexes and T waves at the patient's heart rate."""
    rr = 60.0 / pat["hr_bpm"]
    n_beats = int(n / fs / rr) + 3
    beats = rng.uniform(0, rr) + np.cumsum(rr * (1 + 0.03 * rng.standard_normal(n_beats)))
    idx = np.round(beats * fs).astype(int)
    idx = idx[idx < n]
    tt = np.arange(int(0.6 * fs)) / fs
    # (amplitude, centre s, width s) of Q, R, S, T and a small P wave
    waves = ((-0.12, 0.08, 0.012), (1.0, 0.1, 0.011), (-0.25, 0.125, 0.012), (0.22, 0.35, 0.05),
             (0.1, 0.0, 0.025))
    beat = sum(a * np.exp(-((tt - c) / w) ** 2) for a, c, w in waves)
    train = np.zeros(n)
    train[idx] = 1.0
    return np.convolve(train, beat)[:n]


def synthesize_eeg(rec: dict, rng: np.random.Generator, fs: float = FS) -> np.ndarray:
    """Referential EEG of one drawn recording.

    Parameters
    ----------
    rec : dict
        One recording as drawn internally (patient, patterns, artifacts, ``length_s``).
    rng : numpy.random.Generator
        Source of the noise realisations.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray of float32, shape (n_samples, 20)
        File layout (columns :data:`~hms_features.signal.EEG_COLUMNS`), µV rounded to 0.01 µV,
        NaN in NaN gaps.
    """
    pat = rec["patient"]
    n = int(round(rec["length_s"] * fs))
    x = np.zeros((len(EEG_COLUMNS), n), np.float32)
    # spatially correlated background, synthesised in one pass in the frequency domain: 1/f
    # (with a knee at 0.5 Hz) plus polymorphic (irregular) delta slowing, mixed across the scalp
    # with a Gaussian correlation over electrode distance
    n_fft = _fast_len(n)
    f = np.fft.rfftfreq(n_fft, 1 / fs)
    s_bg = 1.0 / (0.5 ** pat["beta"] + f ** pat["beta"])
    s_bg[0] = 0.0
    s_sl = ((f >= 0.5) & (f <= 3.5)).astype(float)
    a_bg, a_sl = pat["bg_uv"] * 1.1, pat["bg_uv"] * 0.6 * pat["slowing"]
    h = np.sqrt(a_bg**2 * s_bg / s_bg.sum() + a_sl**2 * s_sl / s_sl.sum()) * (n_fft / 2)
    white = (rng.standard_normal((_N_SCALP, f.size), dtype=np.float32)
             + 1j * rng.standard_normal((_N_SCALP, f.size), dtype=np.float32))
    bg = np.fft.irfft(white * h.astype(np.float32), n=n_fft, axis=-1)[:, :n]
    gains = rng.lognormal(0.0, 0.12, _N_SCALP).astype(np.float32)
    x[:_N_SCALP] = gains[:, None] * (_CHOL @ bg)
    # posterior alpha, slightly asymmetric between hemispheres
    if pat["alpha_rel"] > 0.05:
        alpha = _bandpass_noise(rng, n, fs, pat["alpha_hz"] - 0.6, pat["alpha_hz"] + 0.6, 2)
        post = np.clip(-_POS[:, 1], 0, None) ** 1.5
        left = (_POS[:, 0] <= 0).astype(float)
        x[:_N_SCALP] += pat["alpha_rel"] * pat["bg_uv"] * 0.8 * (
            (post * left)[:, None] * alpha[0] + (post * (1 - left))[:, None] * alpha[1])
    # patterns
    for p in (rec["main"], rec["second"]):
        if p is not None and p["cls"] != _OTHER:
            _add_pattern(rng, x, p, pat, fs)
    _add_artifacts(rng, x, rec, fs)
    # EKG and its leakage into the scalp channels (stronger on the left, as with a left-chest
    # lead field)
    ekg = _ekg(rng, n, fs, pat)
    leak = rec["ekg_leak"] * (1 + 0.8 * (_POS[:, 0] < 0)) * rng.uniform(0.5, 1.5, _N_SCALP)
    x[:_N_SCALP] += (leak * 1000.0)[:, None] * ekg
    x[_CH["EKG"]] = ekg * pat["ekg_uv"] + 5.0 * _colored_noise(rng, 1, n, fs, 1.0)[0]
    # white amplifier/EMG floor, common reference drift, DC offsets, 60 Hz line noise
    x[:_N_SCALP] += pat["floor_uv"] * rng.standard_normal((_N_SCALP, n), dtype=np.float32)
    x[:_N_SCALP] += 25.0 * _colored_noise(rng, 1, n, fs, 2.0, knee=0.1)
    x += rng.normal(-40.0, 50.0, (len(EEG_COLUMNS), 1))
    line = np.sin(2 * np.pi * 60.0 * np.arange(n) / fs + rng.uniform(0, 6.3))
    x += (pat["line_uv"] * rng.lognormal(0, 0.6, len(EEG_COLUMNS)))[:, None] * line
    for kind, a, b, e in rec["artifacts"]:
        i0, i1 = int(a * fs), min(int(np.ceil(b * fs)), n)
        if kind == "bad_channel":
            ch = e["ch"]
            if e["kind"] == "flat":
                x[ch] = x[ch].mean() + 0.05 * rng.standard_normal(n)
            else:
                x[ch] = (300.0 * _colored_noise(rng, 1, n, fs, 2.0, knee=0.05)[0]
                         + 150.0 * line + rng.uniform(-2000, 2000))
        elif kind == "nan_gap":
            x[:, i0:i1] = np.nan
    return np.round(x, 2).astype(np.float32).T


# ================================================================== spectrograms
def _spectrogram(rng, rec, eeg, fs):
    """(time, values) of the recording's spectrogram file."""
    shift = rec["shift_s"]
    if rec["test"]:
        n_rows = 300
    else:
        last = float(rec["offsets"][-1]) + shift - 275.0
        n_rows = int(last // 2) + 300 + int(rng.integers(0, 40))
    time = 2 * np.arange(n_rows) + 1
    n = eeg.shape[0]
    centres = np.round((time - shift) * fs).astype(int)
    inside = (centres - SPEC_NFFT // 2 >= 0) & (centres + SPEC_NFFT // 2 <= n)
    values = np.empty((n_rows, 400), np.float32)
    values[inside] = eeg_to_spectrogram(eeg, centres[inside], fs)
    base = np.nanmedian(values[inside], axis=0) if inside.any() else np.full(400, 1.0)
    base = np.where(np.isfinite(base), base, 1.0)
    n_out = int((~inside).sum())
    if n_out:
        # slow AR(1) log-normal fluctuation common to all bins plus per-bin jitter
        ar = np.empty(n_out)
        e = rng.standard_normal(n_out)
        ar[0] = e[0]
        for i in range(1, n_out):
            ar[i] = 0.9 * ar[i - 1] + np.sqrt(1 - 0.81) * e[i]
        jitter = rng.standard_normal((n_out, 400)) * 0.35
        values[~inside] = base * np.exp(0.3 * ar[:, None] + jitter - 0.35**2 / 2)
    if not rec["test"] and rng.random() < 0.05:
        a = int(rng.integers(0, n_rows))
        outside = np.flatnonzero(~inside)
        gap = outside[(outside >= a) & (outside < a + int(rng.integers(5, 40)))]
        values[gap] = np.nan
    return time, np.round(values, 2).astype(np.float32)


# ================================================================== writing
def _check_args(n_patients, seed, n_test):
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise ValueError(f"n_patients must be a positive integer, got {n_patients!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(n_test, (int, np.integer)) or n_test < 1:
        raise ValueError(f"n_test must be a positive integer, got {n_test!r}")


_SCHEMAS: dict = {}


def _schema(names: tuple, dtypes: tuple) -> pa.Schema:
    """Arrow schema with the pandas metadata that the Kaggle files carry (built once)."""
    key = (names, dtypes)
    if key not in _SCHEMAS:
        df = pd.DataFrame({c: np.zeros(1, dtype=d) for c, d in zip(names, dtypes)})
        _SCHEMAS[key] = pa.Table.from_pandas(df, preserve_index=False).schema
    return _SCHEMAS[key]


def _write_parquet(names: tuple, arrays: list, path: pathlib.Path):
    schema = _schema(tuple(names), tuple(a.dtype.str for a in arrays))
    table = pa.Table.from_arrays([pa.array(a) for a in arrays], schema=schema)
    pq.write_table(table, path, compression="snappy", use_dictionary=False)


def _write_recording(rec, seed_seq, root):
    """Synthesise one recording's EEG and spectrogram and write both parquet files."""
    rng = np.random.default_rng(seed_seq)
    split = "test" if rec["test"] else "train"
    eeg = synthesize_eeg(rec, rng, FS)
    _write_parquet(EEG_COLUMNS, list(np.ascontiguousarray(eeg.T)),
                   root / f"{split}_eegs" / f"{rec['eeg_id']}.parquet")
    time, values = _spectrogram(rng, rec, eeg, FS)
    cols = [time.astype(np.int16 if rec["test"] else np.int64)]
    cols += list(np.ascontiguousarray(values.T))
    _write_parquet(("time",) + SPEC_COLUMNS, cols,
                   root / f"{split}_spectrograms" / f"{rec['spectrogram_id']}.parquet")


def make_synthetic_hms(root, n_patients: int = 100, seed: int = 0, *, n_test: int = 8,
                       overwrite: bool = False, progress: bool = False) -> pathlib.Path:
    """Write a synthetic HMS dataset in the exact Kaggle layout.

    Parameters
    ----------
    root : path-like
        Output folder; created if missing. Must be empty or absent unless ``overwrite``.
    n_patients : int
        Number of training patients; about 20 label rows (3-4 EEGs) each, so the default gives
        about 2,000 rows.
    seed : int
        Seed; the same seed gives byte-identical files.
    n_test : int
        Number of test recordings (50 s EEG, 600 s spectrogram each).
    overwrite : bool
        Allow writing into a non-empty folder (files of the layout are replaced).
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    pathlib.Path
        ``root``, holding ``train.csv``, ``test.csv``, ``sample_submission.csv``,
        ``train_eegs/``, ``train_spectrograms/``, ``test_eegs/``, ``test_spectrograms/`` and
        ``synthetic_truth.csv`` (true class distribution and generation parameters per row;
        see :func:`synthetic_labels`).

    Raises
    ------
    FileExistsError
        If ``root`` is a non-empty folder and ``overwrite`` is False.
    """
    from tqdm.auto import tqdm

    _check_args(n_patients, seed, n_test)
    root = pathlib.Path(root)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{root}: folder is not empty; pass overwrite=True to write the synthetic dataset "
            "into it anyway")
    recs, train, test, truth, s_sig = _draw_all(n_patients, seed, n_test)
    for sub in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    seeds = s_sig.spawn(len(recs))
    # Each recording has its own generator and files, so two worker threads (numpy's FFTs and
    # arrays, and parquet writing, release the GIL) give the same bytes as one.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        jobs = pool.map(_write_recording, recs, seeds, [root] * len(recs))
        for _ in tqdm(jobs, total=len(recs), disable=not progress, desc="synthetic HMS",
                      unit="eeg"):
            pass
    train.to_csv(root / "train.csv", index=False)
    test.to_csv(root / "test.csv", index=False)
    sub = pd.DataFrame({"eeg_id": test["eeg_id"]})
    for c in VOTE_COLUMNS:
        sub[c] = 1.0 / len(VOTE_COLUMNS)
    sub.to_csv(root / "sample_submission.csv", index=False)
    truth.to_csv(root / TRUTH_FILE, index=False)
    return root
