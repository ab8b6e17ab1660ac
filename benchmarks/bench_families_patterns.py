"""Throughput of the pattern feature families (periodicity, spatial, evolution, spectrogram, ekg).

200 synthetic windows x 20 channels x 10,000 samples (50 s at 200 Hz) plus 200 spectrogram
windows (300 x 400, 2 % NaN), processed in chunks of 16 windows on one core (BLAS limited to one
thread), as one worker of ``build_features`` would. Each family is timed on its registered spans;
the shared context work (bipolar montage, Welch PSD) is timed separately because the registry
pays it once for all families. Median of 3 runs after a warm-up.

Run: ``python benchmarks/bench_families_patterns.py [--windows 200] [--chunk 16]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from hms_features.features import ekg, evolution, periodicity, spatial, spectrogram  # noqa: F401
from hms_features.features.base import FAMILIES, FeatureContext

FS = 200.0
NAMES = ("periodicity", "spatial", "evolution", "spectrogram", "ekg")


def synthetic(n_windows: int, n_samples: int, seed: int = 0):
    """EEG-like windows (1/f background, a rhythm, spikes, an EKG) and spectrogram windows."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / FS
    eeg = np.cumsum(rng.standard_normal((n_windows, 20, n_samples), dtype=np.float32), axis=-1)
    eeg -= eeg.mean(axis=-1, keepdims=True)
    eeg += 20 * rng.standard_normal((n_windows, 20, n_samples), dtype=np.float32)
    eeg[:, :8] += (40 * np.sin(2 * np.pi * 2.0 * t)).astype(np.float32)
    eeg[:, 3, ::300] += 300
    beats = (np.arange(n_samples) % 160 == 0).astype(np.float32)
    eeg[:, 19] = np.convolve(beats, 800 * np.hanning(9), mode="same").astype(np.float32)
    spec = rng.gamma(2.0, 20.0, size=(n_windows, 300, 400)).astype(np.float32)
    spec[rng.random(spec.shape) < 0.02] = np.nan
    return eeg, spec


def contexts(eeg, spec, chunk, span):
    out = []
    for i in range(0, len(eeg), chunk):
        x = eeg[i:i + chunk]
        if span == "10s":
            mid = x.shape[-1] // 2
            x = x[..., mid - 1000:mid + 1000]
        ctx = FeatureContext(x, fs=FS, span=span, spectrogram=spec[i:i + chunk])
        out.append(ctx)
    return out


def prepare(ctx):
    """Compute the context's shared, cached intermediates (bipolar montage and Welch PSD)."""
    return ctx.bipolar.shape, ctx.psd[1].shape


def time_it(fn, repeats=3):
    """Median wall-clock and CPU seconds of ``fn()`` (CPU time is robust to a busy machine)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=16)
    args = ap.parse_args(argv)
    eeg, spec = synthetic(args.windows, args.samples)
    n = args.windows

    def shared():
        for span in ("50s", "10s"):
            for ctx in contexts(eeg, spec, args.chunk, span):
                prepare(ctx)

    rows = []
    with threadpool_limits(1):
        rows.append(("shared: bipolar + Welch PSD (50s, 10s)", time_it(shared)))
        total = (0.0, 0.0)
        for name in NAMES:
            fam = FAMILIES[name]
            spans = fam.spans or ("50s",)
            per_span = [contexts(eeg, spec, args.chunk, span) for span in spans]
            ready = [c for ctxs in per_span for c in ctxs]
            for ctx in ready:  # shared work done beforehand, as in the registry
                prepare(ctx)
            n_feat = sum(len(fam.compute(ctxs[0])) for ctxs in per_span)
            sec = time_it(lambda ready=ready, fam=fam: [fam.compute(c) for c in ready])
            total = (total[0] + sec[0], total[1] + sec[1])
            rows.append((f"{name} ({'+'.join(spans)}, {n_feat} features)", sec))
        rows.append(("all five families", total))
    print(f"{n} windows x 20 x {args.samples} samples, chunks of {args.chunk}, 1 core "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{'family':<48} {'windows/s':>10} {'ms/window':>10} {'CPU windows/s':>14} "
          f"{'CPU ms/window':>14}")
    for label, (wall, cpu) in rows:
        print(f"{label:<48} {n / wall:>10.0f} {wall / n * 1e3:>10.2f} {n / cpu:>14.0f} "
              f"{cpu / n * 1e3:>14.2f}")


if __name__ == "__main__":
    main()
