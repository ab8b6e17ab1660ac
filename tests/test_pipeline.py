"""Pipeline, embedding union, patient-grouped CV, submission writer and pipeline persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GroupKFold, KFold, cross_validate

from hms_features.data import VOTE_COLUMNS, patient_folds
from hms_features.metrics import CLASSES, kl_divergence
from hms_features.models import (
    EmbeddingUnion,
    HMSPipeline,
    LSTMEmbedder,
    MLPEmbedder,
    ModelFileError,
    SoftLabelLGBMClassifier,
    cross_validate_by_patient,
    load,
    make_hms_pipeline,
    make_pipeline,
    register_kind,
)
from hms_features.models.lgbm import softmax
from hms_features.models.persist import read_manifest, write_manifest
from hms_features.submission import SUBMISSION_COLUMNS, write_submission

K = len(CLASSES)
FAST = dict(n_estimators=30, learning_rate=0.2, n_jobs=1, random_state=0)


@register_kind  # what a user's own embedder does to be loadable by kind (and nothing else)
class RidgeEmbedder(TransformerMixin, BaseEstimator):
    """Stand-in embedder: ridge map features -> vote fractions; cross-fitted fit_transform."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, Y):
        X = np.asarray(X, dtype=np.float64)
        A = np.c_[X, np.ones(len(X))]
        self.coef_ = np.linalg.solve(A.T @ A + self.alpha * np.eye(A.shape[1]), A.T @ Y)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.c_[X, np.ones(len(X))] @ self.coef_

    def fit_transform(self, X, Y, groups=None):
        self.groups_seen_ = groups
        X = np.asarray(X, dtype=np.float64)
        splits = (GroupKFold(3).split(X, Y, groups) if groups is not None
                  else KFold(3).split(X))
        oof = np.empty((len(X), Y.shape[1]))
        for train, test in splits:
            oof[test] = clone(self).fit(X[train], Y[train]).transform(X[test])
        self.fit(X, Y)
        return oof

    def get_feature_names_out(self, input_features=None):
        return np.array([f"ridge_{c}" for c in CLASSES], dtype=object)

    def save(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / "coef.npz", coef=self.coef_)
        write_manifest(directory, "RidgeEmbedder", {"alpha": self.alpha}, files=["coef.npz"])

    @classmethod
    def load(cls, directory):
        m = read_manifest(directory, kind="RidgeEmbedder")
        est = cls(alpha=m["alpha"])
        with np.load(directory / "coef.npz", allow_pickle=False) as z:
            est.coef_ = z["coef"]
        return est



