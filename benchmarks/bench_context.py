"""Train/test parity: out-of-fold KL of the two preprocessing contexts, scored on test-path
features.

A Kaggle test EEG is a standalone 50 s file. ``build_features(context="window")`` (the default)
featurises every training window as if it were such a file; ``context="recording"`` filters the
whole recording before cutting the windows. This benchmark trains on the training-path features
of each context and evaluates every held-out row on its **test-path** features: each training
window (50 s EEG and 600 s spectrogram) is written out as a standalone test file
(``test.csv``, ``test_eegs/``, ``test_spectrograms/``) and featurised through
``HMSDataset(root, "test")``, as a submission would be. Folds: 5-fold ``patient_folds``; model:
``make_hms_pipeline(n_estimators=200, learning_rate=0.1, random_state=0)`` with
``vote_weights``. The "same path" column scores the held-out rows on the training path's own
features instead (what ``hms-features cv`` reports).

The table goes into ``benchmarks/results/model.md`` between the markers
``<!-- bench_context -->`` (replaced on each run, appended the first time).

Usage::

    python benchmarks/bench_context.py [--n-patients 60] [--seed 0] [--workdir /tmp/hms_ctx]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hms_features import HMSDataset, build_features, make_hms_pipeline, make_synthetic_hms
from hms_features.data import EEG_WINDOW_S, SPEC_WINDOW_S, patient_folds, vote_weights
from hms_features.metrics import kl_report

RESULTS = Path(__file__).resolve().parent / "results" / "model.md"
N_ESTIMATORS, LEARNING_RATE = 200, 0.1
MARK = "<!-- bench_context -->"


def write_as_test_split(ds: HMSDataset, out: Path) -> pd.DataFrame:
    """Every label row's windows as standalone test files; test.csv rows in label order
    (test eeg_id = row position + 1, spectrogram_id = row position + 1 + n)."""
    (out / "test_eegs").mkdir(parents=True, exist_ok=True)
    (out / "test_spectrograms").mkdir(exist_ok=True)
    rows = ds.labels.reset_index(drop=True)
    n, fs = len(rows), ds.fs
    for eeg_id, group in rows.groupby("eeg_id", sort=False):
        eeg = pd.read_parquet(ds.eeg_path(eeg_id))
        for i, offset in zip(group.index, group["eeg_label_offset_seconds"], strict=True):
            start = int(round(offset * fs))
            eeg.iloc[start:start + int(EEG_WINDOW_S * fs)].reset_index(drop=True).to_parquet(
                out / "test_eegs" / f"{i + 1}.parquet", index=False)
    for spec_id, group in rows.groupby("spectrogram_id", sort=False):
        spec = pd.read_parquet(ds.spectrogram_path(spec_id))
        for i, t0 in zip(group.index, group["spectrogram_label_offset_seconds"], strict=True):
            keep = spec[(spec["time"] >= t0) & (spec["time"] < t0 + SPEC_WINDOW_S)].copy()
            keep["time"] = (keep["time"] - t0).astype(np.int16)
            keep.reset_index(drop=True).to_parquet(
                out / "test_spectrograms" / f"{i + 1 + n}.parquet", index=False)
    test = pd.DataFrame({"spectrogram_id": np.arange(n) + 1 + n, "eeg_id": np.arange(n) + 1,
                         "patient_id": rows["patient_id"].to_numpy()})
    test.to_csv(out / "test.csv", index=False)
    return test


def oof(X_train, X_eval, votes, folds, patients):
    """Out-of-fold probabilities: fit on X_train's other folds, predict X_eval's held-out rows."""
    proba = np.empty((len(votes), 6))
    w = vote_weights(votes)
    fit_s = 0.0
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        model = make_hms_pipeline(n_estimators=N_ESTIMATORS, learning_rate=LEARNING_RATE,
                                  random_state=0, n_jobs=1)
        t0 = time.perf_counter()
        model.fit(X_train[tr], votes[tr], sample_weight=w[tr], groups=patients[tr])
        fit_s += time.perf_counter() - t0
        proba[te] = model.predict_proba(X_eval[te])
    return proba, fit_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patients", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/hms_ctx")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    work = Path(args.workdir)
    data = work / f"syn_{args.n_patients}_{args.seed}"
    if not (data / "train.csv").is_file():
        make_synthetic_hms(data, n_patients=args.n_patients, seed=args.seed)
    ds = HMSDataset(data)
    as_test = work / f"as_test_{args.n_patients}_{args.seed}"
    if not (as_test / "test.csv").is_file():
        write_as_test_split(ds, as_test)
    cache = work / "cache"
    feats, secs = {}, {}
    for ctx in ("window", "recording"):
        t0 = time.perf_counter()
        feats[ctx] = build_features(ds, "default", n_jobs=args.n_jobs, cache_dir=cache,
                                    context=ctx)
        secs[ctx] = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = build_features(HMSDataset(as_test, "test"), "default", n_jobs=args.n_jobs,
                          cache_dir=cache)
    secs["test path"] = time.perf_counter() - t0
    X_test = pd.DataFrame(test.to_numpy(), columns=test.columns)
    votes = ds.votes()
    patients = ds.labels["patient_id"].to_numpy()
    folds = patient_folds(ds.labels, 5)
    rows = []
    for ctx in ("window", "recording"):
        X = feats[ctx].reset_index(drop=True)
        diff = np.abs(X.to_numpy() - X_test.to_numpy())
        scale = np.maximum(np.abs(X_test.to_numpy()).max(axis=0), 1e-3)
        n_diff = int(((diff / scale).max(axis=0) > 1e-3).sum())
        p_test, fit_s = oof(X, X_test, votes, folds, patients)
        # identical features give identical predictions: fit once
        p_same = p_test if n_diff == 0 and np.array_equal(X.to_numpy(), X_test.to_numpy()) \
            else oof(X, X, votes, folds, patients)[0]
        r, s = kl_report(votes, p_test), kl_report(votes, p_same)
        rows.append((ctx, r["kl"], r["kl_many_votes"], s["kl"], s["kl_many_votes"], n_diff,
                     secs[ctx], fit_s))
    load = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        MARK,
        "## Train/test parity: preprocessing context of the training windows",
        "",
        f"Written by `benchmarks/bench_context.py` on {stamp} "
        f"({platform.machine()}, {os.cpu_count()} cores, **loaded by other jobs**: load average "
        f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}; the lead may re-run it on an idle machine).",
        "",
        f"- Data: `make_synthetic_hms(n_patients={args.n_patients}, seed={args.seed})`: "
        f"{len(votes)} label rows, {ds.labels['eeg_id'].nunique()} EEGs; "
        f"{int((votes.sum(axis=1) >= 10).sum())} rows with >= 10 votes. Default features "
        f"({X_test.shape[1]} columns).",
        "- Training features from the training path (`build_features(ds, context=...)`); "
        "evaluation features of every held-out row from the **test path**: its 50 s EEG and "
        "600 s spectrogram written as standalone test files and read through "
        "`HMSDataset(root, \"test\")`, as a submission is.",
        f"- 5-fold `patient_folds`; `make_hms_pipeline(n_estimators={N_ESTIMATORS}, "
        f"learning_rate={LEARNING_RATE}, random_state=0)`, `vote_weights`; KL in nats, out of "
        "fold.",
        "- \"same path\": the held-out rows scored on the training path's own features (what "
        "`hms-features cv` reports); \"columns differing\": columns whose training-path value "
        "differs from the test-path value by more than 1e-3 of the column's scale.",
        "",
        "| context | KL, test-path features | KL >= 10 votes | KL, same path | "
        "KL >= 10 votes, same path | columns differing from the test path | feature s | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ctx, kl, klm, kls, klms, n_diff, fs_, fit_s in rows:
        lines.append(f"| `{ctx}` | {kl:.4f} | {klm:.4f} | {kls:.4f} | {klms:.4f} | {n_diff} | "
                     f"{fs_:.0f} | {fit_s:.0f} |")
    lines += ["", f"Test-path features of all {len(votes)} windows: {secs['test path']:.0f} s.",
              MARK, ""]
    text = RESULTS.read_text() if RESULTS.is_file() else ""
    block = "\n".join(lines)
    if MARK in text:
        a = text.index(MARK)
        b = text.index(MARK, a + len(MARK)) + len(MARK)
        text = text[:a] + block.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text)
    print(block)


if __name__ == "__main__":
    main()
