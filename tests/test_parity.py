"""Train/test parity: a training row's features equal those of the same window as a test file.

A Kaggle test EEG is a standalone 50 s file (and its spectrogram a standalone 10 min file) that
is preprocessed alone. By default (``context="window"``) ``build_features`` featurises every
training window exactly so. Each test here writes chosen training windows out as a test split
(``test.csv``, ``test_eegs/{eeg_id}.parquet`` holding exactly those 10,000 samples,
``test_spectrograms/{spectrogram_id}.parquet`` holding those 300 rows) and reads it back through
the test path, for every feature family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hms_features import HMSDataset, build_features, make_synthetic_hms
from hms_features.data import EEG_WINDOW_S, SPEC_WINDOW_S
from hms_features.features.base import FAMILIES
from hms_features.features.registry import resolve_families

FS = 200


def every_family() -> list[str]:
    resolve_families("default")  # loads the family modules, opt-in ones included
    return resolve_families(["default"] + [f for f in FAMILIES if not FAMILIES[f].default])


def write_as_test_split(ds: HMSDataset, rows: pd.DataFrame, out) -> pd.DataFrame:
    """Each row's 50 s EEG and 600 s spectrogram window as a standalone test file; returns the
    test.csv written (test eeg_id = position + 1, spectrogram_id = position + 1001)."""
    (out / "test_eegs").mkdir(parents=True)
    (out / "test_spectrograms").mkdir()
    test = []
    for i, row in enumerate(rows.itertuples(index=False)):
        eeg = pd.read_parquet(ds.eeg_path(row.eeg_id))  # the file as stored (dtype, columns)
        start = int(round(row.eeg_label_offset_seconds * FS))
        window = eeg.iloc[start:start + int(EEG_WINDOW_S * FS)].reset_index(drop=True)
        assert len(window) == EEG_WINDOW_S * FS
        window.to_parquet(out / "test_eegs" / f"{i + 1}.parquet", index=False)
        spec = pd.read_parquet(ds.spectrogram_path(row.spectrogram_id))
        t0 = row.spectrogram_label_offset_seconds
        keep = spec[(spec["time"] >= t0) & (spec["time"] < t0 + SPEC_WINDOW_S)].copy()
        assert len(keep) == SPEC_WINDOW_S // 2
        keep["time"] = (keep["time"] - t0).astype(np.int16)  # a test file's clock starts at 0
        keep.reset_index(drop=True).to_parquet(out / "test_spectrograms" / f"{i + 1001}.parquet",
                                               index=False)
        test.append({"spectrogram_id": i + 1001, "eeg_id": i + 1, "patient_id": row.patient_id})
    test = pd.DataFrame(test)
    test.to_csv(out / "test.csv", index=False)
    return test


def assert_parity(ds: HMSDataset, rows: pd.DataFrame, tmp_path):
    families = every_family()
    write_as_test_split(ds, rows, tmp_path / "as_test")
    train = build_features(ds, families, labels=rows, n_jobs=1, progress=False)
    test = build_features(HMSDataset(tmp_path / "as_test", "test"), families, n_jobs=1,
                          progress=False)
    assert list(train.columns) == list(test.columns)
    a, b = train.to_numpy(np.float64), test.to_numpy(np.float64)
    for family in families:
        cols = [j for j, c in enumerate(train.columns) if c.startswith(family + "_")]
        assert cols, family
        # float32 tolerance, relative to each column's scale over the rows compared
        scale = np.maximum(np.abs(a[:, cols]).max(axis=0), np.abs(b[:, cols]).max(axis=0))
        bad = np.abs(a[:, cols] - b[:, cols]) > 2e-5 * np.maximum(scale, 1e-3) + 1e-6
        assert not bad.any(), (
            f"{family}: {int(bad.any(axis=0).sum())} columns differ, e.g. "
            f"{train.columns[cols[int(np.argmax(bad.any(axis=0)))]]}")
    return train


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_hms(tmp_path_factory.mktemp("syn"), n_patients=4, seed=3,
                              progress=False)


@pytest.mark.slow
def test_training_rows_equal_their_windows_as_test_files(synthetic, tmp_path):
    ds = HMSDataset(synthetic)
    # a window at offset 0, windows deep inside long recordings, one at the end of its EEG
    labels = ds.labels.assign(pos=ds.labels.groupby("eeg_id").cumcount())
    rows = pd.concat([labels[labels["eeg_label_offset_seconds"] == 0].head(1),
                      labels[labels["eeg_label_offset_seconds"] > 0].head(2),
                      labels.sort_values("eeg_label_offset_seconds").tail(1)])
    rows = rows.drop(columns="pos").drop_duplicates("label_id")
    train = assert_parity(ds, rows, tmp_path)
    # the whole-recording context is a different computation (filters see more than 50 s)
    rec = build_features(ds, every_family(), labels=rows, n_jobs=1, progress=False,
                         context="recording")
    deep = (rows["eeg_label_offset_seconds"] > 0).to_numpy()
    assert (np.abs(rec.to_numpy()[deep] - train.to_numpy()[deep]) > 1e-3).any()


@pytest.mark.slow
def test_real_training_rows_equal_their_windows_as_test_files(hms_mini, tmp_path):
    ds = HMSDataset(hms_mini)
    assert_parity(ds, ds.labels, tmp_path)


def test_context_is_checked_and_keys_the_cache(synthetic, tmp_path):
    ds = HMSDataset(synthetic)
    rows = ds.labels.head(3)
    with pytest.raises(ValueError, match="context must be one of"):
        build_features(ds, "fast", labels=rows, n_jobs=1, progress=False, context="file")
    cache = tmp_path / "cache"
    w = build_features(ds, "fast", labels=rows, n_jobs=1, progress=False, cache_dir=cache)
    r = build_features(ds, "fast", labels=rows, n_jobs=1, progress=False, cache_dir=cache,
                       context="recording")
    assert r.attrs["chunks_computed"] == r.attrs["chunks_total"]  # not served the window cache
    assert len(list(cache.iterdir())) == 2
    again = build_features(ds, "fast", labels=rows, n_jobs=1, progress=False, cache_dir=cache)
    assert again.attrs["chunks_computed"] == 0
    pd.testing.assert_frame_equal(again, w)