def make_table(n=240, d=20, n_patients=24, seed=0):
    """Feature table, vote counts and patient ids; the first 6 features drive the classes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    P = softmax(X[:, :K] * 1.5)
    n_votes = np.where(rng.random(n) < 0.4, rng.integers(10, 20, n), rng.integers(1, 6, n))
    votes = np.stack([rng.multinomial(k, p) for k, p in zip(n_votes, P, strict=True)])
    df = pd.DataFrame(X, columns=[f"feat_{i}" for i in range(d)])
    patients = np.repeat(np.arange(n_patients), n // n_patients)
    return df, votes.astype(float), patients


@pytest.fixture(scope="module")
def table():
    return make_table()


# ------------------------------------------------------------------------------ union
def test_union_appends_out_of_fold_embeddings_when_fitting(table):
    X, votes, patients = table
    T = votes / votes.sum(axis=1, keepdims=True)
    union = EmbeddingUnion([("ridge", RidgeEmbedder())])
    out = union.fit_transform(X, votes, groups=patients)
    expected_cols = list(X.columns) + [f"ridge_{c}" for c in CLASSES]
    assert list(out.columns) == expected_cols
    assert list(union.get_feature_names_out()) == expected_cols
    pd.testing.assert_frame_equal(out[list(X.columns)], X)
    oof = RidgeEmbedder().fit_transform(X, T, groups=patients)
    np.testing.assert_allclose(out.iloc[:, -K:].to_numpy(), oof, rtol=1e-5, atol=1e-6)
    assert union.embedders_[0][1].groups_seen_ is patients
    # transform uses the embedder refitted on all rows: in-sample, different from out-of-fold
    full = RidgeEmbedder().fit(X, T).transform(X)
    np.testing.assert_allclose(union.transform(X).iloc[:, -K:].to_numpy(), full,
                               rtol=1e-5, atol=1e-6)
    assert np.abs(full - oof).max() > 1e-3
    # per-embedder column selection by prefix
    sel = EmbeddingUnion([("ridge", RidgeEmbedder())], columns={"ridge": "feat_1"},
                         passthrough=False).fit_transform(X, votes)
    cols = [c for c in X.columns if c.startswith("feat_1")]
    np.testing.assert_allclose(
        sel.to_numpy(), RidgeEmbedder().fit_transform(X[cols], T), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="feature names differ"):
        union.transform(X.rename(columns={"feat_0": "other"}))


def test_pipeline_contract_clone_and_set_params(table):
    X, votes, patients = table
    pipe = make_hms_pipeline(embedders=[("ridge", RidgeEmbedder())], **FAST)
    assert [s[0] for s in pipe.steps] == ["embed", "lgbm"]
    params = pipe.get_params()
    assert params["embed__ridge__alpha"] == 1.0 and params["lgbm__n_estimators"] == 30
    pipe.set_params(embed__ridge__alpha=3.0, lgbm__num_leaves=7)
    assert pipe.named_steps["embed"].embedders[0][1].alpha == 3.0
    assert pipe.named_steps["lgbm"].num_leaves == 7
    c = clone(pipe)
    assert isinstance(c, HMSPipeline) and c.get_params()["embed__ridge__alpha"] == 3.0
    assert pipe.fit(X, votes, embed__groups=patients) is pipe
    assert not hasattr(c.named_steps["lgbm"], "booster_")
    proba = pipe.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert set(pipe.predict(X)) <= set(CLASSES)
    names = pipe.named_steps["lgbm"].feature_names_in_
    assert list(names[-K:]) == [f"ridge_{c}" for c in CLASSES]
    # soft targets flowed to the booster: equal to fitting it on the union's output directly
    Z = clone(pipe.named_steps["embed"]).fit_transform(X, votes, groups=patients)
    direct = clone(pipe.named_steps["lgbm"]).fit(Z, votes)
    np.testing.assert_allclose(direct.predict_proba(pipe.named_steps["embed"].transform(X)),
                               proba, atol=1e-12)


def test_sklearn_cross_validate_with_group_kfold(table):
    X, votes, patients = table
    pipe = make_hms_pipeline(embedders=[RidgeEmbedder()], **FAST)
    cv = GroupKFold(n_splits=3)
    res = cross_validate(pipe, X, votes, groups=patients, cv=cv,
                         params={"embed__groups": patients})
    manual = []
    for train, test in cv.split(X, votes, patients):
        est = clone(pipe).fit(X.iloc[train], votes[train], embed__groups=patients[train])
        assert not set(patients[train]) & set(patients[test])
        manual.append(-kl_divergence(votes[test], est.predict_proba(X.iloc[test]), votes=True))
    np.testing.assert_allclose(res["test_score"], manual, rtol=1e-10)
    assert (res["test_score"] < 0).all()


def test_cross_validate_by_patient(table):
    X, votes, patients = table
    model = SoftLabelLGBMClassifier(**FAST)
    res = cross_validate_by_patient(model, X, votes, patients, n_splits=4,
                                    return_estimators=True)
    assert res.fold_kl.shape == (4,) and res.oof.shape == (len(X), K)
    assert len(res.estimators) == 4 and len(res.fit_time) == 4
    np.testing.assert_allclose(res.oof.sum(axis=1), 1.0, atol=1e-12)
    for k in range(4):
        rows = res.folds == k
        assert not set(patients[rows]) & set(patients[~rows])  # no patient in two folds
        ref = clone(model).fit(X[~rows], votes[~rows])
        np.testing.assert_allclose(res.oof[rows], ref.predict_proba(X[rows]), atol=1e-12)
        assert res.fold_kl[k] == pytest.approx(
            kl_divergence(votes[rows], res.oof[rows], votes=True), rel=1e-12
        )
    many = votes.sum(axis=1) >= 10
    assert res.kl == pytest.approx(kl_divergence(votes, res.oof, votes=True), rel=1e-12)
    assert res.report["kl_many_votes"] == pytest.approx(
        kl_divergence(votes[many], res.oof[many], votes=True), rel=1e-12
    )
    assert res.report["n_many_votes"] == many.sum()
    assert sum(res.report["per_class"].values()) == pytest.approx(res.kl, rel=1e-9)
    # weights reach the model: with vote-count weights the fold models differ
    w = cross_validate_by_patient(model, X, votes, patients, n_splits=4,
                                  sample_weight=votes.sum(axis=1))
    np.testing.assert_array_equal(w.folds, res.folds)
    assert np.abs(w.oof - res.oof).max() > 1e-4
    # precomputed folds from the data layer
    labels = pd.DataFrame({"patient_id": patients})
    pf = patient_folds(labels, n_splits=3)
    r3 = cross_validate_by_patient(model, X, votes, patients, folds=pf)
    np.testing.assert_array_equal(r3.folds, pf)
    # without folds it uses the data layer's patient_folds (one fold code in the library)
    np.testing.assert_array_equal(res.folds, patient_folds(labels, n_splits=4))
    with pytest.raises(ValueError, match="n_splits=30 needs 2 <= n_splits"):
        cross_validate_by_patient(model, X, votes, patients, n_splits=30)
    bad = pf.copy()
    bad[0] = (bad[0] + 1) % 3
    with pytest.raises(ValueError, match="split patient 0 across folds"):
        cross_validate_by_patient(model, X, votes, patients, folds=bad)


def test_cross_validate_by_patient_routes_groups_to_embedders(table):
    X, votes, patients = table
    pipe = make_hms_pipeline(embedders=[("ridge", RidgeEmbedder())], **FAST)
    res = cross_validate_by_patient(pipe, X, votes, patients, n_splits=3,
                                    return_estimators=True)
    for k, est in enumerate(res.estimators):
        seen = est.named_steps["embed"].embedders_[0][1].groups_seen_
        np.testing.assert_array_equal(seen, patients[res.folds != k])


# ------------------------------------------------------------------------------ persistence
def test_pipeline_save_load_round_trip(tmp_path, table):
    X, votes, patients = table
    pipe = make_hms_pipeline(embedders=[("ridge", RidgeEmbedder())], **FAST)
    pipe.fit(X, votes, embed__groups=patients)
    pipe.save(tmp_path / "p")
    for loaded in (HMSPipeline.load(tmp_path / "p"), load(tmp_path / "p")):
        assert isinstance(loaded, HMSPipeline)
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    with pytest.raises(ValueError, match=r"feature names differ.*\['feat_3'\]"):
        HMSPipeline.load(tmp_path / "p", feature_names=[c for c in X.columns if c != "feat_3"])
    with pytest.raises(ValueError, match="feature names differ"):
        load(tmp_path / "p").predict_proba(X.drop(columns="feat_5"))
    # tampering with a nested file is caught by the nested manifest
    lgbm_dir = next(p for p in (tmp_path / "p").iterdir() if p.name.endswith("_lgbm"))
    (lgbm_dir / "booster.txt").write_text("tree\n")
    with pytest.raises(ModelFileError, match="SHA-256 differs"):
        load(tmp_path / "p")
    (lgbm_dir / "booster.txt").unlink()
    with pytest.raises(ModelFileError, match="booster.txt: listed in manifest.json but missing"):
        load(tmp_path / "p")
    man = tmp_path / "p" / "manifest.json"
    m = json.loads(man.read_text())
    m["steps"][0]["dir"] = "../../etc"
    man.write_text(json.dumps(m))
    with pytest.raises(ModelFileError, match="bad step directory"):
        load(tmp_path / "p")


def test_real_embedders_in_pipeline_round_trip(tmp_path):
    X, votes, patients = make_table(n=160, d=12, n_patients=16, seed=2)
    # 4 steps x 3 features as step-major sequence columns for the LSTM
    seq = X.iloc[:, :12].add_prefix("seq_")
    data = pd.concat([X, seq], axis=1)
    nn_kw = dict(max_epochs=8, cv=2, random_state=0, early_stopping=False)
    pipe = make_hms_pipeline(
        embedders=[("mlp", MLPEmbedder(hidden=(8,), **nn_kw)),
                   ("lstm", LSTMEmbedder(hidden=4, n_steps=4, **nn_kw))],
        embedder_columns={"lstm": "seq_"}, **FAST,
    )
    pipe.fit(data, votes, embed__groups=patients)
    names = list(pipe.named_steps["lgbm"].feature_names_in_)
    assert names[-12:] == [f"mlp_emb_{i}" for i in range(8)] + [f"lstm_emb_{i}" for i in range(4)]
    pipe.save(tmp_path / "p")
    back = load(tmp_path / "p")
    np.testing.assert_array_equal(back.predict_proba(data), pipe.predict_proba(data))


def test_named_embedders_take_the_pipeline_seed():
    X, votes, patients = make_table(n=120, d=8, n_patients=12, seed=3)
    preds = []
    for _ in range(2):
        pipe = make_hms_pipeline(embedders=["mlp"], **FAST)
        assert pipe.named_steps["embed"].embedders[0][1].random_state == FAST["random_state"]
        pipe.named_steps["embed"].embedders[0][1].set_params(max_epochs=5, cv=2)
        pipe.fit(X, votes, embed__groups=patients)
        preds.append(pipe.predict_proba(X))
    np.testing.assert_array_equal(preds[0], preds[1])


# ------------------------------------------------------------------------------ submission
def test_write_submission_matches_the_sample(tmp_path, hms_mini):
    sample = pd.read_csv(hms_mini / "sample_submission.csv")
    test_ids = pd.read_csv(hms_mini / "test.csv")["eeg_id"].to_numpy()
    proba = np.array([[2.0, 1, 1, 1, 1, 4]])  # unnormalised on purpose
    out = write_submission(test_ids, proba, tmp_path / "submission.csv",
                           sample_submission=hms_mini / "sample_submission.csv")
    back = pd.read_csv(tmp_path / "submission.csv")
    assert list(back.columns) == list(sample.columns) == list(SUBMISSION_COLUMNS)
    np.testing.assert_array_equal(back["eeg_id"], sample["eeg_id"])
    np.testing.assert_allclose(back[list(VOTE_COLUMNS)].to_numpy(), proba / 10, rtol=1e-15)
    np.testing.assert_allclose(back[list(VOTE_COLUMNS)].sum(axis=1), 1.0, atol=1e-12)
    pd.testing.assert_frame_equal(out.reset_index(drop=True), back, check_dtype=False)
    with pytest.raises(ValueError, match=r"1 missing \(e.g. \[\d+\]\), 1 not in test.csv"):
        write_submission([1], proba, tmp_path / "s.csv", sample_submission=sample)


def test_write_submission_order_and_errors(tmp_path):
    ids = np.array([30, 10, 20])
    P = np.random.default_rng(0).dirichlet(np.ones(K), size=3)
    sample = pd.DataFrame({"eeg_id": [10, 20, 30], **{c: 1 / K for c in VOTE_COLUMNS}})
    out = write_submission(ids, P, tmp_path / "a.csv", sample_submission=sample)
    np.testing.assert_array_equal(out["eeg_id"], ids)  # the given (test.csv) order, checked
    np.testing.assert_allclose(out[list(VOTE_COLUMNS)].to_numpy(), P, rtol=1e-15)
    kept = write_submission(ids, P, tmp_path / "b.csv")
    np.testing.assert_array_equal(kept["eeg_id"], ids)  # no sample: given order kept
    with pytest.raises(ValueError, match="eeg_id 30 appears more than once"):
        write_submission([30, 10, 30], P, tmp_path / "c.csv")
    Pn = P.copy()
    Pn[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"row 1 holds NaN.*eeg_id 10"):
        write_submission(ids, Pn, tmp_path / "c.csv")
    with pytest.raises(ValueError, match=r"expected shape \(3, 6\)"):
        write_submission(ids, P[:, :5], tmp_path / "c.csv")
    with pytest.raises(ValueError, match="3 eeg_ids but 2 probability rows"):
        write_submission(ids, P[:2], tmp_path / "c.csv")
    with pytest.raises(ValueError, match="sample submission: columns"):
        write_submission(ids, P, tmp_path / "c.csv", sample_submission=sample.iloc[:, :4])


def test_passthrough_subset_of_columns(table):
    X, votes, _ = table
    keep = ["feat_0", "feat_7"]
    out = EmbeddingUnion([("ridge", RidgeEmbedder())], passthrough=keep).fit_transform(X, votes)
    assert list(out.columns) == keep + [f"ridge_{c}" for c in CLASSES]


def test_feature_extractor_head_on_real_label_rows(tmp_path, hms_mini):
    from hms_features.data import HMSDataset

    ds = HMSDataset(hms_mini)
    rows, votes = ds.labels, ds.votes()
    pipe = make_hms_pipeline(features=dict(root=hms_mini, feature_set=["quality", "temporal"]),
                         n_estimators=3,
                         min_child_samples=2, n_jobs=1)
    pipe.fit(rows, votes)
    names = pipe.named_steps["features"].get_feature_names_out()
    np.testing.assert_array_equal(pipe.named_steps["lgbm"].feature_names_in_, names)
    proba = pipe.predict_proba(rows)
    assert proba.shape == (len(rows), K) and (proba.argmax(axis=1) == 0).all()  # all seizure
    pipe.save(tmp_path / "p")
    back = load(tmp_path / "p")  # I/O parameters are not restored from files: set them
    assert back.named_steps["features"].root is None
    back.set_params(features__root=hms_mini)
    np.testing.assert_array_equal(back.predict_proba(rows), proba)
    # a parameter-only step can only be rebuilt from a registered class without save/load
    man = tmp_path / "p" / "manifest.json"
    m = json.loads(man.read_text())
    for kind, message in (("builtins.eval", "unknown parameter-only step 'builtins.eval'"),
                          ("SoftLabelLGBMClassifier", "not a parameter-only transformer")):
        m["steps"][0]["kind"] = kind
        man.write_text(json.dumps(m))
        with pytest.raises(ModelFileError, match=message):
            load(tmp_path / "p")


# ------------------------------------------------------------------------------ registry
def test_one_registry_filled_by_the_classes_themselves():
    from hms_features.build import HMSFeatureExtractor
    from hms_features.models import persist

    library = {SoftLabelLGBMClassifier, MLPEmbedder, LSTMEmbedder, EmbeddingUnion, HMSPipeline,
               HMSFeatureExtractor}
    for cls in library:
        assert persist._KINDS[cls.__name__] is cls
    for cls in library - {HMSFeatureExtractor}:
        assert persist.loader_for(cls.__name__, ".") == cls.load
    assert persist.registered_subclasses(MLPEmbedder.__mro__[1]) == {
        "MLPEmbedder": MLPEmbedder, "LSTMEmbedder": LSTMEmbedder}
    with pytest.raises(ModelFileError, match="unknown model kind 'os.system'"):
        persist.loader_for("os.system", ".")
    # a kind is never silently taken over, by a class or by a loader
    clash = type("MLPEmbedder", (MLPEmbedder,), {})
    with pytest.raises(ValueError, match="'MLPEmbedder' is registered already"):
        register_kind(clash)
    with pytest.raises(ValueError, match="'RidgeEmbedder' is registered already"):
        register_kind("RidgeEmbedder", lambda d: None)
    register_kind(RidgeEmbedder)  # registering the same class again is harmless
    with pytest.raises(TypeError, match="class decorator"):
        register_kind("NoLoader")


def _imports(path):
    """Modules of hms_features a source file imports, at any depth of its code."""
    import ast

    tree = ast.parse(path.read_text())
    pkg = path.parent.relative_to(path.parents[2] if "models" in path.parts else path.parents[1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(pkg.parts)[: len(pkg.parts) - node.level + 1]
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hms_features"):
            out.add(node.module)
    return out


def test_no_import_circle_among_the_models():
    from pathlib import Path

    import hms_features

    root = Path(hms_features.__file__).parent
    files = {f"hms_features.models.{p.stem}": p for p in (root / "models").glob("*.py")
             if p.stem != "__init__"}
    graph = {m: {d for d in _imports(p) if d in files} - {m} for m, p in files.items()}
    assert graph["hms_features.models.persist"] == set()  # persistence imports no estimator

    def visit(m, path):
        assert m not in path, f"import circle: {' -> '.join(path + [m])}"
        for d in graph[m]:
            visit(d, path + [m])

    for m in graph:
        visit(m, [])


# ------------------------------------------------------------------------------ make_hms_pipeline
def sequence_table(n=120, steps=4, per_step=3, n_patients=12, seed=4):
    """Feature table plus step-major ``seq_m{j}_t{t:02d}`` columns (the seq family's naming)."""
    X, votes, patients = make_table(n=n, d=8, n_patients=n_patients, seed=seed)
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n, steps, per_step)).astype(np.float32)
    S[:, :, 0] += X.iloc[:, :1].to_numpy()  # a signal the LSTM can learn
    names = [f"seq_m{j}_t{t:02d}" for t in range(steps) for j in range(per_step)]
    return pd.concat([X, pd.DataFrame(S.reshape(n, -1), columns=names)], axis=1), votes, patients


