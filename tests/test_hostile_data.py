"""Hostile but realistic inputs to the data layer, the feature cache and build_features (issue 12).

Every row is tested below. Format: input | before (when the issue was filed) | now.

Cache (each chunk file self-verifying, its inputs' identity in its name):

- bytes flipped in a cached chunk's data page | served (0.99 -> 4.96e22) | recomputed, one
  CacheWarning line, attrs["chunks_rejected"], same table as without cache
- NaN written into a cached chunk (or its values changed) | served | recomputed
- chunk with fewer rows / other columns | exit 1 | recomputed
- directory in a chunk file's place | exit 1 | removed and recomputed
- chunk truncated, emptied, replaced by another chunk | dropped or served | recomputed
- chunk deleted | computed | computed (not counted as rejected)
- EEG parquet edited after caching | old features served | its chunks recomputed
- random corruption of chunks and edits of sources (hypothesis) | - | always the table of a
  run without cache
- interrupted run | resumed exactly | still resumed exactly

Label rows outside their recording (one rule: ``HMSDataset.rows_outside``):

- EEG window past the recording (40 s into 70 s, or 3,000 s) | NaN-padded silently by
  build_features, eeg_windows raised | HMSError naming label_id, window, eeg_id and length
  (CLI exit 2, one line); validate lists it; pad=True pads, warns, attrs["rows_padded"]
- spectrogram window past its file | NaN-padded silently | same rule, refused or padded
- offset 20,000 s (or 3.2e8 s) with pad=True | 7.5 GB of memory | bounded (tracemalloc)
- offset 1e9 s / 1e300 s in train.csv | 14.6 TiB asked / "negative offset" | "is not an
  offset within any recording", before any allocation
- negative, NaN, +-inf offsets (train.csv or rows passed in) | various | one line naming
  column, row and value
- all-NaN spectrogram window | no trace | spectrogram_nanfrac_all_600s == 1

Duplicates:

- ds.eeg_windows(labels.iloc[[0, 0]]) | uninitialised first window | both windows correct
- duplicate eeg_id in test.csv | exit 1 after all features | HMSError naming the lines
- repeated rows passed to build_features | unchecked | each equals the single row's features

Content checked by validate (and met by features with the same one-line message):

- string-typed or integer EEG column | passed | "has type ..., expected float"
- corrupt EEG data page | 3-line thrift message | one line naming the file
- garbage file, directory named 1000.parquet | passed / odd errors | one line naming it
- duplicate column name (parquet or CSV) | unchecked | "appear(s) more than once"
- unsorted or float spectrogram time | passed | "not strictly increasing" / "expected an
  integer type"
- infinite value in an EEG file | reached preprocessing | one line naming file, column, row
- eeg_id 1e20 | "no parquet file ... -9223372036854775808.parquet" | "is not an integer id"
- vote 1e30 | "has a negative vote" | "is not a vote count"
- sample_submission missing ids, extra ids, duplicates, bad ids or columns | found after all
  features | found by HMSDataset(root, "test") and validate
- a good dataset | validate printed the dataset | one line: rows, recordings, patients,
  problems found

Bad arrays (build_features on arrays or a dict, compute_features):

- float64 +-1e308, inf samples | silently accepted | ValueError "beyond the float32 range"
- zero-sample windows | ValueError | ValueError "has no samples"
- fs 0, negative, NaN, inf, "200", True | ZeroDivisionError, odd errors | "fs must be a
  positive sampling rate in Hz"
- bool, complex, numeric-string, object arrays | refused for eeg, accepted as spectrogram |
  TypeError for both
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hms_features.build import CacheWarning, PaddingWarning, build_features
from hms_features.cli import main
from hms_features.data import SPEC_COLUMNS, TRAIN_COLUMNS, VOTE_COLUMNS, HMSDataset, HMSError
from hms_features.features.registry import compute_features
from hms_features.signal import EEG_COLUMNS

FAMS = ["quality", "spectral"]  # value-sensitive and quick
FS = 200


def _write(root, seconds=(70, 70), spec_seconds=700, offsets=((0, 10), (4, 12)), seed=0):
    """A small dataset in the Kaggle layout, written with pandas only (not the library)."""
    rng = np.random.default_rng(seed)
    (root / "train_eegs").mkdir(parents=True)
    (root / "train_spectrograms").mkdir()
    rows = []
    for e, (sec, offs) in enumerate(zip(seconds, offsets)):
        eeg_id, spec_id = 1000 + e, 2000 + e
        _write_eeg(root / "train_eegs" / f"{eeg_id}.parquet",
                   rng.normal(0, 30, (sec * FS, 20)).astype(np.float32))
        spec = pd.DataFrame(rng.gamma(2, 5, (spec_seconds // 2, 400)).astype(np.float32),
                            columns=list(SPEC_COLUMNS))
        spec.insert(0, "time", np.arange(1, spec_seconds, 2, dtype=np.int64))
        spec.to_parquet(root / "train_spectrograms" / f"{spec_id}.parquet", index=False)
        for k, off in enumerate(offs):
            rows.append([eeg_id, k, float(off), spec_id, k, float(off), 10_000 + 10 * e + k,
                         10 + e, "Other", *rng.multinomial(3, np.ones(6) / 6)])
    pd.DataFrame(rows, columns=list(TRAIN_COLUMNS)).to_csv(root / "train.csv", index=False)
    return root


def _write_eeg(path, data):
    pd.DataFrame(data, columns=list(EEG_COLUMNS)).to_parquet(path, index=False)


def _edit_csv(root, fn, name="train.csv"):
    df = pd.read_csv(root / name)
    fn(df).to_csv(root / name, index=False)


@pytest.fixture
def root(tmp_path):
    return _write(tmp_path / "hms")


def _build(root_or_ds, cache=None, **kw):
    ds = root_or_ds if isinstance(root_or_ds, HMSDataset) else HMSDataset(root_or_ds)
    return build_features(ds, FAMS, n_jobs=1, chunk_size=1, cache_dir=cache, progress=False,
                          **kw)


def _cli(*argv, capsys):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


# ============================================================================ 1. the cache


def _chunk_files(cache):
    return sorted(p for p in cache.rglob("chunk_*.parquet"))


def _rewrite(path, fn):
    """Rewrite a chunk file with changed values but its original metadata (checksum kept)."""
    table = pq.read_table(path)
    meta = table.schema.metadata
    df = fn(table.to_pandas())
    pq.write_table(pa.Table.from_pandas(df).replace_schema_metadata(meta), path)


def _flip_page(path, n=8):
    """Flip ``n`` bytes in the middle of the last column's data page (the issue's case)."""
    col = pq.read_metadata(path).row_group(0).column(pq.read_metadata(path).num_columns - 2)
    data = bytearray(path.read_bytes())
    i = col.data_page_offset + col.total_compressed_size // 2
    data[i:i + n] = bytes(b ^ 0xFF for b in data[i:i + n])
    path.write_bytes(bytes(data))


def _nan_at_first(d):
    d = d.copy()
    d.iloc[0, 0] = np.nan
    return d


def _flip(path, at=0.5, n=8):
    data = bytearray(path.read_bytes())
    i = int(at * (len(data) - n))
    data[i:i + n] = bytes(b ^ 0xFF for b in data[i:i + n])
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "bytes flipped in a data page": lambda p, others: _flip_page(p),
    "NaN written": lambda p, others: _rewrite(p, _nan_at_first),
    "value changed": lambda p, others: _rewrite(p, lambda d: d * 2),
    "fewer rows": lambda p, others: _rewrite(p, lambda d: d.iloc[:0]),
    "other columns": lambda p, others: _rewrite(p, lambda d: d.iloc[:, :-1]),
    "directory": lambda p, others: (p.unlink(), p.mkdir(), (p / "x").write_text("x")),
    "truncated": lambda p, others: p.write_bytes(p.read_bytes()[:100]),
    "replaced by another chunk": lambda p, others: shutil.copyfile(others[0], p),
    "empty file": lambda p, others: p.write_bytes(b""),
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_a_damaged_chunk_is_recomputed_and_reported_once(root, tmp_path, how):
    cache = tmp_path / "cache"
    fresh = _build(root)
    first = _build(root, cache)
    files = _chunk_files(cache)
    assert len(files) == 2 and first.attrs["chunks_computed"] == 2
    CORRUPTIONS[how](files[0], files[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _build(root, cache)
    pd.testing.assert_frame_equal(again, fresh)
    assert again.attrs["chunks_computed"] == 1 and again.attrs["chunks_rejected"] == 1
    msgs = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(msgs) == 1 and "1 chunk file(s) did not verify and were recomputed" in msgs[0]
    assert "\n" not in msgs[0]
    # the recomputed file verifies: the next run reads both, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        third = _build(root, cache)
    assert third.attrs["chunks_computed"] == 0
    pd.testing.assert_frame_equal(third, fresh)


def test_a_deleted_chunk_is_just_computed(root, tmp_path):
    cache = tmp_path / "cache"
    fresh = _build(root, cache)
    _chunk_files(cache)[1].unlink()
    again = _build(root, cache)
    assert again.attrs["chunks_computed"] == 1 and again.attrs["chunks_rejected"] == 0
    pd.testing.assert_frame_equal(again, fresh)


def test_an_edited_recording_recomputes_its_chunks(root, tmp_path):
    cache = tmp_path / "cache"
    before = _build(root, cache)
    path = root / "train_eegs" / "1000.parquet"
    data = pd.read_parquet(path).to_numpy()
    _write_eeg(path, data * 3 + 1)  # same size, new values
    fresh = _build(root)
    again = _build(root, cache)
    assert again.attrs["chunks_computed"] == 1  # only the chunk reading 1000.parquet
    pd.testing.assert_frame_equal(again, fresh)
    assert not np.allclose(again.loc[10_000], before.loc[10_000])
    np.testing.assert_array_equal(again.loc[10_010], before.loc[10_010])


def test_the_same_dataset_object_sees_an_edit(root, tmp_path):
    ds = HMSDataset(root)
    cache = tmp_path / "cache"
    _build(ds, cache)
    path = root / "train_eegs" / "1001.parquet"
    _write_eeg(path, pd.read_parquet(path).to_numpy()[::-1].copy())
    pd.testing.assert_frame_equal(_build(ds, cache), _build(root))


_OPS = st.lists(st.tuples(
    st.sampled_from(sorted(CORRUPTIONS) + ["delete", "edit EEG", "edit spectrogram"]),
    st.integers(0, 1), st.floats(0.0, 1.0)), min_size=1, max_size=3)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(ops=_OPS, seed=st.integers(0, 2**16))
def test_the_cache_never_changes_the_output(tmp_path_factory, ops, seed):
    """Property: whatever happens to chunk files or source files, cache == no cache."""
    base = tmp_path_factory.mktemp("prop")
    root = _write(base / "hms", seed=seed)
    cache = base / "cache"
    fams = FAMS + ["spectrogram"]  # reads the spectrogram files too

    def run(c):
        return build_features(HMSDataset(root), fams, n_jobs=1, chunk_size=1, cache_dir=c,
                              progress=False)

    run(cache)
    rng = np.random.default_rng(seed)
    for op, k, at in ops:
        files = _chunk_files(cache)
        if op == "edit EEG":
            p = root / "train_eegs" / f"{1000 + k}.parquet"
            d = pd.read_parquet(p).to_numpy(copy=True)
            d[int(at * (len(d) - 1))] += rng.normal(0, 50, 20).astype(np.float32)
            _write_eeg(p, d)
        elif op == "edit spectrogram":
            p = root / "train_spectrograms" / f"{2000 + k}.parquet"
            d = pd.read_parquet(p)
            d.iloc[int(at * (len(d) - 1)), 1:] *= 3
            d.to_parquet(p, index=False)
        elif op == "delete":
            if files:
                files[k % len(files)].unlink()
        elif files:
            target = files[k % len(files)]
            others = [f for f in files if f != target] or [target]
            if op == "bytes flipped in a data page":
                _flip(target, at, n=1 + int(at * 16))  # anywhere in the file
            elif target.is_file():
                CORRUPTIONS[op](target, others)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheWarning)
            pd.testing.assert_frame_equal(run(cache), run(None))


def test_resume_after_interrupt_is_exact_with_verified_chunks(root, tmp_path, monkeypatch):
    import hms_features._build.plan as plan_mod

    fresh = _build(root)
    real = plan_mod.dataset_chunk
    calls = {"n": 0}

    def crash_on_second(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(plan_mod, "dataset_chunk", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        _build(root, tmp_path / "cache")
    monkeypatch.setattr(plan_mod, "dataset_chunk", real)
    again = _build(root, tmp_path / "cache")
    assert again.attrs["chunks_computed"] == 1 and again.attrs["chunks_rejected"] == 0
    pd.testing.assert_frame_equal(again, fresh)


# ============================================================================ 2. label rows outside


def test_one_offset_rule_in_validate_eeg_windows_and_build(root, capsys):
    # 70 s recordings: offset 40 s needs 90 s; offset 3,000 s far past the end
    _edit_csv(root, lambda d: d.assign(eeg_label_offset_seconds=[0.0, 40.0, 3000.0, 12.0]))
    ds = HMSDataset(root)
    out = ds.rows_outside()
    assert out["label_id"].tolist() == [10_001, 10_010]
    assert out["length_s"].tolist() == [70.0, 70.0] and (out["kind"] == "EEG").all()
    problems = ds.validate(strict=False)
    assert len(problems) == 2 and "label_id 10001: EEG window [40 s, 90 s) reaches outside " \
        "the recording (eeg_id 1000, 70 s)" in problems[0]
    with pytest.raises(HMSError, match=r"label_id 10001: EEG window \[40 s, 90 s\) reaches "
                                       r"outside the recording \(eeg_id 1000, 70 s\); 2 row"):
        _build(ds)
    with pytest.raises(HMSError, match="label_id 10001"):
        ds.eeg_windows()
    code, _, err = _cli("features", root, "--out", root / "f.parquet", "--feature-set",
                        "quality", "--cache-dir", "", "--quiet", "--n-jobs", "1", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "label_id 10001" in err
    assert not (root / "f.parquet").exists()
    code, out_text, err = _cli("validate", root, "--quiet", capsys=capsys)
    assert code == 2 and out_text.strip().splitlines()[-1].endswith(
        "4 rows, 2 recordings, 2 patients, 2 problems found")
    # asked for: padded, counted, said once
    with pytest.warns(PaddingWarning, match="2 label row"):
        padded = _build(ds, pad=True)
    assert padded.attrs["rows_padded"] == 2 and np.isfinite(padded.to_numpy()).all()
    assert padded.loc[10_010, "quality_nanfraction_50s"] == 1.0
    assert 0.35 < padded.loc[10_001, "quality_nanfraction_50s"] < 0.45  # 20 of 50 s padded
    code, _, _ = _cli("features", root, "--out", root / "f.parquet", "--feature-set", "quality",
                      "--cache-dir", "", "--quiet", "--n-jobs", "1", "--pad-outside",
                      capsys=capsys)
    assert code == 0 and (root / "f.parquet").exists()


def test_spectrogram_window_outside_follows_the_same_rule(root):
    _edit_csv(root, lambda d: d.assign(spectrogram_label_offset_seconds=[0.0, 150.0, 0, 0]))
    ds = HMSDataset(root)  # spectrograms of 700 s: 150 + 600 > 700
    out = ds.rows_outside()
    assert out[["label_id", "kind"]].values.tolist() == [[10_001, "spectrogram"]]
    assert ds.rows_outside(spectrogram=False).empty
    # a family without spectrogram does not read it, so nothing to refuse
    assert _build(ds).shape[0] == 4
    with pytest.raises(HMSError, match=r"label_id 10001: spectrogram window \[150 s, 750 s\)"):
        build_features(ds, ["spectrogram"], n_jobs=1, progress=False)
    with pytest.warns(PaddingWarning, match="1 label row"):
        df = build_features(ds, ["spectrogram"], n_jobs=1, progress=False, pad=True)
    # 50 s of the 600 s window are missing: the trace is in the NaN fraction
    assert df.loc[10_001, "spectrogram_nanfrac_all_600s"] == pytest.approx(50 / 600)
    assert df.loc[10_000, "spectrogram_nanfrac_all_600s"] == 0


def test_an_all_nan_spectrogram_window_leaves_a_trace(root):
    p = root / "train_spectrograms" / "2000.parquet"
    d = pd.read_parquet(p)
    d.iloc[:, 1:] = np.nan
    d.to_parquet(p, index=False)
    df = build_features(HMSDataset(root), ["spectrogram"], n_jobs=1, progress=False)
    assert (df.loc[[10_000, 10_001], "spectrogram_nanfrac_all_600s"] == 1).all()
    assert (df.loc[[10_010, 10_011], "spectrogram_nanfrac_all_600s"] == 0).all()
    assert np.isfinite(df.to_numpy()).all()


@pytest.mark.parametrize("offset", [20_000.0, 3.0e8])
def test_memory_never_depends_on_the_offset(root, offset):
    _edit_csv(root, lambda d: d.assign(eeg_label_offset_seconds=[0.0, offset, 0.0, 4.0]))
    ds = HMSDataset(root)
    tracemalloc.start()
    try:
        with pytest.raises(HMSError, match=re.escape(f"label_id 10001: EEG window [{offset:.10g} "
                                                     f"s, {offset + 50:.10g} s)")):
            _build(ds)
        refused = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with pytest.warns(PaddingWarning):
            df = build_features(ds, ["quality"], n_jobs=1, chunk_size=1, progress=False,
                                pad=True)
        padded = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert df.loc[10_001, "quality_nanfraction_50s"] == 1.0
    # one 70 s recording is 5.6 MB in float32; 20,000 s would be 1.6 GB (more in float64)
    assert refused < 20e6 and padded < 150e6, (refused, padded)


@pytest.mark.parametrize("value, message", [
    ("1e9", "is not an offset within any recording"),
    ("1e300", "is not an offset within any recording"),
    ("-5", "is a negative offset"),
    ("nan", "is not a finite number"),
    ("inf", "is not a finite number"),
    ("-inf", "is not a finite number"),
])
def test_absurd_offsets_fail_fast_with_one_line(root, capsys, value, message):
    _edit_csv(root, lambda d: d.assign(eeg_label_offset_seconds=d["eeg_label_offset_seconds"]
                                       .astype(object).where(d.index != 1, value)))
    tracemalloc.start()
    try:
        with pytest.raises(HMSError, match=f"column 'eeg_label_offset_seconds', row 1 "
                                           f"\\(line 3\\): .* {message}"):
            HMSDataset(root)
        assert tracemalloc.get_traced_memory()[1] < 20e6
    finally:
        tracemalloc.stop()
    code, _, err = _cli("features", root, "--out", root / "f.parquet", "--quiet",
                        capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.parametrize("value, message", [
    (-1.0, r"'eeg_label_offset_seconds', row 1: -1.0 is not an offset"),
    (np.nan, r"row 1: nan is not an offset"),
    (np.inf, r"row 1: inf is not an offset"),
    (1e300, r"row 1: 1e\+300 is not an offset"),
])
def test_offsets_passed_by_the_caller_are_checked_too(root, value, message):
    ds = HMSDataset(root)
    rows = ds.labels.copy()
    rows.loc[1, "eeg_label_offset_seconds"] = value
    for call in (lambda: _build(ds, labels=rows), lambda: _build(ds, labels=rows, pad=True),
                 lambda: ds.eeg_windows(rows, pad=True), lambda: ds.rows_outside(rows)):
        with pytest.raises(HMSError, match=message):
            call()


# ============================================================================ 3. duplicate rows


def test_repeated_rows_each_get_their_window(root):
    ds = HMSDataset(root)
    one = ds.eeg_windows(ds.labels.iloc[[1]])
    two = ds.eeg_windows(ds.labels.iloc[[1, 1]])
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[0])
    mixed = ds.eeg_windows(ds.labels.iloc[[2, 0, 2]])
    np.testing.assert_array_equal(mixed[0], mixed[2])
    spec = ds.spectrogram_windows(ds.labels.iloc[[3, 3]])
    np.testing.assert_array_equal(spec[0], spec[1])


def test_repeated_rows_in_build_features_equal_the_single_row(root, tmp_path):
    ds = HMSDataset(root)
    single = _build(ds, labels=ds.labels.iloc[[1]])
    rows = ds.labels.iloc[[1, 1, 3, 1]]
    df = _build(ds, tmp_path / "c", labels=rows)
    assert df.index.tolist() == [10_001, 10_001, 10_011, 10_001]
    for i in (0, 1, 3):
        np.testing.assert_array_equal(df.iloc[i].to_numpy(), single.iloc[0].to_numpy())
    pd.testing.assert_frame_equal(_build(ds, tmp_path / "c", labels=rows), df)


def _write_test_split(root, eeg_ids, sample_ids=None, sample_columns=None):
    (root / "test_eegs").mkdir(exist_ok=True)
    (root / "test_spectrograms").mkdir(exist_ok=True)
    for i in set(eeg_ids):
        shutil.copyfile(root / "train_eegs" / "1000.parquet", root / "test_eegs" / f"{i}.parquet")
        shutil.copyfile(root / "train_spectrograms" / "2000.parquet",
                        root / "test_spectrograms" / f"{i + 1}.parquet")
    pd.DataFrame({"spectrogram_id": [i + 1 for i in eeg_ids], "eeg_id": eeg_ids,
                  "patient_id": 7}).to_csv(root / "test.csv", index=False)
    sample = pd.DataFrame({"eeg_id": sorted(set(eeg_ids)) if sample_ids is None else sample_ids,
                           **{c: 1 / 6 for c in VOTE_COLUMNS}})
    if sample_columns is not None:
        sample.columns = sample_columns
    sample.to_csv(root / "sample_submission.csv", index=False)


def test_duplicate_eeg_id_in_test_csv_is_found_up_front(root, capsys):
    _write_test_split(root, [5, 6, 5])
    with pytest.raises(HMSError, match=r"test.csv: eeg_id 5 appears more than once "
                                       r"\(lines 2, 4\)"):
        HMSDataset(root, "test")
    code, _, err = _cli("validate", root, "--splits", "test", "--quiet", capsys=capsys)
    assert code == 2 and "eeg_id 5 appears more than once" in err


@pytest.mark.parametrize("sample_ids, columns, message", [
    ([5], None, r"eeg_ids differ from test.csv's: 1 missing \(e.g. \[6\]\)"),
    ([5, 6, 7], None, r"1 not in test.csv \(e.g. \[7\]\)"),
    ([5, 6, 6], None, "eeg_id 6 appears more than once"),
    (["5", "x"], None, r"line 3\): eeg_id 'x' is not an integer id"),
    ([5, 6], ["eeg_id", "a", "b", "c", "d", "e", "f"], r"columns \['eeg_id', 'a'"),
])
def test_sample_submission_is_checked_before_any_feature(root, capsys, sample_ids, columns,
                                                          message):
    _write_test_split(root, [5, 6], sample_ids, columns)
    with pytest.raises(HMSError, match=message):
        HMSDataset(root, "test")
    code, _, err = _cli("validate", root, "--splits", "test", "--quiet", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


# ====================================================================== 4. validate checks content


def _eeg_table(root, eeg_id=1000):
    return pq.read_table(root / "train_eegs" / f"{eeg_id}.parquet")


def _corrupt_page(path):
    """Flip bytes inside the first column's data page (the footer stays readable)."""
    meta = pq.read_metadata(path)
    col = meta.row_group(0).column(0)
    start = col.data_page_offset
    data = bytearray(path.read_bytes())
    for i in range(start, start + 40):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def _set_column(root, name, array):
    t = _eeg_table(root)
    t = t.set_column(t.schema.get_field_index(name), name, array)
    pq.write_table(t, root / "train_eegs" / "1000.parquet")


