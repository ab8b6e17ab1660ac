"""Feature sets and the one function that computes every selected family on a chunk.

Feature sets:

* ``"default"`` - every registered family except the opt-in ones (``default=False``: ``seq``,
  the LSTM's input sequence);
* ``"fast"`` - the families registered with ``fast=True`` (no sample entropy / DFA, no
  spectrogram statistics), for quick experiments;
* a list of family names, in any order (columns still come out in :data:`FAMILY_ORDER`); the
  only way to ask for an opt-in family. A set name in the list stands for its families
  (``["default", "seq"]``).

Spans: each family registered with spans ``("50s", "10s")`` is computed on the whole window
(named ``50s`` whatever its length) and on its central 10 s (``10s``), the part the experts
labelled; both are cut from the same preprocessed window, so the 10 s span is filtered with 20 s
of context on each side. Families registered with ``spans=()`` run once per window and name
their own columns.

Column order is stable: families in :data:`FAMILY_ORDER` (unknown families after, in
registration order), spans in registration order, and each family's own dict order.
"""

from __future__ import annotations

import importlib
import warnings
from functools import lru_cache

import numpy as np

from ..signal import BIPOLAR_NAMES, EEG_COLUMNS, FS
from ..validation import check_eeg, check_spectrogram, values_checked
from .base import FAMILIES, FeatureContext, chain_groups, present_derivations, register

__all__ = [
    "FAMILY_ORDER", "FEATURE_SETS", "resolve_families", "feature_names", "compute_features",
    "span_slices",
]

#: Column order of the families (those not registered in this process are skipped).
FAMILY_ORDER = ("quality", "spectral", "temporal", "entropy", "periodicity", "spatial",
                "evolution", "spectrogram", "ekg", "seq")
#: Named feature sets.
FEATURE_SETS = ("default", "fast")
_MODULES = ("spectral", "temporal", "entropy", "periodicity", "spatial", "evolution",
            "spectrogram", "ekg", "sequence")
#: Length of the central span, seconds.
CENTRAL_S = 10.0


def _load_families() -> None:
    for mod in _MODULES:
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as err:  # a family module not written yet
            if err.name != f"{__package__}.{mod}":
                raise


@register("quality", spans=("50s",), fast=True)
def compute_quality(ctx: FeatureContext) -> dict[str, np.ndarray]:
    """Preprocessing quality indicators, 0 when none were given.

    ``quality_nanfraction_50s`` (fraction of NaN scalp samples), ``quality_badchannels_50s``
    (scalp channels zeroed as all-NaN or flat), ``quality_clippedfraction_50s`` (fraction of
    scalp samples clipped): the ``nan_fraction``, ``bad_channels`` and ``clipped_fraction``
    entries of :func:`hms_features.signal.preprocess`'s quality dict.
    """
    from ..signal import QUALITY_NAMES

    return {f"quality_{k.replace('_', '')}_{ctx.span}":
            np.asarray(ctx.quality.get(k, np.zeros(ctx.n)), dtype=np.float32)
            for k in QUALITY_NAMES}


def resolve_families(feature_set="default") -> list[str]:
    """Family names of a feature set, in column order.

    Parameters
    ----------
    feature_set : {"default", "fast"} or list of str
        A set name, or family names and set names (``["default", "seq"]``).

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        Unknown set or family name (the message lists the valid ones).
    """
    _load_families()
    order = [f for f in FAMILY_ORDER if f in FAMILIES]
    order += [f for f in FAMILIES if f not in order]
    if isinstance(feature_set, str):
        named = [f for f in order if FAMILIES[f].default]  # opt-in families are in no set
        if feature_set == "default":
            return named
        if feature_set == "fast":
            return [f for f in named if FAMILIES[f].fast]
        raise ValueError(f"feature_set must be one of {FEATURE_SETS} or a list of families "
                         f"{order}, got {feature_set!r}")
    names = []
    for item in feature_set:  # a set name inside a list stands for its families
        names += resolve_families(item) if item in FEATURE_SETS else [item]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"feature_set: unknown families {unknown} (known: {order})"
                         if unknown else "feature_set: empty list of families")
    return [f for f in order if f in names]


def span_slices(n_samples: int, fs: float = FS) -> dict[str, slice]:
    """Sample ranges of the spans of a window: ``50s`` (all) and ``10s`` (central 10 s)."""
    c = int(round(CENTRAL_S * fs))
    if n_samples < c:
        raise ValueError(f"windows must hold at least {CENTRAL_S:g} s ({c} samples at {fs:g} Hz), "
                         f"got {n_samples} samples")
    a = (n_samples - c) // 2
    return {"50s": slice(0, n_samples), "10s": slice(a, a + c)}


#: Windows computed together inside :func:`compute_features`: the temporaries of a block of 32
#: windows x 18 derivations x 10,000 samples (~23 MB float32) keep memory bounded whatever the
#: chunk size (the lag loop of sample entropy favours blocks that are not too small).
BLOCK = 32


