import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr

from hms_features.metrics import CLASSES, kl_divergence, kl_per_row, kl_report, normalize_votes


def test_hand_computed_value():
    y = np.array([[1, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0]])
    p = np.array([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]])
    # row 0: 1*log(1/0.5) = log 2; row 1: 2 * 0.5*log(0.5/0.25) = log 2
    assert kl_per_row(y, p) == pytest.approx([np.log(2), np.log(2)], rel=1e-12)
    assert kl_divergence(y, p) == pytest.approx(np.log(2), rel=1e-12)


def test_matches_scipy_rel_entr_on_random_rows():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 4, size=(200, 6)).astype(float)
    votes[votes.sum(1) == 0, 0] = 1
    votes[:50, 1:] = 0  # one-hot rows with zero targets
    votes[:50, 0] = 3
    y = votes / votes.sum(1, keepdims=True)
    p = rng.dirichlet(np.ones(6), size=200)
    expected = rel_entr(y, np.clip(p, 1e-15, 1 - 1e-15)).sum(1).mean()
    assert kl_divergence(y, p) == pytest.approx(expected, rel=1e-12)
    assert kl_divergence(votes, p, votes=True) == pytest.approx(expected, rel=1e-12)


def test_zero_prediction_is_clipped_not_infinite():
    y = np.array([[1.0, 0, 0, 0, 0, 0]])
    p = np.array([[0.0, 0.2, 0.2, 0.2, 0.2, 0.2]])
    assert kl_divergence(y, p) == pytest.approx(-np.log(1e-15), rel=1e-12)


def test_zero_targets_are_dropped_even_where_prediction_is_zero():
    y = np.array([[0.0, 1.0, 0, 0, 0, 0]])
    p = np.array([[0.0, 1.0, 0, 0, 0, 0]])
    # the target-1 cell: 1*log(1/(1-1e-15)) ~ 1e-15; zero-target cells contribute nothing
    assert kl_divergence(y, p) == pytest.approx(0.0, abs=1e-14)


def test_submission_not_summing_to_one_is_an_error_like_kaggle():
    y = np.eye(6)[:2]
    p = np.full((2, 6), 0.2)
    with pytest.raises(ValueError, match="do not add to one.*row 0"):
        kl_divergence(y, p)


def test_accepts_dataframes_and_checks_shape():
    y = pd.DataFrame(np.eye(6), columns=list(CLASSES))
    p = pd.DataFrame(np.full((6, 6), 1 / 6), columns=list(CLASSES))
    assert kl_divergence(y, p) == pytest.approx(np.log(6), rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        kl_divergence(np.eye(5), np.eye(5))
    with pytest.raises(ValueError, match="rows"):
        kl_divergence(np.eye(6), np.full((5, 6), 1 / 6))


def test_normalize_votes_errors_name_the_row():
    with pytest.raises(ValueError, match="row 1 has zero votes"):
        normalize_votes([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="row 0 has a negative vote"):
        normalize_votes([[-1, 2, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="row 0 holds NaN"):
        normalize_votes([[np.nan, 2, 0, 0, 0, 0]])


def test_report_split_and_per_class_contributions_add_up():
    rng = np.random.default_rng(1)
    n = 300
    votes = np.zeros((n, 6))
    k = np.where(rng.random(n) < 0.3, rng.integers(10, 20, n), rng.integers(1, 4, n))
    for i in range(n):
        votes[i] = rng.multinomial(k[i], rng.dirichlet(np.ones(6)))
    p = rng.dirichlet(np.ones(6) * 2, size=n)
    rep = kl_report(votes, p)
    rows = kl_per_row(votes, p, votes=True)
    many = votes.sum(1) >= 10
    assert rep["kl"] == pytest.approx(rows.mean())
    assert rep["kl_many_votes"] == pytest.approx(rows[many].mean())
    assert rep["kl_few_votes"] == pytest.approx(rows[~many].mean())
    assert rep["n_many_votes"] + rep["n_few_votes"] == n
    assert sum(rep["per_class"].values()) == pytest.approx(rep["kl"])
    assert list(rep["per_class"]) == list(CLASSES)


def test_parse_targets_labels_votes_and_classes():
    from hms_features.metrics import as_soft_targets, parse_targets

    # labels: the sorted distinct values are the classes, one-hot targets, one vote each
    t, n, c = parse_targets(np.array([3, 1, 3, 2]))
    assert c.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(t, np.eye(3)[[2, 0, 2, 1]])
    np.testing.assert_array_equal(n, 1.0)
    t, _, c = parse_targets(pd.Series(["b", "a", "b"]))
    assert c.tolist() == ["a", "b"] and c.dtype == object
    # votes: rows normalised, the totals kept; HMS names for six columns, 0..K-1 otherwise
    t, n, c = parse_targets([[3, 1], [0, 2]])
    np.testing.assert_allclose(t, [[0.75, 0.25], [0, 1]])
    np.testing.assert_array_equal(n, [4, 2])
    assert c.tolist() == [0, 1]
    assert tuple(parse_targets(np.ones((2, 6)))[2]) == CLASSES
    # given classes: labels matched to them (HMS: any case, "_vote", indices 0..5)
    t, _, c = parse_targets(["LPD", "other_vote", "seizure"], classes=CLASSES)
    np.testing.assert_array_equal(t, np.eye(6)[[1, 5, 0]])
    np.testing.assert_array_equal(parse_targets([1, 5, 0], classes=CLASSES)[0], t)
    t_hms, n_hms = as_soft_targets(["Seizure", "GRDA"])
    np.testing.assert_array_equal(t_hms, np.eye(6)[[0, 4]])
    # one set of messages for every consumer (the same as normalize_votes')
    for bad, match in [
        ([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], "row 1 has zero votes"),
        ([[-1, 2, 0, 0, 0, 0]], "row 0 has a negative vote"),
        ([[np.nan, 2, 0, 0, 0, 0]], "row 0 holds NaN"),
    ]:
        for parse in (normalize_votes, as_soft_targets, parse_targets):
            with pytest.raises(ValueError, match=match):
                parse(bad)
    with pytest.raises(ValueError, match="only one class"):
        parse_targets(["a", "a"])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        parse_targets([0.5, 1.0])
    with pytest.raises(ValueError, match=r"y: row 1 has label 'c': Unknown label type"):
        parse_targets(["a", "c"], classes=["a", "b"])
    with pytest.raises(ValueError, match="requires y to be passed"):
        parse_targets(None)


def test_kl_for_another_number_of_classes():
    y = np.array([[1.0, 0.0], [0.5, 0.5]])
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    expected = rel_entr(y, p).sum(1)
    np.testing.assert_allclose(kl_per_row(y, p, n_classes=2), expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"expected shape \(n_rows, 6\)"):
        kl_divergence(y, p)