def test_lstm_finds_its_sequence_columns_from_python():
    data, votes, patients = sequence_table()
    nn_kw = dict(max_epochs=6, cv=2, early_stopping=False)
    pipe = make_hms_pipeline(embedders=["mlp", "lstm"], **FAST)
    pipe.set_params(embed__mlp__hidden=(8,), embed__lstm__hidden=4,
                    **{f"embed__{e}__{k}": v for e in ("mlp", "lstm") for k, v in nn_kw.items()})
    embed = pipe.named_steps["embed"]
    pipe.fit(data, votes, groups=patients)
    union = pipe.named_steps["embed"]
    lstm = dict(union.embedders_)["lstm"]
    mlp = dict(union.embedders_)["mlp"]
    assert lstm.n_steps == 4 and lstm.n_steps_in_ == 4 and lstm.mean_.shape == (3,)
    assert list(lstm.feature_names_in_) == [c for c in data.columns if c.startswith("seq_")]
    assert list(mlp.feature_names_in_) == [c for c in data.columns if not c.startswith("seq_")]
    assert embed.embedders[1][1].n_steps is None  # the unfitted template is left as given
    # the same model configured by hand (n_steps and columns explicit) predicts the same
    by_hand = make_hms_pipeline(
        embedders=[("mlp", MLPEmbedder(hidden=(8,), random_state=0, **nn_kw)),
                   ("lstm", LSTMEmbedder(hidden=4, n_steps=4, random_state=0, **nn_kw))],
        embedder_columns={"mlp": [c for c in data.columns if not c.startswith("seq_")],
                          "lstm": "seq_"}, **FAST)
    by_hand.fit(data, votes, embed__groups=patients)
    np.testing.assert_array_equal(pipe.predict_proba(data), by_hand.predict_proba(data))
    # without the sequence columns the message says how to get them
    with pytest.raises(ValueError, match=r"no input column starts with 'seq_'.*'seq'"):
        make_hms_pipeline(embedders=["lstm"], **FAST).fit(data.iloc[:, :8], votes,
                                                           groups=patients)


