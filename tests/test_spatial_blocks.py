"""correlation_matrix works in blocks of windows and the group synchrony skips the eigenvalues:
neither may change a value."""

import numpy as np

from hms_features.features import spatial


def test_correlation_matrix_blocks_equal_one_window_at_a_time_and_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 18, 1000)).astype(np.float32)
    x[:, 1] += x[:, 0]  # some correlation
    corr = spatial.correlation_matrix(x)
    single = np.concatenate([spatial.correlation_matrix(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(corr, single)
    np.testing.assert_allclose(corr[3], np.corrcoef(x[3].astype(np.float64)), atol=1e-6)


def test_mean_abs_offdiag_is_synchrony_mean_abs():
    x = np.random.default_rng(2).standard_normal((4, 8, 500))
    corr = spatial.correlation_matrix(x)
    np.testing.assert_array_equal(spatial._mean_abs_offdiag(corr), spatial.synchrony(corr)[0])
