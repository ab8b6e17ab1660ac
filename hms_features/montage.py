"""Any recording in: channel names -> the 18-derivation double banana, resampling, MNE input.

Real recordings arrive with their own channel sets. :func:`double_banana` builds as much of the
double-banana montage (:data:`~hms_features.signal.BIPOLAR_NAMES`) as a recording allows:

* **Referential channels** (``"Fp1"``, ``"EEG T7-REF"``, ``"FP1-LE"``, ...) are matched with
  :func:`normalize_channel_name` (case-insensitive, ``EEG``/``POL``
  prefix and reference suffix removed, 10-20 aliases T7 = T3, T8 = T4, P7 = T5, P8 = T6), and a
  derivation ``A-B`` is ``A - B``.
* **Bipolar channels** (``"FP1-F7"``, ``"T7-P7"`` as in the CHB-MIT recordings) are used as they
  are: a channel ``A-B`` is the derivation ``A-B``; a reversed channel ``B-A`` gives ``A-B``
  with its sign flipped (``-(B - A)``). MNE's de-duplicated names (``"T8-P8-0"``) are accepted.
* A derivation that a bipolar channel provides is taken from it (directly before reversed);
  otherwise from the two referential electrodes. A derivation with neither is **dropped**:
  the result has no row for it (never a zero channel), ``present`` marks the derivations that
  exist and ``dropped`` names the others. Channels that match nothing (EKG, EMG, photic, ...)
  are listed in ``unused``.

Errors (:class:`MontageError`, a ``ValueError`` subclass): no derivation at all can be built,
or a chain the caller requires (``require_chains``) has none left; the message names the missing
electrodes/derivations and the channels found. Single- and few-channel recordings otherwise give
just the derivations that exist.

:func:`resample` removes each channel's mean and pads with edge values before the polyphase
filter, so a DC offset makes no step at the ends (``hms_features.recording.resample`` pads with
zeros). :func:`from_mne` and :func:`read_any` bring ``mne.io.Raw``/``mne.Epochs`` objects and
EDF/BDF/BrainVision/FIF/... files (through :func:`mne.io.read_raw`) to ``(data µV, ch_names,
sfreq)``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .data import HMSError
from .signal import (
    BIPOLAR_NAMES,
    BIPOLAR_PAIRS,
    CHAINS,
    EEG_COLUMNS,
    EKG_CHANNEL,
    SCALP_CHANNELS,
)

__all__ = [
    "CHANNEL_ALIASES",
    "REFERENCE_SUFFIXES",
    "normalize_channel_name",
    "match_channels",
    "MontageError",
    "Montage",
    "parse_channel",
    "double_banana",
    "resample",
    "from_mne",
    "read_any",
    "load_montage",
    "load_referential",
    "referential",
    "iter_montage",
]

_ELECTRODE = {c.upper(): c for c in SCALP_CHANNELS}

# ----------------------------------------------------------------------------- channel names

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


def match_channels(names, source: str = "recording", *,
                   allow_missing: bool = False) -> tuple[list[int | None], list[str]]:
    """Map the channel labels of a file onto :data:`EEG_COLUMNS`.

    Parameters
    ----------
    names : sequence of str
        Channel labels in file order.
    source : str
        The file name, used in error messages.
    allow_missing : bool
        Return ``None`` for missing scalp channels instead of raising.

    Returns
    -------
    index : list of (int or None), length 20
        For each of ``EEG_COLUMNS``, the position of its channel in ``names``; ``None`` for a
        missing EKG (and, with ``allow_missing``, a missing scalp channel). When several labels
        map to one column (``"T3"`` and ``"T7"``, or ``"EKG1"`` and ``"EKG2"``) the first in
        file order wins.
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
                f"{column}: several channels match ({', '.join(repr(names[i]) for i in hits)}) "
                f"(using {names[hits[0]]!r})"
            )
        index.append(hits[0] if hits else None)
    missing = [c for c, i in zip(SCALP_CHANNELS, index) if i is None]
    if missing and not allow_missing:
        raise HMSError(
            f"{source}: missing EEG channel(s) {', '.join(missing)}; expected the 19 channels "
            f"{', '.join(SCALP_CHANNELS)} (10-20 aliases T7/T8/P7/P8 accepted, case and "
            f"'EEG '/'-REF'/'-LE' ignored); channels in the file: {', '.join(map(str, names))}"
        )
    if index[-1] is None:
        notes.append("no EKG/ECG channel (EKG set to zeros)")
    return index, notes




