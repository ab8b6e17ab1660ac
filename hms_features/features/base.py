"""The contract every feature family follows, and the registry that names them.

A *family* is a pure function ``compute(ctx) -> dict[name, array(n_windows)]`` registered with
:func:`register`. It reads whatever it needs from a :class:`FeatureContext`, which holds one chunk
of windows and computes shared intermediate results (bipolar montage, Welch PSD, ...) once, on
first use, so families never recompute each other's work.

Feature names follow ``{family}_{measure}_{band?}_{channel|chain}_{span}``, e.g.
``spectral_relpower_delta_LL_50s``. They are part of the API (models are saved with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
from scipy import signal as sps

from ..signal import BIPOLAR_PAIRS, EEG_COLUMNS, FS, bipolar

__all__ = ["FeatureContext", "Family", "FAMILIES", "register", "welch_psd", "chain_groups"]

#: Welch segment length, seconds (0.5 Hz resolution), Hann window, 50 % overlap, mean averaging.
WELCH_SEGMENT_S = 2.0


def welch_psd(x: np.ndarray, fs: float = FS, segment_s: float = WELCH_SEGMENT_S):
    """Welch power spectral density along the last axis.

    Parameters
    ----------
    x : array, shape (..., n_samples)
        Signal in µV.
    fs : float
        Sampling rate, Hz.
    segment_s : float
        Segment length, seconds; Hann window, 50 % overlap, linear detrend off, mean of segments.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Hz.
    psd : ndarray, shape (..., n_freqs)
        One-sided density, µV²/Hz, float64.
    """
    nperseg = int(round(segment_s * fs))
    nperseg = min(nperseg, x.shape[-1])
    return sps.welch(
        x, fs=fs, window="hann", nperseg=nperseg, noverlap=nperseg // 2, detrend=False,
        axis=-1, average="mean",
    )


def chain_groups() -> dict[str, np.ndarray]:
    """Indices of the 18 bipolar derivations making up each aggregation group.

    Returns
    -------
    dict
        ``LL``, ``LP``, ``RP``, ``RL``, ``C`` (the chains), ``L`` / ``R`` (left / right
        hemisphere: LL+LP / RP+RL) and ``all`` (the 18 derivations).
    """
    chains = np.array([c for c, _, _ in BIPOLAR_PAIRS])
    groups = {c: np.flatnonzero(chains == c) for c in ("LL", "LP", "RP", "RL", "C")}
    groups["L"] = np.concatenate([groups["LL"], groups["LP"]])
    groups["R"] = np.concatenate([groups["RP"], groups["RL"]])
    groups["all"] = np.arange(len(BIPOLAR_PAIRS))
    return groups


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
    """

    eeg: np.ndarray
    fs: float = FS
    span: str = "50s"
    spectrogram: np.ndarray | None = None
    quality: dict = field(default_factory=dict)
    psd_override: tuple | None = None

    def __post_init__(self):
        if self.eeg.ndim != 3 or self.eeg.shape[1] != len(EEG_COLUMNS):
            raise ValueError(
                f"FeatureContext: eeg must have shape (n_windows, {len(EEG_COLUMNS)}, n_samples), "
                f"got {self.eeg.shape}"
            )

    @property
    def n(self) -> int:
        """Number of windows."""
        return self.eeg.shape[0]

    @cached_property
    def bipolar(self) -> np.ndarray:
        """Double-banana derivations, shape (n_windows, 18, n_samples), µV."""
        return bipolar(self.eeg)

    @property
    def ekg(self) -> np.ndarray:
        """EKG channel, shape (n_windows, n_samples), µV."""
        return self.eeg[:, -1, :]

    @cached_property
    def psd(self) -> tuple[np.ndarray, np.ndarray]:
        """Welch PSD of the bipolar derivations: ``(freqs (f,) Hz, psd (n, 18, f) µV²/Hz)``.

        Computed once per context with :func:`welch_psd`, or taken from ``psd_override`` when the
        caller already has it (e.g. averaged from per-recording segment spectra).
        """
        if self.psd_override is not None:
            return self.psd_override
        return welch_psd(self.bipolar, self.fs)


@dataclass(frozen=True)
class Family:
    """A registered feature family."""

    name: str
    compute: Callable[[FeatureContext], dict]
    spans: tuple[str, ...]
    needs_spectrogram: bool = False
    fast: bool = True


#: name -> :class:`Family`, in registration order (which fixes the column order).
FAMILIES: dict[str, Family] = {}


def register(name: str, *, spans=("50s", "10s"), needs_spectrogram=False, fast=True):
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
    """

    def deco(fn):
        if name in FAMILIES:
            raise ValueError(f"feature family {name!r} registered twice")
        FAMILIES[name] = Family(name, fn, tuple(spans), needs_spectrogram, fast)
        return fn

    return deco
