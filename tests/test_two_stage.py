"""TwoStageClassifier (continued LightGBM booster) and the vote selection / weight helpers."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold

from hms_features.metrics import CLASSES, kl_divergence, kl_scorer
from hms_features.models import ModelFileError, SoftLabelLGBMClassifier, load
from hms_features.models.two_stage import TwoStageClassifier, min_votes_mask

K = len(CLASSES)
EXACT = dict(subsample=1.0, subsample_freq=0, colsample_bytree=1.0, min_child_samples=5,
             num_leaves=8, max_depth=3, learning_rate=0.1, n_estimators=20,
             early_stopping_rounds=None, reg_lambda=0.0, n_jobs=1, random_state=0)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _problem(n=400, d=10, seed=0):
    """Few-vote rows are noisy; many-vote rows follow a different, sharper rule on feature 6."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    logits = X[:, :K].astype(np.float64) * 1.5
    logits[:, 0] += 2.0 * X[:, 6]
    P = _softmax(logits)
    n_votes = np.where(rng.random(n) < 0.4, rng.integers(10, 20, n), rng.integers(1, 4, n))
    votes = np.stack([rng.multinomial(k, p) for k, p in zip(n_votes, P, strict=True)])
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(d)]), votes.astype(float)


@pytest.fixture(scope="module")
def problem():
    return _problem()


@pytest.fixture(scope="module")
def fitted(problem):
    X, votes = problem
    return TwoStageClassifier(SoftLabelLGBMClassifier(**EXACT), min_votes=10,
                              stage2_estimators=15).fit(X, votes)


def _hand_two_stage(X, votes, n1, n2, min_votes):
    """Reference written out with lightgbm alone: soft-label objective, then init_model."""
    X = np.asarray(X, dtype=np.float32)
    y = votes / votes.sum(axis=1, keepdims=True)
    init = np.log(y.mean(axis=0))
    params = {"num_class": K, "learning_rate": 0.1, "num_leaves": 8, "max_depth": 3,
              "min_data_in_leaf": 5, "min_sum_hessian_in_leaf": 1e-3, "bagging_fraction": 1.0,
              "bagging_freq": 0, "feature_fraction": 1.0, "lambda_l1": 0.0, "lambda_l2": 0.0,
              "min_gain_to_split": 0.0, "max_bin": 255, "num_threads": 1, "verbosity": -1,
              "feature_pre_filter": False, "seed": 0, "deterministic": True, "metric": "None"}

    def grad_hess(raw, target):
        p = _softmax(raw)
        return p - target, K / (K - 1) * p * (1 - p)

    ds1 = lgb.Dataset(X, init_score=np.tile(init, (len(X), 1)),
                      params={"max_bin": 255, "verbosity": -1, "feature_pre_filter": False})
    b1 = lgb.train({**params, "objective": lambda raw, _: grad_hess(raw, y)}, ds1, n1)
    keep = votes.sum(axis=1) >= min_votes
    ds2 = lgb.Dataset(X[keep], params={"max_bin": 255, "verbosity": -1,
                                       "feature_pre_filter": False})
    b2 = lgb.train({**params, "objective": lambda raw, _: grad_hess(raw + init, y[keep])},
                   ds2, n2, init_model=b1)
    return b1, b2, init


def test_stage2_continues_the_stage1_booster(problem, fitted):
    X, votes = problem
    booster = fitted.estimator_.booster_
    assert fitted.stage1_iterations_ == 20
    assert booster.current_iteration() == 20 + 15
    assert booster.num_trees() == K * (20 + 15)
    assert fitted.n_stage2_rows_ == int((votes.sum(axis=1) >= 10).sum())
    # the first 20 rounds are exactly a plain stage-1 fit
    plain = SoftLabelLGBMClassifier(**EXACT).fit(X, votes)
    raw1 = booster.predict(X.to_numpy(np.float32), raw_score=True, num_iteration=20)
    np.testing.assert_allclose(_softmax(raw1 + plain.init_score_), plain.predict_proba(X),
                               rtol=1e-12, atol=1e-15)
    # ... and stage 2 changed the predictions
    assert np.abs(fitted.predict_proba(X) - plain.predict_proba(X)).max() > 1e-2


def test_two_stage_equals_lightgbm_with_init_model_by_hand(problem, fitted):
    X, votes = problem
    b1, b2, init = _hand_two_stage(X, votes, 20, 15, 10)
    np.testing.assert_allclose(fitted.estimator_.init_score_, init, rtol=1e-12)
    ref = _softmax(b2.predict(X.to_numpy(np.float32), raw_score=True) + init)
    np.testing.assert_allclose(fitted.predict_proba(X), ref, rtol=1e-9, atol=1e-12)
    assert b2.num_trees() == b1.num_trees() + K * 15


def test_stage2_lowers_the_kl_on_the_rows_it_trains_on(problem, fitted):
    X, votes = problem
    keep = votes.sum(axis=1) >= 10
    plain = SoftLabelLGBMClassifier(**EXACT).fit(X, votes)
    before = kl_divergence(votes[keep], plain.predict_proba(X[keep]), votes=True)
    after = kl_divergence(votes[keep], fitted.predict_proba(X[keep]), votes=True)
    assert after < before - 0.01
    assert np.allclose(fitted.predict_proba(X).sum(axis=1), 1)
    assert set(fitted.predict(X)) <= set(CLASSES)


