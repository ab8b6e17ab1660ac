"""kl_scorer: the Kaggle KL through scikit-learn's scorer API, on soft (2-D) targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from hms_features.metrics import CLASSES, kl_divergence, kl_score, kl_scorer
from hms_features.models import SoftLabelLGBMClassifier, make_hms_pipeline
from hms_features.models.lgbm import softmax

K = len(CLASSES)
FAST = dict(n_estimators=15, learning_rate=0.2, num_leaves=4, min_child_samples=5,
            early_stopping_rounds=None, n_jobs=1, random_state=0)


def _problem(n=240, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])
    P = softmax(X.to_numpy()[:, :K] * 1.5)
    votes = np.stack([rng.multinomial(rng.integers(1, 16), p) for p in P]).astype(float)
    patients = np.repeat(np.arange(n // 4), 4)
    return X, votes, patients


def _scipy_kl(votes, proba):
    """Independent reference: scipy's elementwise y log(y/p) (0 where y == 0), mean over rows."""
    y = votes / votes.sum(axis=1, keepdims=True)
    return float(rel_entr(y, np.clip(proba, 1e-15, 1 - 1e-15)).sum(axis=1).mean())


def _manual_cv(est, X, votes, patients, cv):
    scores = []
    for tr, te in cv.split(X, votes, groups=patients):
        model = clone(est).fit(X.iloc[tr], votes[tr])
        scores.append(-_scipy_kl(votes[te], model.predict_proba(X.iloc[te])))
    return np.array(scores)


def test_scorer_is_negative_kaggle_kl_on_counts_probabilities_and_labels():
    X, votes, _ = _problem()
    clf = SoftLabelLGBMClassifier(**FAST).fit(X, votes)
    p = clf.predict_proba(X)
    kl = kl_divergence(votes, p, votes=True)
    assert kl_scorer(clf, X, votes) == -kl  # counts: the very same computation
    assert kl_scorer(clf, X, votes) == pytest.approx(-_scipy_kl(votes, p), rel=1e-12)
    y = votes / votes.sum(axis=1, keepdims=True)
    assert kl_scorer(clf, X, y) == pytest.approx(-kl_divergence(y, p), rel=1e-12)
    frame = pd.DataFrame(votes[:, ::-1], columns=[f"{c}_vote" for c in CLASSES][::-1])
    assert kl_scorer(clf, X, frame) == -kl  # columns matched by name, not position
    labels = np.array(CLASSES, dtype=object)[votes.argmax(axis=1)]
    onehot = np.eye(K)[votes.argmax(axis=1)]
    assert kl_scorer(clf, X, labels) == pytest.approx(-_scipy_kl(onehot, p), rel=1e-12)
    assert kl_scorer(clf, X, votes) == clf.score(X, votes)
    assert kl_scorer(clf, X, votes) < 0  # greater is better, as neg_log_loss


def test_sample_weight_gives_weighted_mean_of_row_kl():
    X, votes, _ = _problem()
    clf = SoftLabelLGBMClassifier(**FAST).fit(X, votes)
    p = clf.predict_proba(X)
    w = votes.sum(axis=1)
    y = votes / w[:, None]
    rows = rel_entr(y, p).sum(axis=1)
    assert kl_score(votes, p, sample_weight=w) == pytest.approx(np.sum(w * rows) / w.sum(),
                                                                rel=1e-12)


def test_kl_score_rejects_unnormalised_predictions_as_kaggle_does():
    votes = np.array([[1.0, 2, 0, 0, 0, 3]])
    with pytest.raises(ValueError, match="do not add to one"):
        kl_score(votes, np.full((1, K), 0.2))


def test_cross_val_score_with_group_kfold_on_vote_counts():
    X, votes, patients = _problem()
    pipe = make_hms_pipeline(**FAST)
    cv = GroupKFold(n_splits=3)
    scores = cross_val_score(pipe, X, votes, groups=patients, cv=cv, scoring=kl_scorer)
    expected = _manual_cv(pipe, X, votes, patients, cv)
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    assert (scores < 0).all()
    # The model learned something: better than the uniform prediction (KL of uniform ~ 0.9)
    uniform = -_scipy_kl(votes, np.full(votes.shape, 1 / K))
    assert scores.mean() > uniform


def test_grid_search_picks_the_lowest_kl_and_reports_it():
    X, votes, patients = _problem()
    cv = GroupKFold(n_splits=3)
    grid = {"num_leaves": [2, 8], "n_estimators": [1, 30]}
    search = GridSearchCV(SoftLabelLGBMClassifier(**FAST), grid, cv=cv, scoring=kl_scorer)
    search.fit(X, votes, groups=patients)
    means = []
    for params in search.cv_results_["params"]:
        est = SoftLabelLGBMClassifier(**FAST).set_params(**params)
        means.append(_manual_cv(est, X, votes, patients, cv).mean())
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means, rtol=1e-10)
    assert search.best_score_ == pytest.approx(max(means), rel=1e-12)
    assert search.best_params_["n_estimators"] == 30  # one round is far from the optimum
    assert search.best_estimator_.predict_proba(X).shape == (len(X), K)