class MontageError(HMSError):
    """A recording's channels cannot give the requested double-banana derivations."""


@dataclass(frozen=True)
class Montage:
    """The derivations of the double banana a recording provides.

    Attributes
    ----------
    data : ndarray of float32, shape (n_present, n_samples) or (n_epochs, n_present, n_samples)
        ``anode - cathode`` in µV, rows in :data:`BIPOLAR_NAMES` order, present derivations only.
    names : tuple of str
        Names of the rows of ``data`` (a subsequence of :data:`BIPOLAR_NAMES`).
    present : ndarray of bool, shape (18,)
        ``present[k]`` is True when derivation ``BIPOLAR_NAMES[k]`` is in ``data``.
    dropped : tuple of str
        The derivations of :data:`BIPOLAR_NAMES` that could not be built.
    sources : tuple of str
        For each row of ``data``, how it was built: ``"A-B"`` (bipolar channel as is),
        ``"-(B-A)"`` (reversed bipolar channel, sign flipped) or ``"A - B"`` (two referential
        channels); channel labels as in the recording.
    missing_electrodes : tuple of str
        Electrodes of :data:`CHAINS` with neither a referential channel nor a bipolar channel.
    unused : tuple of str
        Channel labels that matched no electrode or derivation (EKG, EMG, ...).
    """

    data: np.ndarray
    names: tuple
    present: np.ndarray
    dropped: tuple
    sources: tuple
    missing_electrodes: tuple
    unused: tuple

    @property
    def chains(self) -> dict:
        """Chain name -> the present derivation names of that chain (possibly empty)."""
        return {chain: tuple(n for (c, _, _), n, ok in zip(BIPOLAR_PAIRS, BIPOLAR_NAMES,
                                                              self.present) if c == chain and ok)
                for chain in CHAINS}

    def full(self, fill: float = np.nan) -> np.ndarray:
        """All 18 derivations, dropped ones filled with ``fill`` (NaN by default), float32."""
        shape = self.data.shape[:-2] + (len(BIPOLAR_NAMES), self.data.shape[-1])
        out = np.full(shape, fill, np.float32)
        out[..., self.present, :] = self.data
        return out


def parse_channel(name: str) -> tuple:
    """Classify one channel label.

    Parameters
    ----------
    name : str
        A channel label, e.g. ``"EEG T7-REF"``, ``"FP1-F7"``, ``"T8-P8-0"`` or ``"ECG"``.

    Returns
    -------
    tuple
        ``("ref", electrode)`` for a referential 10-20 scalp channel (electrode named as in
        :data:`SCALP_CHANNELS`), ``("bipolar", anode, cathode)`` for a bipolar channel between
        two scalp electrodes, ``("other", None)`` for anything else.
    """
    n = normalize_channel_name(name)
    if n in _ELECTRODE:
        return ("ref", _ELECTRODE[n])
    parts = n.split("-")
    if len(parts) == 3 and parts[2].isdigit():  # MNE's de-duplicated "T8-P8-0"
        parts = parts[:2]
    if len(parts) == 2:
        a, b = (normalize_channel_name(p) for p in parts)
        if a in _ELECTRODE and b in _ELECTRODE and a != b:
            return ("bipolar", _ELECTRODE[a], _ELECTRODE[b])
    return ("other", None)


