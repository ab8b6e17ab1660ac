"""Cutting fixed-length windows out of a recording: the one place that does it.

:func:`cut_windows` is used by :meth:`hms_features.data.HMSDataset.eeg_windows` (label windows of
the Kaggle layout), by :func:`hms_features.build.build_features` (label windows of a recording
preprocessed once) and by :func:`hms_features.recording.sliding_windows` (a window every few
seconds along a whole recording). A recording is ``(channels, samples)`` and the windows come out
``(windows, channels, samples)`` float32, the library's layout (see ARCHITECTURE.md at the root
of the repository).

Rules, the same for every caller: a window starting at ``t`` seconds covers the samples
``[round(t * fs), round(t * fs) + round(window_s * fs))`` (round half to even); a window that
reaches outside the recording is an error unless ``pad=True``, which fills the missing samples
with NaN (preprocessing repairs and flags them).
"""

from __future__ import annotations

import numpy as np

from .validation import check_eeg

__all__ = ["cut_windows", "window_samples", "WindowError"]


class WindowError(ValueError):
    """A window reaches outside its recording (and padding was not asked for).

    Attributes
    ----------
    window : int
        Position of the window in the ``starts_s`` given.
    start_s, stop_s, length_s : float
        The window's bounds and the recording's length, seconds.
    where : str
        ``"past the end"`` or ``"before the start"``.
    """

    def __init__(self, window: int, start_s: float, stop_s: float, length_s: float):
        self.window, self.start_s, self.stop_s, self.length_s = window, start_s, stop_s, length_s
        self.where = "before the start" if start_s < 0 else "past the end"
        super().__init__(
            f"cut_windows: window {window} [{start_s:g} s, {stop_s:g} s) runs {self.where} of "
            f"the recording ({length_s:g} s); pass pad=True to pad with NaN")


def window_samples(starts_s, window_s: float, fs: float) -> tuple[np.ndarray, int]:
    """Sample index of each window start and the window length in samples.

    Parameters
    ----------
    starts_s : array-like of float, shape (n_windows,)
        Window starts, seconds from the first sample of the recording.
    window_s : float
        Window length, seconds.
    fs : float
        Sampling rate, Hz.

    Returns
    -------
    starts : ndarray of int64, shape (n_windows,)
        ``round(starts_s * fs)``, round half to even.
    n_win : int
        ``round(window_s * fs)`` samples.
    """
    starts_s = np.asarray(starts_s, dtype=np.float64).reshape(-1)
    if not np.isfinite(starts_s).all():
        raise ValueError(f"cut_windows: window starts must be finite seconds, got {starts_s}")
    if len(starts_s) and np.abs(starts_s).max() * fs >= 2.0**53:
        raise ValueError(f"cut_windows: window start {np.abs(starts_s).max():g} s is beyond any "
                         f"recording (2**53 samples at {fs:g} Hz)")
    n_win = int(round(window_s * fs))
    if n_win < 1:
        raise ValueError(f"cut_windows: window_s={window_s!r} s at fs={fs!r} Hz is less than "
                         "one sample")
    return np.rint(starts_s * fs).astype(np.int64), n_win


def cut_windows(recording, starts_s, window_s: float, fs: float, *,
                pad: bool = False) -> np.ndarray:
    """Cut windows of ``window_s`` seconds starting at ``starts_s`` out of one recording.

    Parameters
    ----------
    recording : array, shape (n_channels, n_samples)
        One recording, µV, library layout (channels first, see ARCHITECTURE.md).
    starts_s : array-like of float, shape (n_windows,)
        Window starts, seconds from the first sample.
    window_s : float
        Window length, seconds.
    fs : float
        Sampling rate, Hz.
    pad : bool
        If a window reaches before the first or past the last sample, fill the missing samples
        with NaN instead of raising.

    Returns
    -------
    ndarray of float32, shape (n_windows, n_channels, round(window_s * fs))
        When every window lies inside the recording and the starts are evenly spaced (one window,
        or a constant positive step) a **read-only view** into ``recording`` (no copy for float32
        input); otherwise a new array. Copy it before writing.

    Raises
    ------
    WindowError
        If a window reaches outside the recording and ``pad`` is False (a ``ValueError``; the
        message and the attributes give the window's number, its bounds and the recording's
        length in seconds).
    """
    rec = check_eeg(recording, name="recording", caller="cut_windows", layout="recording",
                    n_channels=None, fs=fs, order=None, allow_empty=True)
    starts, n_win = window_samples(starts_s, window_s, fs)
    n_ch, n = rec.shape
    if len(starts) == 0:
        return np.empty((0, n_ch, n_win), np.float32)
    outside = (starts < 0) | (starts + n_win > n)
    if outside.any() and not pad:
        i = int(np.flatnonzero(outside)[0])
        raise WindowError(i, starts[i] / fs, (starts[i] + n_win) / fs, n / fs)
    if not outside.any():
        return _view(rec, starts, n_win)
    out = np.full((len(starts), n_ch, n_win), np.nan, np.float32)
    inside = ~outside
    if inside.any():
        out[inside] = _view(rec, starts[inside], n_win)
    for i in np.flatnonzero(outside):
        a, b = int(starts[i]), int(starts[i]) + n_win
        lo, hi = max(a, 0), min(b, n)
        if lo < hi:
            out[i, :, lo - a:hi - a] = rec[:, lo:hi]
    return out


def _view(rec: np.ndarray, starts: np.ndarray, n_win: int) -> np.ndarray:
    """Windows at ``starts`` (all inside ``rec``): a strided view if evenly spaced."""
    view = np.lib.stride_tricks.sliding_window_view(rec, n_win, axis=1)  # (c, positions, n_win)
    step = np.diff(starts)
    if len(starts) == 1 or (step[0] > 0 and (step == step[0]).all()):
        s0 = int(starts[0])
        d = 1 if len(starts) == 1 else int(step[0])
        picked = view[:, s0:s0 + d * (len(starts) - 1) + 1:d]
    else:
        picked = view[:, starts]
    return picked.transpose(1, 0, 2)
