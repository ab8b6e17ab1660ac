"""Benchmark of the synthetic HMS dataset: generation time and the vote statistics.

Usage::

    python benchmarks/bench_synthetic.py [--patients 100] [--seed 0] [--learn] [--out results.md]

Writes a dataset of ``--patients`` patients (about 20 label rows each) to a temporary folder and
reports wall and CPU time, files and size, then, on the written ``train.csv`` and
``synthetic_truth.csv``: the class prior of the normalised votes, the one-hot share, the mean
entropy of the vote distributions (nats), the histogram of the number of votes, and the KL
divergence (Kaggle metric) of the constant class-prior prediction and of the oracle that
predicts each row's true distribution. The targets are the real training set's figures
(``../shared/data/README.md``).

``--learn`` also checks that the truth is learnable from the signals: about 150 quick features
(Welch band powers per chain over the 50 s window and its first, central and last 10 s,
left/right and front/back log ratios, peak frequency, envelope autocorrelation peak and lag,
EKG coupling) and a LightGBM trained on vote fractions (rows repeated per class, weighted by the
fraction), 5 patient folds; it reports the share of the gap between the class-prior KL and the
oracle KL that the model closes.
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


def quick_features(windows: np.ndarray, fs: float = 200.0) -> pd.DataFrame:
    """Quick features of EEG windows (n, 20, 50 s), for the learnability check only."""
    from scipy.signal import butter, sosfiltfilt, welch

    from hms_features.signal import bipolar

    w = np.nan_to_num(windows.astype(np.float64))
    w -= np.median(w, axis=-1, keepdims=True)
    b = sosfiltfilt(butter(4, [0.5, 20], btype="band", fs=fs, output="sos"), bipolar(w), axis=-1)
    chains = [slice(0, 4), slice(4, 8), slice(8, 12), slice(12, 16), slice(16, 18)]
    bands = [(0.5, 2), (2, 4), (4, 8), (8, 13), (13, 25)]
    n10 = int(10 * fs)
    mid = b.shape[-1] // 2
    spans = {"50": b, "first10": b[..., :n10], "centre10": b[..., mid - n10 // 2: mid + n10 // 2],
             "last10": b[..., -n10:]}
    out = {}
    for name, seg in spans.items():
        f, p = welch(seg, fs, nperseg=int(2 * fs), axis=-1)
        for lo, hi in bands:
            bp = p[..., (f >= lo) & (f < hi)].sum(-1)
            for ci, cs in enumerate(chains):
                out[f"pow_{lo}_{ci}_{name}"] = np.log(bp[:, cs].mean(1) + 1e-3)
            out[f"lr_{lo}_{name}"] = (np.log(bp[:, 0:8].mean(1) + 1e-3)
                                      - np.log(bp[:, 8:16].mean(1) + 1e-3))
            out[f"fb_{lo}_{name}"] = (np.log(bp[:, [0, 4, 8, 12]].mean(1) + 1e-3)
                                      - np.log(bp[:, [3, 7, 11, 15]].mean(1) + 1e-3))
        m = (f >= 0.5) & (f < 12)
        out[f"peak_{name}"] = f[m][np.argmax(p[..., m].mean(1), axis=-1)]
    out["peak_change"] = out["peak_last10"] - out["peak_first10"]
    env = np.abs(b[..., int(10 * fs): int(40 * fs)])
    lags = np.arange(int(3 * fs)) / fs
    m = (lags > 0.3) & (lags < 2.5)
    for ci, cs in enumerate(chains[:4]):
        e = env[:, cs].mean(1)
        e = e - e.mean(-1, keepdims=True)
        ac = np.fft.irfft(np.abs(np.fft.rfft(e, n=2 * e.shape[-1])) ** 2)[:, : lags.size]
        ac = ac / ac[:, :1]
        out[f"acf_max_{ci}"] = ac[:, m].max(1)
        out[f"acf_lag_{ci}"] = lags[m][np.argmax(ac[:, m], axis=1)]
    scalp = w[:, :19] - w[:, :19].mean(-1, keepdims=True)
    ekg = w[:, 19] - w[:, 19].mean(-1, keepdims=True)
    out["ekg_coupling"] = np.abs(np.einsum("nct,nt->nc", scalp, ekg)).mean(1) / (
        np.linalg.norm(ekg, axis=-1) * np.linalg.norm(scalp, axis=-1).mean(1) + 1e-9)
    return pd.DataFrame(out)


def learn_report(root: Path) -> list[str]:
    """Gap between class-prior and oracle KL closed by LightGBM on quick features."""
    import lightgbm as lgb

    from hms_features.data import HMSDataset, patient_folds

    ds = HMSDataset(root)
    labels = ds.labels
    t0 = time.perf_counter()
    X = pd.concat([quick_features(ds.eeg_windows(labels.iloc[i: i + 100]))
                   for i in range(0, len(labels), 100)], ignore_index=True).to_numpy()
    t_feat = time.perf_counter() - t0
    y = ds.targets()
    folds = patient_folds(labels, 5)
    pred = np.zeros_like(y)
    for k in range(5):
        tr, te = folds != k, folds == k
        xr = np.repeat(X[tr], 6, axis=0)
        yr = np.tile(np.arange(6), tr.sum())
        wr = y[tr].ravel()
        model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.03, num_leaves=15,
                                   subsample=0.8, subsample_freq=1, colsample_bytree=0.5,
                                   n_jobs=1, random_state=0, verbose=-1)
        model.fit(xr[wr > 0], yr[wr > 0], sample_weight=wr[wr > 0])
        pred[te] = model.predict_proba(X[te])
    truth = pd.read_csv(root / TRUTH_FILE).set_index("label_id").loc[labels["label_id"]]
    p_true = np.clip(truth[list(CLASSES)].to_numpy(), 1e-15, None)
    p_true /= p_true.sum(axis=1, keepdims=True)
    kl_prior = kl_divergence(y, np.tile(y.mean(axis=0), (len(y), 1)))
    kl_oracle = kl_divergence(y, p_true)
    kl_model = kl_divergence(y, pred)
    return [
        f"learnability ({X.shape[1]} quick features in {t_feat:.0f} s, LightGBM, 5 patient "
        f"folds): KL class prior {kl_prior:.3f}, model {kl_model:.3f}, oracle {kl_oracle:.3f}; "
        f"gap closed {100 * (kl_prior - kl_model) / (kl_prior - kl_oracle):.1f} %",
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--learn", action="store_true", help="also run the learnability check")
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
        if args.learn:
            lines += learn_report(root)
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