def double_banana(data, ch_names, *, require_chains=(), source: str = "recording") -> Montage:
    """Build the double-banana derivations a recording provides.

    Parameters
    ----------
    data : array, shape (n_channels, n_samples) or (n_epochs, n_channels, n_samples)
        The recording in µV, channels in ``ch_names`` order.
    ch_names : sequence of str
        One label per channel (referential, bipolar or other; see the module docstring).
        When several channels give the same electrode or derivation, the first in order wins.
    require_chains : iterable of str
        Chains of :data:`CHAINS` (``"LL"``, ``"LP"``, ``"RP"``, ``"RL"``, ``"C"``) of which at least
        one derivation must remain; ``()`` (default) requires only that one derivation remains.
    source : str
        The file or object name, used in error messages.

    Returns
    -------
    Montage
        Present derivations, mask, dropped derivations and how each row was built.

    Raises
    ------
    MontageError
        If no derivation can be built, or a chain of ``require_chains`` has none left; the
        message names the missing electrodes, the empty chains and the channels found.
    ValueError
        If ``data`` and ``ch_names`` disagree in the number of channels, or a chain is unknown.
    """
    data = np.asarray(data)
    names = [str(c) for c in ch_names]
    if data.ndim not in (2, 3) or data.shape[-2] != len(names):
        raise ValueError(f"{source}: data of shape {data.shape} does not match {len(names)} "
                         "channel names (expected (n_channels, n_samples) or (n_epochs, "
                         "n_channels, n_samples))")
    unknown = [c for c in require_chains if c not in CHAINS]
    if unknown:
        raise ValueError(f"double_banana: unknown chain(s) {unknown}; chains are {list(CHAINS)}")

    ref: dict = {}
    bip: dict = {}
    unused = []
    for i, name in enumerate(names):
        kind, *what = parse_channel(name)
        if kind == "ref":
            ref.setdefault(what[0], i)
        elif kind == "bipolar":
            bip.setdefault(tuple(what), i)
        else:
            unused.append(name)

    rows, sources, present = [], [], np.zeros(len(BIPOLAR_NAMES), bool)
    for k, (_, a, b) in enumerate(BIPOLAR_PAIRS):
        if (a, b) in bip:
            i = bip[(a, b)]
            rows.append(data[..., i, :].astype(np.float32))
            sources.append(names[i])
        elif (b, a) in bip:
            i = bip[(b, a)]
            rows.append(-data[..., i, :].astype(np.float32))
            sources.append(f"-({names[i]})")
        elif a in ref and b in ref:
            i, j = ref[a], ref[b]
            rows.append((data[..., i, :].astype(np.float64)
                         - data[..., j, :]).astype(np.float32))
            sources.append(f"{names[i]} - {names[j]}")
        else:
            continue
        present[k] = True

    in_bip = {e for pair in bip for e in pair}
    electrodes = dict.fromkeys(e for chain in CHAINS.values() for e in chain)
    missing = tuple(e for e in electrodes if e not in ref and e not in in_bip)
    empty = [c for c in CHAINS
             if not any(ok for (ch, _, _), ok in zip(BIPOLAR_PAIRS, present) if ch == c)]
    bad = [c for c in require_chains if c in empty]
    if not present.any() or bad:
        what = (f"chain(s) {', '.join(bad)} have no derivation left" if bad
                else "no double-banana derivation can be built")
        raise MontageError(
            f"{source}: {what}; missing electrode(s) {', '.join(missing) or 'none'}; expected "
            f"10-20 referential channels ({', '.join(electrodes)}; aliases T7/T8/P7/P8) or bipolar "
            f"channels such as {', '.join(BIPOLAR_NAMES[:3])}; channels found: "
            f"{', '.join(names) or 'none'}"
        )
    shape = data.shape[:-2] + (0, data.shape[-1])
    stacked = np.stack(rows, axis=-2) if rows else np.zeros(shape, np.float32)
    return Montage(
        data=np.ascontiguousarray(stacked),
        names=tuple(n for n, ok in zip(BIPOLAR_NAMES, present) if ok),
        present=present,
        dropped=tuple(n for n, ok in zip(BIPOLAR_NAMES, present) if not ok),
        sources=tuple(sources),
        missing_electrodes=missing,
        unused=tuple(unused),
    )


# ----------------------------------------------------------------------------- resampling

