"""How fast this host is right now: a fixed workload, timed the same way in every benchmark.

The machine is shared and is not always the same machine: the same code has measured up to
1.45x slower from one session to the next, and up to 2x faster on another day's host, so an
absolute figure (windows/s, hours of EEG per CPU-minute) means little without saying how fast
the host was. :func:`host_probe` times a workload that does
not depend on this library's code (so a faster library does not move it): scipy's zero-phase
Butterworth filter and numpy's real FFT and matrix product on one fixed 50 s, 20-channel,
200 Hz float64 array (seed 0). Each benchmark prints it at its start and end. It tells a fast
host from a slow one, but does not convert one host's figures into another's: from 2026-12-01
to 2026-12-02 the probe fell 1.4-1.5x and the library's CPU per window 1.8-2.0x (hosts differ
in more than speed, e.g. AVX-512). Compare absolute figures only between runs with close probes;
ratios of interleaved runs are what carry across hosts.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np


def host_probe(repeats: int = 31) -> float:
    """Median CPU time of the fixed workload, ms (lower: faster host).

    One thread for BLAS and the FFT (threadpoolctl), so the figure is one core's speed.
    """
    import scipy.signal as sps
    from threadpoolctl import threadpool_limits

    x = np.random.default_rng(0).standard_normal((20, 10_000))
    sos = sps.butter(4, [0.5, 40.0], btype="bandpass", fs=200.0, output="sos")
    times = []
    with threadpool_limits(1):
        for i in range(repeats + 3):  # 3 warm-up runs, not counted
            c0 = time.process_time()
            y = sps.sosfiltfilt(sos, x, axis=-1)
            np.fft.rfft(y, axis=-1)
            y @ y.T
            if i >= 3:
                times.append(time.process_time() - c0)
    return statistics.median(times) * 1e3


#: What the probe is, for a results file (said once; :func:`host_line` gives each reading).
PROBE_TEXT = ("the host probe (`benchmarks/_host.py`) is the median CPU time of a fixed workload "
              "that does not use this library (scipy `sosfiltfilt`, numpy `rfft` and a matrix "
              "product on one 20 x 10,000 float64 array, one thread): lower is a faster host, "
              "which tells a fast host from a slow one but does not convert one host's figures "
              "into another's (hosts differ in more than speed): compare absolute figures only "
              "between runs with close probes")


def host_line(probe_ms: float) -> str:
    """One probe reading with the load average, for a results file."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"host probe {probe_ms:.1f} ms (load average {load})"


if __name__ == "__main__":
    print(host_line(host_probe()) + "; " + PROBE_TEXT)