def compute_features(eeg: np.ndarray, fs: float = FS, *, feature_set="default",
                     spectrogram: np.ndarray | None = None, quality: dict | None = None,
                     psd: dict | None = None, block: int = BLOCK,
                     present=None, bipolar: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Compute every family of a feature set on one chunk of preprocessed windows.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples)
        Preprocessed referential EEG, µV (:func:`hms_features.signal.preprocess`).
    fs : float
        Sampling rate, Hz.
    feature_set : {"default", "fast"} or list of str
        See :func:`resolve_families`.
    spectrogram : array, shape (n_windows, 300, 400), optional
        Kaggle spectrogram windows; families that need one are skipped when it is None.
    quality : dict, optional
        Per-window indicators from preprocessing.
    psd : dict, optional
        span -> ``(freqs, psd (n, 18, f))`` precomputed Welch PSDs (shared across overlapping
        windows by :func:`hms_features.build.build_features`).
    block : int
        Windows processed together (a loop over blocks, each vectorised); results do not
        depend on it.
    present : array of bool, shape (18,), optional
        The derivations that exist (a partial recording: the others are not real signals).
        The rule: every column is computed from the present derivations only, or is NaN
        (missing, never a value computed from an absent channel). Chain and hemisphere
        summaries average the present derivations
        (:func:`~hms_features.features.base.present_derivations`; a group with none is NaN);
        the montage-wide ``periodicity_acfpeak_max`` and ``ekg_leak*`` reductions take the
        present derivations. ``spatial`` columns whose groups are not complete are NaN (pair
        and synchrony measures need every member), and so are ``spectrogram`` chain columns
        of an incomplete chain (a spectrogram row is already the mean of the chain's four
        derivations, see the registry's ``_absent``).
    bipolar : array, shape (n_windows, 18, n_samples), optional
        :func:`hms_features.signal.bipolar` of ``eeg``, when the caller has it (a scan: views
        into the derivations of the stretch its overlapping windows cover, computed once).

    Returns
    -------
    dict
        name -> float32 array (n_windows,), finite (non-finite values become 0 as a last guard)
        except the NaN of absent groups with ``present``.
    """
    eeg = check_eeg(eeg, caller="compute_features", n_channels=len(EEG_COLUMNS),
                    dtype=None, order=None, fs=fs)
    n = eeg.shape[0]
    if spectrogram is not None:
        spectrogram = check_spectrogram(spectrogram, n, "compute_features")
    if bipolar is not None:
        expected = (eeg.shape[0], len(BIPOLAR_NAMES), eeg.shape[-1])
        if np.shape(bipolar) != expected:
            raise ValueError(f"compute_features: bipolar must have shape {expected} (the "
                             f"derivations of eeg), got {np.shape(bipolar)}")
    with values_checked():  # the blocks, spans and derivations below are made of these samples
        return _compute_checked(eeg, fs, feature_set, spectrogram, quality, psd, block, present,
                                bipolar)


def _compute_checked(eeg, fs, feature_set, spectrogram, quality, psd, block, present, bipolar):
    """:func:`compute_features` on checked input."""
    n = eeg.shape[0]
    if n > block:
        parts = []
        for a in range(0, n, block):
            sl = slice(a, min(a + block, n))
            parts.append(_compute_checked(
                eeg[sl], fs, feature_set, None if spectrogram is None else spectrogram[sl],
                {k: np.asarray(v)[sl] for k, v in (quality or {}).items()},
                {k: (f, p[sl]) for k, (f, p) in (psd or {}).items()}, block, present,
                None if bipolar is None else bipolar[sl]))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    families = [FAMILIES[f] for f in resolve_families(feature_set)]
    slices = span_slices(eeg.shape[-1], fs)
    psd = psd or {}
    contexts = {}
    if bipolar is not None:
        whole = span_context("50s", contexts, eeg, fs, slices, spectrogram, quality, psd)
        whole.__dict__["bipolar"] = bipolar  # the cached property, given
    out: dict[str, np.ndarray] = {}
    with present_derivations(present), warnings.catch_warnings():
        if present is not None:  # means over empty groups: NaN, set below, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
        _compute(families, eeg, fs, slices, spectrogram, quality, psd, contexts, out)
    if out:
        # one finiteness guard over the whole (features, windows) table, not one per column
        table = np.stack(list(out.values()))
        if not np.isfinite(table).all():
            np.nan_to_num(table, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if present is not None:
            table[_absent(tuple(out), tuple(np.asarray(present, bool).tolist()))] = np.nan
        out = dict(zip(out, table))
    return out


def _compute(families, eeg, fs, slices, spectrogram, quality, psd, contexts, out):
    """Run each family on its spans, filling ``out`` (name -> float32 (n,))."""
    for fam in families:
        if fam.needs_spectrogram and spectrogram is None:
            continue
        for span in fam.spans or ("50s",):
            res = fam.compute(span_context(span, contexts, eeg, fs, slices, spectrogram,
                                           quality, psd))
            for k, v in res.items():
                v = np.asarray(v, dtype=np.float32).reshape(-1)
                if v.shape[0] != eeg.shape[0]:
                    raise ValueError(f"family {fam.name!r}: feature {k!r} has {v.shape[0]} "
                                     f"values for {eeg.shape[0]} windows")
                out[k] = v


def span_context(span, contexts, eeg, fs, slices, spectrogram=None, quality=None, psd=None):
    """The :class:`FeatureContext` of one span, made once per chunk and kept in ``contexts``.

    A span inside the whole window slices the whole window's derivations and Welch segments
    when those are computed (the 10 s centre of the 50 s window, ``slices`` from
    :func:`span_slices`).
    """
    if span not in contexts:
        whole = contexts.get("50s") if span != "50s" else None
        contexts[span] = FeatureContext(
            eeg[..., slices[span]], fs=fs, span=span, spectrogram=spectrogram,
            quality=quality or {}, psd_override=(psd or {}).get(span), parent=whole,
            within=slices[span] if whole is not None else None)
    return contexts[span]


def _groups_of(token: str, index: dict) -> list:
    """The groups a column's group token names: ``"LL"`` -> [LL], ``"LLRL"`` -> [LL, RL]."""
    if token in index:
        return [token]
    for k in range(1, len(token)):
        if token[:k] in index and token[k:] in index:
            return [token[:k], token[k:]]
    return []


#: Families whose columns need every derivation of their groups (a chain or pair not complete
#: cannot be measured honestly): ``spatial`` (pairs, synchrony over a whole group) and
#: ``spectrogram`` (a chain's spectrogram row is the mean over the chain's four derivations,
#: taken before the family sees it, so a chain missing one of them is not that chain).
_STRICT_FAMILIES = ("spatial", "spectrogram")


def _group_token(name: str) -> str:
    """The group part of a column name: ``spectral_relpower_alpha_LL_50s`` -> ``LL``,
    ``seq_logpower_total_LL_5s_t03`` -> ``LL`` (the sequence's step suffix skipped)."""
    parts = name.split("_")
    if name.startswith("seq_") and len(parts) > 3 and parts[-1][:1] == "t":
        parts = parts[:-1]
    return parts[-2] if len(parts) >= 3 else ""


@lru_cache(maxsize=64)
def _absent(names: tuple, present: tuple) -> np.ndarray:
    """Rows (columns of the table) to set to NaN for a partial montage ``present``.

    The rule for a partial recording: a column is computed from the present derivations only,
    or it is NaN. The group of a column is the part before its span (``..._LL_50s`` -> ``LL``;
    a ``seq`` column's step suffix is skipped); a pair such as ``LLRL`` or ``LR`` names two
    groups. A column is absent when one of its groups has no present derivation. For the
    ``_STRICT_FAMILIES`` already when one of its chain or hemisphere groups is incomplete,
    and for ``spatial`` also its montage-wide measures (``maxpair``, ``all``: they need all 18).
    The families' own montage-wide reductions (``periodicity_acfpeak_max``, the ``ekg``
    leakage ``max`` / ``mean``) take the present derivations only and stay.
    """
    index = chain_groups(present)
    full = chain_groups(np.ones(len(present), bool))
    out = np.zeros(len(names), bool)
    for i, name in enumerate(names):
        groups = _groups_of(_group_token(name), index)
        family = name.split("_", 1)[0]
        strict = family in _STRICT_FAMILIES
        for g in groups:
            incomplete = len(index[g]) < len(full[g]) and (family == "spatial" or g != "all")
            if len(index[g]) == 0 or (strict and incomplete):
                out[i] = True
        if family == "spatial" and not groups and not all(present):  # maxpair, ...
            out[i] = True
    return out


@lru_cache(maxsize=16)
def _names(families: tuple[str, ...], spectrogram: bool, fs: float) -> tuple[str, ...]:
    rng = np.random.default_rng(0)
    eeg = rng.standard_normal((1, len(EEG_COLUMNS), int(50 * fs))).astype(np.float32) * 20
    spec = np.abs(rng.standard_normal((1, 300, 400))).astype(np.float32) if spectrogram else None
    return tuple(compute_features(eeg, fs, feature_set=list(families), spectrogram=spec))


def feature_names(feature_set="default", *, spectrogram: bool = True,
                  fs: float = FS) -> list[str]:
    """Column names a feature set produces, in order (computed once on a dummy window).

    Parameters
    ----------
    feature_set : {"default", "fast"} or list of str
    spectrogram : bool
        Whether spectrogram windows are available (False drops the families that need them).
    fs : float
        Sampling rate, Hz.
    """
    return list(_names(tuple(resolve_families(feature_set)), bool(spectrogram), float(fs)))
