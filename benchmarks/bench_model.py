"""Model quality ladder on the synthetic HMS default: KL from class prior to the oracle floor.

One run writes ``benchmarks/results/model.md``: for each model, 5-fold patient-grouped
cross-validated Kaggle KL (all rows and rows with >= 10 votes), fit and predict time summed over
the folds, and the share of the class-prior -> oracle gap it closes,
``(KL_prior - KL_model) / (KL_prior - KL_oracle)``.

Models, each adding one thing to the previous:

1. uniform prediction;
2. class prior (mean vote distribution of the training folds);
3. the seed notebook's approach: per-column mean and min of the 10 min spectrogram window
   (800 features), LightGBM multiclass on the hard expert-consensus label;
4. the same spectrogram features with the soft-label LightGBM (vote distributions as targets);
5. the library's full default feature set (``build_features``) with soft-label LightGBM;
6. + an out-of-fold MLP embedding of those features;
7. + an out-of-fold LSTM embedding of 5 s EEG sub-window sequences;
8. the oracle floor: the generator's true class distribution of each row (``synthetic_truth.csv``).

Features are cached (``--cache-dir``), so a re-run only refits the models.

Usage::

    python benchmarks/bench_model.py [--n-patients 150] [--seed 0] [--workdir /tmp/hms_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hms_features.data import HMSDataset, patient_folds
from hms_features.metrics import CLASSES, kl_divergence, kl_report
from hms_features.models import (
    LSTMEmbedder,
    MLPEmbedder,
    SoftLabelLGBMClassifier,
    cross_validate_by_patient,
    make_hms_pipeline,
)

RESULTS = Path(__file__).resolve().parent / "results" / "model.md"
K = len(CLASSES)


# ------------------------------------------------------------------------- baseline models
class ConstantModel:
    """Uniform (``prior=False``) or training-fold class prior (``prior=True``) prediction."""

    def __init__(self, prior=True):
        self.prior = prior

    def get_params(self, deep=True):
        return {"prior": self.prior}

    def set_params(self, **p):
        self.prior = p.get("prior", self.prior)
        return self

    def fit(self, X, votes, **_):
        v = np.asarray(votes, dtype=float)
        p = (v / v.sum(axis=1, keepdims=True)).mean(axis=0)
        self.p_ = p if self.prior else np.full(K, 1.0 / K)
        return self

    def predict_proba(self, X):
        return np.tile(self.p_, (len(X), 1))


class HardLabelLGBM:
    """The seed notebook's booster: multiclass LightGBM on the argmax (consensus) label."""

    def __init__(self, n_estimators=400, learning_rate=0.05, random_state=0, n_jobs=2):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_jobs = n_jobs

    def get_params(self, deep=True):
        return dict(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                    random_state=self.random_state, n_jobs=self.n_jobs)

    def set_params(self, **p):
        for k, v in p.items():
            setattr(self, k, v)
        return self

    def fit(self, X, votes, **_):
        import lightgbm as lgb

        y = np.asarray(votes).argmax(axis=1)
        self.model_ = lgb.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=15,
            colsample_bytree=0.3, subsample=0.8, subsample_freq=1, verbose=-1,
            random_state=self.random_state, n_jobs=self.n_jobs,
        ).fit(X, y)
        return self

    def predict_proba(self, X):
        out = np.zeros((len(X), K))
        out[:, self.model_.classes_] = self.model_.predict_proba(X)
        return out


# ------------------------------------------------------------------------------ features
def spectrogram_mean_min(ds, labels, cache: Path, chunk=200) -> pd.DataFrame:
    """Seed-notebook features: mean and min over the 10 min window of each spectrogram column."""
    path = cache / "spec_mean_min.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    from hms_features.data import SPEC_COLUMNS

    blocks = []
    for a in range(0, len(labels), chunk):
        w = ds.spectrogram_windows(labels.iloc[a:a + chunk], pad=True)
        with np.errstate(all="ignore"):
            blocks.append(np.c_[np.nanmean(w, axis=1), np.nanmin(w, axis=1)])
    cols = [f"specmean_{c}" for c in SPEC_COLUMNS] + [f"specmin_{c}" for c in SPEC_COLUMNS]
    df = pd.DataFrame(np.vstack(blocks).astype(np.float32), columns=cols,
                      index=labels["label_id"].to_numpy())
    df.to_parquet(path)
    return df