def test_embedder_cv_is_lowered_to_the_number_of_patients():
    X, votes, patients = make_table(n=60, d=6, n_patients=3, seed=5)
    pipe = make_hms_pipeline(embedders=["mlp"], **FAST)  # MLPEmbedder(cv=5)
    pipe.set_params(embed__mlp__max_epochs=3)
    pipe.fit(X, votes, groups=patients)
    assert dict(pipe.named_steps["embed"].embedders_)["mlp"].cv == 3
    with pytest.raises(ValueError, match="at least 2 groups, got 1"):
        pipe.fit(X, votes, groups=np.zeros(len(X)))


def test_fit_routes_sample_weight_and_groups():
    X, votes, patients = make_table(n=120, d=8, n_patients=12, seed=6)
    w = np.minimum(votes.sum(axis=1), 10) / 10
    a = make_hms_pipeline(embedders=[("ridge", RidgeEmbedder())], **FAST)
    a.fit(X, votes, sample_weight=w, groups=patients)
    b = make_hms_pipeline(embedders=[("ridge", RidgeEmbedder())], **FAST)
    b.fit(X, votes, lgbm__sample_weight=w, embed__groups=patients)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.named_steps["embed"].embedders_[0][1].groups_seen_, patients)


def test_make_pipeline_is_a_deprecated_alias():
    with pytest.warns(FutureWarning, match="make_hms_pipeline"):
        old = make_pipeline(embedders=["mlp"], **FAST)
    new = make_hms_pipeline(embedders=["mlp"], **FAST)
    assert type(old) is type(new) and [n for n, _ in old.steps] == [n for n, _ in new.steps]
    assert repr(old.get_params()) == repr(new.get_params())


