"""The contract every feature family follows, and the registry that names them.

A *family* is a pure function ``compute(ctx) -> dict[name, array(n_windows)]`` registered with
:func:`register`. It reads whatever it needs from a :class:`FeatureContext`, which holds one chunk
of windows and computes shared intermediate results (bipolar montage, Welch PSD, ...) once, on
first use, so families never recompute each other's work.

Feature names follow ``{family}_{measure}_{band?}_{channel|chain}_{span}``, e.g.
``spectral_relpower_delta_LL_50s``. They are part of the API (models are saved with them).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable

import numpy as np

from ..signal import (
    BIPOLAR_PAIRS,
    CHAINS,
    EEG_COLUMNS,
    FS,
    HEMISPHERES,
    LOG_EPS,
    WELCH_SEGMENT_S,
    bipolar,
    log_power,
    segment_spectra,
    welch_grid,
    welch_psd,
)
from ..validation import check_eeg

__all__ = [
    "FeatureContext", "Family", "FAMILIES", "register", "welch_psd", "segment_spectra",
    "chain_groups", "aggregate", "GROUPS", "EPS", "rowwise", "BANDS", "BROADBAND", "select_bands",
    "log_power", "WELCH_SEGMENT_S", "present_derivations",
]

#: The derivations present in the windows being featurised (bool (18,)), None for all. Set by
#: :func:`present_derivations` (``compute_features(present=...)`` does); read by
#: :func:`chain_groups` and :func:`aggregate`, so that every chain and hemisphere summary of a
#: partial recording averages the derivations that exist.
_PRESENT: ContextVar = ContextVar("hms_features_present_derivations", default=None)


@contextmanager
def present_derivations(present):
    """Within the block, chain and hemisphere summaries use only the ``present`` derivations.

    Parameters
    ----------
    present : array of bool, shape (18,), or None
        Which derivations of :data:`~hms_features.signal.BIPOLAR_NAMES` exist; None (or all
        True) restores the full montage.
    """
    mask = None
    if present is not None:
        mask = np.asarray(present, dtype=bool).reshape(-1)
        if mask.shape != (len(BIPOLAR_PAIRS),):
            raise ValueError(f"present must have {len(BIPOLAR_PAIRS)} booleans (one per "
                             f"derivation), got shape {np.shape(present)}")
        mask = None if mask.all() else tuple(mask.tolist())
    token = _PRESENT.set(mask)
    try:
        yield
    finally:
        _PRESENT.reset(token)

#: Groups every per-derivation feature is averaged over, in column order: the five chains of
#: :data:`~hms_features.signal.CHAINS`, then the hemispheres of
#: :data:`~hms_features.signal.HEMISPHERES` (left LL+LP, right RP+RL).
GROUPS = tuple(CHAINS) + tuple(HEMISPHERES)
#: Floor added to powers (µV², µV²/Hz) before taking logarithms, so silent channels stay finite
#: (:data:`hms_features.signal.LOG_EPS`).
EPS = LOG_EPS

#: The EEG frequency bands, Hz, half-open ``[lo, hi)``: the one definition every family derives
#: its bands from (with :func:`select_bands`). 0.5 and 40 Hz are the preprocessing pass band.
BANDS = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "lowgamma": (30.0, 40.0),
}
#: The broad band all bands cover, Hz: total power, edge and peak frequencies are taken over it.
BROADBAND = (min(lo for lo, _ in BANDS.values()), max(hi for _, hi in BANDS.values()))
#: Where ``split_delta`` cuts delta into ``delta1`` (slow) and ``delta2``, Hz.
DELTA_SPLIT_HZ = 2.0


def select_bands(names=None, *, split_delta: bool = False, fmax: float | None = None) -> dict:
    """Bands derived from :data:`BANDS`: a subset, delta split in two, or clipped at ``fmax``.

    Parameters
    ----------
    names : iterable of str, optional
        Keys of :data:`BANDS`, in output order; default all of them.
    split_delta : bool
        Replace ``delta`` by ``delta1`` = [0.5, 2) Hz and ``delta2`` = [2, 4) Hz (cut at
        :data:`DELTA_SPLIT_HZ`).
    fmax : float, optional
        Highest frequency the data reach, Hz: each band's top is clipped to it, and bands
        starting at or above it are dropped (e.g. the Kaggle spectrogram stops at 20 Hz, so its
        beta is 13-20 Hz).

    Returns
    -------
    dict
        name -> ``(lo, hi)`` Hz, half-open.

    Examples
    --------
    >>> select_bands(["delta", "beta"], fmax=20.0)
    {'delta': (0.5, 4.0), 'beta': (13.0, 20.0)}
    >>> list(select_bands(split_delta=True))
    ['delta1', 'delta2', 'theta', 'alpha', 'beta', 'lowgamma']
    """
    names = list(BANDS) if names is None else list(names)
    unknown = [b for b in names if b not in BANDS]
    if unknown:
        raise ValueError(f"select_bands: unknown band(s) {unknown}; known: {list(BANDS)}")
    out = {}
    for name in names:
        lo, hi = BANDS[name]
        if fmax is not None:
            if lo >= fmax:
                continue
            hi = min(hi, float(fmax))
        if split_delta and name == "delta":
            out["delta1"] = (lo, DELTA_SPLIT_HZ)
            out["delta2"] = (DELTA_SPLIT_HZ, hi)
        else:
            out[name] = (lo, hi)
    return out


def rowwise(fn: Callable, x: np.ndarray, rows: int = 16, **kwargs) -> np.ndarray:
    """Apply a per-signal measure ``fn(x (r, n)) -> (r,)`` to blocks of ``rows`` signals.

    The measures are vectorised over signals, but on a whole chunk (32 windows x 18 derivations
    x 10,000 samples, 23 MB float32) each of their passes streams the temporaries through main
    memory; blocks of 16-64 signals (0.6-2.5 MB) stay in cache and run 1.3-3x faster on the
    2-core benchmark machine. Results do not depend on ``rows``.

    Parameters
    ----------
    fn : callable
        Reduces the last axis of a 2-D array, returning one value per row.
    x : array, shape (..., n_samples)
    rows : int
        Signals per block.
    **kwargs
        Passed to ``fn``.

    Returns
    -------
    ndarray, shape x.shape[:-1]
    """
    x = np.asarray(x)
    flat = x.reshape(-1, x.shape[-1])
    parts = [np.asarray(fn(flat[a:a + rows], **kwargs)) for a in range(0, flat.shape[0], rows)]
    out = np.concatenate(parts) if parts else np.zeros(0)
    return out.reshape(x.shape[:-1])


def chain_groups(present=None) -> dict[str, np.ndarray]:
    """Indices of the 18 bipolar derivations making up each aggregation group.

    Parameters
    ----------
    present : array of bool, shape (18,), optional
        Keep only these derivations (a group may then be empty). Default: the mask set by
        :func:`present_derivations`, else all 18.

    Returns
    -------
    dict
        ``LL``, ``LP``, ``RP``, ``RL``, ``C`` (the chains), ``L`` / ``R`` (left / right
        hemisphere: LL+LP / RP+RL) and ``all`` (the 18 derivations).

    Examples
    --------
    >>> chain_groups()["LL"].tolist()  # Fp1-F7, F7-T3, T3-T5, T5-O1
    [0, 1, 2, 3]
    >>> len(chain_groups()["L"])
    8
    """
    chains = np.array([c for c, _, _ in BIPOLAR_PAIRS])
    groups = {c: np.flatnonzero(chains == c) for c in CHAINS}
    for h, members in HEMISPHERES.items():
        groups[h] = np.concatenate([groups[c] for c in members])
    groups["all"] = np.arange(len(BIPOLAR_PAIRS))
    mask = _PRESENT.get() if present is None else tuple(np.asarray(present, bool).tolist())
    if mask is not None:
        keep = np.asarray(mask, bool)
        groups = {g: idx[keep[idx]] for g, idx in groups.items()}
    return groups


_GROUP_INDEX = chain_groups(np.ones(len(BIPOLAR_PAIRS), bool))


def aggregate(family: str, measure: str, values: np.ndarray, span: str,
              groups: tuple[str, ...] = GROUPS) -> dict[str, np.ndarray]:
    """Average a per-derivation feature over each chain and hemisphere.

    Parameters
    ----------
    family, measure : str
        Name parts; ``measure`` may hold a band (``"relpower_alpha"``).
    values : array, shape (n_windows, 18)
        One value per bipolar derivation (``BIPOLAR_NAMES`` order).
    span : str
        Span suffix, e.g. ``"50s"``.
    groups : tuple of str
        Keys of :func:`chain_groups`.

    Returns
    -------
    dict
        ``{family}_{measure}_{group}_{span}`` -> mean over the group's derivations, float32,
        shape (n_windows,). Non-finite values are replaced by 0 before averaging (callers define
        their own fills; this is a last guard). Within :func:`present_derivations` the mean is
        over the group's present derivations only, and NaN for a group with none.

    Examples
    --------
    >>> import numpy as np
    >>> out = aggregate("demo", "x", np.arange(18.0)[None], "50s")
    >>> list(out)[:2], float(out["demo_x_LL_50s"][0])
    (['demo_x_LL_50s', 'demo_x_LP_50s'], 1.5)
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    # every group mean in one product with a (18, groups) averaging matrix
    means = (values @ _group_matrix(tuple(groups), _PRESENT.get())).astype(np.float32)
    return {f"{family}_{measure}_{g}_{span}": means[:, i] for i, g in enumerate(groups)}