def test_stage1_early_stopping_keeps_its_best_round_then_continues(problem):
    X, votes = problem
    patients = np.arange(len(X)) // 4
    base = SoftLabelLGBMClassifier(**{**EXACT, "n_estimators": 300, "learning_rate": 0.3,
                                      "early_stopping_rounds": 5}, validation_fraction=0.3)
    model = TwoStageClassifier(base, min_votes=10, stage2_estimators=7).fit(
        X, votes, groups=patients)
    alone = clone(base).fit(X, votes, groups=patients)
    assert model.stage1_iterations_ == alone.best_iteration_ < 300
    assert model.estimator_.booster_.current_iteration() == alone.best_iteration_ + 7


def test_stage2_learning_rate_and_sample_weight_are_used(problem, fitted):
    X, votes = problem
    base = SoftLabelLGBMClassifier(**EXACT)
    slow = TwoStageClassifier(base, 10, 15, stage2_learning_rate=1e-6).fit(X, votes)
    plain = SoftLabelLGBMClassifier(**EXACT).fit(X, votes)
    np.testing.assert_allclose(slow.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    w = np.where(np.arange(len(X)) % 2 == 0, 1.0, 0.0)
    weighted = TwoStageClassifier(base, 10, 15).fit(X, votes, sample_weight=w)
    assert np.abs(weighted.predict_proba(X) - fitted.predict_proba(X)).max() > 1e-3


def test_errors(problem):
    X, votes = problem
    with pytest.raises(ValueError, match=r"min_votes=50: only 0 of 400 rows .* most is 1[0-9]"):
        TwoStageClassifier(SoftLabelLGBMClassifier(**EXACT), min_votes=50).fit(X, votes)
    probs = votes / votes.sum(axis=1, keepdims=True)
    with pytest.raises(ValueError, match="pass vote counts, not probabilities"):
        TwoStageClassifier(SoftLabelLGBMClassifier(**EXACT)).fit(X, probs)
    with pytest.raises(TypeError, match="base must be a SoftLabelLGBMClassifier"):
        TwoStageClassifier(base=GridSearchCV(SoftLabelLGBMClassifier(), {})).fit(X, votes)
    with pytest.raises(ValueError, match="stage2_estimators must be >= 1"):
        TwoStageClassifier(stage2_estimators=0).fit(X, votes)


def test_save_load_round_trip_is_lightgbm_text_and_json(problem, fitted, tmp_path):
    X, votes = problem
    fitted.save(tmp_path / "m")
    assert (tmp_path / "m" / "lgbm" / "booster.txt").read_text().startswith("tree")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["kind"] == "TwoStageClassifier" and manifest["stage1_iterations"] == 20
    for loaded in (TwoStageClassifier.load(tmp_path / "m"), load(tmp_path / "m")):
        assert isinstance(loaded, TwoStageClassifier)
        np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
        assert loaded.base.get_params() == SoftLabelLGBMClassifier(**EXACT).get_params()
        assert loaded.get_params(deep=False)["min_votes"] == 10
        assert list(loaded.feature_names_in_) == list(X.columns)
    booster = tmp_path / "m" / "lgbm" / "booster.txt"
    booster.write_text(booster.read_text().replace("tree", "tree ", 1))
    with pytest.raises(ModelFileError, match="SHA-256"):
        TwoStageClassifier.load(tmp_path / "m")


def test_sklearn_contract_nested_params_and_scorer(problem):
    X, votes = problem
    model = TwoStageClassifier(SoftLabelLGBMClassifier(**EXACT), stage2_estimators=5)
    assert clone(model).get_params()["base__num_leaves"] == 8
    search = GridSearchCV(model, {"base__num_leaves": [2, 8], "min_votes": [10]},
                          cv=GroupKFold(2), scoring=kl_scorer)
    search.fit(X, votes, groups=np.arange(len(X)) // 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.estimator_.booster_.current_iteration() == 25


def test_min_votes_mask():
    votes = np.array([[1, 0, 0, 0, 0, 0], [3, 3, 3, 0, 0, 0], [5, 5, 0, 0, 0, 0],
                      [0, 0, 0, 0, 0, 28]], dtype=float)
    np.testing.assert_array_equal(min_votes_mask(votes, 10), [False, False, True, True])
    with pytest.raises(ValueError, match=r"shape \(n_rows, 6\)"):
        min_votes_mask(votes[:, :5], 10)


def test_as_the_classifier_of_a_saved_pipeline(problem, tmp_path):
    from hms_features.models import make_hms_pipeline

    X, votes = problem
    pipe = make_hms_pipeline(classifier=TwoStageClassifier(SoftLabelLGBMClassifier(**EXACT),
                                                       stage2_estimators=5))
    pipe.fit(X, votes, lgbm__groups=np.arange(len(X)) // 4)
    pipe.save(tmp_path / "p")
    loaded = load(tmp_path / "p")
    assert isinstance(loaded.steps[-1][1], TwoStageClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
