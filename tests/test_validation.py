"""check_eeg: one validation of EEG arrays, one set of messages; cut_windows: one way to cut."""

from __future__ import annotations

import numpy as np
import pytest

from hms_features.signal import bipolar, preprocess
from hms_features.validation import check_eeg
from hms_features.windows import WindowError, cut_windows


def test_check_eeg_returns_float32_c_contiguous_windows():
    x = np.arange(2 * 20 * 6, dtype=np.float64).reshape(2, 6, 20).transpose(0, 2, 1)  # F-ish
    out = check_eeg(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (2, 20, 6)
    np.testing.assert_array_equal(out, x.astype(np.float32))
    ints = check_eeg(np.ones((1, 20, 3), np.int16))
    assert ints.dtype == np.float32
    kept = check_eeg(x, dtype=None, order=None)
    assert kept is x  # nothing to change: the very same array
    one = check_eeg(np.zeros((20, 5)), add_window_axis=True)
    assert one.shape == (1, 20, 5)
    rec = check_eeg(np.zeros((7, 5)), layout="recording", n_channels=None)
    assert rec.shape == (7, 5)
    assert check_eeg(np.zeros((2, 3, 20, 5)), layout="any").shape == (2, 3, 20, 5)
    assert check_eeg(np.zeros((0, 20, 5))).shape == (0, 20, 5)  # no windows is fine


@pytest.mark.parametrize(
    "kwargs, arr, error, message",
    [
        ({}, np.zeros((20, 100)), ValueError,
         r"^f: eeg must have shape \(n_windows, 20, n_samples\), got shape \(20, 100\) "
         r"\(2 axes\)$"),
        ({}, np.zeros((2, 19, 100)), ValueError,
         r"^f: eeg must have shape \(n_windows, 20, n_samples\), got shape \(2, 19, 100\) "
         r"\(19 channels on axis -2, expected 20 channels\)$"),
        ({"layout": "recording"}, np.zeros((1, 20, 100)), ValueError,
         r"^f: eeg must have shape \(20, n_samples\), got shape \(1, 20, 100\) \(3 axes\)$"),
        ({"layout": "any"}, np.zeros(100), ValueError,
         r"^f: eeg must have shape \(\.\.\., 20, n_samples\), got shape \(100,\) \(1 axes\)$"),
        ({"name": "windows"}, np.zeros((2, 20, 0)), ValueError,
         r"^f: windows has no samples: expected shape \(n_windows, 20, n_samples\) with "
         r"n_samples >= 1, got shape \(2, 20, 0\)$"),
        ({}, np.zeros((1, 20, 4), bool), TypeError,
         r"^f: eeg must hold real numbers \(µV\), got boolean dtype bool with shape \(1, 20, 4\)$"),
        ({}, np.zeros((1, 20, 4), complex), TypeError,
         r"^f: eeg must hold real numbers \(µV\), got complex dtype complex128"),
        ({}, np.zeros((1, 20, 4), object), TypeError, r"got object dtype object"),
        ({}, np.full((1, 20, 4), "a"), TypeError, r"got string dtype <U1"),
        ({"allow_nan": False}, np.full((1, 20, 4), np.nan), ValueError,
         r"^f: eeg holds 80 NaN or infinite sample\(s\) of 80; expected finite values$"),
        ({"fs": 0.0}, np.zeros((1, 20, 4)), ValueError,
         r"^f: fs must be a positive sampling rate in Hz, got 0\.0$"),
        ({"fs": float("nan")}, np.zeros((1, 20, 4)), ValueError, r"fs must be a positive"),
    ],
)
def test_check_eeg_rejects_bad_input_with_one_message(kwargs, arr, error, message):
    with pytest.raises(error, match=message):
        check_eeg(arr, caller="f", **kwargs)


def test_library_functions_use_check_eeg_messages():
    with pytest.raises(ValueError, match=r"preprocess: eeg must have shape .*19 channels"):
        preprocess(np.zeros((1, 19, 400), np.float32))
    with pytest.raises(TypeError, match=r"bipolar: eeg must hold real numbers"):
        bipolar(np.zeros((20, 4), bool))
    with pytest.raises(ValueError, match=r"preprocess: eeg has no samples"):
        preprocess(np.zeros((1, 20, 0), np.float32))


def test_cut_windows_matches_slicing_and_views_evenly_spaced_starts():
    rng = np.random.default_rng(0)
    rec = rng.standard_normal((3, 1000)).astype(np.float32)
    w = cut_windows(rec, [0.0, 0.5, 1.0], window_s=2.0, fs=100.0)
    assert w.shape == (3, 3, 200) and np.shares_memory(w, rec) and not w.flags.writeable
    for k, a in enumerate([0, 50, 100]):
        np.testing.assert_array_equal(w[k], rec[:, a:a + 200])
    irregular = cut_windows(rec, [3.0, 0.1, 0.13], window_s=2.0, fs=100.0)
    for k, a in enumerate([300, 10, 13]):
        np.testing.assert_array_equal(irregular[k], rec[:, a:a + 200])
    # round half to even, as np.rint: 0.125 s * 100 Hz = 12.5 -> 12
    np.testing.assert_array_equal(cut_windows(rec, [0.125], 1.0, 100.0)[0], rec[:, 12:112])
    assert cut_windows(rec, [], 1.0, 100.0).shape == (0, 3, 100)


def test_cut_windows_pads_with_nan_or_names_the_window():
    rec = np.ones((2, 500), np.float32)
    with pytest.raises(WindowError, match=r"window 1 \[4 s, 6 s\) runs past the end of the "
                                          r"recording \(5 s\); pass pad=True"):
        cut_windows(rec, [0.0, 4.0], window_s=2.0, fs=100.0)
    with pytest.raises(WindowError, match=r"window 0 \[-1 s, 1 s\) runs before the start"):
        cut_windows(rec, [-1.0], window_s=2.0, fs=100.0)
    w = cut_windows(rec, [-1.0, 0.0, 4.0, 9.0], window_s=2.0, fs=100.0, pad=True)
    assert np.isnan(w[0, :, :100]).all() and (w[0, :, 100:] == 1).all()
    assert (w[1] == 1).all()
    assert (w[2, :, :100] == 1).all() and np.isnan(w[2, :, 100:]).all()
    assert np.isnan(w[3]).all()
    empty = cut_windows(np.zeros((2, 0), np.float32), [0.0], 1.0, 100.0, pad=True)
    assert empty.shape == (1, 2, 100) and np.isnan(empty).all()


def test_values_checked_skips_only_the_value_scan_and_only_inside():
    from hms_features.features.registry import compute_features
    from hms_features.validation import values_checked

    bad = np.zeros((1, 20, 400), np.float32)
    bad[0, 3, 7] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        check_eeg(bad, caller="t")
    with values_checked():
        assert check_eeg(bad, caller="t") is not None  # the caller vouches for the values
        with pytest.raises(ValueError, match="channels"):  # shapes are still checked
            check_eeg(bad[:, :19], caller="t")
    with pytest.raises(RuntimeError), values_checked():
        raise RuntimeError("left by an exception")
    with pytest.raises(ValueError, match="infinite"):  # reset on every exit
        check_eeg(bad, caller="t")
    # a public entry point still checks its own input, whatever it does inside
    with pytest.raises(ValueError, match="compute_features: eeg holds 1 infinite"):
        compute_features(bad, 200.0, feature_set=["temporal"])
