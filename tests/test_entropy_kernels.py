"""Sample entropy's value-order pair count against the time-lag count (and antropy).

:func:`hms_features.features.entropy._sampen_counts_sorted` visits template pairs in value
order and stops early; it must count exactly the pairs the time-lag loop counts, on every kind
of signal: ties (quantised values), flat, NaN / inf, spikes that inflate the tolerance, short.
"""

import numpy as np
import pytest

from hms_features.features import entropy


def _signals(n, rng):
    noise = rng.standard_normal((12, n))
    ties = np.round(rng.standard_normal((12, n)) * 2)
    walk = np.cumsum(rng.standard_normal((12, n)), axis=1)
    spikes = rng.standard_normal((12, n)) * 0.01
    spikes[:, ::7] += 50.0  # a wide tolerance: most pairs of the bulk match
    odd = rng.standard_normal((4, n))
    odd[0] = 0.0
    odd[1] = 3.0
    odd[2, ::3] = np.nan
    odd[3, n // 2] = np.inf
    return np.concatenate([noise, ties, walk, spikes, odd]).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 60, 500])
@pytest.mark.parametrize("order", [2, 3])
def test_value_order_counts_equal_time_lag_counts(n, order):
    x = _signals(n, np.random.default_rng(n + 10 * order))
    with np.errstate(invalid="ignore"):
        tol = (0.2 * x.std(axis=1, dtype=np.float64)).astype(np.float32)
        lagged = entropy._sampen_counts_lagged(np.ascontiguousarray(x.T), tol, order)
        ranked = entropy._sampen_counts_sorted(x, tol, order)
    np.testing.assert_array_equal(ranked[0], lagged[0])
    np.testing.assert_array_equal(ranked[1], lagged[1])
    if n == 500:  # the counts do something: noise matches some pairs, not all
        assert 0 < lagged[1][0] < n * n / 2


def test_value_order_counts_survive_compaction_and_flushes():
    # > 255 steps with live signals (uint8 counters flushed) and widths from 2 to ~N
    rng = np.random.default_rng(3)
    n = 700
    scale = np.geomspace(0.001, 1.0, 40)[:, None]
    x = (rng.standard_normal((40, n)) * scale).astype(np.float32)
    x[:20, ::9] += 30.0  # tolerance inflated by the spikes: the bulk all within tol
    tol = (0.2 * x.std(axis=1, dtype=np.float64)).astype(np.float32)
    lagged = entropy._sampen_counts_lagged(np.ascontiguousarray(x.T), tol, 2)
    ranked = entropy._sampen_counts_sorted(x, tol, 2)
    np.testing.assert_array_equal(ranked[0], lagged[0])
    np.testing.assert_array_equal(ranked[1], lagged[1])


def test_sample_entropy_order_one_uses_the_time_lag_count():
    ant = pytest.importorskip("antropy")
    x = np.random.default_rng(5).standard_normal((3, 300)).astype(np.float32)
    ref = [ant.sample_entropy(row.astype(np.float64), order=1) for row in x]
    np.testing.assert_allclose(entropy.sample_entropy(x, order=1), ref, rtol=1e-6)
