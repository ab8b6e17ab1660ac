"""Contention benchmark: how the thread choices hold up when other programs share the cores.

Run ``python benchmarks/bench_contention.py`` (``--quick`` for a smoke run that writes nothing);
writes ``benchmarks/results/contention.md``. Meant to be re-run on a quiet machine: only ratios
of runs interleaved under the same conditions are reported, with the load average before each
block, because absolute seconds on a shared machine mean nothing.

"Busy" means one competing CPU-bound process per available CPU (``python -c "while True:
pass"``), started before and stopped after each block by this script. Every timed run is a fresh
interpreter (libgomp reads its waiting policy once, when it loads).

Sections
--------
1. ``hms-features cv`` on the demo's features (``synth`` + ``features``, computed once) and on an
   8-patient table, with the command line's default thread choice, ``--n-jobs 1`` and
   ``--n-jobs <all CPUs>``; idle and busy. Ratio of each to the better of 1 and all threads:
   the goal is default <= 1.2 under both conditions.
2. LightGBM alone (``SoftLabelLGBMClassifier``, random features of the same shapes, a fixed
   number of rounds): 1 thread, all threads, the rule (:func:`hms_features.parallel.
   lightgbm_threads` with ``n_jobs=-1``), each with passive OpenMP waiting (what ``import
   hms_features`` sets) and with libgomp's default spinning (LightGBM imported first).
3. Feature workers: ``hms-features features`` on the small and the demo dataset with the
   command line's default, 1 and all workers; idle and busy; the goal is again default <= 1.2 x
   the better.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _host import PROBE_TEXT, host_line, host_probe

OUT = Path(__file__).resolve().parent / "results" / "contention.md"
ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# One LightGBM fit in a fresh interpreter; prints wall seconds. argv: rows cols n_jobs rounds
# order ("hms" imports hms_features first: passive waiting; "lgb" imports lightgbm first:
# libgomp's default spinning). n_jobs "rule" resolves -1 through parallel.lightgbm_threads.
_LGB_TRIAL = """
import sys, time
rows, cols, n_jobs, rounds, order = sys.argv[1:6]
if order == "lgb":
    import lightgbm  # noqa: F401  (libgomp loads before hms_features can set its policy)
import numpy as np
from hms_features.models.lgbm import SoftLabelLGBMClassifier
from hms_features.parallel import lightgbm_threads
rows, cols, rounds = int(rows), int(cols), int(rounds)
threads = lightgbm_threads(-1, rows, cols) if n_jobs == "rule" else int(n_jobs)
rng = np.random.default_rng(0)
X = rng.standard_normal((rows, cols)).astype(np.float32)
Y = rng.integers(0, 5, (rows, 6)) + 0.1
clf = SoftLabelLGBMClassifier(n_estimators=rounds, early_stopping_rounds=None, n_jobs=threads,
                              random_state=0)
