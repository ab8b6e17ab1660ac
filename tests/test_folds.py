"""stratified_patient_folds and read_fold_file."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hms_features.data import VOTE_COLUMNS, HMSDataset, HMSError
from hms_features.folds import _consensus, read_fold_file, stratified_patient_folds
from hms_features.metrics import CLASSES

K = len(CLASSES)


def _labels(n_patients=60, rows_per_patient=4, seed=0):
    """Each patient's rows share one dominant class: patients cycle through the six classes."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients) + 1000, rows_per_patient)
    cls = np.repeat(np.arange(n_patients) % K, rows_per_patient)
    votes = rng.integers(0, 2, size=(len(pid), K))
    votes[np.arange(len(pid)), cls] += 5
    df = pd.DataFrame(votes, columns=list(VOTE_COLUMNS))
    df.insert(0, "patient_id", pid)
    df.insert(0, "eeg_id", pid * 10 + np.arange(len(pid)) % 2)  # two EEGs per patient
    df.insert(0, "label_id", np.arange(len(pid)) + 7)
    df["expert_consensus"] = np.array(CLASSES)[cls]
    return df


def _class_shares(folds, cls):
    return np.array([[np.mean(cls[folds == f] == c) for c in range(K)] for f in np.unique(folds)])


def test_stratified_folds_group_patients_and_balance_the_consensus():
    df = _labels()
    folds = stratified_patient_folds(df, n_splits=5, seed=0)
    assert folds.dtype == np.int64 and sorted(np.unique(folds)) == [0, 1, 2, 3, 4]
    assert (pd.Series(folds).groupby(df["patient_id"].to_numpy()).nunique() == 1).all()
    cls = df[list(VOTE_COLUMNS)].to_numpy().argmax(axis=1)
    shares = _class_shares(folds, cls)
    # 10 patients per class over 5 folds: exactly 2 per class per fold is reachable and found
    np.testing.assert_allclose(shares, 1 / K, atol=1e-12)


def test_stratified_folds_are_seeded_and_fall_back_to_expert_consensus():
    df = _labels()
    a = stratified_patient_folds(df, 5, seed=1)
    np.testing.assert_array_equal(a, stratified_patient_folds(df, 5, seed=1))
    assert not np.array_equal(a, stratified_patient_folds(df, 5, seed=2))
    no_votes = df.drop(columns=list(VOTE_COLUMNS))
    np.testing.assert_array_equal(a, stratified_patient_folds(no_votes, 5, seed=1))
    unshuffled = stratified_patient_folds(df, 5, seed=None)
    assert (pd.Series(unshuffled).groupby(df["patient_id"].to_numpy()).nunique() == 1).all()


def test_stratified_folds_errors():
    df = _labels(n_patients=3)
    with pytest.raises(HMSError, match="n_splits=4 needs"):
        stratified_patient_folds(df, 4)
    with pytest.raises(HMSError, match="no 'patient_id'"):
        stratified_patient_folds(df.drop(columns="patient_id"), 2)
    with pytest.raises(HMSError, match="neither the vote columns"):
        stratified_patient_folds(df[["patient_id", "label_id"]], 2)
    bad = df.drop(columns=list(VOTE_COLUMNS)).assign(expert_consensus="Spike")
    with pytest.raises(HMSError, match="row 0 has expert_consensus 'Spike'"):
        stratified_patient_folds(bad, 2)


def test_strata_are_kaggles_expert_consensus_on_real_rows(hms_mini):
    rows = HMSDataset(hms_mini).labels
    kaggle = rows["expert_consensus"].str.lower().map({c: i for i, c in enumerate(CLASSES)})
    np.testing.assert_array_equal(_consensus(rows), kaggle.to_numpy())
    n_patients = rows["patient_id"].nunique()
    with pytest.raises(HMSError, match=f"number of patients \\({n_patients}\\)"):
        stratified_patient_folds(rows, n_patients + 1)


# ------------------------------------------------------------------------------ fold files
def test_fold_file_by_label_id_round_trips(tmp_path):
    df = _labels()
    folds = stratified_patient_folds(df, 5, seed=0) + 1  # user numbering 1..5 is kept
    path = tmp_path / "folds.csv"
    pd.DataFrame({"label_id": df["label_id"], "fold": folds, "note": "x"}).sample(
        frac=1, random_state=0).to_csv(path, index=False)
    np.testing.assert_array_equal(read_fold_file(path, df), folds)