def _ratio(fs_in: float, fs_out: float, max_factor: int) -> Fraction:
    # each rate as the nearest fraction with denominator <= 1000: 173.61 is exactly 17361/100,
    # also when a file stored it as float32 (FIF: 173.61000061...)
    ratio = (Fraction(float(fs_out)).limit_denominator(1000)
             / Fraction(float(fs_in)).limit_denominator(1000))
    if max(ratio.numerator, ratio.denominator) > max_factor:
        ratio = ratio.limit_denominator(max_factor)
    return ratio


def resample(x, fs_in: float, fs_out: float = 200.0, *, max_factor: int = 100_000) -> np.ndarray:
    """Resample along the last axis without edge steps.

    Each channel's mean is removed, the rest is resampled with
    :func:`scipy.signal.resample_poly` padding with the edge values (``padtype="edge"``, not
    zeros), and the mean is added back. A DC offset therefore passes unchanged and the ends of
    the signal show no step.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        Signal in µV sampled at ``fs_in``; must be finite.
    fs_in, fs_out : float
        Sampling rates, Hz, each taken as the nearest fraction with denominator at most 1000
        (exact for rates with up to 3 decimals, also when stored as float32). The ratio
        ``fs_out / fs_in`` is then exact (173.61 -> 200 Hz is 20000 / 17361) unless its
        numerator or denominator exceeds ``max_factor``, when it is approximated by the nearest
        fraction within that bound.
    max_factor : int
        Largest up/down factor used (bounds the anti-aliasing filter length).

    Returns
    -------
    ndarray of float32, shape (..., ceil(n_samples * up / down))
        The resampled signal, µV. Output sample ``k`` is at time ``k / fs_out`` s.
    """
    from scipy.signal import resample_poly

    for name, fs in (("fs_in", fs_in), ("fs_out", fs_out)):
        if not (np.isfinite(fs) and fs > 0):
            raise ValueError(f"resample: {name} must be a positive number of Hz, got {fs!r}")
    x = np.asarray(x, dtype=np.float64)
    ratio = _ratio(fs_in, fs_out, max_factor)
    if ratio == 1:
        return x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError("resample: the signal holds NaN/inf; repair gaps first "
                         "(hms_features.signal.repair_nan)")
    mean = x.mean(axis=-1, keepdims=True)
    y = resample_poly(x - mean, ratio.numerator, ratio.denominator, axis=-1, padtype="edge")
    return (y + mean).astype(np.float32)


# ----------------------------------------------------------------------------- MNE input

def from_mne(inst, *, start_s: float | None = None, stop_s: float | None = None) -> tuple:
    """Data, channel names and sampling rate of an MNE object, in µV.

    Parameters
    ----------
    inst : mne.io.BaseRaw or mne.BaseEpochs
        A raw recording (loaded or not) or epochs. Stimulus (trigger) channels are left out;
        every other channel is returned, including ones marked bad.
    start_s, stop_s : float, optional
        For a Raw only: the part ``[start_s, stop_s)`` to return, s from the first sample
        (default: all). A Raw that is not preloaded reads only that part from disk, so a long
        recording can be processed block by block with bounded memory.

    Returns
    -------
    data : ndarray of float32, shape (n_channels, n_samples) for Raw, (n_epochs, n_channels,
        n_samples) for Epochs
        The signals in µV (MNE stores volts; multiplied by 1e6).
    ch_names : list of str
        Channel labels in ``data`` order.
    sfreq : float
        Sampling rate, Hz.
    """
    import mne

    if not isinstance(inst, (mne.io.BaseRaw, mne.BaseEpochs)):
        raise TypeError(f"from_mne: expected an mne.io.Raw or mne.Epochs, got "
                        f"{type(inst).__name__}")
    types = inst.get_channel_types()
    picks = [i for i, t in enumerate(types) if t != "stim"]
    if not picks:
        raise HMSError(f"{_describe(inst)}: no data channel (only stimulus channels)")
    sfreq = float(inst.info["sfreq"])
    if isinstance(inst, mne.io.BaseRaw):
        start = 0 if start_s is None else int(round(start_s * sfreq))
        stop = inst.n_times if stop_s is None else min(int(round(stop_s * sfreq)), inst.n_times)
        if not 0 <= start < stop:
            raise ValueError(f"from_mne: {_describe(inst)}: empty or negative span "
                             f"[{start_s!r}, {stop_s!r}) s of a {inst.n_times / sfreq:g} s "
                             "recording")
        data = inst.get_data(picks=picks, start=start, stop=stop) * 1e6
    elif start_s is not None or stop_s is not None:
        raise ValueError("from_mne: start_s/stop_s apply to a Raw, not to Epochs")
    else:
        data = inst.get_data(picks=picks) * 1e6
    return data.astype(np.float32), [inst.ch_names[i] for i in picks], sfreq