def test_sequence_shape_and_input_spec():
    from hms_features.features.registry import feature_names
    from hms_features.models import input_spec, sequence_shape

    assert sequence_shape(["a", "seq_x_t00", "seq_y_t00", "seq_x_t01", "seq_y_t01"]) == (2, 2)
    assert sequence_shape(["a", "b"]) is None
    with pytest.raises(ValueError, match="not step-major"):
        sequence_shape(["seq_x_t00", "seq_x_t01", "seq_y_t00", "seq_y_t01"])
    with pytest.raises(ValueError, match="does not end in _tNN"):
        sequence_shape(["seq_x"])
    fast = feature_names("fast")
    assert input_spec(fast) == {"feature_set": "fast", "families": [
        "quality", "spectral", "temporal", "periodicity", "spatial", "evolution", "ekg"],
        "spectrogram": False, "sequence": None, "n_features": len(fast)}
    cols = feature_names(["temporal", "spectrogram", "seq"])
    spec = input_spec(cols)
    assert spec["feature_set"] == ["temporal", "spectrogram", "seq"] and spec["spectrogram"]
    assert spec["sequence"] == {"prefix": "seq_", "n_steps": 10, "n_per_step": 30}
    assert input_spec(["feat_0", "feat_1"]) is None  # a table of one's own
    assert input_spec(cols[:-1]) is None  # not exactly what build_features computes


