"""Input validation of EEG arrays, in the style of :func:`sklearn.utils.check_array`.

One function, :func:`check_eeg`, checks every EEG array that enters a public function of the
library, with one set of messages: each names the function and the argument, the expected and
the actual shape or dtype. Array conventions (``(windows, channels, samples)`` float32 µV inside
the library) are described in ARCHITECTURE.md at the root of the repository.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

__all__ = ["check_eeg", "check_fs", "check_spectrogram", "values_checked", "LAYOUTS", "F32_MAX"]

#: Largest magnitude a sample may have, µV: the library computes in float32, so anything larger
#: (``1e308`` in a float64 array, ``inf``) cannot be represented and is refused.
F32_MAX = float(np.finfo(np.float32).max)

#: Accepted ``layout`` values of :func:`check_eeg` and the shape each one describes.
LAYOUTS = {
    "windows": "(n_windows, {c}, n_samples)",
    "recording": "({c}, n_samples)",
    "any": "(..., {c}, n_samples)",
}


#: True inside :func:`values_checked` (per thread / task: a ContextVar).
_VALUES_CHECKED = ContextVar("hms_features_values_checked", default=False)


@contextmanager
def values_checked():
    """Within this block, :func:`check_eeg` does not scan the samples' values again.

    The same holds for :func:`check_spectrogram`. A public entry point checks its input's
    values once (no infinite sample, none beyond the float32 range: a full pass over the data),
    then runs its internal steps inside this block:
    the arrays those steps hand to each other (windows, their derivations, a span of them) are
    made of the checked samples, and checking them again cost a pass each (about 0.3 ms per
    50 s window in ``build_features``). Shapes, channel counts and dtypes are still checked.
    """
    token = _VALUES_CHECKED.set(True)
    try:
        yield
    finally:
        _VALUES_CHECKED.reset(token)


def check_eeg(eeg, *, name: str = "eeg", caller: str | None = None, layout: str = "windows",
              n_channels: int | None = 20, fs: float | None = None, dtype=np.float32,
              order: str | None = "C", allow_nan: bool = True,
              add_window_axis: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Check an EEG array and return it in the library's layout.

    Parameters
    ----------
    eeg : array-like
        EEG in µV, channels on axis -2 and samples on the last axis.
    name : str
        The argument's name, used in messages.
    caller : str, optional
        The public function being called, used as the message prefix.
    layout : {"windows", "recording", "any"}
        ``"windows"``: ``(n_windows, n_channels, n_samples)``; ``"recording"``: one recording
        ``(n_channels, n_samples)``; ``"any"``: ``(..., n_channels, n_samples)`` with at least
        two axes.
    n_channels : int, optional
        Required size of the channel axis (20: ``EEG_COLUMNS`` order, EKG last); None accepts
        any.
    fs : float, optional
        Sampling rate, Hz; when given it must be a positive finite number (:func:`check_fs`).
    dtype : numpy dtype or None
        Dtype of the result (default float32, the library's dtype); None keeps the input's real
        numeric dtype (integers included).
    order : {"C", None}
        ``"C"`` returns a C-contiguous array (a copy only when needed); None keeps the input's
        memory layout (a view when nothing else changes).
    allow_nan : bool
        If False, reject NaN and infinite samples.
    add_window_axis : bool
        With ``layout="windows"``, accept one ``(n_channels, n_samples)`` window and return it as
        ``(1, n_channels, n_samples)``.
    allow_empty : bool
        Accept zero samples (an empty recording file, which a caller pads).

    Returns
    -------
    ndarray
        The checked array, shape as described by ``layout``.

    Raises
    ------
    ValueError
        On a wrong number of axes or channels, zero samples, a non-finite ``fs``, an infinite
        sample or one beyond the float32 range (always: NaN is a missing sample, infinity is
        not), NaN when ``allow_nan`` is False.
    TypeError
        On a boolean, complex, object or string dtype.
    """
    where = f"{caller}: " if caller else ""
    if layout not in LAYOUTS:
        raise ValueError(f"check_eeg: layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    expected = LAYOUTS[layout].format(c=n_channels if n_channels is not None else "n_channels")
    if fs is not None:
        check_fs(fs, caller)
    arr = np.asarray(eeg)
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(
            kind, str(arr.dtype))
        raise TypeError(f"{where}{name} must hold real numbers (µV), got {what} dtype "
                        f"{arr.dtype} with shape {arr.shape}")
    if add_window_axis and layout == "windows" and arr.ndim == 2:
        arr = arr[None]
    ndim_ok = {"windows": arr.ndim == 3, "recording": arr.ndim == 2, "any": arr.ndim >= 2}[layout]
    if not ndim_ok:
        raise ValueError(f"{where}{name} must have shape {expected}, got shape {arr.shape} "
                         f"({arr.ndim} axes)")
    if n_channels is not None and arr.shape[-2] != n_channels:
        raise ValueError(f"{where}{name} must have shape {expected}, got shape {arr.shape} "
                         f"({arr.shape[-2]} channels on axis -2, expected {n_channels} channels)")
    if arr.shape[-1] == 0 and not allow_empty:
        raise ValueError(f"{where}{name} has no samples: expected shape {expected} with "
                         f"n_samples >= 1, got shape {arr.shape}")
    _check_range(arr, where, name)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if order == "C":
        arr = np.ascontiguousarray(arr)
    elif order is not None:
        raise ValueError(f"check_eeg: order must be 'C' or None, got {order!r}")
    if not allow_nan and not np.isfinite(arr).all():
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{where}{name} holds {n_bad} NaN or infinite sample(s) of "
                         f"{arr.size}; expected finite values")
    return arr