t = time.perf_counter()
clf.fit(X, Y)
print(time.perf_counter() - t, threads)
"""


def _env():
    """This environment without OpenMP settings, with this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Busy:
    """One CPU-bound competitor per CPU while the block runs (started and stopped here)."""

    def __init__(self, n):
        self.n = n
        self.procs = []

    def __enter__(self):
        self.procs = [subprocess.Popen([PY, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(1.0)  # let the scheduler see them
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def _timed(cmd, timeout):
    """Wall seconds of one command (``timeout`` and a ``>`` flag when it had to be stopped)."""
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return float(timeout), True, ""
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t, False, r.stdout


def _load():
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def _chunks(data) -> int:
    """Chunks of label rows ``hms-features features`` computes for the dataset ``data``."""
    from hms_features._build.plan import make_plan
    from hms_features.build import DEFAULT_CHUNK_SIZE
    from hms_features.data import HMSDataset

    return len(make_plan(HMSDataset(data), "default", DEFAULT_CHUNK_SIZE).chunks)


def _interleaved(configs, conditions, reps, timeout, log):
    """Run every config under every condition ``reps`` times, A, B, A, B... within each block.

    Returns {(condition, config): [(seconds, stopped, stdout), ...]} and the load averages
    seen at the start of each block.
    """
    from hms_features.parallel import available_cpus

    res = {(c, k): [] for c in conditions for k in configs}
    loads = {c: [] for c in conditions}
    for rep in range(reps):
        for cond in conditions:
            order = list(configs) if rep % 2 == 0 else list(configs)[::-1]
            busy = Busy(available_cpus() if cond == "busy" else 0)
            with busy:
                loads[cond].append(_load())
                for k in order:
                    s, stopped, out = _timed(configs[k], timeout)
                    res[(cond, k)].append((s, stopped, out))
                    log(f"  rep {rep} {cond:5s} {k:28s} {'>' if stopped else ''}{s:7.1f} s "
                        f"(load {_load()})")
    return res, loads


def _med(runs):
    m = statistics.median(s for s, _, _ in runs)
    return m, any(st for _, st, _ in runs)


def _fmt(m, stopped):
    return f"{'>' if stopped else ''}{m:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small and fast; writes nothing")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--patients", type=int, default=40, help="demo dataset size (default 40, "
                    "as hms-features demo)")
    ap.add_argument("--n-estimators", type=int, default=None,
                    help="cv boosting rounds (default: the command line's own default)")
    ap.add_argument("--rounds", type=int, default=50, help="LightGBM rounds in section 2")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="stop a run after this many seconds and report it as '>' (default 900)")
    ap.add_argument("--sections", default="1,2,3", help="comma-separated sections to run")
    ap.add_argument("--workdir", default=None, help="keep datasets and features here")
    ap.add_argument("--out", default=str(OUT), help=f"results file (default {OUT})")
    ap.add_argument("--feature-tables", default="small,demo",
                    help="datasets of section 3 (default small,demo)")
    args = ap.parse_args(argv)
    from hms_features.parallel import SMALL_TABLE_CELLS, available_cpus

    cpus = available_cpus()
    sections = {int(s) for s in args.sections.split(",")}
    reps = 1 if args.quick else args.reps
    lines: list[str] = []

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="hms_contention_"))
    work.mkdir(parents=True, exist_ok=True)
    hms = [PY, "-m", "hms_features"]
    sizes = {"demo": 5 if args.quick else args.patients, "small": 5 if args.quick else 8}
    tables = {}
    for name, patients in sizes.items():
        data, feats = work / f"{name}_{patients}", work / f"{name}_{patients}.parquet"
        if not (data / "train.csv").exists():
            log(f"synth {name}: {patients} patients")
            subprocess.run(hms + ["synth", "--out", str(data), "--patients", str(patients),
                                  "--quiet", "--overwrite"], env=_env(), cwd=ROOT, check=True)
        if not feats.exists():
            log(f"features {name}")
            subprocess.run(hms + ["features", str(data), "--out", str(feats), "--quiet",
                                  "--cache-dir", ""], env=_env(), cwd=ROOT, check=True)
        import pandas as pd

        tables[name] = (data, feats, pd.read_parquet(feats).shape)

    emit("# Contention benchmark")
    emit()
    emit(f"Machine: {platform.machine()}, {cpus} CPUs available to this process "
         f"(`os.sched_getaffinity`), Python {platform.python_version()}; idle at the start, "
         f"{host_line(host_probe())} ({PROBE_TEXT}; a reading at the end of this file). "
         f"Busy = one `python -c \"while True: pass\"` per CPU, started and stopped by the "
         f"benchmark. Each figure is the median of {reps} interleaved runs (A, B, C, then C, B, "
         "A, ...), each a fresh interpreter; the load average (1, 5, 15 min) is printed at the "
         "start of each block. Ratios compare runs made under the same condition, never "
         "absolute seconds across machines. `>` marks a run stopped at the time limit "
         f"({args.timeout:.0f} s). Produced by `python benchmarks/bench_contention.py"
         f"{' --n-estimators ' + str(args.n_estimators) if args.n_estimators else ''}"
         f"{' --rounds ' + str(args.rounds) if args.rounds != 50 else ''}`.")
    emit()
    emit("Thread rule (`hms_features.parallel.lightgbm_threads`, `n_jobs=-1`): 1 thread below "
         f"{SMALL_TABLE_CELLS:,} table cells (rows x features of the table trained on; `cv` "
         "trains on 4/5 of the rows); above, with passive OpenMP waiting (`import hms_features` "
         "sets `OMP_WAIT_POLICY=PASSIVE` unless the user set it), all CPUs, and when OpenMP "
         "spins as many threads as CPUs idle over 0.1 s (`/proc/stat`). Section 1's "
         "\"default\" is whatever the command line does with no `--n-jobs`.")
    emit()
    conditions = ("idle", "busy")

    if 1 in sections:
        emit("## 1. `hms-features cv` on precomputed features")
        emit()
        emit("| table | condition | default s | `--n-jobs 1` s | `--n-jobs " f"{cpus}` s | "
             "default / best of the two | loads at block start |")
        emit("|---|---|---|---|---|---|---|")
        goal = []
        for name, (data, feats, shape) in tables.items():
            base = hms + ["cv", str(data), "--features", str(feats), "--quiet",
                          "--out", str(work / f"cv_{name}")]
            if args.n_estimators:
                base += ["--n-estimators", str(args.n_estimators)]
            configs = {"default": base, "1": base + ["--n-jobs", "1"],
                       "all": base + ["--n-jobs", str(cpus)]}
            log(f"cv on {name} {shape}")
            res, loads = _interleaved(configs, conditions, reps, args.timeout, log)
            for cond in conditions:
                d, o, a = (_med(res[(cond, k)]) for k in ("default", "1", "all"))
                ratio = d[0] / min(o[0], a[0])
                goal.append(ratio)
                emit(f"| {name} ({shape[0]} x {shape[1]}) | {cond} | {_fmt(*d)} | {_fmt(*o)} | "
                     f"{_fmt(*a)} | **{ratio:.2f}** | {'; '.join(loads[cond])} |")
        emit()
        emit(f"Goal, default <= 1.2 x the better of 1 and {cpus} threads in every row: "
             f"{'met' if max(goal) <= 1.2 else 'NOT met'} (worst {max(goal):.2f}).")
        emit()

    if 2 in sections:
        emit(f"## 2. LightGBM alone, {args.rounds} rounds on random features")
        emit()
        emit("Ratio of each configuration to 1 thread with passive waiting, same condition.")
        emit()
        emit("| table | condition | waiting | 1 thread | " f"{cpus} threads | rule (threads "
             "chosen) | loads at block start |")
        emit("|---|---|---|---|---|---|---|")
        shapes = {"demo": tables["demo"][2], "small": tables["small"][2]}
        for name, (rows, cols) in shapes.items():
            configs = {}
            for order, nj in (("hms", "1"), ("hms", str(cpus)), ("hms", "rule"), ("lgb", "1"),
                              ("lgb", str(cpus))):
                configs[f"{order}:{nj}"] = [PY, "-c", _LGB_TRIAL, str(rows), str(cols), nj,
                                                str(args.rounds), order]
            log(f"LightGBM on {name} ({rows} x {cols})")
            res, loads = _interleaved(configs, conditions, reps, args.timeout, log)
            res_keys = set(configs)
            for cond in conditions:
                ref = _med(res[(cond, "hms:1")])[0]
                for order, label in (("hms", "passive"), ("lgb", "spinning (libgomp default)")):
                    cells = []
                    for nj in ("1", str(cpus), "rule"):
                        if f"{order}:{nj}" not in res_keys:
                            cells.append("-")
                            continue
                        m, stopped = _med(res[(cond, f"{order}:{nj}")])
                        cell = f"{'>' if stopped else ''}{m / ref:.2f}"
                        if nj == "rule":
                            chosen = sorted({int(out.split()[1]) for _, st, out in
                                             res[(cond, f"{order}:{nj}")] if not st})
                            cell += f" ({','.join(map(str, chosen)) or '?'})"
                        cells.append(cell)
                    emit(f"| {name} ({rows} x {cols}) | {cond} | {label} | {' | '.join(cells)} | "
                         f"{'; '.join(loads[cond])} |")
        emit()

    if 3 in sections:
        for name in args.feature_tables.split(","):
            data, _, shape = tables[name]
            emit(f"## 3. Feature workers: `hms-features features` on the {name} dataset "
                 f"({shape[0]} rows, {_chunks(data)} chunks of label rows)")
            emit()
            emit("| condition | default s | 1 worker s | " f"{cpus} workers s | speed-up of "
                 f"{cpus} workers | default / best of the two | loads at block start |")
            emit("|---|---|---|---|---|---|---|")
            base = hms + ["features", str(data), "--out", str(work / "f.parquet"), "--quiet",
                          "--cache-dir", ""]
            configs = {"default": base, "1": base + ["--n-jobs", "1"],
                       "all": base + ["--n-jobs", str(cpus)]}
            log(f"features on {name}")
            res, loads = _interleaved(configs, conditions, reps, args.timeout, log)
            worst = 0.0
            for cond in conditions:
                d, o, a = (_med(res[(cond, k)]) for k in ("default", "1", "all"))
                ratio = d[0] / min(o[0], a[0])
                worst = max(worst, ratio)
                emit(f"| {cond} | {_fmt(*d)} | {_fmt(*o)} | {_fmt(*a)} | {o[0] / a[0]:.2f}x | "
                     f"**{ratio:.2f}** | {'; '.join(loads[cond])} |")
            emit()
            emit(f"Goal, default <= 1.2 x the better of 1 and {cpus} workers: "
                 f"{'met' if worst <= 1.2 else 'NOT met'} (worst {worst:.2f}). Below "
                 "`_build.run.MIN_WORKER_CHUNKS` chunks every setting runs in one process.")
            emit()

    emit(f"At the end (no competing process), {host_line(host_probe())}.")
    if not args.quick:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        log(f"wrote {out}")


if __name__ == "__main__":
    main()
