"""spectrogram_features works in blocks of windows: the blocks must not change any value, with
or without missing (NaN) rows, bins or whole windows."""

import numpy as np

from hms_features.features import spectrogram


def test_spectrogram_blocks_equal_one_window_at_a_time_and_numpy():
    rng = np.random.default_rng(6)
    spec = rng.lognormal(2.0, 1.0, (7, 300, 400)).astype(np.float32)
    assert len(spec) > spectrogram.SPEC_WINDOWS_BLOCK  # several blocks, a partial one
    spec[1, 10:40] = np.nan
    spec[2, :, 7] = np.nan
    spec[3] = np.nan
    spec[4, 0, 0] = np.inf
    out = spectrogram.spectrogram_features(spec)
    single = [spectrogram.spectrogram_features(spec[i:i + 1]) for i in range(len(spec))]
    assert all(list(s) == list(out) for s in single)
    for name, values in out.items():
        np.testing.assert_array_equal(values, np.concatenate([s[name] for s in single]))
    # bin 0 of LL over the 600 s: numpy's NaN-aware mean of ln(1 + p)
    ref = np.nanmean(np.log1p(spec[1, :, 0].astype(np.float64)))
    np.testing.assert_allclose(out[spectrogram_name(0)][1], ref, rtol=1e-5)
    assert out["spectrogram_nanfrac_all_600s"][3] == 1.0


def spectrogram_name(k):
    return [n for n in spectrogram.spectrogram_features(np.ones((1, 300, 400)))
            if n.startswith("spectrogram_mean_")][k]