def _check_range(arr: np.ndarray, where: str, name: str) -> None:
    """Refuse infinite samples and samples beyond the float32 range (NaN passes); skipped
    inside :func:`values_checked`."""
    if arr.dtype.kind != "f" or arr.size == 0 or _VALUES_CHECKED.get():
        return
    with np.errstate(invalid="ignore"):
        big = np.isinf(arr) if arr.dtype == np.float32 else np.abs(arr) > F32_MAX
    if big.any():
        i = np.unravel_index(int(np.argmax(big)), arr.shape)
        raise ValueError(f"{where}{name} holds {int(big.sum())} infinite value(s) or value(s) "
                         f"beyond the float32 range (|x| > {F32_MAX:.3g}), e.g. {float(arr[i]):g} "
                         f"at index {tuple(int(k) for k in i)}")


def check_fs(fs, caller: str | None = None) -> float:
    """Check a sampling rate: a real, finite, positive number of Hz (not a bool or a string).

    Returns
    -------
    float
    """
    where = f"{caller}: " if caller else ""
    ok = (isinstance(fs, (int, float, np.integer, np.floating))
          and not isinstance(fs, (bool, np.bool_)) and np.isfinite(fs) and fs > 0)
    if not ok:
        raise ValueError(f"{where}fs must be a positive sampling rate in Hz, got {fs!r}")
    return float(fs)


def check_spectrogram(spec, n_windows: int, caller: str | None = None) -> np.ndarray:
    """Check Kaggle spectrogram windows ``(n_windows, n_rows, 400)``: real numbers, NaN allowed.

    Returns
    -------
    ndarray of float32

    Raises
    ------
    ValueError, TypeError
        A wrong shape, a non-real dtype (bool, complex, string, object), an infinite value or
        one beyond the float32 range.
    """
    where = f"{caller}: " if caller else ""
    arr = np.asarray(spec)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{where}spectrogram must hold real numbers, got dtype {arr.dtype} with "
                        f"shape {arr.shape}")
    if arr.ndim != 3 or arr.shape[0] != n_windows or arr.shape[2] != 400 or arr.shape[1] == 0:
        raise ValueError(f"{where}spectrogram must have shape ({n_windows}, n_rows, 400), got "
                         f"{arr.shape}")
    _check_range(arr, where, "spectrogram")
    return arr.astype(np.float32, copy=False)