# ------------------------------------------------------- vote-aware training, column checks
def test_cross_validate_train_mask_trains_on_a_subset_and_scores_every_row(table):
    from hms_features.models import min_votes_mask

    X, votes, patients = table
    model = SoftLabelLGBMClassifier(**FAST)
    mask = min_votes_mask(votes, 10)
    w = votes.sum(axis=1)
    res = cross_validate_by_patient(model, X, votes, patients, n_splits=4, train_mask=mask,
                                    sample_weight=w)
    assert np.isfinite(res.oof).all()  # held-out rows with few votes are predicted too
    for k in range(4):
        test = res.folds == k
        train = ~test & mask
        ref = clone(model).fit(X[train], votes[train], sample_weight=w[train])
        np.testing.assert_allclose(res.oof[test], ref.predict_proba(X[test]), atol=1e-12)
    assert res.kl == pytest.approx(kl_divergence(votes, res.oof, votes=True), rel=1e-12)
    with pytest.raises(ValueError, match="train_mask must be a boolean array"):
        cross_validate_by_patient(model, X, votes, patients, train_mask=mask.astype(int))
    with pytest.raises(ValueError, match="fold 0: no training rows"):
        cross_validate_by_patient(model, X, votes, patients, n_splits=4,
                                  train_mask=res.folds == 0)