FILE_FAULTS = {
    "string EEG column": (lambda r: _set_column(r, "Fp1", pa.array(
        _eeg_table(r).column("Fp1").to_numpy().astype(str))),
        r"1000.parquet: column 'Fp1' has type string, expected float"),
    "integer EEG column": (lambda r: _set_column(r, "O2", pa.array(
        _eeg_table(r).column("O2").to_numpy().astype(np.int32))),
        r"1000.parquet: column 'O2' has type int32, expected float"),
    "duplicate column": (lambda r: pq.write_table(
        _eeg_table(r).append_column("Fp1", pa.array(np.zeros(70 * FS, np.float32))),
        r / "train_eegs" / "1000.parquet"), r"1000.parquet: column\(s\) \['Fp1'\] appear more"),
    "garbage file": (lambda r: (r / "train_eegs" / "1000.parquet").write_bytes(b"\x00" * 5000),
                     r"1000.parquet: not a parquet file"),
    "corrupt data page": (lambda r: _corrupt_page(r / "train_eegs" / "1000.parquet"),
                          r"1000.parquet: not a readable parquet file"),
    "directory": (lambda r: ((r / "train_eegs" / "1000.parquet").unlink(),
                             (r / "train_eegs" / "1000.parquet").mkdir()),
                  r"1000.parquet: is a directory, expected a EEG parquet file"),
    "infinite value": (lambda r: _set_column(r, "Cz", pa.array(np.where(
        np.arange(70 * FS) == 7, np.inf, 1.0).astype(np.float32))),
        r"1000.parquet: column 'Cz', row 7: value inf is infinite"),
    "unsorted time": (lambda r: pd.read_parquet(r / "train_spectrograms" / "2000.parquet").assign(
        time=lambda d: d["time"].to_numpy()[::-1].copy()).to_parquet(
            r / "train_spectrograms" / "2000.parquet", index=False),
        r"2000.parquet: column 'time' is not strictly increasing"),
    "float time": (lambda r: pd.read_parquet(r / "train_spectrograms" / "2000.parquet").assign(
        time=lambda d: d["time"] + 0.5).to_parquet(
            r / "train_spectrograms" / "2000.parquet", index=False),
        r"2000.parquet: column 'time' has type double, expected an integer type"),
}


