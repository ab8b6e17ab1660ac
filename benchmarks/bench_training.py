"""Vote-aware training recipes on the synthetic HMS default, by patient-grouped cross-validation.

Every recipe trains the same soft-label LightGBM on the same feature table and the same
patient-grouped folds; only the training rows or their weights differ. Each is scored out of fold
on *all* label rows of the held-out patients (Kaggle's test rows resemble the >= 10-vote ones, so
both the KL on all rows and the KL on rows with >= 10 votes are reported):

1. ``plain``: every label row, weight 1;
2. ``min_votes``: only the training rows with >= ``--min-votes`` votes;
3. ``vote_weights``: every row, weight ``min(n_votes, 10) / 10``
   (:func:`hms_features.data.vote_weights`);
4. ``per_eeg``: one row per EEG, votes summed (``HMSDataset.eeg_labels``: the middle label row's
   window), training patients only;
5. ``two_stage``: :class:`~hms_features.models.two_stage.TwoStageClassifier`, stage 1 on all rows,
   stage 2 (``--stage2-estimators`` rounds) continued on the rows with >= ``--min-votes`` votes;
6. the oracle floor (the generator's true distributions, ``synthetic_truth.csv``).

Results go to ``--out`` (default ``benchmarks/results/training.md``). Run it on an otherwise idle
machine; fit times on a loaded one mean little.

Usage::

    python benchmarks/bench_training.py [--n-patients 200] [--seed 0] [--workdir /tmp/hms_bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hms_features.data import HMSDataset, patient_folds, vote_weights
from hms_features.metrics import CLASSES, kl_report
from hms_features.models import SoftLabelLGBMClassifier
from hms_features.models.two_stage import TwoStageClassifier, min_votes_mask

RESULTS = Path(__file__).resolve().parent / "results" / "training.md"


def run_recipe(key, labels, X, votes, folds, eeg_rows, args):
    """Out-of-fold probabilities (all label rows) of one recipe and the summed fit seconds."""
    patients = labels["patient_id"].to_numpy()
    base = SoftLabelLGBMClassifier(validation_fraction=0.15, n_estimators=1000,
                                   early_stopping_rounds=30, learning_rate=0.1,
                                   n_jobs=args.model_jobs, random_state=args.seed)
    oof = np.full(votes.shape, np.nan)
    fit_s = 0.0
    for k in np.unique(folds):
        train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        Xt, vt, gt, sw = X.iloc[train], votes[train], patients[train], None
        model = base
        if key == "min_votes":
            keep = min_votes_mask(vt, args.min_votes)
            Xt, vt, gt = Xt.iloc[keep], vt[keep], gt[keep]
        elif key == "vote_weights":
            sw = vote_weights(vt)
        elif key == "per_eeg":
            rows = eeg_rows[~eeg_rows["patient_id"].isin(np.unique(patients[test]))]
            Xt = X.loc[rows["label_id"].to_numpy()]
            vt = rows[[f"{c}_vote" for c in CLASSES]].to_numpy(dtype=float)
            gt = rows["patient_id"].to_numpy()
        elif key == "two_stage":
            model = TwoStageClassifier(base, min_votes=args.min_votes,
                                       stage2_estimators=args.stage2_estimators)
        t0 = time.perf_counter()
        fitted = model.fit(Xt, vt, sample_weight=sw, groups=gt)
        fit_s += time.perf_counter() - t0
        oof[test] = fitted.predict_proba(X.iloc[test])
    return oof, fit_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patients", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/hms_bench_model")
    ap.add_argument("--feature-set", default="default")
    ap.add_argument("--n-jobs", type=int, default=2, help="feature workers")
    ap.add_argument("--model-jobs", type=int, default=1, help="LightGBM threads")
    ap.add_argument("--n-splits", type=int, default=5)
    ap.add_argument("--min-votes", type=float, default=10)
    ap.add_argument("--stage2-estimators", type=int, default=100)
    ap.add_argument("--only", default="", help="comma-separated recipes (default all)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    from hms_features.build import build_features
    from hms_features.synthetic import make_synthetic_hms

    work = Path(args.workdir)
    root = work / f"synthetic_p{args.n_patients}_s{args.seed}"
    cache = work / f"cache_p{args.n_patients}_s{args.seed}"
    cache.mkdir(parents=True, exist_ok=True)
    if not (root / "train.csv").is_file():
        make_synthetic_hms(root, n_patients=args.n_patients, seed=args.seed, progress=True)
    ds = HMSDataset(root)
    labels = ds.labels
    votes = ds.votes(labels)
    folds = patient_folds(labels, n_splits=args.n_splits)
    t0 = time.perf_counter()
    X = build_features(ds, args.feature_set, n_jobs=args.n_jobs, cache_dir=cache / "features",
                       progress=True, labels=labels)
    t_feat = time.perf_counter() - t0
    X = X.set_axis(labels["label_id"].to_numpy())
    eeg_rows = ds.eeg_labels()
    truth = pd.read_csv(root / "synthetic_truth.csv").set_index("label_id")
    P_true = truth.loc[labels["label_id"].to_numpy(), list(CLASSES)].to_numpy(dtype=float)
    P_true /= P_true.sum(axis=1, keepdims=True)
    print(f"{len(labels)} label rows, {labels['patient_id'].nunique()} patients, "
          f"{X.shape[1]} features ({t_feat:.0f} s)", flush=True)

    recipes = [
        ("plain", "all rows, weight 1"),
        ("min_votes", f"only rows with >= {args.min_votes:g} votes"),
        ("vote_weights", "all rows, weight min(n_votes, 10) / 10"),
        ("per_eeg", "one row per EEG, votes summed"),
        ("two_stage", f"two-stage: all rows, then +{args.stage2_estimators} rounds on rows with "
                      f">= {args.min_votes:g} votes"),
    ]
    only = {s for s in args.only.split(",") if s}
    results = []
    with threadpool_limits(args.model_jobs):
        for key, name in recipes:
            if only and key not in only:
                continue
            t0 = time.perf_counter()
            oof, fit_s = run_recipe(key, labels, X, votes, folds, eeg_rows, args)
            rep = kl_report(votes, oof)
            fold_kl = [kl_report(votes[folds == k], oof[folds == k])["kl"]
                       for k in np.unique(folds)]
            results.append(dict(key=key, name=name, kl=rep["kl"], kl10=rep["kl_many_votes"],
                                fit=fit_s, fold_kl=fold_kl))
            print(f"{key:13s} KL {rep['kl']:.4f}  >=10 votes {rep['kl_many_votes']:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    orc = kl_report(votes, P_true)
    results.append(dict(key="oracle", name="oracle floor (true distributions)", kl=orc["kl"],
                        kl10=orc["kl_many_votes"], fit=float("nan"), fold_kl=[]))
    write_report(Path(args.out), results, args, labels, votes, X.shape[1])


def write_report(path, results, args, labels, votes, n_features):
    import lightgbm

    import hms_features

    n_votes = votes.sum(axis=1)
    lines = [
        "# Training recipes: synthetic HMS, patient-grouped cross-validation",
        "",
        "Written by `benchmarks/bench_training.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- Data: `make_synthetic_hms(n_patients={args.n_patients}, seed={args.seed})`: "
        f"{len(labels)} label rows, {labels['eeg_id'].nunique()} EEGs, "
        f"{labels['patient_id'].nunique()} patients; {int((n_votes >= 10).sum())} rows with "
        ">= 10 votes.",
        f"- Features: `build_features(feature_set={args.feature_set!r})`, {n_features} columns.",
        f"- {args.n_splits}-fold `GroupKFold` by patient (`hms_features.data.patient_folds`); "
        "every recipe is scored out of fold on all label rows of the held-out patients. "
        "KL = Kaggle's metric, nats.",
        "- Model: `SoftLabelLGBMClassifier(validation_fraction=0.15, learning_rate=0.1, "
        f"n_estimators=1000, early_stopping_rounds=30, random_state={args.seed})`; two-stage "
        f"adds `stage2_estimators={args.stage2_estimators}` rounds at the same learning rate.",
        f"- Fit s: summed over folds, LightGBM `n_jobs={args.model_jobs}`, {os.cpu_count()} "
        "cores (load average at the end "
        + ", ".join(f"{v:.1f}" for v in os.getloadavg()) + ").",
        "",
        "| recipe | KL all rows | KL >= 10 votes | fit s |",
        "|---|---|---|---|",
    ]
    for r in results:
        fit = "" if np.isnan(r["fit"]) else f"{r['fit']:.1f}"
        lines.append(f"| {r['name']} | {r['kl']:.4f} | {r['kl10']:.4f} | {fit} |")
    folded = [r for r in results if r["fold_kl"]]
    if folded:
        n = len(folded[0]["fold_kl"])
        lines += ["", "Per-fold KL (all rows):", "",
                  "| recipe | " + " | ".join(f"fold {k}" for k in range(n)) + " |",
                  "|---" * (n + 1) + "|"]
        lines += [f"| {r['key']} | " + " | ".join(f"{v:.4f}" for v in r["fold_kl"]) + " |"
                  for r in folded]
    lines += ["", f"Python {platform.python_version()} ({sys.platform}), hms_features "
              f"{hms_features.__version__}, LightGBM {lightgbm.__version__}, numpy "
              f"{np.__version__}.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