def _describe(inst) -> str:
    files = getattr(inst, "filenames", None) or ()
    return str(files[0]) if files and files[0] is not None else type(inst).__name__


def read_any(path, *, start_s: float | None = None, stop_s: float | None = None) -> tuple:
    """Read an EEG file with MNE's readers into ``(data µV, ch_names, sfreq)``.

    Parameters
    ----------
    path : path-like
        Any format :func:`mne.io.read_raw` reads: EDF/EDF+ (``.edf``), BDF (``.bdf``),
        BrainVision (``.vhdr``), FIF (``.fif``), EEGLAB (``.set``), ...
    start_s, stop_s : float, optional
        Read only ``[start_s, stop_s)``, s from the start (see :func:`from_mne`).

    Returns
    -------
    data, ch_names, sfreq
        As :func:`from_mne`: float32 µV (n_channels, n_samples), labels, Hz.

    Raises
    ------
    HMSError
        If the file does not exist or MNE cannot read it (the message names the file).
    """
    raw, _ = _open_raw(Path(path))
    return from_mne(raw, start_s=start_s, stop_s=stop_s)


def load_montage(source, *, ch_names=None, sfreq: float | None = None, fs: float = 200.0,
                 require_chains=(), start_s: float | None = None,
                 stop_s: float | None = None, min_sfreq: float = 100.0) -> tuple:
    """Any recording -> its double-banana derivations at ``fs`` (one call for every input).

    Parameters
    ----------
    source : path-like, mne.io.BaseRaw, mne.BaseEpochs or array
        A file read by :func:`read_any`, an MNE object (:func:`from_mne`), or an array
        (n_channels, n_samples) / (n_epochs, n_channels, n_samples) in µV, which then needs
        ``ch_names`` and ``sfreq``.
    ch_names : sequence of str, optional
        Channel labels of an array ``source``.
    sfreq : float, optional
        Sampling rate of an array ``source``, Hz.
    fs : float
        Sampling rate of the result, Hz (200, the rate the models are trained at); other rates
        are brought to it with :func:`resample` (applied to the derivations).
    require_chains : iterable of str
        As in :func:`double_banana`.
    start_s, stop_s : float, optional
        Part of a file or Raw to read (see :func:`from_mne`).
    min_sfreq : float
        Lowest sampling rate accepted, Hz: the features use frequencies up to 50 Hz, so a
        recording sampled below 100 Hz cannot give them.

    Returns
    -------
    montage : Montage
        The derivations at ``fs``.
    fs : float
        The sampling rate of ``montage.data``, Hz.

    Raises
    ------
    MontageError, HMSError
        On unusable channels, a sampling rate below ``min_sfreq`` or unreadable files
        (messages name the source).
    """
    data, names, rate, label = _source_data(source, ch_names, sfreq, start_s, stop_s,
                                            min_sfreq)
    m = double_banana(data, names, require_chains=require_chains, source=label)
    if not np.isclose(rate, fs):
        m = replace(m, data=resample(m.data, rate, fs))
    return m, float(fs)


def _source_data(source, ch_names, sfreq, start_s, stop_s, min_sfreq):
    """``(data µV, ch_names, sfreq, label)`` of a file, an MNE object or an array."""
    import mne

    if isinstance(source, (mne.io.BaseRaw, mne.BaseEpochs)):
        data, names, rate = from_mne(source, start_s=start_s, stop_s=stop_s)
        label = _describe(source)
    elif isinstance(source, (str, Path)):
        data, names, rate = read_any(source, start_s=start_s, stop_s=stop_s)
        label = str(source)
    else:
        if ch_names is None or sfreq is None:
            raise ValueError("load_montage: an array needs ch_names and sfreq")
        data, names, rate, label = np.asarray(source), list(ch_names), float(sfreq), "array"
    if not rate >= min_sfreq:
        raise HMSError(f"{label}: sampling rate {rate:g} Hz is below {min_sfreq:g} Hz (the "
                       "features use frequencies up to 50 Hz)")
    return data, names, rate, label


