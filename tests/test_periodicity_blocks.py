"""band_envelope works in blocks of signals: the blocks must not change any value."""

import numpy as np

from hms_features.features import periodicity


def test_band_envelope_blocks_equal_one_signal_at_a_time():
    x = (np.random.default_rng(0).standard_normal((5, 18, 2000)) * 30).astype(np.float32)
    assert x.shape[0] * x.shape[1] > periodicity.ENVELOPE_ROWS  # several blocks, a partial one
    env = periodicity.band_envelope(x, 200.0)
    single = np.stack([[periodicity.band_envelope(ch, 200.0) for ch in w] for w in x])
    assert env.shape == (5, 18, 200) and env.dtype == np.float32
    np.testing.assert_array_equal(env, single)