@lru_cache(maxsize=None)
def _group_matrix(groups: tuple[str, ...], present: tuple | None = None) -> np.ndarray:
    """(18, groups) averaging weights; a column of NaN for a group without present members."""
    index = _GROUP_INDEX if present is None else chain_groups(present)
    w = np.zeros((len(_GROUP_INDEX["all"]), len(groups)))
    for i, g in enumerate(groups):
        if len(index[g]):
            w[index[g], i] = 1.0 / len(index[g])
        else:
            w[:, i] = np.nan
    return w


@dataclass
class FeatureContext:
    """One chunk of windows and the intermediate results shared between feature families.

    Parameters
    ----------
    eeg : array, shape (n_windows, 20, n_samples)
        Preprocessed referential EEG in µV, channels in ``EEG_COLUMNS`` order (EKG last).
    fs : float
        Sampling rate, Hz.
    span : str
        Name of the time span these windows cover, used as the feature-name suffix
        (``"50s"`` for the whole window, ``"10s"`` for the labelled centre).
    spectrogram : array, shape (n_windows, 300, 400), optional
        The Kaggle spectrogram windows (10 min, 2 s steps, ``SPEC_COLUMNS`` order), or None.
    quality : dict, optional
        Per-window quality indicators from preprocessing (name -> array (n_windows,)).
    psd_override : tuple, optional
        ``(freqs, psd)`` already computed by the caller, see :attr:`psd`.
    parent : FeatureContext, optional
        The context of the whole windows when this one covers a part of them (the 10 s centre
        of the 50 s window), ``within`` being its samples there: the bipolar derivations and
        the Welch segments the parent has already computed are sliced instead of recomputed
        (same samples, same arithmetic: the same values).
    within : slice, optional
        This context's samples within ``parent``'s.
    """

    eeg: np.ndarray
    fs: float = FS
    span: str = "50s"
    spectrogram: np.ndarray | None = None
    quality: dict = field(default_factory=dict)
    psd_override: tuple | None = None
    parent: FeatureContext | None = None
    within: slice | None = None

    def __post_init__(self):
        self.eeg = check_eeg(self.eeg, caller="FeatureContext", n_channels=len(EEG_COLUMNS),
                             dtype=None, order=None)

    @property
    def n(self) -> int:
        """Number of windows."""
        return self.eeg.shape[0]

    @cached_property
    def bipolar(self) -> np.ndarray:
        """Double-banana derivations, shape (n_windows, 18, n_samples), µV."""
        if self.parent is not None and "bipolar" in self.parent.__dict__:
            return np.ascontiguousarray(self.parent.bipolar[..., self.within])
        return bipolar(self.eeg)

    @property
    def ekg(self) -> np.ndarray:
        """EKG channel, shape (n_windows, n_samples), µV."""
        return self.eeg[:, -1, :]

    @cached_property
    def segments(self) -> tuple[np.ndarray, np.ndarray]:
        """Welch segment spectra of the bipolar derivations (2 s Hann segments every 1 s,
        :func:`segment_spectra`): ``(freqs (f,) Hz, spectra (n, 18, n_seg, f) µV²/Hz)``.

        Computed once per context and shared: :attr:`psd` is their mean, and families that need
        the spectra of parts of the window (evolution's sub-windows) average their segments.
        """
        shared = self._parent_segments()
        if shared is not None:
            return shared
        return segment_spectra(self.bipolar, self.fs, WELCH_SEGMENT_S)

    def _parent_segments(self):
        """This span's Welch segments taken from the parent's, when the parent has computed
        them and this span starts on their grid (every half segment from sample 0)."""
        if self.parent is None or "segments" not in self.parent.__dict__:
            return None
        on_grid, k0, n_seg, _ = welch_grid(self.within.start, self.within.stop - self.within.start,
                                        self.fs)
        if not on_grid:
            return None
        freqs, spectra = self.parent.segments
        return freqs, spectra[..., k0:k0 + n_seg, :]

    @cached_property
    def psd(self) -> tuple[np.ndarray, np.ndarray]:
        """Welch PSD of the bipolar derivations: ``(freqs (f,) Hz, psd (n, 18, f) µV²/Hz)``.

        The mean of :attr:`segments` (exactly :func:`welch_psd`), or taken from
        ``psd_override`` when the caller already has it (e.g. averaged from per-recording
        segment spectra).
        """
        if self.psd_override is not None:
            return self.psd_override
        freqs, spectra = self.segments
        return freqs, spectra.mean(axis=-2)

    def decimated(self, q: int) -> np.ndarray:
        """Bipolar derivations decimated by ``q`` with a block mean, shape (n, 18, s // q), µV.

        The mean of ``q`` consecutive samples is a boxcar anti-alias filter (first null at
        ``fs / q`` Hz); cheap and adequate for the entropy measures computed on it. Trailing
        samples that do not fill a block are dropped. Cached per ``q``.
        """
        cache = self.__dict__.setdefault("_decimated", {})
        if q not in cache:
            b = self.bipolar
            m = b.shape[-1] // q
            # q strided float64 adds: the mean over a length-q axis runs q-element inner loops,
            # 3x slower (the sums of q float32 samples are exact in float64 either way)
            out = b[..., 0:m * q:q].astype(np.float64)
            for i in range(1, q):
                out += b[..., i:m * q:q]
            out /= q
            cache[q] = out
        return cache[q]