def test_fold_file_by_eeg_id_gives_every_row_of_an_eeg_its_fold(tmp_path):
    df = _labels()
    eegs = df["eeg_id"].drop_duplicates().to_numpy()
    fold_of = {e: (e // 10) % 3 for e in eegs}  # by patient (eeg_id // 10), 3 folds
    path = tmp_path / "folds.csv"
    pd.DataFrame({"eeg_id": eegs, "fold": [fold_of[e] for e in eegs]}).to_csv(path, index=False)
    got = read_fold_file(path, df)
    np.testing.assert_array_equal(got, [fold_of[e] for e in df["eeg_id"]])


def _write(tmp_path, text):
    path = tmp_path / "folds.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("label_id,split\n7,0\n", r"no 'fold' column"),
    ("id,fold\n7,0\n", r"no 'label_id' or 'eeg_id' column"),
    ("label_id,fold\n", r"no rows"),
    ("label_id,fold\n7,0\n8,one\n", r"line 3, column 'fold': 'one' is not a non-negative integer"),
    ("label_id,fold\n7,0\n8,1.5\n", r"line 3, column 'fold': '1.5'"),
    ("label_id,fold\n7,0\n8,-1\n", r"line 3, column 'fold': '-1'"),
    ("label_id,fold\n7,0\n8,\n", r"line 3, column 'fold': ''"),
    ("label_id,fold\nx7,0\n", r"line 2, column 'label_id': 'x7'"),
    ("label_id,fold\n7,0\n7,1\n", r"label_id 7 has different folds on lines \[2, 3\]"),
    ("label_id,fold\n7,0\n8,1\n", r"no fold for label_id 9 \(label row 2; 2 label rows lack"),
    ("label_id,fold\n7,0\n8,0\n9,0\n10,0\n", r"1 fold\(s\) \(\[0\]\); cross-validation needs"),
    ("label_id,fold\n7,0\n8,0\n9,1\n10,1\n99,1\n", r"line 6: label_id 99 is not in the label"),
])
def test_fold_file_errors_name_the_file_column_and_row(tmp_path, text, match):
    df = _labels(n_patients=2, rows_per_patient=2)  # label_id 7..10, patients 1000, 1001
    path = _write(tmp_path, text)
    with pytest.raises(HMSError, match=match) as err:
        read_fold_file(path, df, split_patients="ignore")
    assert str(path) in str(err.value)


def test_fold_file_missing_and_unknown_key_column(tmp_path):
    df = _labels(n_patients=2, rows_per_patient=2)
    with pytest.raises(HMSError, match="fold file not found"):
        read_fold_file(tmp_path / "nope.csv", df)
    path = _write(tmp_path, "eeg_id,fold\n1,0\n")
    with pytest.raises(HMSError, match="keyed by 'eeg_id', but the label table has no such"):
        read_fold_file(path, df.drop(columns="eeg_id"))


def test_fold_file_subset_and_duplicates(tmp_path):
    df = _labels(n_patients=2, rows_per_patient=2)
    path = _write(tmp_path, "label_id,fold\n7,0\n7,0\n8,0\n9,1\n10,1\n99,1\n")
    got = read_fold_file(path, df, allow_unknown=True)  # agreeing duplicate lines are fine
    np.testing.assert_array_equal(got, [0, 0, 1, 1])


def test_fold_file_patient_split_across_folds_warns_or_errors(tmp_path):
    df = _labels(n_patients=2, rows_per_patient=2)  # rows 7, 8: patient 1000; 9, 10: 1001
    path = _write(tmp_path, "label_id,fold\n7,0\n8,1\n9,1\n10,1\n")
    with pytest.warns(UserWarning, match=r"patient 1000 has rows in folds \[0, 1\]"):
        got = read_fold_file(path, df)
    np.testing.assert_array_equal(got, [0, 1, 1, 1])
    with pytest.raises(HMSError, match="patient 1000 has rows in folds"):
        read_fold_file(path, df, split_patients="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_fold_file(path, df, split_patients="ignore")