def load_referential(source, *, ch_names=None, sfreq: float | None = None, fs: float = 200.0,
                     allow_missing: bool = False, min_sfreq: float = 100.0) -> tuple:
    """Any recording -> the 20 referential channels of the models' windows at ``fs``.

    Parameters
    ----------
    source, ch_names, sfreq, fs, min_sfreq
        As in :func:`load_montage`.
    allow_missing : bool
        As in :func:`referential`.

    Returns
    -------
    eeg : ndarray of float32, shape (20, n) or (n_epochs, 20, n)
        :func:`referential` of the recording, resampled to ``fs`` with :func:`resample`; its
        notes (a missing EKG, a bipolar montage, dropped derivations) are warned once.
    fs : float
        Hz.
    present : ndarray of bool, shape (18,)
        The derivations the recording provides.
    """
    data, names, rate, label = _source_data(source, ch_names, sfreq, None, None, min_sfreq)
    x, notes, present = referential(data, names, source=label, allow_missing=allow_missing)
    for note in notes:
        warnings.warn(f"{label}: {note}", UserWarning, stacklevel=2)
    return (x if np.isclose(rate, fs) else resample(x, rate, fs)), float(fs), present


#: Incidence matrix of the double banana: ``derivations = _INCIDENCE @ electrodes``, shape
#: (18, 19) over :data:`SCALP_CHANNELS` (+1 anode, -1 cathode).
_INCIDENCE = np.zeros((len(BIPOLAR_PAIRS), len(SCALP_CHANNELS)))
for _k, (_, _a, _b) in enumerate(BIPOLAR_PAIRS):
    _INCIDENCE[_k, SCALP_CHANNELS.index(_a)] = 1.0
    _INCIDENCE[_k, SCALP_CHANNELS.index(_b)] = -1.0


