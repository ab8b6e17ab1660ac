"""qrs_leakage works in blocks of windows: the blocks must not change any value."""

import numpy as np

from hms_features.features import ekg


def test_qrs_leakage_blocks_equal_one_window_at_a_time_and_numpy():
    rng = np.random.default_rng(4)
    n, c, t = 5, 18, 6000
    assert n > ekg.LEAK_WINDOWS  # several blocks, a partial one
    beats = np.zeros((n, t), np.float32)
    beats[:, 50::150] = 800.0
    ekg_trace = (rng.standard_normal((n, t)) * 5 + beats).astype(np.float32)
    eeg = (rng.standard_normal((n, c, t)) * 20).astype(np.float32)
    eeg[:, :6] += 0.5 * beats[:, None]  # leakage into six derivations
    peaks = ekg.detect_r_peaks(ekg_trace, 200.0)
    corr, ratio = ekg.qrs_leakage(eeg, ekg_trace, peaks, 200.0)
    single = [ekg.qrs_leakage(eeg[i:i + 1], ekg_trace[i:i + 1], peaks[i:i + 1], 200.0)
              for i in range(n)]
    np.testing.assert_array_equal(corr, np.concatenate([s[0] for s in single]))
    np.testing.assert_array_equal(ratio, np.concatenate([s[1] for s in single]))
    ref = abs(np.corrcoef(eeg[2, 0].astype(np.float64), ekg_trace[2].astype(np.float64))[0, 1])
    np.testing.assert_allclose(corr[2, 0], ref, rtol=1e-5)
    assert ratio[:, :6].min() > 1.5 and abs(ratio[:, 6:].mean() - 1.0) < 0.1