@dataclass(frozen=True)
class Family:
    """A registered feature family."""

    name: str
    compute: Callable[[FeatureContext], dict]
    spans: tuple[str, ...]
    needs_spectrogram: bool = False
    fast: bool = True
    default: bool = True


#: name -> :class:`Family`, in registration order (which fixes the column order).
FAMILIES: dict[str, Family] = {}


def register(name: str, *, spans=("50s", "10s"), needs_spectrogram=False, fast=True,
             default=True):
    """Decorator registering ``compute(ctx) -> dict`` as feature family ``name``.

    Parameters
    ----------
    name : str
        Family name; every feature it returns must start with ``name + "_"``.
    spans : tuple of str
        The spans it is computed on (``"50s"``, ``"10s"``); ``()`` for span-free families such as
        the spectrogram, which bring their own windows.
    needs_spectrogram : bool
        Whether it reads ``ctx.spectrogram``.
    fast : bool
        Whether it belongs to the ``"fast"`` feature set.
    default : bool
        Whether it belongs to the named sets at all; ``False`` makes an opt-in family, computed
        only when listed by name (``feature_set=["spectral", "seq"]``).
    """

    def deco(fn):
        if name in FAMILIES:
            raise ValueError(f"feature family {name!r} registered twice")
        FAMILIES[name] = Family(name, fn, tuple(spans), needs_spectrogram, fast, default)
        return fn

    return deco
