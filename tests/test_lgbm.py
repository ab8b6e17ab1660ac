"""SoftLabelLGBMClassifier: soft-target exactness, estimator contract, bad inputs, persistence."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError

from hms_features.metrics import CLASSES, kl_divergence
from hms_features.models import ModelFileError, SoftLabelLGBMClassifier, as_soft_targets, load
from hms_features.models.lgbm import soft_cross_entropy_grad_hess, softmax

K = len(CLASSES)
VOTE_COLS = [f"{c}_vote" for c in CLASSES]
# Small, exact settings: no subsampling, one thread, deterministic. Trees are grown to full depth 3
# (8 leaves) so that the comparisons below do not depend on the order LightGBM's leaf-wise growth
# visits leaves in: that order uses row counts, which differ between a row and its repeats.
EXACT = dict(subsample=1.0, subsample_freq=0, colsample_bytree=1.0, min_child_samples=1,
             num_leaves=8, max_depth=3, learning_rate=0.1, n_estimators=25,
             early_stopping_rounds=None, reg_lambda=0.0, n_jobs=1, random_state=0)


def make_problem(n=300, d=20, seed=0, discrete=False, max_votes=15):
    """Features, vote counts and true distributions; the first 6 features drive the classes."""
    rng = np.random.default_rng(seed)
    if discrete:
        X = rng.integers(0, 4, size=(n, d)).astype(np.float64)
        logits = (X[:, :K] - 1.5) * 1.2
    else:
        X = rng.normal(size=(n, d))
        logits = X[:, :K] * 1.5
    P = softmax(logits)
    votes = np.stack([rng.multinomial(rng.integers(1, max_votes), p) for p in P]).astype(float)
    return X, votes, P


def frame(X):
    return pd.DataFrame(X, columns=[f"feat_{i}" for i in range(X.shape[1])])


@pytest.fixture(scope="module")
def problem():
    return make_problem()


@pytest.fixture(scope="module")
def fitted(problem):
    X, votes, _ = problem
    return SoftLabelLGBMClassifier(n_estimators=60, n_jobs=1, random_state=1).fit(
        frame(X[:240]), votes[:240]
    )


# ---------------------------------------------------------------- exactness of the soft loss
def test_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(7, K))
    y = rng.dirichlet(np.ones(K), size=7)
    w = rng.uniform(0.5, 3, size=7)

    def loss(zz):  # summed weighted soft cross-entropy, written independently of the library
        logp = zz - np.log(np.exp(zz).sum(axis=1, keepdims=True))
        return float(-(w[:, None] * y * logp).sum())

    grad, hess = soft_cross_entropy_grad_hess(z, y, w)
    h = 1e-5
    fd_grad = np.zeros_like(z)
    fd_hess = np.zeros_like(z)
    for i in range(z.shape[0]):
        for c in range(K):
            e = np.zeros_like(z)
            e[i, c] = h
            fd_grad[i, c] = (loss(z + e) - loss(z - e)) / (2 * h)
            e2 = 100 * e  # a wider step for the second difference (round-off ~ eps / h^2)
            fd_hess[i, c] = (loss(z + e2) - 2 * loss(z) + loss(z - e2)) / (100 * h) ** 2
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-8)
    # LightGBM's multiclass objective scales the diagonal Hessian by K / (K - 1).
    np.testing.assert_allclose(hess, K / (K - 1) * fd_hess, rtol=1e-5, atol=1e-8)


def _native_params():
    return dict(num_class=K, learning_rate=0.1, num_leaves=8, max_depth=3, min_data_in_leaf=1,
                min_sum_hessian_in_leaf=1e-3, lambda_l2=0.0, verbosity=-1, num_threads=1,
                deterministic=True, seed=0, feature_pre_filter=False)


def test_one_hot_targets_reproduce_lightgbm_multiclass():
    X, votes, _ = make_problem(seed=4)
    labels = votes.argmax(axis=1)
    ours = SoftLabelLGBMClassifier(**EXACT).fit(X, labels)
    native = lgb.train({**_native_params(), "objective": "multiclass"},
                       lgb.Dataset(X, labels), num_boost_round=EXACT["n_estimators"])
    np.testing.assert_allclose(ours.predict_proba(X), native.predict(X), atol=1e-6)


def test_soft_targets_equal_native_multiclass_on_vote_weighted_expanded_rows():
    # Each row repeated once per voted class, label = that class, weight = its vote fraction: the
    # native objective then sees exactly our soft-target gradients and Hessians per row.
    # Discrete features keep both datasets' histogram bins identical.
    X, votes, _ = make_problem(seed=5, discrete=True)
    Y = votes / votes.sum(axis=1, keepdims=True)
    assert ((Y > 0).sum(axis=1) > 1).mean() > 0.5  # mostly split votes: a real test
    rows, cls = np.nonzero(Y)
    native = lgb.train({**_native_params(), "objective": "multiclass"},
                       lgb.Dataset(X[rows], cls, weight=Y[rows, cls]),
                       num_boost_round=EXACT["n_estimators"])
    ours = SoftLabelLGBMClassifier(**EXACT).fit(X, votes)
    np.testing.assert_allclose(ours.predict_proba(X), native.predict(X), atol=1e-6)
    # and it is not the same as training on the argmax label
    hard = SoftLabelLGBMClassifier(**EXACT).fit(X, votes.argmax(axis=1))
    assert np.abs(hard.predict_proba(X) - native.predict(X)).max() > 1e-2


def test_sample_weight_equals_repeating_rows():
    X, votes, _ = make_problem(n=200, seed=6, discrete=True)
    w = np.random.default_rng(0).integers(1, 3, size=len(X))
    rep = np.repeat(np.arange(len(X)), w)
    a = SoftLabelLGBMClassifier(**EXACT).fit(X, votes, sample_weight=w)
    b = SoftLabelLGBMClassifier(**EXACT).fit(X[rep], votes[rep])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-6)


def test_vote_weight_power_weights_rows_by_vote_count():
    X, votes, _ = make_problem(n=200, seed=7, discrete=True)
    a = SoftLabelLGBMClassifier(**EXACT, vote_weight_power=0.5).fit(X, votes)
    b = SoftLabelLGBMClassifier(**EXACT).fit(X, votes, sample_weight=np.sqrt(votes.sum(axis=1)))
    c = SoftLabelLGBMClassifier(**EXACT).fit(X, votes)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-9)
    assert np.abs(a.predict_proba(X) - c.predict_proba(X)).max() > 1e-3


def test_starting_score_is_log_class_prior():
    X, votes, _ = make_problem(n=120, seed=8)
    m = SoftLabelLGBMClassifier(n_estimators=1, learning_rate=1e-12, n_jobs=1).fit(X, votes)
    Y = votes / votes.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(X[:3]), np.tile(Y.mean(axis=0), (3, 1)), atol=1e-9)


# ---------------------------------------------------------------------- learning behaviour
def test_learns_the_vote_distribution(problem, fitted):
    X, votes, P = problem
    proba = fitted.predict_proba(frame(X[240:]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    prior = votes[:240].sum(axis=0) / votes[:240].sum()
    kl_model = kl_divergence(votes[240:], proba, votes=True)
    kl_prior = kl_divergence(votes[240:], np.tile(prior, (60, 1)), votes=True)
    kl_oracle = kl_divergence(votes[240:], P[240:], votes=True)
    assert kl_oracle < kl_model < kl_prior - 0.15
    assert set(fitted.predict(frame(X[240:]))) <= set(CLASSES)
    np.testing.assert_array_equal(
        fitted.predict(frame(X[240:])), np.array(CLASSES)[proba.argmax(axis=1)]
    )
    # informative features (the first six) carry most of the gain
    imp = fitted.feature_importances_
    assert imp.shape == (X.shape[1],) and imp[:K].sum() > 0.6 * imp.sum()


def test_early_stopping_on_validation_kl(problem):
    X, votes, _ = problem
    m = SoftLabelLGBMClassifier(n_estimators=400, learning_rate=0.3, early_stopping_rounds=10,
                                n_jobs=1, random_state=0)
    m.fit(X[:200], votes[:200], eval_set=(X[200:], votes[200:]))
    curve = m.evals_result_["valid_0"]["kl"]
    assert m.best_iteration_ < 400 and len(curve) == m.best_iteration_ + 10
    assert curve[m.best_iteration_ - 1] == pytest.approx(min(curve))
    # the recorded metric is the Kaggle KL of the predictions at the best round
    proba = m.predict_proba(X[200:])
    assert curve[m.best_iteration_ - 1] == pytest.approx(
        kl_divergence(votes[200:], proba, votes=True), rel=1e-9
    )
    assert m.score(X[200:], votes[200:]) == pytest.approx(-min(curve), rel=1e-9)


def test_round_progress_counts_every_round_and_stops_with_early_stopping(problem, monkeypatch):
    from hms_features.models import lgbm

    bars = []
    real = lgbm.progress_callback

    def recording(total, desc):
        callback, bar = real(total, desc)
        bars.append(bar)
        return callback, bar

    monkeypatch.setattr(lgbm, "progress_callback", recording)
    X, votes, _ = problem
    plain = SoftLabelLGBMClassifier(n_estimators=25, n_jobs=1, random_state=0)
    plain.fit(X[:200], votes[:200])
    assert bars == []  # no bar outside round_progress
    with lgbm.round_progress("rounds"):
        shown = clone(plain).fit(X[:200], votes[:200])
        with lgbm.round_progress("hidden", enabled=False):
            clone(plain).fit(X[:200], votes[:200])
        stopped = SoftLabelLGBMClassifier(n_estimators=400, learning_rate=0.3,
                                          early_stopping_rounds=10, n_jobs=1, random_state=0)
        stopped.fit(X[:200], votes[:200], eval_set=(X[200:], votes[200:]))
    assert [b.total for b in bars] == [25, 400]
    assert bars[0].n == 25 and bars[1].n == stopped.best_iteration_ + 10
    # the bar does not change the model
    np.testing.assert_array_equal(shown.predict_proba(X[200:]), plain.predict_proba(X[200:]))
    assert lgbm._ROUND_PROGRESS == []


def test_validation_fraction_holds_out_whole_groups(problem):
    X, votes, _ = problem
    groups = np.arange(len(X)) // 10
    m = SoftLabelLGBMClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=5,
                                validation_fraction=0.25, n_jobs=1, random_state=0)
    m.fit(X, votes, groups=groups)
    assert 0 < m.best_iteration_ < 300 and "valid_0" in m.evals_result_


def test_target_formats_are_equivalent():
    X, votes, _ = make_problem(n=150, seed=9)
    ref = SoftLabelLGBMClassifier(**EXACT).fit(X, votes).predict_proba(X)
    probs = votes / votes.sum(axis=1, keepdims=True)
    shuffled = pd.DataFrame(votes, columns=VOTE_COLS)[VOTE_COLS[::-1]]
    for Y in (probs, shuffled, pd.DataFrame(probs, columns=list(CLASSES))):
        np.testing.assert_allclose(
            SoftLabelLGBMClassifier(**EXACT).fit(X, Y).predict_proba(X), ref, atol=1e-12
        )
    idx = votes.argmax(axis=1)
    names = np.array(["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"])[idx]
    t_names, n_names = as_soft_targets(names)
    t_idx, _ = as_soft_targets(idx)
    np.testing.assert_array_equal(t_names, np.eye(K)[idx])
    np.testing.assert_array_equal(t_idx, t_names)
    np.testing.assert_array_equal(n_names, 1.0)
    t, n = as_soft_targets(votes)
    np.testing.assert_allclose(n, votes.sum(axis=1))
    np.testing.assert_allclose(t, probs)


# ----------------------------------------------------------------------- estimator contract
def test_estimator_contract(problem):
    X, votes, _ = problem
    est = SoftLabelLGBMClassifier(n_estimators=5, num_leaves=4, random_state=3)
    params = est.get_params()
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    assert est.fit(X, votes) is est
    assert est.get_params() == params  # fit changes no parameter
    c = clone(est)
    assert c.get_params() == params and not hasattr(c, "booster_")
    assert c.set_params(num_leaves=7) is c and c.num_leaves == 7
    for attr in ("booster_", "classes_", "n_features_in_", "init_score_", "best_iteration_"):
        assert hasattr(est, attr)
    assert not hasattr(est, "feature_names_in_")  # fitted on an ndarray
    assert tuple(est.classes_) == CLASSES


def test_classes_are_learned_from_labels():
    # a two-class 0/1 problem predicts 0/1 (never HMS names); strings give their sorted labels
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    m = SoftLabelLGBMClassifier(n_estimators=30, n_jobs=1, random_state=0).fit(X, y)
    assert m.classes_.tolist() == [0, 1] and m.predict_proba(X).shape == (200, 2)
    pred = m.predict(X)
    assert set(pred.tolist()) == {0, 1} and (pred == y).mean() > 0.9
    # scikit-learn's binary convention: decision_function is the log-odds of classes_[1]
    dec = m.decision_function(X)
    assert dec.shape == (200,)
    np.testing.assert_array_equal(pred, m.classes_[(dec > 0).astype(int)])
    np.testing.assert_allclose(1 / (1 + np.exp(-dec)), m.predict_proba(X)[:, 1], rtol=1e-12)
    names = np.array(["spike", "calm", "artifact"])[np.digitize(X[:, 1], [-0.5, 0.5])]
    m3 = SoftLabelLGBMClassifier(**EXACT).fit(X, names)
    assert m3.classes_.tolist() == ["artifact", "calm", "spike"]
    assert set(m3.predict(X)) <= set(names) and (m3.predict(X) == names).mean() > 0.9
    # labels as a column vector: scikit-learn's warning, the same model
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        m3c = SoftLabelLGBMClassifier(**EXACT).fit(X, names[:, None])
    np.testing.assert_array_equal(m3c.predict_proba(X), m3.predict_proba(X))
    # `classes` fixes the allowed labels and the column order
    # (EXACT: no row/feature sampling, whose random draws follow the class order)
    ordered = SoftLabelLGBMClassifier(**EXACT, classes=["spike", "calm", "artifact"]).fit(X, names)
    assert ordered.classes_.tolist() == ["spike", "calm", "artifact"]
    np.testing.assert_allclose(ordered.predict_proba(X), m3.predict_proba(X)[:, ::-1],
                               atol=1e-12)
    with pytest.raises(ValueError, match=r"row 0 has label '\w+': Unknown label type or class"):
        SoftLabelLGBMClassifier(classes=["a", "b"]).fit(X, names)
    with pytest.raises(ValueError, match="only one class"):
        SoftLabelLGBMClassifier().fit(X, np.zeros(200, dtype=int))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        SoftLabelLGBMClassifier().fit(X, X[:, 0])


def test_vote_columns_name_their_classes():
    X, votes, _ = make_problem(n=150, seed=10)
    assert tuple(SoftLabelLGBMClassifier(**EXACT).fit(X, votes).classes_) == CLASSES
    v3 = votes[:, :3] + 1  # three classes
    m = SoftLabelLGBMClassifier(**EXACT).fit(X, v3)
    assert m.classes_.tolist() == [0, 1, 2] and m.predict_proba(X).shape == (150, 3)
    named = SoftLabelLGBMClassifier(**EXACT, classes=["x", "y", "z"]).fit(X, v3)
    assert named.classes_.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(named.predict_proba(X), m.predict_proba(X))
    # a DataFrame may name the columns "<class>" or "<class>_vote", in any order
    df = pd.DataFrame(v3, columns=["x_vote", "y_vote", "z_vote"])[["z_vote", "x_vote", "y_vote"]]
    byname = SoftLabelLGBMClassifier(**EXACT, classes=["x", "y", "z"]).fit(X, df)
    np.testing.assert_array_equal(byname.predict_proba(X), m.predict_proba(X))
    # the soft objective is the same for any K: one-hot labels of 3 classes == native multiclass
    lab = v3.argmax(axis=1)
    native = lgb.train({**_native_params(), "num_class": 3, "objective": "multiclass"},
                       lgb.Dataset(X, lab), num_boost_round=EXACT["n_estimators"])
    ours = SoftLabelLGBMClassifier(**EXACT).fit(X, lab)
    np.testing.assert_allclose(ours.predict_proba(X), native.predict(X), atol=1e-6)
    with pytest.raises(ValueError, match=r"expected shape \(n_rows, 2\)"):
        SoftLabelLGBMClassifier(classes=["x", "y"]).fit(X, v3)
    with pytest.raises(ValueError, match="pass classes="):
        SoftLabelLGBMClassifier().fit(X, pd.DataFrame(v3, columns=list("abc")))


def test_unfitted_and_featureless_inputs_raise_sklearn_errors(problem):
    X, votes, _ = problem
    for method in ("predict", "predict_proba", "decision_function", "score"):
        with pytest.raises(NotFittedError):
            args = (X, votes) if method == "score" else (X,)
            getattr(SoftLabelLGBMClassifier(), method)(*args)
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(100, 0\)\) while a minimum "
                                         r"of 1 is required"):
        SoftLabelLGBMClassifier().fit(np.empty((100, 0)), votes[:100])
    with pytest.raises(ValueError, match="requires y to be passed"):
        SoftLabelLGBMClassifier().fit(X, None)


def test_random_state_is_honoured(problem):
    X, votes, _ = problem
    kw = dict(n_estimators=20, subsample=0.5, colsample_bytree=0.5, n_jobs=1)
    a = SoftLabelLGBMClassifier(**kw, random_state=0).fit(X, votes).predict_proba(X)
    b = SoftLabelLGBMClassifier(**kw, random_state=0).fit(X, votes).predict_proba(X)
    c = SoftLabelLGBMClassifier(**kw, random_state=1).fit(X, votes).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_read_only_input_and_dataframe_column_order(problem, fitted):
    X, votes, _ = problem
    Xr = X.copy()
    Xr.setflags(write=False)
    SoftLabelLGBMClassifier(n_estimators=3).fit(Xr, votes)
    df = frame(X[240:])
    np.testing.assert_array_equal(
        fitted.predict_proba(df[df.columns[::-1]]), fitted.predict_proba(df)
    )


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda X, Y: (X, np.vstack([Y[:-1], np.zeros((1, K))])), r"row 99 has zero votes"),
        (lambda X, Y: (X, Y[:, :5]), r"expected shape \(n_rows, 6\)"),
        (lambda X, Y: (X, np.where(np.arange(100)[:, None] == 3, np.nan, Y)), r"row 3 .*NaN"),
        (lambda X, Y: (X[:90], Y), r"X has 90 rows but y has 100"),
        (lambda X, Y: (X, -Y), r"negative vote"),
        (lambda X, Y: (X, np.array(["seizure"] * 99 + ["spike"])),
         r"y: row 99 has label 'spike': Unknown label type or class; expected one of "
         r"\('seizure', .*0\.\.5"),
        (lambda X, Y: (X, np.r_[np.zeros(50), [-1.0], np.zeros(49)]),
         r"y: row 50 has class index -1\.0, expected 0\.\.5"),
        (lambda X, Y: (X, pd.DataFrame(Y, columns=list("abcdef"))), r"not the 6 classes"),
        (lambda X, Y: (np.where(np.arange(20) == 4, np.inf, X), Y), r"row 0, column 4 is inf"),
    ],
)
def test_bad_fit_inputs_are_named(problem, mutate, match):
    X, votes, _ = problem
    Xb, Yb = mutate(X[:100], votes[:100])
    with pytest.raises(ValueError, match=match):  # classes named: labels must be HMS classes
        SoftLabelLGBMClassifier(n_estimators=2, classes=CLASSES).fit(Xb, Yb)


def test_feature_mismatch_at_predict(problem, fitted):
    X, _, _ = problem
    df = frame(X[:5]).rename(columns={"feat_3": "feat_x"})
    with pytest.raises(ValueError, match=r"1 missing \(e.g. \['feat_3'\]\).*1 unexpected"):
        fitted.predict_proba(df)
    with pytest.raises(ValueError, match=r"X has 19 features, but SoftLabelLGBMClassifier is "
                                         r"expecting 20 features"):
        fitted.predict_proba(X[:5, :19])


# ----------------------------------------------------------------------------- persistence
def test_save_load_round_trip_is_identical(tmp_path, problem):
    X, votes, _ = problem
    m = SoftLabelLGBMClassifier(n_estimators=100, learning_rate=0.3, early_stopping_rounds=5,
                                n_jobs=1, random_state=2)
    m.fit(frame(X[:200]), votes[:200], eval_set=(frame(X[200:]), votes[200:]))
    assert m.best_iteration_ < 100  # the saved model must keep only the best rounds
    m.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["classes"] == list(CLASSES)
    assert manifest["feature_names"] == [f"feat_{i}" for i in range(20)]
    assert manifest["params"]["random_state"] == 2
    for loaded in (SoftLabelLGBMClassifier.load(tmp_path / "m"), load(tmp_path / "m")):
        assert isinstance(loaded, SoftLabelLGBMClassifier)
        np.testing.assert_array_equal(
            loaded.predict_proba(frame(X)), m.predict_proba(frame(X))
        )
        assert loaded.get_params() == m.get_params()
        np.testing.assert_array_equal(loaded.feature_importances_, m.feature_importances_)
    with pytest.raises(ValueError, match=r"names differ.*20 missing \(e.g. \['feat_0', 'feat_1'"):
        SoftLabelLGBMClassifier.load(tmp_path / "m", feature_names=[f"g{i}" for i in range(20)])
    with pytest.raises(ValueError, match="feature names differ"):
        load(tmp_path / "m").predict_proba(frame(X).rename(columns={"feat_0": "zzz"}))


def test_save_load_keeps_learned_classes(tmp_path):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(120, 3))
    for y in ((X[:, 0] > 0).astype(int), np.where(X[:, 0] > 0, "up", "down")):
        m = SoftLabelLGBMClassifier(n_estimators=10, n_jobs=1, random_state=0).fit(X, y)
        m.save(tmp_path / str(y.dtype))
        loaded = load(tmp_path / str(y.dtype))
        assert loaded.classes_.tolist() == m.classes_.tolist()
        np.testing.assert_array_equal(loaded.predict(X), m.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), m.predict_proba(X))


def _tamper(directory, what):
    man = directory / "manifest.json"
    if what == "json":
        man.write_text(man.read_text()[:-20])
    elif what == "classes":
        m = json.loads(man.read_text())
        m["classes"] = m["classes"][::-1]
        man.write_text(json.dumps(m))
    elif what == "missing":
        (directory / "booster.txt").unlink()
    elif what == "changed":
        with open(directory / "booster.txt", "a") as f:
            f.write("\n")
    elif what == "params":
        m = json.loads(man.read_text())
        m["params"]["__import__"] = "os"
        man.write_text(json.dumps(m))
    elif what == "kind":
        m = json.loads(man.read_text())
        m["kind"] = "os.system"
        man.write_text(json.dumps(m))


@pytest.mark.parametrize(
    "what, match",
    [
        ("json", "not valid JSON"),
        ("classes", "differ from the library's class order"),
        ("missing", "booster.txt: listed in manifest.json but missing"),
        ("changed", "SHA-256 differs"),
        ("params", r"unknown parameters \['__import__'\]"),
        ("kind", "unknown model kind 'os.system'"),
    ],
)
def test_tampered_model_directory_is_rejected(tmp_path, fitted, what, match):
    fitted.save(tmp_path / "m")
    _tamper(tmp_path / "m", what)
    with pytest.raises(ModelFileError, match=match):
        load(tmp_path / "m")


def test_unsaveable_parameter_is_reported(tmp_path, problem):
    X, votes, _ = problem
    with pytest.raises(NotFittedError):
        SoftLabelLGBMClassifier().save(tmp_path / "a")
    m = SoftLabelLGBMClassifier(n_estimators=2, extra_params={"min_data_per_group": np.int64(5)})
    m.fit(X, votes)
    with pytest.raises(ModelFileError, match=r"extra_params.min_data_per_group.*without pickle"):
        m.save(tmp_path / "b")