def test_two_stage_pipeline_saves_and_loads(table, tmp_path):
    from hms_features.models import TwoStageClassifier

    X, votes, patients = table
    pipe = make_hms_pipeline(two_stage=10, **FAST)
    final = pipe.steps[-1][1]
    assert isinstance(final, TwoStageClassifier) and final.min_votes == 10
    assert final.base.get_params() == SoftLabelLGBMClassifier(**FAST).get_params()
    pipe.fit(X, votes)
    ref = TwoStageClassifier(SoftLabelLGBMClassifier(**FAST), min_votes=10).fit(X, votes)
    np.testing.assert_allclose(pipe.predict_proba(X), ref.predict_proba(X), atol=1e-12)
    pipe.save(tmp_path / "p", provenance={"seed": 0})
    loaded = HMSPipeline.load(tmp_path / "p")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    assert loaded.provenance_["seed"] == 0
    assert loaded.provenance_["params"]["final_step"] == "TwoStageClassifier"
    assert loaded.provenance_["params"]["min_votes"] == 10
    assert loaded.provenance_["params"]["base__n_estimators"] == FAST["n_estimators"]
    with pytest.raises(ValueError, match="two_stage wraps the default classifier"):
        make_hms_pipeline(classifier=SoftLabelLGBMClassifier(), two_stage=10)


def test_check_feature_table_names_what_differs(table):
    X, votes, _ = table
    pipe = make_hms_pipeline(**FAST).fit(X, votes)
    assert pipe.check_feature_table(X) is X
    shuffled = X[X.columns[::-1]]
    pd.testing.assert_frame_equal(pipe.check_feature_table(shuffled), X)
    bad = X.drop(columns=["feat_3"]).assign(feat_x=0.0, feat_y=0.0)
    with pytest.raises(ValueError) as err:
        pipe.check_feature_table(bad)
    msg = str(err.value)
    assert "\n" not in msg and "expected 20 features, got 21" in msg
    assert "1 missing (e.g. ['feat_3'])" in msg
    assert "2 unexpected (e.g. ['feat_x', 'feat_y'])" in msg