def eeg_sequences(ds, labels, cache: Path, chunk=100) -> pd.DataFrame:
    """5 s sub-window sequences (T = 10) of the 50 s EEG windows, flattened step-major."""
    from hms_features.features.sequence import subwindow_sequence

    path = cache / "eeg_subwindow_seq.parquet"
    if path.is_file():
        return pd.read_parquet(path)
    blocks, names = [], None
    for a in range(0, len(labels), chunk):
        w = ds.eeg_windows(labels.iloc[a:a + chunk], pad=True)
        seq, names = subwindow_sequence(w, fs=200.0, return_names=True)
        blocks.append(seq)
    seq = np.concatenate(blocks)
    n, T, d = seq.shape
    cols = [f"seq_t{t}_{names[j]}" for t in range(T) for j in range(d)]
    df = pd.DataFrame(seq.reshape(n, -1), columns=cols, index=labels["label_id"].to_numpy())
    df.attrs["n_steps"] = T
    df.to_parquet(path)
    return df


# ----------------------------------------------------------------------------------- run
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patients", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/hms_bench_model")
    ap.add_argument("--n-jobs", type=int, default=2, help="feature workers")
    ap.add_argument("--model-jobs", type=int, default=1, help="LightGBM threads")
    ap.add_argument("--n-splits", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated model keys to run (default all)")
    ap.add_argument("--reuse", action="store_true",
                    help="take rows already computed (cache/results/*.json) instead of refitting")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    from hms_features.build import build_features
    from hms_features.synthetic import make_synthetic_hms

    work = Path(args.workdir)
    root = work / f"synthetic_p{args.n_patients}_s{args.seed}"
    cache = work / f"cache_p{args.n_patients}_s{args.seed}"
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not (root / "train.csv").is_file():
        make_synthetic_hms(root, n_patients=args.n_patients, seed=args.seed, progress=True)
    t_gen = time.perf_counter() - t0
    ds = HMSDataset(root)
    labels = ds.labels
    votes = ds.votes(labels)
    groups = labels["patient_id"].to_numpy()
    truth = pd.read_csv(root / "synthetic_truth.csv").set_index("label_id")
    P_true = truth.loc[labels["label_id"].to_numpy(), list(CLASSES)].to_numpy(dtype=float)
    P_true /= P_true.sum(axis=1, keepdims=True)
    folds = patient_folds(labels, n_splits=args.n_splits)
    print(f"{len(labels)} label rows, {len(np.unique(groups))} patients", flush=True)

    t0 = time.perf_counter()
    F_spec = spectrogram_mean_min(ds, labels, cache)
    t_spec = time.perf_counter() - t0
    t0 = time.perf_counter()
    F_full = build_features(ds, "default", n_jobs=args.n_jobs, cache_dir=cache / "features",
                            progress=True)
    t_full = time.perf_counter() - t0
    computed = F_full.attrs.get("chunks_computed")
    t0 = time.perf_counter()
    S = eeg_sequences(ds, labels, cache)
    t_seq = time.perf_counter() - t0
    n_steps = int(S.attrs.get("n_steps") or 10)
    F_full = F_full.set_axis(labels["label_id"].to_numpy())
    F_seq = pd.concat([F_full, S], axis=1)
    print(f"features: spec {F_spec.shape} ({t_spec:.0f}s), full {F_full.shape} ({t_full:.0f}s), "
          f"seq {S.shape} ({t_seq:.0f}s)", flush=True)

    lgbm_kw = dict(validation_fraction=0.15, n_estimators=1000, early_stopping_rounds=30,
                   learning_rate=0.1,
                   n_jobs=args.model_jobs, random_state=0)
    mlp = MLPEmbedder(hidden=(64, 32), dropout=0.2, weight_decay=1e-3, max_epochs=100,
                      patience=8, cv=3, random_state=0)
    lstm = LSTMEmbedder(hidden=32, n_steps=n_steps, max_epochs=100, patience=8, cv=3,
                        random_state=0)
    rows = [
        ("uniform", "uniform prediction", ConstantModel(prior=False), F_spec, {}),
        ("prior", "class prior (training folds)", ConstantModel(prior=True), F_spec, {}),
        ("seed", "seed notebook: spectrogram mean/min, LightGBM on hard labels",
         HardLabelLGBM(n_jobs=args.model_jobs), F_spec, {}),
        ("spec_soft", "spectrogram mean/min + soft-label LightGBM",
         SoftLabelLGBMClassifier(**lgbm_kw), F_spec, {"groups": groups}),
        ("full_soft", f"full default features ({F_full.shape[1]}) + soft-label LightGBM",
         SoftLabelLGBMClassifier(**lgbm_kw), F_full, {"groups": groups}),
        ("mlp", "+ MLP embedding (out-of-fold)",
         make_hms_pipeline(embedders=[("mlp", mlp)], **lgbm_kw), F_full,
         {"lgbm__groups": groups}),
        ("lstm", "+ LSTM embedding of 5 s EEG sub-window sequences (out-of-fold)",
         make_hms_pipeline(embedders=[("mlp", mlp), ("lstm", lstm)],
                       embedder_columns={"mlp": list(F_full.columns), "lstm": "seq_"},
                       **lgbm_kw).set_params(embed__passthrough=list(F_full.columns)),
         F_seq, {"lgbm__groups": groups}),
    ]
    only = {s for s in args.only.split(",") if s}
    saved = cache / "results"
    saved.mkdir(exist_ok=True)
    results = []
    # One BLAS / OpenMP thread: on a shared machine, spinning BLAS threads made the MLP ~12x
    # slower (and LightGBM ~18x with 2 threads) than one thread.
    limiter = threadpool_limits(args.model_jobs)
    for key, name, model, X, fit_params in rows:
        if only and key not in only:
            if args.reuse and (saved / f"{key}.json").is_file():
                r = json.loads((saved / f"{key}.json").read_text())
                r["fold_kl"] = np.asarray(r["fold_kl"])
                results.append(r)
            continue
        t0 = time.perf_counter()
        res = cross_validate_by_patient(model, X, votes, groups, folds=folds,
                                        fit_params=fit_params)
        rep = res.report
        results.append(dict(key=key, name=name, kl=rep["kl"], kl10=rep["kl_many_votes"],
                            fit=res.fit_time.sum(), predict=res.predict_time.sum(),
                            fold_kl=res.fold_kl, per_class=rep["per_class"]))
        (saved / f"{key}.json").write_text(json.dumps(
            {**results[-1], "fold_kl": res.fold_kl.tolist()}, indent=1))
        print(f"{key:10s} KL {rep['kl']:.4f}  >=10 votes {rep['kl_many_votes']:.4f}  "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)
    limiter.unregister()
    orc = kl_report(votes, P_true)
    results.append(dict(key="oracle", name="oracle floor (true distributions)", kl=orc["kl"],
                        kl10=orc["kl_many_votes"], fit=np.nan, predict=np.nan,
                        fold_kl=np.array([kl_divergence(votes[folds == k], P_true[folds == k],
                                                        votes=True)
                                          for k in range(args.n_splits)]),
                        per_class=orc["per_class"]))
    write_report(Path(args.out), results, args, labels, votes, F_spec, F_full, S,
                 dict(gen=t_gen, spec=t_spec, full=t_full, seq=t_seq, computed=computed))


def write_report(path, results, args, labels, votes, F_spec, F_full, S, times):
    import lightgbm

    import hms_features

    by = {r["key"]: r for r in results}
    prior, oracle = by.get("prior"), by["oracle"]
    n_votes = votes.sum(axis=1)

    def gap(r, k):
        if prior is None:
            return float("nan")
        return (prior[k] - r[k]) / (prior[k] - oracle[k])

    lines = [
        "# Model benchmark: synthetic HMS, patient-grouped cross-validation",
        "",
        "Written by `benchmarks/bench_model.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- Data: `make_synthetic_hms(n_patients={args.n_patients}, seed={args.seed})`: "
        f"{len(labels)} label rows, {labels['eeg_id'].nunique()} EEGs, "
        f"{labels['patient_id'].nunique()} patients; {int((n_votes >= 10).sum())} rows with "
        ">= 10 votes.",
        f"- {args.n_splits}-fold `GroupKFold` by patient (`hms_features.data.patient_folds`); "
        "every number is out-of-fold. KL = Kaggle's metric (`hms_features.metrics`), nats.",
        "- Gap closed = (KL_prior - KL_model) / (KL_prior - KL_oracle).",
        "- Fit / predict: seconds summed over the folds, "
        f"{os.cpu_count()} cores shared with other jobs, LightGBM `n_jobs={args.model_jobs}`.",
        f"- Features: spectrogram mean/min {F_spec.shape[1]} columns ({times['spec']:.0f} s); "
        f"default set {F_full.shape[1]} columns ({times['full']:.0f} s"
        f"{', from cache' if times['computed'] == 0 else ''}); EEG sub-window sequences "
        f"{S.shape[1]} columns ({times['seq']:.0f} s).",
        "- Soft-label LightGBM: `SoftLabelLGBMClassifier(validation_fraction=0.15, "
        "learning_rate=0.1, n_estimators=1000, early_stopping_rounds=30)` (inner "
        "patient-grouped hold-out for "
        "early stopping, other parameters default).",
        "- Embedders: `MLPEmbedder(hidden=(64, 32), dropout=0.2, weight_decay=1e-3, cv=3)` on the "
        "default features; `LSTMEmbedder(hidden=32, n_steps=10, cv=3)` on 10 x 5 s EEG "
        "sub-window vectors (`features.sequence.subwindow_sequence`); out-of-fold embeddings "
        "(cross-fitted by patient inside each training fold) appended to the default features.",
        "",
        "| model | KL all rows | KL >= 10 votes | gap closed (all / >= 10) | fit s | predict s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        fit = "" if np.isnan(r["fit"]) else f"{r['fit']:.1f}"
        pred = "" if np.isnan(r["predict"]) else f"{r['predict']:.2f}"
        lines.append(
            f"| {r['name']} | {r['kl']:.4f} | {r['kl10']:.4f} | "
            f"{100 * gap(r, 'kl'):.0f} % / {100 * gap(r, 'kl10'):.0f} % | {fit} | {pred} |"
        )
    best = min((r for r in results if r["key"] not in ("oracle",)), key=lambda r: r["kl"])
    lines += ["", f"Goal (issue 5): the full model closes >= 80 % of the prior -> oracle gap. "
              f"Best row here: {best['key']}, {100 * gap(best, 'kl'):.0f} % (all rows) / "
              f"{100 * gap(best, 'kl10'):.0f} % (>= 10 votes): "
              f"{'met' if min(gap(best, 'kl'), gap(best, 'kl10')) >= 0.8 else 'not met'}. "
              "Times were measured on 2 cores shared with other jobs (load average at the end "
              + ", ".join(f"{v:.1f}" for v in os.getloadavg())
              + "): compare them with each other, not with other machines."]
    lines += ["", "Per-fold KL:", "", "| model | " + " | ".join(
        f"fold {k}" for k in range(args.n_splits)) + " |",
        "|---|" + "---|" * args.n_splits]
    for r in results:
        lines.append(f"| {r['key']} | " + " | ".join(f"{v:.4f}" for v in r["fold_kl"]) + " |")
    lines += ["", "Per-class contribution to the KL (all rows):", "",
              "| model | " + " | ".join(CLASSES) + " |", "|---|" + "---|" * K]
    for r in results:
        lines.append(f"| {r['key']} | " + " | ".join(
            f"{r['per_class'][c]:.4f}" for c in CLASSES) + " |")
    lines += ["", f"Versions: hms_features {hms_features.__version__}, lightgbm "
              f"{lightgbm.__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
              f"Python {sys.version.split()[0]}, {platform.machine()}.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