def referential(data, ch_names, *, source: str = "recording",
                allow_missing: bool = False) -> tuple:
    """The 20 referential channels of :data:`~hms_features.signal.EEG_COLUMNS` of a recording.

    The models' windows are referential (19 scalp electrodes and the EKG): this picks them out
    of a recording's channels by name (:func:`match_channels`: case,
    ``EEG``/``POL`` prefixes, reference suffixes and the 10-20 aliases T7/T8/P7/P8 ignored).

    A recording that arrives **bipolar** (double-banana derivations, e.g. the CHB-MIT labels
    ``FP1-F7`` ... ``CZ-PZ``) has no referential electrodes; they are reconstructed as the
    least-squares solution of minimum norm, ``E = pinv(B) D`` for the incidence matrix ``B``
    (+1 anode, -1 cathode) of the derivations present. The double banana of the result is the
    recording's own derivations (exactly, when they are consistent: the two left chains, and
    the two right ones, both run from Fp to O, so their sums agree), and every feature of the
    library reads the derivations only (and the EKG), so these features are those of the
    derivations as recorded. The electrodes themselves are known only up to a constant per
    connected part of the montage: do not read them as referential signals.

    Parameters
    ----------
    data : array, shape (n_channels, n_samples) or (n_epochs, n_channels, n_samples)
        The recording, µV, channels in ``ch_names`` order.
    ch_names : sequence of str
        Channel labels.
    source : str
        File or object name for messages.
    allow_missing : bool
        Accept a recording from which only some derivations can be built: the electrodes it
        lacks are rows of zeros, and ``present`` says which derivations are real (the features
        must read only those: ``build_features`` passes the mask on). Otherwise such a
        recording is an error.

    Returns
    -------
    eeg : ndarray of float32, shape (20, n_samples) or (n_epochs, 20, n_samples)
        µV in ``EEG_COLUMNS`` order; the EKG row is zeros when the recording has none.
    notes : list of str
        What was done that the user should hear about, each ``"<what> (<what was done>)"``
        (e.g. ``"no EKG/ECG channel (EKG set to zeros)"``).
    present : ndarray of bool, shape (18,)
        Which derivations of :data:`BIPOLAR_NAMES` the recording provides.

    Raises
    ------
    HMSError
        If scalp electrodes are missing (and not ``allow_missing``) or no derivation can be
        built (the message names the missing electrodes and ``source``).
    """
    data = np.asarray(data)
    names = [str(c) for c in ch_names]
    if data.ndim not in (2, 3) or data.shape[-2] != len(names):
        raise ValueError(f"{source}: data of shape {data.shape} does not match {len(names)} "
                         "channel names")
    out = np.zeros(data.shape[:-2] + (len(EEG_COLUMNS), data.shape[-1]), np.float32)
    index, notes = match_channels(names, source, allow_missing=True)
    n_scalp = len(SCALP_CHANNELS)
    present = np.ones(len(BIPOLAR_NAMES), bool)
    if any(i is None for i in index[:n_scalp]):
        bipolar_input = any(parse_channel(n)[0] == "bipolar" for n in names)
        if not bipolar_input and not allow_missing:
            match_channels(names, source)  # raises, naming the missing channels
        m = double_banana(data, names, source=source)  # MontageError when nothing is left
        present = m.present
        if not present.all() and not allow_missing:
            raise HMSError(
                f"{source}: the double-banana derivation(s) {', '.join(m.dropped)} cannot be "
                f"built (missing electrode(s) {', '.join(m.missing_electrodes) or 'none'}); "
                "the models need all 18 (or the 19 referential scalp channels); channels "
                f"found: {', '.join(names)}")
        if bipolar_input:
            b = _INCIDENCE[present]
            d = m.data.astype(np.float64)
            e = np.einsum("ek,...kn->...en", np.linalg.pinv(b), d)
            out[..., :n_scalp, :] = e
            resid = np.einsum("ke,...en->...kn", b, e) - d
            scale = float(np.sqrt(np.mean(d ** 2))) or 1.0
            notes = [n for n in notes if "EKG" in n]
            notes.insert(0, "bipolar montage (scalp electrodes reconstructed from the "
                            "derivations; the features read the derivations)")
            rms = float(np.sqrt(np.mean(resid ** 2)))
            if rms > 0.01 * scale:
                notes.insert(1, f"the derivations are not consistent (left or right chains do "
                                f"not sum to the same Fp-O signal: {rms:.3g} µV RMS apart) "
                                "(their least-squares consistent part is used)")
            index = [None] * n_scalp + index[n_scalp:]
        if not present.all():
            notes.append(f"derivation(s) {', '.join(m.dropped)} cannot be built (missing "
                         f"electrode(s) {', '.join(m.missing_electrodes) or 'none'}) (dropped: "
                         "chain and hemisphere features average the derivations present, NaN "
                         "where a group has none)")
    rows = [k for k, i in enumerate(index) if i is not None]
    out[..., rows, :] = data[..., [index[k] for k in rows], :]
    return out, notes, present


def _open_raw(source):
    """``(raw, label)`` of a path (read lazily with MNE) or a Raw."""
    import mne

    if isinstance(source, mne.io.BaseRaw):
        return source, _describe(source)
    path = Path(source)
    if not path.is_file():
        raise HMSError(f"{path}: file not found")
    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except (ValueError, OSError, RuntimeError, KeyError, IndexError) as err:
        raise HMSError(f"{path}: not a recording MNE can read ({err})") from None
    return raw, str(path)


