"""Feature-engine benchmark: throughput, memory, and agreement with mne-features / antropy / scipy.

Run ``python benchmarks/bench_features.py`` (``--quick`` for a smoke run); writes
``benchmarks/results/features.md``. Needs the ``bench`` extra (``pip install mne-features yasa
psutil``).

Everything runs in one process on the same windows: real-looking EEG cut from a synthetic
dataset in the Kaggle layout (:func:`hms_features.synthetic.make_synthetic_hms`), preprocessed
once (0.5-40 Hz, 60 Hz notch), 18 bipolar derivations x 10,000 samples (50 s at 200 Hz).

Measures
--------
1. ``build_features`` windows/s for the default and fast sets with two workers and with one,
   interleaved, medians, on raw arrays (every window filtered and featurised on its own) and on
   the dataset path in both contexts
   (``context="window"``, the default: each label window cut from the raw recording and
   preprocessed alone, as a test file; ``context="recording"``: recordings filtered once, Welch
   spectra shared by the overlapping label windows), with the projected time for the
   106,800 windows of the real train.csv, and two workers over one; peak resident memory.
2. Where the time goes in one process: preprocessing, the shared derivations and spectra, each
   family on its own (shared work not counted twice), and the whole of ``compute_features``.
3. Overlapping subset vs ``mne_features.feature_extraction.extract_features`` (n_jobs=1) on the
   same float32 inputs with the same parameters (the template entropies on the 500-sample 50 Hz
   stretch the default set uses): speed ratio.
3b. Each measure against antropy / scipy called per window (per channel where they take 1-D
   input only), on the same float32 inputs: speed ratio.
3c. Higuchi FD against antropy at 500, 2,000 and 10,000 samples, and what importing antropy
   costs (its numba kernels compile when it is imported, in every worker process).
3d. Filtering one 50 s window (20 x 10,000 samples): MNE's two-stage design as scipy's
   ``sosfiltfilt`` runs it (the reference), the library's ``filter_eeg`` (the same stages in the
   frequency domain, end corrected), a stacked cascade, float32, and plain frequency-domain
   filtering, with the largest difference from the reference.

Every speed comparison runs both sides on the same dtype (float32) and the same inputs,
interleaved (A, B, B, A, ...) in one process, and reports medians of CPU time
(``time.process_time``, which other jobs on the machine inflate less than the wall clock) with
the load average printed: a ratio is only meaningful between runs made side by side.
4. Per overlapping measure, the largest difference from mne-features, antropy and scipy on the
   same data with the same parameters, as ``max |ours - ref| / max |ref|`` over all windows and
   derivations (scale-relative, so measures near 0 such as skewness do not blow up). Where a
   reference uses another convention it is converted when that is exact (ddof, Fisher/Pearson
   kurtosis, mobility in samples) and otherwise named in the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _host import PROBE_TEXT, host_line, host_probe

from hms_features.build import build_features
from hms_features.data import HMSDataset
from hms_features.features import entropy as E
from hms_features.features import spectral as S
from hms_features.features import temporal as T
from hms_features.features.base import welch_psd
from hms_features.features.registry import compute_features, feature_names, resolve_families
from hms_features.signal import FS, bipolar, preprocess
from hms_features.synthetic import make_synthetic_hms

OUT = Path(__file__).resolve().parent / "results" / "features.md"
REAL_TRAIN_ROWS = 106_800


def _ab(fns, reps=5):
    """Median CPU seconds of each callable in ``fns`` (dict), run interleaved: A, B, C, then
    C, B, A, ... so that a change in the machine's load falls on every side alike."""
    keys = list(fns)
    times = {k: [] for k in keys}
    for r in range(reps):
        for k in keys if r % 2 == 0 else keys[::-1]:
            t = time.process_time()
            fns[k]()
            times[k].append(time.process_time() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _load():
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def _maxrss_mb(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024.0


def _cpu(fn, repeat=2):
    """Best CPU seconds of this process (insensitive to other jobs sharing the cores)."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def _workers_cpu() -> float:
    """User + system CPU seconds of this process's child processes (the loky workers) so far."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


class _PeakMemory:
    """Peak resident memory of this process and of its child processes (the loky workers) between
    ``__enter__`` and ``__exit__``, from the kernel's own high-water marks (``VmHWM`` in
    ``/proc/<pid>/status``, reset on entry by writing 5 to ``/proc/<pid>/clear_refs``). Nothing
    samples while the builds run: the psutil thread this replaces (every 50 ms) took about 4 % of
    one core, competing with the two workers it measured. Linux only."""

    def __enter__(self):
        self.reset = all(_clear_peak(pid) for pid in _family())
        return self

    def __exit__(self, *exc):
        me = os.getpid()
        peaks = {pid: _peak_mib(pid) for pid in _family()}
        kids = [v for pid, v in peaks.items() if pid != me and v is not None]
        self.peak_main = peaks[me]
        self.peak_worker = max(kids, default=0.0)
        self.peak_total = self.peak_main + sum(kids)  # each at its own moment: an upper bound


def _family() -> list[int]:
    """This process's pid and its children's (recursive)."""
    import psutil

    me = psutil.Process()
    return [me.pid] + [c.pid for c in me.children(recursive=True)]


def _clear_peak(pid: int) -> bool:
    """Reset the process's peak resident memory to its current one (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mib(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM), MiB, or None if it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _rel(ours, ref):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-300))


def _block_mean(x, q=E.DECIMATE):
    """``x`` decimated by ``q`` with a block mean, as the library's 50 Hz entropy signal
    (``FeatureContext.decimated``): trailing samples that do not fill a block are dropped."""
    n = x.shape[-1] // q * q
    return x[..., :n].reshape(x.shape[:-1] + (-1, q)).mean(-1)


def _per_channel(fn, x, **kw):
    return np.array([[fn(ch, **kw) for ch in w] for w in x])


def _higuchi_section(emit, quick):
    """3c: Higuchi FD, ours against antropy's numba kernel, and the price of importing antropy."""
    import antropy as ant
    from threadpoolctl import threadpool_limits

    emit("## 3c. Higuchi FD against antropy (kmax 10)")
    emit()
    emit("The same float32 signals (8 windows x 18 derivations, a random walk plus noise) on both "
         "sides; antropy one channel per call (it takes 1-D input and converts to float64), ours "
         f"on the block. Medians of interleaved CPU times (load average at start {_load()}). The "
         "default set computes Higuchi on the central 10 s: 2,000 samples.")
    emit()
    emit("| samples | antropy ms / window | ours ms / window | antropy / ours | "
         "max abs. difference |")
    emit("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    ant.higuchi_fd(rng.standard_normal(64))
    for n in (500, 2000, 10000):
        x = (np.cumsum(rng.standard_normal((8, 18, n)), -1)
             + 5 * rng.standard_normal((8, 18, n))).astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            t = _ab({"ant": lambda x=x: [[ant.higuchi_fd(c) for c in w] for w in x],
                     "our": lambda x=x: E.higuchi_fd(x)}, 3 if quick else 9)
        diff = np.abs(E.higuchi_fd(x) - np.array([[ant.higuchi_fd(c) for c in w] for w in x]))
        emit(f"| {n:,} | {t['ant'] / 8 * 1e3:.2f} | {t['our'] / 8 * 1e3:.2f} | "
             f"{t['ant'] / t['our']:.2f} | {diff.max():.1e} |")
    code = ("import time, numpy, scipy.signal, sklearn; c = time.process_time(); import antropy; "
            "print(time.process_time() - c)")
    imp = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout) for _ in range(1 if quick else 3)]
    emit()
    emit(f"Importing antropy (numba, whose kernels compile at import) costs "
         f"{statistics.median(imp):.1f} CPU s per process (median of {len(imp)} fresh "
         f"interpreters, numpy / scipy / scikit-learn already loaded; load average {_load()}), "
         "paid once by the main process and by every feature worker.")
    emit()


def _filter_section(emit, eeg, quick):
    """3d: filtering one 50 s window: scipy's two passes per stage (the reference), the
    library's frequency-domain form of the same, and the cheaper options that change values."""
    from scipy import fft as sfft
    from scipy import signal as sps

    from hms_features.signal import filter_design, filter_eeg, repair_nan

    stages = filter_design(FS, 0.5, 40.0, 60.0, 4)
    sos = np.vstack([s for s, _ in stages])
    pad = max(p for _, p in stages)
    x, _, _ = repair_nan(eeg)
    x -= x.mean(axis=-1, keepdims=True)  # as preprocess hands it to filter_eeg
    n = x.shape[-1]
    freqs = np.fft.rfftfreq(sfft.next_fast_len(n + 2 * pad, real=True), 1 / FS)
    gain = np.abs(sps.sosfreqz(sos, worN=freqs, fs=FS)[1]) ** 2

    def stacked(w, dtype=np.float64):
        return sps.sosfiltfilt(sos.astype(dtype), w.astype(dtype), axis=-1, padtype="odd",
                               padlen=pad)

    def two_stage(w, dtype=np.float64):
        y = w.astype(dtype)
        for s, p in stages:
            y = sps.sosfiltfilt(s.astype(dtype), y, axis=-1, padtype="odd", padlen=p)
        return y

    def frequency_domain(w):
        ext = np.concatenate([2 * w[..., :1] - w[..., pad:0:-1], w,
                              2 * w[..., -1:] - w[..., -2:-pad - 2:-1]], axis=-1)
        y = sfft.irfft(sfft.rfft(ext, len(freqs) * 2 - 2, axis=-1) * gain,
                       len(freqs) * 2 - 2, axis=-1)
        return y[..., pad:pad + n]

    options = {"reference: MNE's band-pass then notch, scipy `sosfiltfilt` each (float64)":
               two_stage,
               "library (`filter_eeg`): the same two stages in the frequency domain, the ends "
               "corrected to sosfiltfilt's initial states (float64)": filter_eeg,
               "stacked: one `sosfiltfilt` of both (float64)": stacked,
               "stacked, float32": lambda w: stacked(w, np.float32),
               "two stages, float32": lambda w: two_stage(w, np.float32),
               "frequency domain, ends not corrected: odd padding, FFT x squared gain (float64)":
               frequency_domain}
    emit("## 3d. Filtering one 50 s window (20 channels x 10,000 samples, 0.5-40 Hz + 60 Hz notch)")
    emit()
    emit(f"{len(x)} windows of the synthetic recordings, NaN-repaired and mean-removed as "
         "`preprocess` hands them over, filtered one window at a time. Differences are from "
         "the reference, over the whole window and beyond its first and last 5 s. Medians of "
         f"interleaved CPU times (load average at start {_load()}).")
    emit()
    emit("| option | CPU ms / window | reference / option | max abs. difference, µV | "
         "beyond 5 s, µV |")
    emit("|---|---|---|---|---|")
    ref = np.stack([two_stage(w) for w in x])
    t = _ab({k: (lambda f=f: [f(w) for w in x]) for k, f in options.items()}, 3 if quick else 9)
    base = next(iter(t.values()))
    for k, f in options.items():
        d = np.abs(np.stack([f(w) for w in x]) - ref)
        emit(f"| {k} | {t[k] / len(x) * 1e3:.1f} | {base / t[k]:.2f} | {d.max():.1e} | "
             f"{d[..., int(5 * FS):-int(5 * FS)].max():.1e} |")
    emit()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few windows, for a smoke run")
    ap.add_argument("--reps", type=int, default=3,
                    help="interleaved repetitions of section 1 (default 3)")
    args = ap.parse_args(argv)
    quick = args.quick
    warnings.filterwarnings("ignore")
    lines: list[str] = []

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    tmp = Path(tempfile.mkdtemp(prefix="hms_bench_"))
    # 40 patients: ~600 label rows on ~120 EEGs, enough chunks (64 rows) that two workers stay
    # busy to the end and the wall clock measures throughput, not the last chunk's tail
    root = make_synthetic_hms(tmp / "hms", n_patients=3 if quick else 40, seed=0,
                              progress=False)
    ds = HMSDataset(root)
    rows = ds.labels
    # raw arrays for section 1: 4 chunks of 64, so both workers have work to the end
    n_arr = 16 if quick else 256
    eeg = ds.eeg_windows(rows.iloc[:n_arr], pad=True)
    spec = ds.spectrogram_windows(rows.iloc[:n_arr], pad=True)
    clean, quality = preprocess(eeg[:64], FS)  # sections 2-4 use the first 64 windows
    bip = bipolar(clean).astype(np.float64)  # (64, 18, 10000)

    emit("# Feature engine benchmark")
    emit()
    emit(f"Machine: {platform.machine()}, 2 cores shared with other jobs (load average at start "
         f"{_load()}; at the start {host_line(host_probe())}, at the end of this file another "
         f"reading); Python "
         f"{platform.python_version()}, numpy {np.__version__}. Windows: synthetic HMS "
         f"recordings (`make_synthetic_hms`), 20 channels x 10,000 samples (50 s, 200 Hz), "
         f"18 bipolar derivations. Every figure is a median of interleaved runs, with the load "
         f"average printed beside it; {PROBE_TEXT}.")
    emit()
    emit("Feature counts: " + ", ".join(
        f"`{s}` {len(feature_names(s))}" for s in ("default", "fast")) + " (with the "
        "Kaggle spectrogram; per family: " + ", ".join(
            f"{f} {sum(n.startswith(f + '_') for n in feature_names('default'))}"
            for f in resolve_families("default")) + ").")
    emit()

    # ------------------------------------------------------------ 1. build_features
    reps = 1 if quick else args.reps
    emit("## 1. `build_features` throughput: two workers and one, interleaved")
    emit()
    emit(f"Every case runs with 2 loky workers (already started) and in one process "
         f"(`n_jobs=1`), interleaved (case A 2 workers, A 1 worker, B 2, B 1, ..., then the "
         f"reverse order), {reps} time(s); the table gives medians of the wall clock and of the "
         f"single process's CPU time (`time.process_time`) and of the two workers' CPU time "
         f"summed (psutil; if the two workers do the same work as one process, the two CPU "
         f"columns agree and what two workers lose is wall-clock time). Load average before: "
         f"{_load()}. The 106,800-window times scale the measured 2-worker rates.")
    emit()
    emit("| input | feature set | windows | windows/s, 2 workers | windows/s, 1 process | "
         "2 workers / 1 | CPU ms / window (1 process) | CPU ms / window (2 workers, summed) | "
         "106,800 windows, 2 workers |")
    emit("|---|---|---|---|---|---|---|---|---|")
    arrays = {"eeg": eeg, "spectrogram": spec}
    build_features(arrays, "fast", n_jobs=2, chunk_size=8, progress=False)  # warm the workers
    mem = _PeakMemory().__enter__()
    n_ds = len(rows)
    n_eeg = rows["eeg_id"].nunique()
    cases = {}
    for fset in ("default", "fast"):
        for ctx in ("window", "recording"):
            cases[(f"dataset-{ctx}", fset)] = (ds, n_ds, {"context": ctx})
        cases[("raw arrays", fset)] = (arrays, n_arr, {})
    labels = {"dataset-window": f"dataset ({n_eeg} EEGs), context='window' (default: each "
                                "window filtered alone, as a test file)",
              "dataset-recording": f"dataset ({n_eeg} EEGs), context='recording' (recordings "
                                   "filtered once, spectra shared)",
              "raw arrays": "raw arrays (each window filtered alone, no spectrogram)"}
    wall = {k: {1: [], 2: []} for k in cases}
    cpu = {k: [] for k in cases}
    cpu2 = {k: [] for k in cases}  # the workers' CPU time, summed
    keys = list(cases)
    for r in range(reps):
        for key in keys if r % 2 == 0 else keys[::-1]:
            src, n, kw = cases[key]
            for jobs in (2, 1) if r % 2 == 0 else (1, 2):
                extra = {"backend": "sequential"} if jobs == 1 else {}
                k0 = _workers_cpu()
                t0, c0 = time.perf_counter(), time.process_time()
                build_features(src, key[1], n_jobs=jobs, progress=False, **kw, **extra)
                wall[key][jobs].append(time.perf_counter() - t0)
                if jobs == 1:
                    cpu[key].append(time.process_time() - c0)
                else:
                    cpu2[key].append(_workers_cpu() - k0)
    mem.__exit__(None, None, None)
    summary = {}
    for key in sorted(keys, key=lambda k: (k[0] != "dataset-window", k[0], k[1])):
        n = cases[key][1]
        w2, w1 = (statistics.median(wall[key][j]) for j in (2, 1))
        per = statistics.median(cpu[key]) / n
        per2 = statistics.median(cpu2[key]) / n
        summary[key] = (n / w2, n / w1, per)
        emit(f"| {labels[key[0]]} | {key[1]} | {n} | {n / w2:.1f} | {n / w1:.1f} | "
             f"{w1 / w2:.2f} | {per * 1e3:.1f} | "
             # too few chunks start no worker (MIN_WORKER_CHUNKS): the build ran in this process
             f"{f'{per2 * 1e3:.1f}' if per2 > 0.1 * per else 'no workers started'} | "
             f"{REAL_TRAIN_ROWS * w2 / n / 60:.0f} min |")
    emit()
    emit(f"Load average after: {_load()}. Spread (max/min of the {reps} runs, 2 workers): " +
         ", ".join(f"{k[0]} {k[1]} {max(wall[k][2]) / min(wall[k][2]):.2f}" for k in keys) + ".")
    emit()
    emit(f"Peak resident memory during these runs (each process's own high-water mark, "
         f"VmHWM{'' if mem.reset else ', not reset at the start: peaks since each process began'}"
         f"): largest worker {mem.peak_worker:.0f} MiB (default chunks of 64 windows / label "
         f"rows), main process {mem.peak_main:.0f} MiB (holding the input windows and building "
         f"in one process), {mem.peak_total:.0f} MiB summed over all processes (an upper bound: "
         "each peak at its own moment).")
    emit()

    # ------------------------------------------------------------ 2. per family
    emit("## 2. Where the time goes: one process (chunk of 16 windows, both spans), CPU time, "
         "one BLAS thread")
    emit()
    reps2 = 2 if quick else 5
    emit(f"Median of {reps2} interleaved runs (load average at start {_load()}). The families "
         "share the bipolar derivations and their Welch spectra (computed once per chunk and "
         "span, first row); each family is timed on contexts where those are already computed, "
         "so no work is counted twice. The last rows time the whole chunk as `build_features` "
         "runs it; `rest` is what the rows above do not cover (the 10 s span's contexts, the "
         "finiteness guard, column assembly).")
    emit()
    emit("| step | CPU ms / window | share of preprocess + compute_features |")
    emit("|---|---|---|")
    chunk = clean[:16]
    sp16 = spec[:16]
    q16 = {k: v[:16] for k, v in quality.items()}
    from threadpoolctl import threadpool_limits

    from hms_features.features.base import FAMILIES
    from hms_features.features.registry import span_context, span_slices

    slices = span_slices(chunk.shape[-1], FS)
    default = resolve_families("default")
    spans = sorted({sp for f in default for sp in (FAMILIES[f].spans or ("50s",))},
                   key=lambda sp: sp != "50s")  # the whole window first: the others slice it

    def contexts(warm=True):
        ctx = {}
        for sp in spans:
            c = span_context(sp, ctx, chunk, FS, slices, sp16, q16)
            if warm:
                c.bipolar, c.psd  # noqa: B018 - computing the shared cached properties
        return ctx

    def family(fam):
        def run(ctx):
            for sp in FAMILIES[fam].spans or ("50s",):
                FAMILIES[fam].compute(ctx[sp])
        return run

    # (setup, timed step): the setup's time is not counted
    steps = {"preprocess (one 50 s window on its own)": (None, lambda _: preprocess(eeg[:16], FS)),
             "shared: bipolar derivations + Welch segment spectra (both spans)":
                 (lambda: contexts(False), lambda ctx: [(c.bipolar, c.psd) for c in ctx.values()])}
    for fam in default:
        compute_features(chunk[:2], FS, feature_set=[fam], spectrogram=sp16[:2])
        steps[fam] = (contexts, family(fam))
    steps["compute_features, default set (all of the above but preprocess)"] = (
        None, lambda _: compute_features(chunk, FS, feature_set="default", spectrogram=sp16,
                                         quality=q16))
    times = {k: [] for k in steps}
    keys = list(steps)
    with threadpool_limits(limits=1, user_api="blas"):  # as build_features runs them
        for r in range(reps2):
            for k in keys if r % 2 == 0 else keys[::-1]:
                setup, fn = steps[k]
                arg = setup() if setup is not None else None
                t = time.process_time()
                fn(arg)
                times[k].append(time.process_time() - t)
    cpu = {k: statistics.median(v) / 16 for k, v in times.items()}
    whole_name = keys[-1]
    whole = cpu.pop(whole_name)
    total = cpu[keys[0]] + whole
    for name, c in cpu.items():
        emit(f"| {name} | {c * 1e3:.1f} | {c / total:.0%} |")
    rest = whole - sum(c for k, c in cpu.items() if k != keys[0])
    if rest >= 0:
        emit(f"| rest of compute_features | {rest * 1e3:.1f} | {rest / total:.0%} |")
    else:  # a difference of medians: the rows above can add up to more than the whole
        emit(f"| rest of compute_features | not measurable: the rows above add up to "
             f"{-rest * 1e3:.1f} ms more than the whole chunk (timing noise, and each family "
             "timed alone runs with a colder cache) | - |")
    emit(f"| **{whole_name}** | **{whole * 1e3:.1f}** | {whole / total:.0%} |")
    emit(f"| **preprocess + compute_features** | **{total * 1e3:.1f}** (at most "
         f"{1 / total:.0f} windows per CPU-second before reading files) | 100% |")
    emit()

    # ------------------------------------------------------------ 3. vs mne-features
    from mne_features.feature_extraction import extract_features

    k_full = 2 if quick else 4
    k_fast = 8 if quick else 32
    bands = np.array([0.5, 2.0, 4.0, 8.0, 13.0, 30.0, 40.0])
    psd_params = {"welch_n_fft": 400, "welch_n_per_seg": 400, "welch_n_overlap": 200}
    funcs10 = ["pow_freq_bands", "spect_entropy", "hjorth_mobility", "hjorth_complexity",
               "higuchi_fd", "katz_fd", "zero_crossings", "kurtosis", "skewness", "std"]
    params = {"pow_freq_bands__freq_bands": bands, "pow_freq_bands__normalize": False,
              "pow_freq_bands__psd_params": psd_params, "spect_entropy__psd_params": psd_params}

    def mnef(x, funcs):
        return extract_features(x, FS, funcs, funcs_params=params, n_jobs=1)

    def ours_overlap(x, block=2):
        # cache-sized blocks of windows, as the library's families run (rowwise / 16-signal
        # blocks): one 32-window block streams 23 MB temporaries through main memory
        if x.shape[0] > block:
            parts = [ours_overlap(x[a:a + block], block) for a in range(0, x.shape[0], block)]
            return [np.concatenate(v, axis=0) for v in zip(*parts)]
        f, p = welch_psd(x, FS)
        out = [S.band_powers(f, p), S.spectral_entropy(f, p, 0.5, 40)]
        var, skew, kurt = T.moments(x)  # variance shared with Hjorth, as compute_temporal does
        out += list(T.hjorth(x, FS, var=var)) + [E.higuchi_fd(x), E.katz_fd(x),
                                                 T.zero_crossings(x, FS)]
        return out + [var, skew, kurt]

    def central_50hz(x):
        """The 500-sample stretch sample entropy uses: 50 Hz block means, central 10 s."""
        dec = _block_mean(x)
        mid = dec.shape[-1] // 2
        return np.ascontiguousarray(dec[..., mid - 250:mid + 250])

    def ours_template(x):
        return [E.sample_entropy(x), E.approximate_entropy(x)]

    def mnef_template(x):
        return extract_features(x, FS / E.DECIMATE, ["app_entropy", "samp_entropy"], n_jobs=1)

    x32 = bip.astype(np.float32)
    d32 = central_50hz(x32)
    d64 = d32.astype(np.float64)
    mnef(bip[:1], funcs10)
    mnef_template(d64[:1])
    ref10 = mnef(bip[:k_fast], funcs10)  # float64: the value reference of section 4
    mnef(x32[:1], funcs10)
    mnef_template(d32[:1])
    load3 = _load()
    with threadpool_limits(limits=1, user_api="blas"):  # as build_features runs it; both sides
        t3 = _ab({"m10": lambda: mnef(x32[:k_fast], funcs10),
                  "o10": lambda: ours_overlap(x32[:k_fast]),
                  "m2": lambda: mnef_template(d32[:k_fast]),
                  "o2": lambda: ours_template(d32[:k_fast])}, 2 if quick else 5)
        t_m12 = _cpu(lambda: mnef(x32[:k_full], funcs10 + ["app_entropy", "samp_entropy"]),
                     1) / k_full
    t_m10, t_o10, t_m2, t_o2 = (t3[k] / k_fast for k in ("m10", "o10", "m2", "o2"))
    emit("## 3. Overlapping subset vs mne-features (one process each, CPU time)")
    emit()
    emit("Both sides get the same float32 windows and parameters: the 10 shared functions on "
         "the 50 s, 200 Hz derivations; sample and approximate entropy (m = 2, r = 0.2 SD) on "
         "the 500-sample stretch the default set uses for sample entropy (50 Hz block means, "
         f"central 10 s). Medians of interleaved runs, one BLAS thread on both sides (load "
         f"average at start {load3}).")
    emit()
    emit("| what | mne-features ms / window | ours ms / window | ratio ours / mne-features |")
    emit("|---|---|---|---|")
    emit(f"| 10 functions (band powers, spectral entropy, Hjorth x2, Higuchi, Katz, zero "
         f"crossings, kurtosis, skewness, std), 50 s at 200 Hz | {t_m10 * 1e3:.1f} | "
         f"{t_o10 * 1e3:.2f} | **{t_m10 / t_o10:.1f}x** |")
    emit(f"| sample + approximate entropy, 500 samples at 50 Hz | {t_m2 * 1e3:.1f} | "
         f"{t_o2 * 1e3:.2f} | **{t_m2 / t_o2:.1f}x** |")
    t_m_all, t_o_all = t_m10 + t_m2, t_o10 + t_o2
    emit(f"| all 12 overlapping functions | {t_m_all * 1e3:.1f} | {t_o_all * 1e3:.2f} | "
         f"**{t_m_all / t_o_all:.1f}x** |")
    emit(f"| for orientation: mne-features' 12 with both entropies on the full 10,000 samples "
         f"(what a per-window loop over the 50 s windows does) | {t_m12 * 1e3:.0f} | "
         f"{t_o_all * 1e3:.2f} | {t_m12 / t_o_all:.0f}x (different inputs) |")
    emit()

    # ------------------------------------------------------------ 3b. vs antropy / scipy
    import antropy as ant
    import scipy.stats
    from scipy import signal as sps

    k_ref = 4 if quick else 8
    w64 = x32[:k_ref]  # the same float32 windows on both sides (antropy converts internally)
    dec64 = d32[:k_ref]
    dfa32 = _block_mean(x32[:k_ref])
    dfa64 = dfa32
    band_edges = list(zip(bands[:-1], bands[1:]))

    def ref_welch_bands(w):
        f, p = sps.welch(w, FS, window="hann", nperseg=400, noverlap=200, detrend=False)
        df = f[1] - f[0]
        return [p[:, (f >= lo) & (f < hi)].sum(-1) * df for lo, hi in band_edges]

    def per_channel(fn, **kw):
        return lambda w: [fn(ch, **kw) for ch in w]

    def ours_welch_bands(x):
        return S.band_powers(*welch_psd(x, FS))

    # (measure, reference per window, its input, ours on the block, its input, note)
    cases = [
        ("Welch PSD + 6 band powers", ref_welch_bands, w64, ours_welch_bands, x32,
         "scipy.signal.welch, all 18 channels per call"),
        ("spectral entropy", lambda w: ant.spectral_entropy(
            w, FS, method="welch", nperseg=400, normalize=True),
         w64, lambda x: S.spectral_entropy(*welch_psd(x, FS)), x32,
         "antropy, 18 channels per call; ours incl. its own Welch PSD"),
        ("Hjorth mobility + complexity", lambda w: ant.hjorth_params(w, sf=FS), w64,
         lambda x: T.hjorth(x, FS), x32, "antropy, 18 channels per call"),
        ("Higuchi FD", per_channel(ant.higuchi_fd), w64, E.higuchi_fd, x32,
         "antropy (numba), one channel per call"),
        ("Katz FD", ant.katz_fd, w64, E.katz_fd, x32, "antropy, 18 channels per call"),
        ("zero crossings", ant.num_zerocross, w64, lambda x: T.zero_crossings(x, FS), x32,
         "antropy, 18 channels per call"),
        ("variance, skewness, kurtosis", lambda w: (np.var(w, -1), scipy.stats.skew(w, -1),
                                                    scipy.stats.kurtosis(w, -1)),
         w64, T.moments, x32, "numpy + scipy.stats, 18 channels per call"),
        ("permutation entropy", per_channel(ant.perm_entropy, normalize=True), w64,
         E.perm_entropy, x32, "antropy, one channel per call"),
        ("SVD entropy", per_channel(ant.svd_entropy, normalize=True), w64, E.svd_entropy, x32,
         "antropy, one channel per call"),
        ("Petrosian FD", ant.petrosian_fd, w64, E.petrosian_fd, x32,
         "antropy, 18 channels per call"),
        ("DFA (2,500 samples at 50 Hz)", per_channel(ant.detrended_fluctuation), dfa64, E.dfa,
         dfa32, "antropy (numba), one channel per call"),
        ("sample entropy (500 samples)", per_channel(ant.sample_entropy), dec64,
         E.sample_entropy, d32[:k_ref], "antropy (numba), one channel per call"),
        ("approximate entropy (500 samples)", per_channel(ant.app_entropy), dec64,
         E.approximate_entropy, d32[:k_ref], "antropy (scikit-learn KD-tree), one channel"),
    ]
    emit("## 3b. Per measure vs antropy / scipy called per window (CPU time)")
    emit()
    emit(f"The same {k_ref} float32 windows x 18 derivations on both sides. The reference is "
         "called once per window (or per channel where it takes 1-D input only), as a loop over "
         "windows would; ours once on the block of windows; one BLAS thread on both sides. "
         f"Medians of interleaved runs (load average at start {_load()}).")
    emit()
    emit("| measure | reference | reference ms / window | ours ms / window | ratio |")
    emit("|---|---|---|---|---|")
    ref_total = ours_total = 0.0
    for name, ref_fn, ref_in, our_fn, our_in, note in cases:
        for w in ref_in[:1]:  # warm numba / caches
            ref_fn(w)
        with threadpool_limits(limits=1, user_api="blas"):
            our_fn(our_in[:k_ref])
            tt = _ab({"ref": lambda ref_fn=ref_fn, ref_in=ref_in: [ref_fn(w) for w in ref_in],
                      "our": lambda our_fn=our_fn, our_in=our_in: our_fn(our_in[:k_ref])},
                     2 if quick else 5)
        t_ref, t_our = tt["ref"], tt["our"]
        ref_total += t_ref
        ours_total += t_our
        emit(f"| {name} | {note} | {t_ref / k_ref * 1e3:.2f} | {t_our / k_ref * 1e3:.2f} | "
             f"{t_ref / t_our:.1f}x |")
    emit(f"| all of the above | | {ref_total / k_ref * 1e3:.1f} | {ours_total / k_ref * 1e3:.1f} "
         f"| **{ref_total / ours_total:.1f}x** |")
    emit()
    _higuchi_section(emit, quick)
    _filter_section(emit, eeg[:4], quick)

    # value agreement
    emit("## 4. Largest difference per overlapping measure (same windows, same parameters)")
    emit()
    emit(f"{k_fast} windows x 18 derivations (entropies: 4 windows; sample entropy on the "
         "500-sample 50 Hz central stretch the default set uses, DFA on the 50 Hz signal). "
         "Ours run on float32 as in the library, references on the same values in float64. "
         "`max |ours - ref| / max |ref|`.")
    emit()
    emit("| measure | reference | max rel. difference | note |")
    emit("|---|---|---|---|")
    xs = x32[:k_fast]  # ours run on float32 (the production path), references on float64
    x64 = xs.astype(np.float64)
    n_t = xs.shape[-1]
    ref = ref10.reshape(k_fast, -1)
    # column layout of extract_features: per function, per channel (band powers: channel-major)
    col = 0
    nb = len(bands) - 1
    m_bp = ref[:, col:col + 18 * nb].reshape(k_fast, 18, nb)
    col += 18 * nb
    m_se = ref[:, col:col + 18]
    col += 18
    m_mob = ref[:, col:col + 18]
    col += 18
    m_comp = ref[:, col:col + 18]
    col += 18
    m_hig = ref[:, col:col + 18]
    col += 18
    m_katz = ref[:, col:col + 18]
    col += 18
    m_zc = ref[:, col:col + 18]
    col += 18
    m_kurt = ref[:, col:col + 18]
    col += 18
    m_skew = ref[:, col:col + 18]
    col += 18
    m_std = ref[:, col:col + 18]
    f, p = welch_psd(xs, FS)
    bp = S.band_powers(f, p, dict(zip(S.BANDS, zip(bands[:-1], bands[1:]))))
    mob, comp = T.hjorth(xs, FS)
    var, skew, kurt = T.moments(xs)
    rows_out = []

    f2, p2 = sps.welch(x64, FS, window="hann", nperseg=400, noverlap=200, detrend=False)
    rows_out.append(("Welch PSD", "scipy.signal.welch", _rel(p, p2),
                     "same parameters; ours float32"))
    rows_out.append(("band power (6 bands)", "mne-features pow_freq_bands", _rel(bp, m_bp),
                     "convention: mne sums PSD bins without x df (0.5 Hz) over inclusive "
                     "edges (edge bins twice), Hamming window; ours/mne 0.36-0.48 on noise"))
    rows_out.append(("spectral entropy", "antropy spectral_entropy (welch, 400)",
                     _rel(S.spectral_entropy(*sps.welch(x64, FS, nperseg=400)),
                          _per_channel(ant.spectral_entropy, x64, sf=FS, method="welch",
                                       nperseg=400, normalize=True)),
                     "same PSD: identical formula"))
    rows_out.append(("spectral entropy", "mne-features spect_entropy",
                     _rel(S.spectral_entropy(f, p) * np.log2(len(f)), m_se),
                     "mne: unnormalised, DC dropped from the numerator only, Hamming"))
    rows_out.append(("Hjorth mobility", "antropy hjorth_params",
                     _rel(mob, _per_channel(lambda c: ant.hjorth_params(c, sf=FS)[0], x64)), ""))
    rows_out.append(("Hjorth complexity", "antropy hjorth_params",
                     _rel(comp, _per_channel(lambda c: ant.hjorth_params(c)[1], x64)), ""))
    rows_out.append(("Hjorth mobility", "mne-features", _rel(mob / FS, m_mob),
                     "mne prepends a 0, ddof=1; ours in s^-1 (divided by fs here)"))
    rows_out.append(("Hjorth complexity", "mne-features", _rel(comp, m_comp),
                     "mne prepends a 0, ddof=1"))
    rows_out.append(("Higuchi FD", "antropy higuchi_fd", _rel(E.higuchi_fd(xs),
                                                              _per_channel(ant.higuchi_fd, x64)),
                     "ours float32"))
    rows_out.append(("Higuchi FD", "mne-features", _rel(E.higuchi_fd(xs), m_hig),
                     "mne keeps an off-by-one antropy fixed in 0.2.1"))
    rows_out.append(("Katz FD", "antropy katz_fd", _rel(E.katz_fd(xs), ant.katz_fd(x64)), ""))
    rows_out.append(("Katz FD", "mne-features", _rel(E.katz_fd(xs), m_katz), ""))
    zc = T.zero_crossings(xs, FS) * (n_t / FS)
    rows_out.append(("zero crossings", "antropy num_zerocross", _rel(zc, ant.num_zerocross(x64)),
                     "ours per second (times duration here)"))
    rows_out.append(("zero crossings", "mne-features", _rel(zc, m_zc), ""))
    rows_out.append(("skewness", "scipy.stats.skew", _rel(skew, scipy.stats.skew(x64, axis=-1)),
                     "ours float32"))
    rows_out.append(("skewness", "mne-features", _rel(skew, m_skew), ""))
    rows_out.append(("kurtosis", "scipy.stats.kurtosis",
                     _rel(kurt, scipy.stats.kurtosis(x64, axis=-1)), "Fisher (normal = 0)"))
    rows_out.append(("kurtosis", "mne-features", _rel(kurt + 3, m_kurt),
                     "mne Pearson (normal = 3): +3 here"))
    rows_out.append(("std", "mne-features", _rel(np.sqrt(var * n_t / (n_t - 1)), m_std),
                     "mne ddof=1: converted here"))
    xa = xs[:4]
    xa64 = xa.astype(np.float64)
    rows_out.append(("permutation entropy", "antropy perm_entropy",
                     _rel(E.perm_entropy(xa), _per_channel(ant.perm_entropy, xa64, normalize=True)),
                     ""))
    rows_out.append(("SVD entropy", "antropy svd_entropy",
                     _rel(E.svd_entropy(xa), _per_channel(ant.svd_entropy, xa64, normalize=True)),
                     ""))
    rows_out.append(("Petrosian FD", "antropy petrosian_fd",
                     _rel(E.petrosian_fd(xa), ant.petrosian_fd(xa64)), ""))
    dec = _block_mean(xa64)
    rows_out.append(("DFA", "antropy detrended_fluctuation (50 Hz signal)",
                     _rel(E.dfa(dec), _per_channel(ant.detrended_fluctuation, dec)), ""))
    d500, d500_64 = d32[:4], d64[:4]
    rows_out.append(("sample entropy", "antropy sample_entropy (500 samples)",
                     _rel(E.sample_entropy(d500), _per_channel(ant.sample_entropy, d500_64)),
                     "same counting (< r, r = 0.2 SD ddof 0)"))
    rows_out.append(("approximate entropy", "antropy app_entropy (500 samples)",
                     _rel(E.approximate_entropy(d500),
                          _per_channel(ant.app_entropy, d500_64)),
                     "same counting (<= r, self-matches included)"))
    m_app, m_samp = np.moveaxis(mnef_template(d500_64).reshape(4, 2, 18), 1, 0)
    r_mne = 0.2 * np.sqrt(500 / 499)  # mne-features: r = 0.2 SD with ddof=1
    rows_out.append(("sample entropy", "mne-features samp_entropy (500 samples)",
                     _rel(E.sample_entropy(d500, r=r_mne), m_samp),
                     "mne r = 0.2 SD ddof=1: converted here; mne counts <= r (ours < r), equal "
                     "off exact ties"))
    rows_out.append(("approximate entropy", "mne-features app_entropy (500 samples)",
                     _rel(E.approximate_entropy(d500, r=r_mne), m_app),
                     "mne r = 0.2 SD ddof=1: converted here"))
    for r in rows_out:
        emit(f"| {r[0]} | {r[1]} | {r[2]:.1e} | {r[3]} |")
    emit()
    emit(f"Peak resident memory of this whole run: {_maxrss_mb():.0f} MB (main process). At the "
         f"end {host_line(host_probe())}.")
    emit()
    emit("## Targets")
    emit()
    ratio = t_m_all / t_o_all
    emit(f"- Overlapping subset >= 10x mne-features: {ratio:.1f}x for the 12 overlapping "
         f"functions ({'met' if ratio >= 10 else 'NOT met'}; {t_m10 / t_o10:.1f}x for the 10 "
         f"without the template entropies, {t_m2 / t_o2:.1f}x for those two), same inputs "
         "and parameters on both sides.")
    ours_vs_ref = [r[2] for r in rows_out if "mne" not in r[1]]
    emit(f"- Values within 1e-3 of antropy / scipy on the same parameters: "
         f"{'met' if max(ours_vs_ref) < 1e-3 else 'NOT met'} (largest {max(ours_vs_ref):.1e}); "
         "mne-features differences are the documented convention differences above, and zero "
         "(to rounding) where the convention could be converted.")
    for fset, goal in (("default", 85), ("fast", 130)):
        w2, w1, per = summary[("dataset-window", fset)]
        r2 = summary[("dataset-recording", fset)][0]
        emit(f"- {fset} set >= {goal} label windows/s on 2 cores (dataset path, "
             f"context='window'): {w2:.0f} windows/s with 2 workers "
             f"({'met' if w2 >= goal else 'NOT met'} on this machine; load average above); "
             f"context='recording' {r2:.0f}.")
    for fset in ("default", "fast"):
        w2, w1, _ = summary[("dataset-window", fset)]
        emit(f"- Two workers >= 1.8x one ({fset} set, context='window'): {w2 / w1:.2f}x "
             f"({'met' if w2 / w1 >= 1.8 else 'NOT met'}; meaningless with --quick, whose 3 "
             "patients make one chunk).")
    if not quick:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text("\n".join(lines) + "\n")
        print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
