"""Tests for the numpy MLP/LSTM embedders and the sequence builders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.signal import periodogram
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from hms_features.data import SPEC_COLUMNS, SPEC_FREQS, VOTE_COLUMNS
from hms_features.features.sequence import (
    BANDS,
    sequence_table,
    spectrogram_sequence,
    subwindow_sequence,
)
from hms_features.metrics import CLASSES, kl_divergence
from hms_features.models._nn_layers import _Adam
from hms_features.models.embedder import load_embedder
from hms_features.models.lstm import LSTMEmbedder
from hms_features.models.mlp import MLPEmbedder
from hms_features.signal import EEG_COLUMNS, bipolar

FAST = dict(max_epochs=30, batch_size=32, random_state=0)
FAST_NO_RS = dict(max_epochs=10, batch_size=16)


def _prior_kl(Y):
    prior = np.broadcast_to(Y.mean(axis=0), Y.shape)
    return kl_divergence(Y, prior)


def _noise_problem(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    votes = rng.multinomial(4, np.full(6, 1 / 6), size=n).astype(float)
    return X, votes


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------


def _check_gradients(est, Z, Y, w, dropout_seed=None):
    """Compare analytic gradients with central differences for every parameter entry."""
    rng = np.random.default_rng(3)
    est._check_params()
    weights = est._init_weights(Z.shape[-1], rng, np.dtype("float64"))
    for k in weights:  # move away from the zero-bias initial point
        weights[k] = weights[k] + rng.normal(0, 0.3, weights[k].shape)

    def loss_grad():
        drop = None if dropout_seed is None else np.random.default_rng(dropout_seed)
        return est._loss_grad(weights, Z, Y, w, drop)

    _, grads = loss_grad()
    assert set(grads) == set(weights)
    h = 1e-6
    for name, p in weights.items():
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = loss_grad()[0]
            p[idx] = old - h
            down = loss_grad()[0]
            p[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        rel = np.linalg.norm(numeric - grads[name]) / (
            np.linalg.norm(numeric) + np.linalg.norm(grads[name])
        )
        assert rel < 1e-6, f"{name}: relative gradient error {rel:.2e}"
        assert np.abs(grads[name]).max() > 0, f"{name}: zero gradient, check is vacuous"


def _grad_data(n=7, shape=(4,), seed=1):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, *shape))
    Y = rng.dirichlet(np.ones(6), n)
    w = rng.uniform(0.5, 2.0, n)
    return Z, Y, w


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_mlp_gradients_match_finite_differences(activation):
    Z, Y, w = _grad_data()
    est = MLPEmbedder(hidden=(5, 4), activation=activation, dropout=0.0, dtype="float64")
    _check_gradients(est, Z, Y, w)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_lstm_gradients_match_finite_differences(bidirectional, pooling):
    Z, Y, w = _grad_data(n=5, shape=(4, 2))
    est = LSTMEmbedder(hidden=3, bidirectional=bidirectional, pooling=pooling, head=(4,),
                       activation="gelu", dropout=0.0, dtype="float64")
    _check_gradients(est, Z, Y, w)


def test_gradients_with_a_fixed_dropout_mask():
    # the same rng seed gives the same masks in every evaluation: the backward pass must apply them
    Z, Y, w = _grad_data()
    _check_gradients(MLPEmbedder(hidden=(6, 5), dropout=0.3, dtype="float64"), Z, Y, w,
                     dropout_seed=11)
    Z, Y, w = _grad_data(n=5, shape=(3, 2))
    _check_gradients(LSTMEmbedder(hidden=3, head=(), dropout=0.3, dtype="float64"), Z, Y, w,
                     dropout_seed=11)


def test_loss_is_kaggle_kl_plus_target_entropy():
    X, votes = _noise_problem(n=50)
    est = MLPEmbedder(hidden=(8,), dtype="float64", early_stopping=False, max_epochs=3,
                      random_state=0).fit(X, votes)
    Y = votes / votes.sum(axis=1, keepdims=True)
    loss, _ = est._loss_grad(est.weights_, est._standardised(X), Y, np.ones(len(Y)))
    entropy = -np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0).sum(axis=1).mean()
    assert loss - entropy == pytest.approx(kl_divergence(Y, est.predict_proba(X)), rel=1e-10)


def test_adam_step_with_decoupled_weight_decay_matches_hand_computation():
    p = {"W0": np.array([1.0, -2.0]), "b0": np.array([0.5])}
    g = {"W0": np.array([0.1, 0.4]), "b0": np.array([-0.2])}
    lr, wd = 0.01, 0.1
    opt = _Adam(p, lr, wd, decay=["W0"])
    opt.step(p, g)
    # first step: m_hat = g, v_hat = g^2 -> update lr * g / (|g| + eps); decay only on W0
    expect_w = np.array([1.0, -2.0]) * (1 - lr * wd) - lr * np.sign(g["W0"])
    np.testing.assert_allclose(p["W0"], expect_w, rtol=1e-6)
    np.testing.assert_allclose(p["b0"], 0.5 + lr, rtol=1e-6)
    opt.step(p, g)  # second step, same gradient: bias-corrected moments still give lr * sign(g)
    np.testing.assert_allclose(p["b0"], 0.5 + 2 * lr, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# learning, reproducibility, no leak
# ---------------------------------------------------------------------------------------------


def test_mlp_learns_a_separable_soft_target_problem():
    rng = np.random.default_rng(0)
    n, d = 900, 10
    cls = rng.integers(0, 6, n)
    X = rng.normal(0, 1.5, size=(6, d))[cls] + rng.normal(size=(n, d))  # six Gaussian blobs
    Y = 0.85 * np.eye(6)[cls] + 0.15 * rng.dirichlet(np.ones(6), n)
    est = MLPEmbedder(hidden=(32, 16), random_state=0, max_epochs=80, batch_size=64)
    est.fit(X[:600], Y[:600])
    kl = kl_divergence(Y[600:], est.predict_proba(X[600:]))
    assert kl < 0.2 * _prior_kl(Y[600:])
    assert est.n_iter_ <= 80 and len(est.validation_scores_) == est.n_iter_


def test_lstm_learns_when_a_burst_happens():
    # the class is the time step (0..5) of a burst in feature 0: only order tells them apart
    rng = np.random.default_rng(1)
    n, T = 600, 6
    cls = rng.integers(0, 6, n)
    X = rng.normal(0, 0.3, size=(n, T, 2))
    X[np.arange(n), cls, 0] += 3.0
    Y = 0.8 * np.eye(6)[cls] + 0.2 / 6
    for pooling, bidirectional in [("last", False), ("mean", True)]:
        est = LSTMEmbedder(hidden=12, pooling=pooling, bidirectional=bidirectional,
                           learning_rate=1e-2, max_epochs=60, batch_size=64, random_state=0)
        est.fit(X[:400], Y[:400])
        kl = kl_divergence(Y[400:], est.predict_proba(X[400:]))
        assert kl < 0.4 * _prior_kl(Y[400:]), (pooling, bidirectional, kl)


@pytest.mark.parametrize("make", [
    lambda rs: MLPEmbedder(hidden=(8, 4), dropout=0.2, random_state=rs, **FAST_NO_RS),
    lambda rs: LSTMEmbedder(hidden=4, bidirectional=True, dropout=0.2, random_state=rs,
                            **FAST_NO_RS),
])
def test_same_seed_same_model_other_seed_other_model(make):
    X, votes = _noise_problem(n=80)
    if isinstance(make(0), LSTMEmbedder):
        X = X.reshape(80, 3, 2)
    a, b, c = make(7).fit(X, votes), make(7).fit(X, votes), make(8).fit(X, votes)
    for k in a.weights_:
        np.testing.assert_array_equal(a.weights_[k], b.weights_[k])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.fit_transform(X, votes), b.fit_transform(X, votes))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_fit_transform_is_out_of_fold_and_does_not_leak_into_a_downstream_model():
    # noise targets: anything a downstream model learns beyond chance is leaked memorisation
    X, votes = _noise_problem(n=240, d=20, seed=2)
    Y = votes / votes.sum(axis=1, keepdims=True)
    params = dict(hidden=(32,), dropout=0.0, weight_decay=0.0, learning_rate=1e-2,
                  early_stopping=False, max_epochs=150, batch_size=32, random_state=0)
    est = MLPEmbedder(**params)
    oof = est.fit_transform(X, votes)
    inside = est.transform(X)
    assert oof.shape == inside.shape == (240, 32)
    assert np.abs(oof - inside).mean() > 0.1 * np.abs(inside).mean()
    # the final model memorised the noise: its own training KL is far below the prior's
    prior_kl = _prior_kl(Y)
    assert kl_divergence(Y, est.predict_proba(X)) < 0.5 * prior_kl
    # null control: embeddings of a model trained on shuffled targets carry no information
    shuffled = votes[np.random.default_rng(0).permutation(len(votes))]
    null = MLPEmbedder(**params).fit(X, shuffled).transform(X)

    def downstream_train_kl(Z):
        rows = np.repeat(Z, 6, axis=0)
        labels = np.tile(np.arange(6), len(Z))
        lr = LogisticRegression(C=1.0, max_iter=1000)
        lr.fit(rows, labels, sample_weight=Y.ravel() + 1e-12)
        return kl_divergence(Y, lr.predict_proba(Z))

    kl_inside, kl_oof, kl_null = map(downstream_train_kl, (inside, oof, null))
    assert kl_inside < 0.5 * prior_kl  # the check has teeth: in-sample embeddings leak
    assert kl_oof > 0.8 * prior_kl and kl_oof > kl_null - 0.05, (kl_oof, kl_null, prior_kl)
    # out-of-fold class probabilities are no better than the prior either
    assert kl_divergence(Y, est.oof_proba_) > prior_kl


def test_fit_transform_keeps_groups_in_one_fold():
    # 40 groups of 5 identical rows with a group-specific target: seeing one copy of a group
    # predicts the others, so only a grouped split gives honest (prior-level) OOF probabilities
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 5)
    X = rng.normal(size=(40, 8))[g]
    Y = rng.dirichlet(np.full(6, 0.3), 40)[g]
    est = MLPEmbedder(hidden=(32,), dropout=0.0, weight_decay=0.0, learning_rate=1e-2,
                      early_stopping=False, max_epochs=60, random_state=0)
    est.fit_transform(X, Y)
    kl_rows = kl_divergence(Y, est.oof_proba_)
    est.fit_transform(X, Y, groups=g)
    kl_groups = kl_divergence(Y, est.oof_proba_)
    assert kl_rows < 0.5 * kl_groups
    # an explicit splitter gives the same folds as groups=
    est2 = clone(est).set_params(cv=GroupKFold(5))
    est2.fit_transform(X, Y, groups=g)
    np.testing.assert_allclose(est2.oof_proba_, est.oof_proba_)


def test_final_model_serves_transform_after_fit_transform():
    X, votes = _noise_problem(n=60)
    a = MLPEmbedder(hidden=(6,), cv=3, **FAST)
    oof = a.fit_transform(X, votes)
    b = MLPEmbedder(hidden=(6,), cv=3, **FAST).fit(X, votes)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert not np.allclose(oof, a.transform(X))
    unaligned = MLPEmbedder(hidden=(6,), cv=3, align="none", **FAST).fit_transform(X, votes)
    assert not np.allclose(unaligned, oof)


# ---------------------------------------------------------------------------------------------
# inputs, targets, errors, sklearn contract
# ---------------------------------------------------------------------------------------------


def test_targets_counts_probabilities_labels_and_dataframes_agree():
    X, votes = _noise_problem(n=60)
    ref = MLPEmbedder(hidden=(5,), **FAST).fit(X, votes).predict_proba(X)
    probs = votes / votes.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(MLPEmbedder(hidden=(5,), **FAST).fit(X, probs).predict_proba(X),
                               ref, rtol=1e-5, atol=1e-7)
    df = pd.DataFrame(votes, columns=VOTE_COLUMNS)[list(VOTE_COLUMNS[::-1])]  # reversed columns
    np.testing.assert_allclose(MLPEmbedder(hidden=(5,), **FAST).fit(X, df).predict_proba(X),
                               ref, rtol=1e-5, atol=1e-7)
    codes = np.argmax(votes, axis=1)
    by_code = MLPEmbedder(hidden=(5,), **FAST).fit(X, codes).predict_proba(X)
    by_name = MLPEmbedder(hidden=(5,), **FAST).fit(X, np.array(CLASSES)[codes]).predict_proba(X)
    by_onehot = MLPEmbedder(hidden=(5,), **FAST).fit(X, np.eye(6)[codes]).predict_proba(X)
    by_float = MLPEmbedder(hidden=(5,), **FAST).fit(X, codes.astype(float)).predict_proba(X)
    np.testing.assert_array_equal(by_code, by_name)
    np.testing.assert_array_equal(by_code, by_float)
    # Kaggle's expert_consensus spelling, as a pandas string column
    kaggle = pd.Series(np.array(["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"])[codes],
                       dtype="string")
    by_kaggle = MLPEmbedder(hidden=(5,), **FAST).fit(X, kaggle).predict_proba(X)
    np.testing.assert_array_equal(by_code, by_kaggle)
    np.testing.assert_array_equal(by_code, by_onehot)
    assert not np.allclose(by_code, ref)


@pytest.mark.parametrize("mutate, message", [
    (lambda v: v.__setitem__((3, slice(None)), 0), "row 3 has zero votes"),
    (lambda v: v.__setitem__((2, 1), np.nan), "row 2 holds NaN"),
    (lambda v: v.__setitem__((4, 0), -1), "row 4 has a negative vote"),
])
def test_bad_targets_are_named(mutate, message):
    X, votes = _noise_problem(n=20)
    mutate(votes)
    with pytest.raises(ValueError, match=message):
        MLPEmbedder(**FAST).fit(X, votes)


def test_bad_shapes_and_params_are_named():
    X, votes = _noise_problem(n=20)
    with pytest.raises(ValueError, match=r"expected shape \(n_rows, 6\).*got shape \(20, 5\)"):
        MLPEmbedder(**FAST).fit(X, votes[:, :5])
    with pytest.raises(ValueError, match="X has 20 rows but y has 19"):
        MLPEmbedder(**FAST).fit(X, votes[:19])
    # the same label parser (and messages) as SoftLabelLGBMClassifier / as_soft_targets
    with pytest.raises(ValueError, match=r"y: row 0 has label 'spike': Unknown label type or "
                                         r"class; expected one of \('seizure', .*0\.\.5"):
        MLPEmbedder(**FAST).fit(X, ["spike"] * 20)
    with pytest.raises(ValueError, match=r"y: row 2 has class index 6, expected 0\.\.5"):
        MLPEmbedder(**FAST).fit(X, [0, 1, 6] + [0] * 17)
    with pytest.raises(ValueError, match="sample_weight: row 1"):
        MLPEmbedder(**FAST).fit(X, votes, sample_weight=[1, -1] + [1] * 18)
    for bad in [dict(activation="tanh"), dict(hidden=()), dict(dropout=1.0), dict(cv=1)]:
        name = next(iter(bad))
        with pytest.raises(ValueError, match=f"parameter {name}="):
            MLPEmbedder(**bad).fit(X, votes)
    with pytest.raises(ValueError, match="parameter pooling="):
        LSTMEmbedder(pooling="max").fit(X.reshape(20, 3, 2), votes)
    est = MLPEmbedder(**FAST).fit(X, votes)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :4])


def test_sklearn_contract():
    X, votes = _noise_problem(n=40)
    est = MLPEmbedder(hidden=(7, 3), **FAST)
    params = est.get_params()
    for method in (est.transform, est.predict_proba):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()
    assert est.fit(X, votes) is est
    assert est.get_params() == params and est.hidden == (7, 3)
    cl = clone(est)
    assert cl.get_params() == params and not hasattr(cl, "weights_")
    cl.set_params(hidden=(4,), activation="gelu")
    assert cl.get_params()["hidden"] == (4,) and est.hidden == (7, 3)
    assert list(est.get_feature_names_out()) == ["mlp_emb_0", "mlp_emb_1", "mlp_emb_2"]
    p = est.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    out = clone(est).set_output(transform="pandas").fit(X, votes).transform(X)
    assert list(out.columns) == ["mlp_emb_0", "mlp_emb_1", "mlp_emb_2"]
    lstm = LSTMEmbedder(hidden=5, bidirectional=True, **FAST).fit(X.reshape(40, 3, 2), votes)
    assert lstm.transform(X.reshape(40, 3, 2)).shape == (40, 10)
    assert lstm.get_feature_names_out()[-1] == "lstm_emb_9"


# scikit-learn's check_estimator for both embedders: tests/test_estimator_checks.py


def test_nan_safe_standardisation_and_read_only_input():
    X, votes = _noise_problem(n=50)
    X[::7, 2] = np.nan
    X[:, 4] = np.nan  # an all-NaN column
    X.setflags(write=False)
    est = MLPEmbedder(hidden=(5,), **FAST).fit(X, votes)
    np.testing.assert_allclose(est.mean_[[0, 1, 2]], np.nanmean(X[:, :3], axis=0))
    np.testing.assert_allclose(est.scale_[[0, 1, 2]], np.nanstd(X[:, :3], axis=0))
    emb = est.transform(X)
    assert np.isfinite(emb).all()
    # NaN counts as the training mean
    filled = X.copy()
    filled[np.isnan(filled[:, 2]), 2] = est.mean_[2]
    filled[:, 4] = est.mean_[4]
    np.testing.assert_allclose(est.transform(filled), emb, rtol=1e-5, atol=1e-6)


def test_lstm_accepts_step_major_tables_in_a_pipeline():
    rng = np.random.default_rng(4)
    X3 = rng.normal(size=(60, 4, 3))
    _, votes = _noise_problem(n=60)
    ref = LSTMEmbedder(hidden=4, **FAST).fit(X3, votes)
    table = sequence_table(X3, ["a", "b", "c"])
    assert table.shape == (60, 12) and list(table.columns[3:6]) == ["a_t01", "b_t01", "c_t01"]
    np.testing.assert_array_equal(table["c_t02"], X3[:, 2, 2])
    pipe = make_pipeline(FunctionTransformer(), LSTMEmbedder(hidden=4, n_steps=4, **FAST))
    pipe.fit(table, votes)
    np.testing.assert_array_equal(pipe.transform(table), ref.transform(X3))
    np.testing.assert_array_equal(pipe[-1].predict_proba(table), ref.predict_proba(X3))
    # an embedding of a row does not depend on the batch it is computed in (inference runs in
    # blocks of 2048 rows)
    np.testing.assert_allclose(ref.transform(X3[5:6]), ref.transform(X3)[5:6], rtol=1e-5,
                               atol=1e-6)
    many = np.random.default_rng(9).normal(size=(4500, 4, 3))
    whole = ref.transform(many)
    parts = np.concatenate([ref.transform(many[i : i + 500]) for i in range(0, 4500, 500)])
    np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="set n_steps"):
        LSTMEmbedder(**FAST).fit(table, votes)
    with pytest.raises(ValueError, match="not a multiple of n_steps=5"):
        LSTMEmbedder(n_steps=5, **FAST).fit(table, votes)
    with pytest.raises(ValueError, match="2 features per step, the model was fitted with 3"):
        ref.transform(X3[:, :, :2])


# ---------------------------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda: MLPEmbedder(hidden=(6, 3), activation="gelu", **FAST), (30, 6)),
    (lambda: LSTMEmbedder(hidden=4, bidirectional=True, pooling="mean", head=(5,), **FAST),
     (30, 3, 2)),
])
def test_save_load_round_trip(tmp_path, make, shape):
    from hms_features.models.persist import ModelFileError

    rng = np.random.default_rng(5)
    X = rng.normal(size=shape)
    _, votes = _noise_problem(n=30)
    est = make().fit(X, votes)
    est.save(tmp_path / "m")
    back = load_embedder(tmp_path / "m")
    assert type(back) is type(est) and back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["kind"] == type(est).__name__
    assert manifest["classes"] == list(CLASSES)
    assert "library_version" in manifest and manifest["params"]["random_state"] == 0
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as npz:
        for k, spec in manifest["arrays"].items():
            assert list(npz[k].shape) == spec["shape"]
    # a manifest naming anything else is refused, not imported
    manifest["kind"] = "os.system"
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="os.system"):
        type(est).load(tmp_path / "m")


def test_load_checks_feature_names(tmp_path):
    X, votes = _noise_problem(n=30)
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(6)])
    MLPEmbedder(hidden=(3,), **FAST).fit(df, votes).save(tmp_path)
    back = MLPEmbedder.load(tmp_path, feature_names=list(df.columns))
    assert list(back.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="feature names differ"):
        MLPEmbedder.load(tmp_path, feature_names=["x"] + list(df.columns[1:]))
    with pytest.raises(ValueError, match="feature names"):
        back.transform(df.rename(columns={"c0": "x"}))
    with pytest.raises(ValueError, match="MLPEmbedder"):
        LSTMEmbedder.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# sequence builders
# ---------------------------------------------------------------------------------------------


def test_subwindow_sequence_matches_scipy_periodogram_and_line_length():
    rng = np.random.default_rng(6)
    eeg = rng.normal(0, 30, size=(3, 20, 10_000)).astype(np.float32)
    eeg.setflags(write=False)
    seq, names = subwindow_sequence(eeg, fs=200.0, step_s=5.0, relative=False, return_names=True)
    assert seq.shape == (3, 10, 25) and seq.dtype == np.float32 and len(names) == 25
    rel, rel_names = subwindow_sequence(eeg, return_names=True)
    assert rel.shape == (3, 10, 30) and len(rel_names) == 30
    bip = bipolar(eeg).astype(np.float64)
    chains = {"LL": slice(0, 4), "LP": slice(4, 8), "RP": slice(8, 12), "RL": slice(12, 16),
              "C": slice(16, 18)}
    for w, t, chain in [(0, 0, "LL"), (1, 4, "RP"), (2, 9, "C")]:
        seg = bip[w, chains[chain], t * 1000 : (t + 1) * 1000]
        f, psd = periodogram(seg, fs=200.0, window="hann", detrend="constant",
                             scaling="density")
        powers = {}
        for name, lo, hi in BANDS:
            powers[name] = psd[:, (f >= lo) & (f < hi)].sum(axis=1).mean() * (f[1] - f[0])
            got = seq[w, t, names.index(f"seq_logpower_{name}_{chain}_5s")]
            assert got == pytest.approx(np.log(powers[name] + 1e-6), rel=1e-5)
        total = sum(powers.values())
        got = rel[w, t, rel_names.index(f"seq_logpower_total_{chain}_5s")]
        assert got == pytest.approx(np.log(total + 1e-6), rel=1e-5)
        for name, p in powers.items():
            got = rel[w, t, rel_names.index(f"seq_logrelpower_{name}_{chain}_5s")]
            assert got == pytest.approx(np.log(p + 1e-6) - np.log(total + 1e-6), abs=1e-5)
        ll = np.log(np.abs(np.diff(seg, axis=1)).mean(axis=1).mean() + 1e-6)
        assert seq[w, t, names.index(f"seq_loglinelength_{chain}_5s")] == pytest.approx(ll,
                                                                                   rel=1e-5)
    np.testing.assert_array_equal(subwindow_sequence(eeg, chunk=1), rel)
    assert subwindow_sequence(eeg, step_s=10.0).shape == (3, 5, 30)


def test_subwindow_sequence_localises_rhythm_and_handles_nan():
    t = np.arange(10_000) / 200.0
    eeg = np.random.default_rng(7).normal(0, 1, size=(1, 20, 10_000))
    left = [EEG_COLUMNS.index(c) for c in ("F7", "T5")]  # alternate LL electrodes
    eeg[0, left, 5000:] += 50 * np.sin(2 * np.pi * 10 * t[5000:])
    seq, names = subwindow_sequence(eeg, relative=False, return_names=True)
    alpha_ll = seq[0, :, names.index("seq_logpower_alpha_LL_5s")]
    alpha_rl = seq[0, :, names.index("seq_logpower_alpha_RL_5s")]
    assert (alpha_ll[5:] > alpha_ll[:5].max() + 3).all() and (alpha_ll[5:] > alpha_rl[5:] + 3).all()
    bands_ll = [seq[0, 7, names.index(f"seq_logpower_{b}_LL_5s")] for b, _, _ in BANDS]
    assert int(np.argmax(bands_ll)) == 2  # alpha
    rel, rel_names = subwindow_sequence(eeg, return_names=True)
    rel_ll = [rel[0, 7, rel_names.index(f"seq_logrelpower_{b}_LL_5s")] for b, _, _ in BANDS]
    assert int(np.argmax(rel_ll)) == 2 and rel_ll[2] > -0.05  # nearly all power in alpha
    # NaN: a fully missing electrode drops its derivations from the chain average
    gap = eeg.copy()
    gap[0, EEG_COLUMNS.index("Cz")] = np.nan  # C chain: Fz-Cz and Cz-Pz both lost -> NaN
    gap[0, EEG_COLUMNS.index("O1"), 2000:2500] = np.nan  # partial gap in step 2
    out = subwindow_sequence(gap, relative=False)
    c_cols = [i for i, n in enumerate(names) if n.endswith("_C_5s")]
    assert np.isnan(out[0, :, c_cols]).all()
    other = [i for i in range(25) if i not in c_cols]
    assert np.isfinite(out[0][:, other]).all()
    np.testing.assert_allclose(out[0, 5:, other], seq[0, 5:, other], rtol=1e-5)


def test_spectrogram_sequence_against_a_loop_reference():
    rng = np.random.default_rng(8)
    spec = rng.lognormal(1.0, 1.0, size=(2, 300, 400)).astype(np.float32)
    spec[0, 10:25] = np.nan  # frame 1 fully, frame 2 half missing
    spec[1, :, 5] = np.nan
    seq, names = spectrogram_sequence(spec, frames=30, relative=False, return_names=True)
    assert seq.shape == (2, 30, 16) and names[0] == "specseq_logpower_delta_LL_20s"
    rel, rel_names = spectrogram_sequence(spec, return_names=True)
    assert rel.shape == (2, 30, 20) and rel_names[4] == "specseq_logpower_total_LL_20s"
    freqs = np.array(SPEC_FREQS)
    for w in range(2):
        for fr in (0, 1, 2, 29):
            rows = spec[w, fr * 10 : (fr + 1) * 10]
            for c, chain in enumerate(("LL", "RL", "LP", "RP")):
                block = rows[:, c * 100 : (c + 1) * 100]
                means = []
                for b, (name, lo, hi) in enumerate(BANDS):
                    cells = block[:, (freqs >= lo) & (freqs < hi)]
                    means.append(np.nanmean(cells.astype(np.float64))
                                 if np.isfinite(cells).any() else np.nan)
                    got = seq[w, fr, c * 4 + b]
                    np.testing.assert_allclose(got, np.log(means[-1] + 1e-3), rtol=1e-5)
                    assert names[c * 4 + b] == f"specseq_logpower_{name}_{chain}_20s"
                log_total = np.log(sum(means) + 1e-3)
                np.testing.assert_allclose(rel[w, fr, c * 5 + 4], log_total, rtol=1e-5)
                np.testing.assert_allclose(rel[w, fr, c * 5 : c * 5 + 4],
                                           np.log(np.array(means) + 1e-3) - log_total, atol=1e-5)
    assert np.isnan(seq[0, 1]).all() and np.isfinite(seq[0, 2]).all()
    assert spectrogram_sequence(spec, frames=7).shape == (2, 7, 20)
    with pytest.raises(ValueError, match="frames=301"):
        spectrogram_sequence(spec, frames=301)
    with pytest.raises(ValueError, match="contains no spectrogram bin"):
        spectrogram_sequence(spec, bands=[("gamma", 30.0, 40.0)])


def test_sequences_on_real_hms_files(hms_mini):
    sp = pd.read_parquet(hms_mini / "train_spectrograms" / "1000086677.parquet")
    values = sp[list(SPEC_COLUMNS)].to_numpy(np.float32)[None, :300]
    seq = spectrogram_sequence(values)
    assert seq.shape == (1, 30, 20)
    has_data = np.isfinite(values[0].reshape(30, 10, 400)).any(axis=(1, 2))
    assert np.isfinite(seq[0, has_data]).all() and np.isnan(seq[0, ~has_data]).all()
    eeg = pd.read_parquet(hms_mini / "train_eegs" / "1628180742.parquet")
    window = eeg[list(EEG_COLUMNS)].to_numpy(np.float32)[:10_000].T[None]
    sub = subwindow_sequence(window)
    assert sub.shape == (1, 10, 30) and np.isfinite(sub).all()
    # log powers of real EEG (µV) are in a plausible range: 1e-2 .. 1e6 µV²
    absolute = subwindow_sequence(window, relative=False)
    assert (absolute > np.log(1e-2)).all() and (absolute < np.log(1e6)).all()
    assert (sub[..., [0, 1, 2, 3]] < 0).all()  # relative powers of LL
    emb = LSTMEmbedder(hidden=3, **FAST).fit(np.repeat(sub, 12, axis=0),
                                             np.tile(np.eye(6), (2, 1)))
    assert np.isfinite(emb.transform(sub)).all()
