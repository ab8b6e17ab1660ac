"""blend: weights fitted on out-of-fold files, the blend's own grouped CV, submissions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad
from scipy.special import rel_entr

from hms_features.blend import (
    _objective,
    blend_oof,
    blend_submissions,
    combine,
    fit_blend_weights,
    read_oof,
)
from hms_features.metrics import CLASSES

K = len(CLASSES)
VOTES = [f"{c}_vote" for c in CLASSES]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _truth(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, K))
    P = _softmax(logits)
    n_votes = np.where(rng.random(n) < 0.5, rng.integers(10, 20, n), rng.integers(1, 4, n))
    votes = np.stack([rng.multinomial(k, p) for k, p in zip(n_votes, P, strict=True)])
    return logits, votes.astype(float), rng


def _oof_frame(votes, proba, seed=0):
    n = len(votes)
    df = pd.DataFrame({"label_id": np.arange(n) + 100, "eeg_id": np.arange(n) // 3 + 10,
                       "patient_id": np.arange(n) // 12, "fold": (np.arange(n) // 12) % 5})
    df[VOTES] = votes
    df[list(CLASSES)] = proba
    return df


def _kl(votes, p):
    return float(rel_entr(votes / votes.sum(1, keepdims=True), p).sum(axis=1).mean())


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    logits, votes, rng = _truth()
    good = _softmax(logits + rng.normal(scale=0.5, size=logits.shape))
    worse = _softmax(logits + rng.normal(scale=1.5, size=logits.shape))
    d = tmp_path_factory.mktemp("oof")
    a, b = d / "good_oof.csv", d / "worse_oof.csv"
    _oof_frame(votes, good).to_csv(a, index=False)
    # the other model's file: its own row order, no votes / patients (a CNN's OOF, say)
    other = _oof_frame(votes, worse)[["label_id", *CLASSES]].sample(frac=1, random_state=1)
    other.to_csv(b, index=False)
    return a, b, votes, good, worse


def test_blend_prefers_the_better_model_and_its_cv_kl_is_not_worse(two_files):
    a, b, votes, good, worse = two_files
    res = blend_oof([a, b], n_splits=5)
    w_good, w_worse = res.weights
    assert w_good > w_worse >= 0 and w_good + w_worse == pytest.approx(1)
    assert res.kl[str(a)] == pytest.approx(_kl(votes, good), rel=1e-12)
    assert res.kl[str(b)] == pytest.approx(_kl(votes, worse), rel=1e-12)
    assert res.kl[str(b)] > res.kl[str(a)] + 0.1
    # honest CV of the blend: at most noise above the best single model (two independent
    # noisy predictors of the same truth usually blend to a better one)
    assert res.kl["blend (CV)"] <= res.kl[str(a)] + 0.005
    assert res.kl["blend (CV)"] == pytest.approx(_kl(votes, res.oof), rel=1e-12)
    assert res.fold_weights.shape == (5, 2) and np.allclose(res.fold_weights.sum(axis=1), 1)
    table = res.table()
    assert list(table.index) == [str(a), str(b), "blend (CV)"]
    many = votes.sum(axis=1) >= 10
    assert table.loc[str(a), "KL >=10 votes"] == pytest.approx(_kl(votes[many], good[many]))


def test_linear_weights_match_a_brute_force_grid(two_files):
    _, _, votes, good, worse = two_files
    w = fit_blend_weights([good, worse], votes, "linear")
    grid = np.linspace(0, 1, 2001)
    kls = [_kl(votes, g * good + (1 - g) * worse) for g in grid]
    assert w[0] == pytest.approx(grid[int(np.argmin(kls))], abs=1e-3)
    assert _kl(votes, combine([good, worse], w)) <= min(kls) + 1e-9


def test_log_blend_recovers_a_temperature():
    logits, votes, _ = _truth(n=3000, seed=3)
    overconfident = _softmax(3.0 * logits)  # temperature 1/3 too sharp
    w = fit_blend_weights([overconfident], votes, "log")
    assert w[0] == pytest.approx(1 / 3, abs=0.03)
    grid = np.linspace(0.05, 1.0, 400)
    kls = [_kl(votes, _softmax(g * np.log(overconfident))) for g in grid]
    assert _kl(votes, combine([overconfident], w, "log")) <= min(kls) + 1e-9


def test_log_blend_via_blend_oof(two_files):
    a, b, votes, good, _ = two_files
    res = blend_oof([a, b], method="log", n_splits=4, names=["good", "worse"])
    assert res.weights[0] > res.weights[1] >= 0
    assert res.kl["blend (CV)"] <= res.kl["good"] + 0.005


def test_objective_gradients_are_right(two_files):
    _, _, votes, good, worse = two_files
    P = np.stack([good[:200], worse[:200]])
    Y = votes[:200] / votes[:200].sum(1, keepdims=True)
    sw = np.full(200, 1 / 200)
    for method in ("linear", "log"):
        def f(w, method=method):
            return _objective(w, P, Y, sw, method)[0]

        def g(w, method=method):
            return _objective(w, P, Y, sw, method)[1]

        assert check_grad(f, g, np.array([0.3, 0.6])) < 1e-5


def test_blend_submissions_applies_the_weights(two_files, tmp_path):
    a, b, *_ = two_files
    res = blend_oof([a, b], n_splits=3)
    rng = np.random.default_rng(5)
    ids = np.arange(7) + 5000
    pa, pb = rng.dirichlet(np.ones(K), 7), rng.dirichlet(np.ones(K), 7)
    sa = pd.DataFrame(pa, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]]
    sb = pd.DataFrame(pb, columns=VOTES).assign(eeg_id=ids)[["eeg_id", *VOTES]]
    sa.to_csv(tmp_path / "a.csv", index=False)
    sb.iloc[::-1].to_csv(tmp_path / "b.csv", index=False)  # other row order
    out = tmp_path / "blend.csv"
    sub = blend_submissions(res, [tmp_path / "a.csv", tmp_path / "b.csv"], out=out)
    expected = res.weights[0] * pa + res.weights[1] * pb
    np.testing.assert_allclose(sub[VOTES].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(sub["eeg_id"], ids)
    np.testing.assert_allclose(pd.read_csv(out)[VOTES].to_numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="1 submissions for 2 blended models"):
        blend_submissions(res, [sa])
    with pytest.raises(ValueError, match="eeg_ids differ"):
        blend_submissions(res, [sa, sb.assign(eeg_id=ids + 1)])


def test_errors_name_the_file_and_row(two_files, tmp_path):
    a, b, votes, good, worse = two_files
    with pytest.raises(ValueError, match="at least 2 out-of-fold tables"):
        blend_oof([a])
    short = pd.read_csv(b).query("label_id != 100")
    with pytest.raises(ValueError, match=r"short: lacks label_id 100 \(1 missing\)"):
        blend_oof([a, short], names=["a", "short"])
    with pytest.raises(ValueError, match=r"missing columns \['patient_id'"):
        blend_oof([b, a])
    bad = pd.read_csv(a)
    bad.loc[3, "seizure"] += 0.5
    with pytest.raises(ValueError, match=r"bad: row 3 \(label_id 103\) is not a probability"):
        read_oof(bad, name="bad")
    other_votes = pd.read_csv(a)
    other_votes.loc[0, "seizure_vote"] += 1
    with pytest.raises(ValueError, match="votes of label_id 100 differ"):
        blend_oof([a, other_votes], names=["a", "b"])
    with pytest.raises(ValueError, match="method must be one of"):
        fit_blend_weights([good], votes, "geometric")
    with pytest.raises(ValueError, match="n_splits=1000 needs"):
        blend_oof([a, b], n_splits=1000)
