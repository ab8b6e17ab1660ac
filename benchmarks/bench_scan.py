"""Scan benchmark: event-level seizure detection and scan speed on synthetic long recordings.

1. A model on the ``fast`` feature set is trained on a synthetic Kaggle-layout dataset
   (:func:`hms_features.make_synthetic_hms`, then ``build_features`` and
   ``make_hms_pipeline``; what ``hms-features synth`` + ``hms-features train --feature-set
   fast`` do).
2. ``--recordings`` synthetic whole recordings of ``--hours`` each are written as EDF
   (:func:`hms_features.synthetic_long.make_long_recording`: seizures and LPD/GPD/LRDA/GRDA
   stretches at known times, their SzCORE TSV as the reference).
3. Each recording is scanned (:func:`hms_features.recording.scan_file`, 50 s windows every
   ``--step`` s, default event rule) in a fresh process, which reports its wall time, its CPU
   time (user + system, so that a loaded machine does not inflate the speed figure) and its
   peak resident memory; the detected seizures (the SzCORE TSV the scan wrote) are scored
   against the reference with :func:`hms_features.event_scoring.evaluate`, per recording and
   pooled.

Speed is hours of 19-channel EEG scanned per minute of CPU time of the one scanning process
(one core) and per minute of wall time. The machine's load average is recorded with the
results: on a shared machine the wall-time figure is a lower bound.

With ``--long-hours 24`` one more recording of that length is written and scanned the same
way (its own row; its peak memory shows that the scan streams the file in blocks: the
recording is never in memory at once, let alone as float64). Recordings and the model are kept
in ``--workdir`` and reused by later runs with the same settings.

    python benchmarks/bench_scan.py                 # writes benchmarks/results/scan.md
    python benchmarks/bench_scan.py --patients 40 --long-hours 24   # + one 24 h recording
    python benchmarks/bench_scan.py --recordings 2 --hours 1 --patients 30   # quicker
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def source_hash() -> str:
    """Hash of the library's source (every ``hms_features/**/*.py``): part of the settings
    under which a cached dataset, model or recording is reused, so that a run of changed code
    never scores a model or recording made by older code."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted((ROOT / "hms_features").rglob("*.py")):
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]

# The child's peak memory is VmHWM, the high-water mark of its own address space: ru_maxrss
# survives exec, so a child started by a large parent (the one that just wrote a 24 h
# recording, 2.9 GB) reported the parent's size.
_CHILD = r"""
import json, resource, sys, time
def peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux
t0 = time.perf_counter(); c0 = time.process_time()
from hms_features.cli import load_model
from hms_features.recording import scan_file
model = load_model(sys.argv[1])
t1 = time.perf_counter(); c1 = time.process_time()
res = scan_file(sys.argv[2], model, sys.argv[3], step_s=float(sys.argv[4]), plot=False)
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"windows": len(res.proba), "hours": res.duration_s / 3600,
                  "wall_s": t2 - t1, "cpu_s": c2 - c1, "import_s": t1 - t0,
                  "peak_mb": peak_mb()}))
"""


def markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (numbers with ``digits`` decimals)."""
    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def train_model(out: Path, patients: int, seed: int) -> tuple[Path, float]:
    """The model's folder and its training time, s (a model a previous run trained with the
    same settings is reused; ``out / "model.json"`` records them)."""
    from hms_features import build_features, make_synthetic_hms
    from hms_features.data import HMSDataset
    from hms_features.models import make_hms_pipeline

    model_dir, done = out / "model", out / "model.json"
    params = {"patients": patients, "seed": seed, "source": source_hash()}
    if (model_dir / "manifest.json").is_file() and done.is_file():
        info = json.loads(done.read_text())
        if info["params"] == params:
            return model_dir, info["train_s"]
    t0 = time.perf_counter()
    data = out / "synth"
    made = data / "made_with.json"
    if not ((data / "train.csv").is_file() and made.is_file()
            and json.loads(made.read_text()) == params):
        make_synthetic_hms(data, n_patients=patients, seed=seed, progress=False,
                           overwrite=True)
        made.write_text(json.dumps(params))
    ds = HMSDataset(data)
    X = build_features(ds, "fast", n_jobs=2, progress=False, cache_dir=out / "cache")
    model = make_hms_pipeline(n_estimators=200, random_state=seed, n_jobs=2)
    model.fit(X, ds.votes(ds.labels), groups=ds.labels["patient_id"].to_numpy())
    model.save(model_dir)
    train_s = time.perf_counter() - t0
    done.write_text(json.dumps({"params": params, "train_s": train_s}))
    return model_dir, train_s


def recording(rec_dir: Path, name: str, hours: float, seizures_per_hour: float,
              seed: int) -> dict:
    """Write one synthetic recording (or reuse the one a previous run wrote in ``rec_dir``)."""
    from hms_features.synthetic_long import make_long_recording

    done = rec_dir / "recording.json"
    n_sz = max(1, round(seizures_per_hour * hours))
    params = {"hours": hours, "seed": seed, "name": name, "seizures": n_sz,
              "patterns": max(1, round(hours)), "min_gap_s": 240.0}
    if done.is_file():
        info = json.loads(done.read_text())
        if info["params"] == params and info.get("source") == source_hash():
            return {"edf": Path(info["edf"]), "szcore_tsv": Path(info["szcore_tsv"]),
                    "duration_s": info["duration_s"]}
    rec = make_long_recording(rec_dir, **params)
    done.write_text(json.dumps({"params": params, "source": source_hash(), "edf": str(rec["edf"]),
                                "szcore_tsv": str(rec["szcore_tsv"]),
                                "duration_s": rec["duration_s"]}))
    return rec


def scan_one(model_dir: Path, edf: Path, out: Path, step: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir), str(edf), str(out),
                           str(step)], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/hms_bench_scan")
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--recordings", type=int, default=3)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--seizures-per-hour", type=float, default=2.0)
    parser.add_argument("--step", type=float, default=10.0)
    parser.add_argument("--speed-runs", type=int, default=3,
                        help="scans of each short recording for the speed table (interleaved "
                             "across recordings, each in a fresh process; medians)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-hours", type=float, default=0.0,
                        help="also write and scan one recording this long (e.g. 24), scored "
                             "and timed like the others and reported on its own row (0: none)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scan.md"))
    args = parser.parse_args(argv)

    from _host import PROBE_TEXT, host_line, host_probe

    from hms_features.event_scoring import evaluate
    from hms_features.events import read_events
    probe_start = host_line(host_probe())
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model_dir, train_s = train_model(work, args.patients, args.seed)
    runs, refs, hyps, durs, names, edfs = [], [], [], [], [], []
    jobs = [(work / f"rec{k}", f"sub-{k:02d}", args.hours, 100 + k)
            for k in range(args.recordings)]
    if args.long_hours > 0:  # generated in memory (float32, ~58 MB per hour), scanned in blocks
        jobs.append((work / f"long{args.long_hours:g}h", "long-00", args.long_hours, 900))
    for rec_dir, name, hours, seed in jobs:
        rec = recording(rec_dir, name, hours, args.seizures_per_hour, seed)
        scan_dir = rec_dir.with_name(rec_dir.name + "_scan")
        run = scan_one(model_dir, rec["edf"], scan_dir, args.step)
        run["recording"] = rec["edf"].name
        edfs.append(rec["edf"])
        runs.append(run)
        refs.append(read_events(rec["szcore_tsv"]))
        hyps.append(read_events(scan_dir / f"{name}_eeg_scan_sz.tsv"))
        durs.append(rec["duration_s"])
        names.append(rec["edf"].name)
        print(json.dumps(run), flush=True)
    # the short recordings again, interleaved (rec0, rec1, rec2, rec0, ...): one scan's CPU time
    # moves by up to 1.35x with the host's state, so the speed table gives medians
    for _ in range(args.speed_runs - 1):
        for k, (rec_dir, *_) in enumerate(jobs[:args.recordings]):
            run = scan_one(model_dir, edfs[k], rec_dir.with_name(rec_dir.name + "_rescan"),
                           args.step)
            for key in ("wall_s", "cpu_s", "peak_mb"):
                runs[k].setdefault(f"{key}_runs", [runs[k][key]]).append(run[key])
            print(json.dumps(run), flush=True)
    for run in runs:
        for key in ("wall_s", "cpu_s", "peak_mb"):
            if f"{key}_runs" in run:
                run[key] = float(np.median(run.pop(f"{key}_runs")))
        run["runs"] = args.speed_runs if run is not runs[-1] or not args.long_hours else 1
    scores = evaluate(refs, hyps, durs, recordings=names)
    speed = pd.DataFrame(runs)
    speed["h_per_cpu_min"] = speed["hours"] / (speed["cpu_s"] / 60)
    speed["h_per_wall_min"] = speed["hours"] / (speed["wall_s"] / 60)
    load = os.getloadavg()
    probe_end = host_line(host_probe())
    pooled = scores.iloc[-1]
    cols = ["recording", "duration_s", "event_n_ref", "event_tp", "event_fp",
            "event_sensitivity", "event_precision", "event_f1", "event_fp_per_24h",
            "sample_sensitivity", "sample_precision", "sample_f1"]
    long_text = "" if args.long_hours <= 0 else (
        f"; and one {args.long_hours:g} h recording ({jobs[-1][1]}, same rates of events, "
        "its EDF written from memory by the generator, then scanned like the others)")
    short = speed.iloc[:args.recordings]
    peak_text = "" if args.long_hours <= 0 else (
        f" ({speed['peak_mb'].iloc[-1]:.0f} MB for the {args.long_hours:g} h recording, "
        f"{short['peak_mb'].max():.0f} MB at most for the {args.hours:g} h ones)")
    text = f"""# Scan benchmark