def iter_montage(source, *, block_s: float = 600.0, overlap_s: float = 40.0, fs: float = 200.0,
                 require_chains=(), min_sfreq: float = 100.0, margin_s: float = 2.0,
                 layout: str = "bipolar", allow_missing: bool = False):
    """Stream a long recording as double-banana blocks at ``fs``, with bounded memory.

    Block ``k`` holds ``[k * block_s, k * block_s + block_s + overlap_s)`` seconds (cut at the
    end of the recording), so a scan with windows of ``window_s`` every ``step_s`` seconds takes
    ``overlap_s = window_s - step_s`` and, from each block, the windows starting in its first
    ``block_s`` seconds. Each block is read (from disk when the Raw is not preloaded) with
    ``margin_s`` seconds more on both sides, resampled with :func:`resample`, and trimmed: its
    samples equal those of :func:`load_montage` on the whole recording (to float32 rounding).
    The file is opened once; with ``layout="referential"`` the notes of :func:`referential`
    (e.g. a missing EKG) are warned once, at the first block.

    Parameters
    ----------
    source : path-like or mne.io.BaseRaw
        A file read by :func:`read_any` or a Raw.
    block_s, overlap_s : float
        Block step and the overlap of consecutive blocks, s. When resampling, ``block_s`` must
        be a multiple of the period on which input and output samples coincide (``down / fs_in``
        s for ``fs / fs_in = up / down``: 0.125 s for 256 Hz, 100 s for 173.61 Hz).
    fs : float
        Output sampling rate, Hz.
    require_chains, min_sfreq
        As in :func:`load_montage`.
    margin_s : float
        Extra seconds read on each side when resampling (rounded up to the coincidence period);
        they absorb the anti-aliasing filter's reach.
    layout : {"bipolar", "referential"}
        What each block is: the double-banana :class:`Montage`, or the ``(20, n)`` referential
        array of :func:`referential` (the layout of the models' windows).
    allow_missing : bool
        With ``layout="referential"``: as in :func:`referential` (the mask of the derivations
        present is that of :func:`referential` on the channel names).

    Yields
    ------
    start_s : float
        Start of the block, s from the first sample.
    block : Montage or ndarray of float32, shape (20, n)
        The block at ``fs``; the present/dropped derivations are the same in every block.
    """
    if layout not in ("bipolar", "referential"):
        raise ValueError(f"iter_montage: layout must be 'bipolar' or 'referential', got "
                         f"{layout!r}")
    raw, label = _open_raw(source)
    rate = float(raw.info["sfreq"])
    if not rate >= min_sfreq:
        raise HMSError(f"{label}: sampling rate {rate:g} Hz is below {min_sfreq:g} Hz (the "
                       "features use frequencies up to 50 Hz)")
    if not (block_s > 0 and overlap_s >= 0):
        raise ValueError(f"iter_montage: need block_s > 0 and overlap_s >= 0 s, got "
                         f"{block_s!r}, {overlap_s!r}")
    total_s = raw.n_times / rate
    same = np.isclose(rate, fs)
    if same:
        margin = 0.0
    else:
        ratio = _ratio(rate, fs, 100_000)
        period = ratio.denominator / rate  # s; input and output samples coincide on this grid
        k = block_s / period
        if abs(k - round(k)) > 1e-6:
            raise ValueError(f"iter_montage: {label}: block_s={block_s:g} s is not a multiple of "
                             f"{period:g} s, the period on which {rate:g} Hz and {fs:g} Hz "
                             "samples coincide")
        margin = float(np.ceil(margin_s / period) * period)
    start = 0.0
    first = True
    while start < total_s:
        stop = min(start + block_s + overlap_s, total_s)
        a, b = max(start - margin, 0.0), min(stop + margin, total_s)
        data, names, _ = from_mne(raw, start_s=a, stop_s=b)
        if layout == "bipolar":
            block = double_banana(data, names, require_chains=require_chains, source=label)
            x = block.data
        else:
            x, notes, _ = referential(data, names, source=label, allow_missing=allow_missing)
            if first:
                for note in notes:
                    warnings.warn(f"{label}: {note}", UserWarning, stacklevel=2)
        first = False
        if not same:
            y = resample(x, rate, fs)
            i0 = int(round((start - a) * fs))
            n = int(np.ceil(round((stop - start) * rate) * fs / rate))
            x = np.ascontiguousarray(y[:, i0:i0 + n])
        yield start, (replace(block, data=x) if layout == "bipolar" else x)
        start += block_s
