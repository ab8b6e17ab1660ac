"""Scale benchmark: does featurisation stay linear in time and flat in memory as data grow?

Featurises two datasets, one ``--factor`` times larger than the other, with 1 and 2 local
workers, and records windows/s and the peak resident memory of the whole process tree
(main process + joblib workers, sampled every 50 ms). The larger dataset reuses the smaller
one's recordings: its ``train.csv`` repeats every label row ``factor`` times under new
``label_id``s, with the parquet folders linked, so the generator's cost stays out of the
measurement while every window is still read and featurised.

    python benchmarks/bench_scale.py                       # writes benchmarks/results/scale.md
    python benchmarks/bench_scale.py --patients 100 --factor 10 --feature-set default

Expect time per window to stay flat and peak memory to depend on ``chunk_size`` and the
number of workers, not on the number of windows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from hms_features import build_features, make_synthetic_hms
from hms_features.data import HMSDataset


def replicate(root: Path, out: Path, factor: int) -> Path:
    """A dataset whose train.csv repeats each label row ``factor`` times (same recordings)."""
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("train_eegs", "train_spectrograms"):
        link = out / sub
        if not link.exists():
            link.symlink_to((root / sub).resolve(), target_is_directory=True)
    df = pd.read_csv(root / "train.csv")
    copies = []
    for k in range(factor):
        c = df.copy()
        c["label_id"] = c["label_id"] + k * (int(df["label_id"].max()) + 1)
        copies.append(c)
    # recordings stay together, as in the real train.csv
    big = pd.concat(copies).sort_values(["eeg_id", "eeg_label_offset_seconds"], kind="stable")
    big.to_csv(out / "train.csv", index=False)
    return out


def _featurise(root: str, feature_set: str, n_jobs: int, chunk_size: int | None) -> None:
    """Child process: featurise ``root`` and print the timing as JSON (imports excluded)."""
    ds = HMSDataset(root)
    t0 = time.perf_counter()
    df = build_features(ds, feature_set, n_jobs=n_jobs, chunk_size=chunk_size, progress=False)
    print(json.dumps({"windows": len(df), "seconds": time.perf_counter() - t0}))


def measure(root: Path, feature_set, n_jobs: int, chunk_size: int | None) -> dict:
    """Run one featurisation in a fresh process (no warm workers or caches left over from the
    previous run) and sample the peak resident memory of its whole process tree."""
    cmd = [sys.executable, __file__, "--child", str(root), "--feature-set", str(feature_set),
           "--n-jobs", str(n_jobs)]
    if chunk_size:
        cmd += ["--chunk-size", str(chunk_size)]
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, total / 2**20)
        time.sleep(0.05)
    out = proc.stdout.read()
    if proc.returncode:
        raise RuntimeError(f"featurising {root} failed (exit {proc.returncode})")
    r = json.loads(out.strip().splitlines()[-1])
    return {"windows": r["windows"], "n_jobs": n_jobs, "seconds": r["seconds"],
            "windows_per_s": r["windows"] / r["seconds"],
            "ms_per_window": 1000 * r["seconds"] / r["windows"], "peak_mb": peak}


def markdown(table: pd.DataFrame) -> str:
    """A pipe table, floats with one decimal."""
    def cell(v):
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="/tmp/hms_bench_scale")
    ap.add_argument("--patients", type=int, default=25)
    ap.add_argument("--factor", type=int, default=8)
    ap.add_argument("--feature-set", default="fast")
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.md"))
    ap.add_argument("--n-jobs", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _featurise(args.child, args.feature_set, args.n_jobs, args.chunk_size)

    work = Path(args.workdir)
    small = work / "small"
    if not (small / "train.csv").is_file():
        make_synthetic_hms(small, n_patients=args.patients, seed=0, n_test=1)
    big = replicate(small, work / f"x{args.factor}", args.factor)

    rows = []
    for name, root in (("small", small), (f"{args.factor}x", big)):
        for n_jobs in (1, 2):
            r = measure(root, args.feature_set, n_jobs, args.chunk_size)
            r["dataset"] = name
            rows.append(r)
            print(r, flush=True)
    table = pd.DataFrame(rows)[["dataset", "windows", "n_jobs", "seconds", "windows_per_s",
                                "ms_per_window", "peak_mb"]]
    load = os.getloadavg()
    text = (
        "# Scale benchmark\n\n"
        f"`python benchmarks/bench_scale.py --patients {args.patients} --factor {args.factor} "
        f"--feature-set {args.feature_set}` on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}); feature set "
        f"`{args.feature_set}`, default chunk size. Each run is a fresh process; its time "
        "excludes imports; peak memory is the resident set of its process tree (main + "
        "workers), sampled every 50 ms.\n\n"
        + markdown(table) + "\n"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