`python benchmarks/bench_scan.py {' '.join(argv if argv is not None else sys.argv[1:])}` on
{platform.machine()}, {os.cpu_count()} cores shared with other jobs: **load average at the end
{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}** (wall times are inflated by the load; CPU time
is the scanning process's own). At the start {probe_start}, at the end {probe_end};
{PROBE_TEXT}.

Model: `fast` feature set, {args.patients} synthetic patients (Kaggle layout), LightGBM 200
rounds (trained in {train_s:.0f} s, reused by later runs of the same library source only). Recordings: {args.recordings} x
{args.hours:g} h synthetic 19-channel EDF at 200 Hz (+ ECG), {max(1, round(args.seizures_per_hour
* args.hours))} seizures (40-120 s) and {max(1, round(args.hours))} other IIIC stretches each,
at known times{long_text}. Scan: 50 s windows every {args.step:g} s, streamed in 600 s
blocks, default event rule (on 0.5, off 0.3). Scores: SzCORE event scoring (timescoring) of
the written SzCORE TSV against the reference, per recording and pooled.

## Seizure detection

{markdown(scores[cols])}

Goal: event sensitivity >= 0.90 at <= 2 false alarms per 24 h (pooled:
{pooled['event_sensitivity']:.3f} at {pooled['event_fp_per_24h']:.2f} FA/24 h).

## Speed and memory (one process, one core)

{markdown(speed[["recording", "hours", "windows", "runs", "wall_s", "cpu_s", "h_per_cpu_min",
                 "h_per_wall_min", "peak_mb"]], 2)}

`runs`: scans of the recording, each in a fresh process, interleaved across the recordings;
the times and peak memory are their medians.

Goal: >= 20 h of EEG per minute per core (fast set, 10 s step): measured
{short['hours'].sum() / (short['cpu_s'].sum() / 60):.1f} h per CPU-minute,
{short['hours'].sum() / (short['wall_s'].sum() / 60):.1f} h per wall-minute under the load
above (the {args.hours:g} h recordings pooled). `peak_mb` is the scanning process's peak
resident memory (imports and the model included); the recording is read in 600 s blocks, so
it does not grow with the recording's length{peak_text}.
"""
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