@pytest.mark.parametrize("fault", sorted(FILE_FAULTS))
def test_validate_finds_what_features_would_hit_in_one_line(root, capsys, fault):
    make, message = FILE_FAULTS[fault]
    make(root)
    ds = HMSDataset(root)
    problems = ds.validate(strict=False)
    assert len(problems) == 1 and "\n" not in problems[0], problems
    assert pd.Series(problems).str.contains(message).all(), problems
    with pytest.raises(HMSError, match=message):
        ds.validate()
    code, out, err = _cli("validate", root, "--quiet", capsys=capsys)
    assert code == 2 and out.strip().splitlines()[-1].endswith("1 problems found")
    # features (default set: EEG and spectrogram read) hits the same, exit 2 with one line
    code, _, err = _cli("features", root, "--out", root / "f.parquet", "--feature-set",
                        "quality,spectrogram", "--cache-dir", "", "--quiet", "--n-jobs", "1",
                        capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not (root / "f.parquet").exists()


def test_corrupt_data_page_needs_the_data_pass(root):
    _corrupt_page(root / "train_eegs" / "1000.parquet")
    ds = HMSDataset(root)
    assert ds.validate(strict=False, data=False) == []  # the footer is intact
    assert len(ds.validate(strict=False)) == 1


@pytest.mark.parametrize("column, value, message", [
    ("eeg_id", "1e20", r"column 'eeg_id', row 1 \(line 3\): 1e\+20 is not an integer id"),
    ("eeg_id", "-3", r"column 'eeg_id', row 1 \(line 3\): -3 is not an integer id"),
    ("spectrogram_id", "2000.5", r"2000.5 is not an integer id"),
    ("lpd_vote", "1e30", r"column 'lpd_vote', row 1 \(line 3\): 1e\+30 is not a vote count"),
    ("lpd_vote", "-1", r"-1 is not a vote count"),
    ("lpd_vote", "2.5", r"2.5 is not a vote count"),
])
def test_ids_and_votes_are_range_checked_before_casting(root, capsys, column, value, message):
    _edit_csv(root, lambda d: d.assign(**{column: d[column].astype(object)
                                          .where(d.index != 1, value)}))
    with pytest.raises(HMSError, match=message):
        HMSDataset(root)
    code, _, err = _cli("validate", root, "--quiet", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_duplicate_column_name_in_train_csv(root):
    text = (root / "train.csv").read_text().splitlines()
    (root / "train.csv").write_text("\n".join([text[0] + ",eeg_id"]
                                              + [t + ",1" for t in text[1:]]) + "\n")
    with pytest.raises(HMSError, match=r"column\(s\) \['eeg_id'\] appear more than once"):
        HMSDataset(root)


def test_validate_ends_with_one_summary_line_on_a_good_dataset(root, capsys):
    code, out, err = _cli("validate", root, "--quiet", capsys=capsys)
    assert code == 0 and err == ""
    assert out.strip().splitlines() == [
        f"{root / 'train.csv'}: 4 rows, 2 recordings, 2 patients, 0 problems found"]


# ============================================================================ 5. bad arrays


def _windows(n=2, seconds=50, seed=0):
    return np.random.default_rng(seed).normal(0, 20, (n, 20, seconds * FS)).astype(np.float32)


BAD_ARRAYS = {
    "float64 1e308": (lambda x: np.where(x > 0, 1e308, x.astype(np.float64)), ValueError,
                      "beyond the float32 range"),
    "float64 -1e308": (lambda x: np.full(x.shape, -1e308), ValueError,
                       "beyond the float32 range"),
    "inf sample": (lambda x: np.where(np.arange(x.shape[-1]) == 5, np.inf, x), ValueError,
                   r"infinite value\(s\)"),
    "zero samples": (lambda x: x[..., :0], ValueError, "has no samples"),
    "bool": (lambda x: x > 0, TypeError, "boolean dtype"),
    "complex": (lambda x: x.astype(np.complex64), TypeError, "complex dtype"),
    "numeric strings": (lambda x: x.astype(str), TypeError, "string dtype"),
    "object": (lambda x: x.astype(object), TypeError, "object dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_are_refused_by_every_path(case):
    make, err, message = BAD_ARRAYS[case]
    x = make(_windows(2, seconds=12 if case == "numeric strings" else 50))
    with pytest.raises(err, match=f"build_features: eeg .*{message}"):
        build_features(x, ["temporal"], n_jobs=1, progress=False)
    with pytest.raises(err, match=f"build_features: eeg .*{message}"):
        build_features({"eeg": x}, ["temporal"], n_jobs=1, progress=False)
    with pytest.raises(err, match=f"compute_features: eeg .*{message}"):
        compute_features(x, FS, feature_set=["temporal"])


@pytest.mark.parametrize("fs", [0, -200, float("nan"), float("inf"), "200", True])
def test_bad_sampling_rates(fs):
    x = _windows(1)
    with pytest.raises(ValueError, match=r"build_features: fs must be a positive sampling rate"):
        build_features(x, ["temporal"], n_jobs=1, progress=False, fs=fs)
    with pytest.raises(ValueError, match=r"compute_features: fs must be a positive sampling"):
        compute_features(x, fs, feature_set=["temporal"])


@pytest.mark.parametrize("make, err, message", [
    (lambda s: s.astype(complex), TypeError, "spectrogram must hold real numbers"),
    (lambda s: s.astype(str), TypeError, "spectrogram must hold real numbers"),
    (lambda s: s > 0, TypeError, "spectrogram must hold real numbers"),
    (lambda s: np.where(s > 5, 1e308, s.astype(np.float64)), ValueError,
     "beyond the float32 range"),
    (lambda s: s[:, :, :399], ValueError, r"must have shape \(2, n_rows, 400\)"),
])
def test_bad_spectrogram_arrays(make, err, message):
    x = _windows(2)
    spec = make(np.random.default_rng(1).gamma(2, 5, (2, 300, 400)).astype(np.float32))
    with pytest.raises(err, match=message):
        build_features({"eeg": x, "spectrogram": spec}, ["spectrogram"], n_jobs=1,
                       progress=False)
    with pytest.raises(err, match=message):
        compute_features(x, FS, feature_set=["spectrogram"], spectrogram=spec)


def test_nan_samples_stay_allowed_and_never_come_out(root):
    x = _windows(2)
    x[0, 3, 100:5000] = np.nan
    df = build_features(x, ["quality", "temporal"], n_jobs=1, progress=False)
    assert np.isfinite(df.to_numpy()).all() and df.loc[0, "quality_nanfraction_50s"] > 0


def test_cache_metadata_names_its_chunk(root, tmp_path):
    _build(root, tmp_path / "c")
    f = _chunk_files(tmp_path / "c")[0]
    meta = json.loads(pq.read_schema(f).metadata[b"hms_features_chunk"])
    assert meta["name"] == f.name and meta["key"] == f.parent.name and meta["rows"] == 2
    assert len(meta["sha256"]) == 64 and os.path.getsize(f) > 0
