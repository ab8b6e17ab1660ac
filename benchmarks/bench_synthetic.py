"""Benchmark of the synthetic HMS dataset: generation time and the vote statistics.

Usage::

    python benchmarks/bench_synthetic.py [--patients 100] [--seed 0] [--out results.md]

Writes a dataset of ``--patients`` patients (about 20 label rows each) to a temporary folder and
reports wall and CPU time, files and size, then, on the written ``train.csv`` and
``synthetic_truth.csv``: the class prior of the normalised votes, the one-hot share, the mean
entropy of the vote distributions (nats), the histogram of the number of votes, and the KL
divergence (Kaggle metric) of the constant class-prior prediction and of the oracle that
predicts each row's true distribution. The targets are the real training set's figures
(``../shared/data/README.md``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hms_features.data import VOTE_COLUMNS
from hms_features.metrics import CLASSES, kl_divergence
from hms_features.synthetic import TRUTH_FILE, make_synthetic_hms

REAL_PRIOR = (0.204, 0.162, 0.103, 0.066, 0.097, 0.367)
REAL_ONE_HOT = 0.557
REAL_ENTROPY = 0.326


def vote_report(root: Path) -> list[str]:
    train = pd.read_csv(root / "train.csv")
    truth = pd.read_csv(root / TRUTH_FILE)
    truth = truth[truth["split"] == "train"].set_index("label_id").loc[train["label_id"]]
    votes = train[list(VOTE_COLUMNS)].to_numpy(float)
    n = votes.sum(axis=1)
    y = votes / n[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(y > 0, y * np.log(y), 0.0).sum(axis=1)
    prior = y.mean(axis=0)
    p_true = np.clip(truth[list(CLASSES)].to_numpy(), 1e-15, None)
    p_true /= p_true.sum(axis=1, keepdims=True)
    constant = np.tile(prior, (len(y), 1))
    many = n >= 10
    lines = [
        f"rows {len(train)}, EEGs {train.eeg_id.nunique()}, patients {train.patient_id.nunique()}"
        f", rows per EEG {len(train) / train.eeg_id.nunique():.2f}",
        "| class | synthetic prior | real prior |", "|---|---|---|",
        *[f"| {c} | {p:.3f} | {r:.3f} |" for c, p, r in zip(CLASSES, prior, REAL_PRIOR)],
        f"max |prior - real| = {np.abs(prior - np.array(REAL_PRIOR)).max():.3f}",
        f"one-hot share {(y == 1).any(axis=1).mean():.3f} (real {REAL_ONE_HOT})",
        f"mean vote entropy {ent.mean():.3f} nats (real {REAL_ENTROPY})",
        "votes per row: " + ", ".join(
            f"{k}: {int(c)}" for k, c in enumerate(np.bincount(n.astype(int))) if c),
        f"share of rows with 1-3 votes {(n <= 3).mean():.3f}, with >= 10 votes {many.mean():.3f}",
        f"KL class prior {kl_divergence(y, constant):.3f}, oracle (true distribution) "
        f"{kl_divergence(y, p_true):.3f}",
        f"rows with >= 10 votes: KL class prior {kl_divergence(y[many], constant[many]):.3f}, "
        f"oracle {kl_divergence(y[many], p_true[many]):.3f}",
    ]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "hms"
        t0, c0 = time.perf_counter(), time.process_time()
        make_synthetic_hms(root, n_patients=args.patients, seed=args.seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        files = [p for p in root.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        lines = [
            f"# synthetic HMS: {args.patients} patients, seed {args.seed}",
            f"generation: wall {wall:.1f} s, CPU {cpu:.1f} s (2 worker threads; load average "
            f"{load:.1f} at the end), {len(files)} files, {size / 1e6:.0f} MB",
            *vote_report(root),
        ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
