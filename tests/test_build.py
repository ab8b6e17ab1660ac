"""build_features: arrays and datasets, shared spectra, resumable cache, the sklearn extractor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hms_features._build.cache as cache_mod
import hms_features._build.chunks as chunks_mod
import hms_features._build.plan as plan_mod
from hms_features._build.cache import ChunkCache
from hms_features._build.chunks import recording_windows
from hms_features._build.plan import make_plan
from hms_features.build import HMSFeatureExtractor, build_features
from hms_features.data import HMSDataset
from hms_features.features.base import welch_psd
from hms_features.features.registry import compute_features, feature_names
from hms_features.signal import EEG_COLUMNS, FS, bipolar, preprocess

CORE = ["spectral", "temporal", "quality"]


def _eeg(n, seconds=50, seed=0):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(5, 50, size=(n, len(EEG_COLUMNS), 1))
    return (rng.standard_normal((n, len(EEG_COLUMNS), int(seconds * FS))) * scale).astype(
        np.float32)


def test_arrays_bare_and_dict_give_the_same_table_as_compute_features():
    x = _eeg(5)
    x.setflags(write=False)
    df = build_features(x, feature_set=CORE, n_jobs=1, chunk_size=2, progress=False)
    df2 = build_features({"eeg": x}, feature_set=CORE, n_jobs=1, chunk_size=5, progress=False)
    assert isinstance(df.index, pd.RangeIndex) and len(df) == 5
    assert list(df.columns) == feature_names(CORE, spectrogram=False)
    assert (df.dtypes == np.float32).all()
    pd.testing.assert_frame_equal(df, df2)  # chunking does not change values
    clean, q = preprocess(x, FS)
    ref = compute_features(clean, FS, feature_set=CORE, quality=q)
    np.testing.assert_array_equal(df.to_numpy(), np.column_stack([ref[c] for c in df.columns]))


def test_progress_bar_is_quiet_when_disabled(capsys):
    build_features(_eeg(2), feature_set=["spectral"], n_jobs=1, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    build_features(_eeg(2), feature_set=["spectral"], n_jobs=1, progress=True)
    assert "win/s" in capsys.readouterr().err


def test_progress_bar_counts_cached_windows_apart(tmp_path, capsys):
    # a table read from the cache must not print a rate (it printed "2/2 in 0 s" at millions of
    # windows/s); a partly cached one rates only the computed windows and says how many were cached
    x = _eeg(4)
    kw = dict(feature_set=["spectral"], n_jobs=1, chunk_size=2, cache_dir=tmp_path)
    build_features(x, progress=False, **kw)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".parquet")
    assert len(files) == 2  # one per chunk
    files[0].unlink()  # the other chunk stays cached
    build_features(x, progress=True, **kw)
    err = capsys.readouterr().err
    assert "4/4" in err and "2 from cache" in err
    build_features(x, progress=True, **kw)
    final = capsys.readouterr().err.split("\r")[-1]
    assert "4/4" in final and "4 from cache" in final and "?win/s" in final


def test_parallel_equals_sequential():
    x = _eeg(4)
    a = build_features(x, feature_set=["spectral"], n_jobs=1, chunk_size=1, progress=False)
    b = build_features(x, feature_set=["spectral"], n_jobs=2, chunk_size=1, progress=False,
                       backend="threading")
    pd.testing.assert_frame_equal(a, b)


def test_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="n_samples"):
        build_features(np.zeros((2, 19, 10000), np.float32), progress=False)
    with pytest.raises(ValueError, match="spectrogram must have shape"):
        build_features({"eeg": _eeg(2), "spectrogram": np.zeros((3, 300, 400))}, progress=False)
    with pytest.raises(ValueError, match="backend"):
        build_features(_eeg(1), feature_set=["spectral"], backend="mpi", progress=False)
    with pytest.raises(ValueError, match="'eeg'"):
        build_features({"spectrogram": np.zeros((1, 300, 400))}, progress=False)


@pytest.mark.parametrize("shift, batch", [(0.0, 64), (7.0, 3)])
def test_shared_segment_spectra_equal_per_window_welch(shift, batch):
    # shift 7 s: the spectra are computed from the first row's segment on, not from sample 0;
    # batch 3: a recording's rows come out in batches (7 rows -> 3 + 3 + 1)
    rec = _eeg(1, seconds=100, seed=3)[0]  # (20, n_samples), as HMSDataset.iter_recordings
    offsets = np.array([0.0, 6.0, 8.0, 18.0, 24.0, 40.0, 13.5]) + shift  # 13.5: off the grid
    parts = list(recording_windows(rec, offsets, FS, {}, batch))
    assert [a for a, *_ in parts] == list(range(0, 7, batch))
    assert max(len(w) for _, w, _, _ in parts) == min(batch, 7)
    windows = np.concatenate([w for _, w, _, _ in parts])
    assert windows.shape == (7, 20, 10000)
    for span, sl in {"50s": slice(0, 10000), "10s": slice(4000, 6000)}.items():
        freqs, ref = welch_psd(bipolar(windows[..., sl]), FS)
        ours = np.concatenate([p[span][1] for *_, p in parts])
        np.testing.assert_allclose(parts[0][3][span][0], freqs)
        np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=1e-7 * ref.max())
    # the windows are cut from the recording preprocessed once
    clean, _ = preprocess(rec[None], FS)
    a = int(round((6.0 + shift) * FS))
    np.testing.assert_array_equal(windows[1], clean[0][:, a:a + 10000])
    assert all((q["nan_fraction"] == 0).all() for _, _, q, _ in parts)


def test_dataset_chunks_compute_in_batches_with_the_same_result(hms_mini, monkeypatch):
    # a chunk holds whole recordings, but never featurises more than ~chunk_size windows at once
    B = chunks_mod
    ds = HMSDataset(hms_mini)
    rows = ds.labels
    seen = []
    real = B.compute_features

    def spy(windows, *args, **kwargs):
        seen.append(len(windows))
        return real(windows, *args, **kwargs)

    monkeypatch.setattr(B, "compute_features", spy)
    big = B.dataset_chunk(ds, rows, ["spectral", "temporal"],
                           feature_names(["spectral", "temporal"]), {}, False)
    sizes_big = list(seen)
    seen.clear()
    small = B.dataset_chunk(ds, rows, ["spectral", "temporal"],
                             feature_names(["spectral", "temporal"]), {}, False, batch=2)
    assert sizes_big == [len(rows)] and len(rows) > 2
    assert max(seen) <= 2 + 1 and sum(seen) == len(rows)  # batches of >= 2 rows, pooled
    pd.testing.assert_frame_equal(big.sort_index(), small.sort_index(), check_exact=False,
                                  rtol=1e-5)


def test_cache_resumes_after_an_interruption(tmp_path, monkeypatch):
    x = _eeg(6, seed=5)
    full = build_features(x, feature_set=CORE, n_jobs=1, chunk_size=2, progress=False)
    real = chunks_mod.array_chunk
    calls = {"n": 0}

    def crash_on_third(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(*args)

    monkeypatch.setattr(plan_mod, "array_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_features(x, feature_set=CORE, n_jobs=1, chunk_size=2, cache_dir=tmp_path,
                       progress=False)
    files = list(tmp_path.rglob("chunk_*.parquet"))
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(plan_mod, "array_chunk", real)
    again = build_features(x, feature_set=CORE, n_jobs=1, chunk_size=2, cache_dir=tmp_path,
                           progress=False)
    assert again.attrs == {"chunks_total": 3, "chunks_computed": 1, "chunks_rejected": 0,
                           "rows_padded": 0, "preprocess": {"clip_uv": 1024.0}}
    pd.testing.assert_frame_equal(again, full)
    third = build_features(x, feature_set=CORE, n_jobs=1, chunk_size=2, cache_dir=tmp_path,
                           progress=False)
    assert third.attrs["chunks_computed"] == 0
    pd.testing.assert_frame_equal(third, full)
    # other input -> other cache key: nothing reused
    other = build_features(x[::-1].copy(), feature_set=CORE, n_jobs=1, chunk_size=2,
                           cache_dir=tmp_path, progress=False)
    assert other.attrs["chunks_computed"] == 3


def test_cache_is_not_reused_by_changed_feature_code(tmp_path, monkeypatch):
    x = _eeg(2, seed=6)
    first = build_features(x, feature_set=["spectral"], n_jobs=1, cache_dir=tmp_path,
                           progress=False)
    assert first.attrs["chunks_computed"] == 1
    assert build_features(x, feature_set=["spectral"], n_jobs=1, cache_dir=tmp_path,
                          progress=False).attrs["chunks_computed"] == 0
    # the same version number with other code (a git checkout, an edited family) recomputes
    fingerprint = cache_mod.code_fingerprint()
    assert len(fingerprint) == 16
    monkeypatch.setattr(cache_mod, "code_fingerprint", lambda: "edited-code")
    assert build_features(x, feature_set=["spectral"], n_jobs=1, cache_dir=tmp_path,
                          progress=False).attrs["chunks_computed"] == 1


def test_plan_groups_whole_recordings_and_hashes_each_chunk(hms_mini):
    ds = HMSDataset(hms_mini)
    rows = ds.labels
    plan = make_plan(ds, ["spectral"], chunk_size=2)
    assert plan.kind == "dataset" and plan.names == feature_names(["spectral"])
    assert plan.n_windows == len(rows) == sum(c.size for c in plan.chunks)
    for c in plan.chunks:  # a chunk never splits a recording
        handle, sub = c.args[:2]
        others = [o.args[1] for o in plan.chunks if o is not c]
        assert all(set(sub["eeg_id"]).isdisjoint(o["eeg_id"]) for o in others)
        assert len(c.ident) == 16
        # what is pickled to a worker holds the chunk's rows, not the whole label table (the
        # real train.csv's 106,800 rows cost ~30 ms a chunk): the same files, its rows only
        assert handle.labels is sub and handle.root == ds.root and handle.split == ds.split
    assert len(ds.labels) == len(rows) and ds.labels is rows  # the caller's handle untouched
    np.testing.assert_array_equal(plan.index, rows["label_id"])
    x = _eeg(5)
    arrays = make_plan(x, ["spectral"], chunk_size=2)
    assert [c.size for c in arrays.chunks] == [2, 2, 1]
    assert len({c.ident for c in arrays.chunks}) == 3  # different windows, different hashes
    again = make_plan(x.copy(), ["spectral"], chunk_size=2)
    assert [c.ident for c in again.chunks] == [c.ident for c in arrays.chunks]
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        make_plan(x, ["spectral"], chunk_size=0)


def test_chunk_cache_reads_what_was_written_and_drops_damaged_files(tmp_path):
    plan = make_plan(_eeg(2), ["spectral"], chunk_size=1)
    cache = ChunkCache(tmp_path, plan)
    assert cache.folder.is_dir() and cache.folder.name == cache_mod.cache_key(plan)
    c = plan.chunks[0]
    assert cache.read(0, c.ident) is None
    df = pd.DataFrame(np.arange(3 * len(plan.names), dtype=np.float32).reshape(3, -1),
                      columns=plan.names)
    cache_mod.write_chunk(df, cache.path(0, c.ident))
    pd.testing.assert_frame_equal(cache.read(0, c.ident, 3, pd.RangeIndex(3)), df)
    assert not list(tmp_path.rglob("*.tmp"))
    assert cache.read(0, c.ident, 4) is None  # fewer rows than the chunk has: removed
    assert not cache.path(0, c.ident).exists() and cache.rejected == {"wrong shape": 1}
    cache.path(1, "x").write_bytes(b"not parquet")
    assert cache.read(1, "x") is None and not cache.path(1, "x").exists()
    assert cache.rejected["unreadable"] == 1
    assert cache.report().endswith("2 chunk file(s) did not verify and were recomputed "
                                   "(1 wrong shape, 1 unreadable)")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scale=st.sampled_from([0.0, 1e-6, 1.0, 1e5, 3e38]),
    dead=st.lists(st.integers(0, 19), max_size=20),
    flat=st.lists(st.integers(0, 19), max_size=5),
    nan_gap=st.integers(0, 10000),
    seed=st.integers(0, 10**6),
)
def test_default_set_never_outputs_nan_or_inf(scale, dead, flat, nan_gap, seed):
    x = _eeg(1, seed=seed).astype(np.float64) * scale
    x = np.clip(x, -3e38, 3e38).astype(np.float32)
    x[0, dead] = np.nan
    x[0, flat] = 7.0
    x[0, :, 1000:1000 + nan_gap] = np.nan
    rng = np.random.default_rng(seed)
    spec = np.clip(np.abs(rng.standard_normal((1, 300, 400))) * scale, 0, 3e38).astype(np.float32)
    spec[0, :40] = np.nan
    df = build_features({"eeg": x, "spectrogram": spec}, n_jobs=1, progress=False)
    assert df.shape == (1, len(feature_names("default")))
    assert np.isfinite(df.to_numpy()).all()


# ----------------------------------------------------------------------------- real files


def test_dataset_path_on_real_files(hms_mini, tmp_path):
    ds = HMSDataset(hms_mini)
    df = build_features(ds, feature_set=CORE + ["entropy"], n_jobs=1, progress=False,
                        chunk_size=4, cache_dir=tmp_path)
    assert df.index.name == "label_id"
    np.testing.assert_array_equal(df.index, ds.labels["label_id"])
    assert np.isfinite(df.to_numpy()).all()
    # central 10 s: filtering the whole recording or the 50 s window agrees far from the edges
    eeg = ds.eeg_windows(ds.labels)
    arr = build_features(eeg, feature_set=["spectral"], n_jobs=1, progress=False)
    cols = [c for c in arr.columns if c.endswith("_10s") and "relpower" in c]
    np.testing.assert_allclose(df[cols].to_numpy(), arr[cols].to_numpy(), rtol=1e-2, atol=1e-3)
    # a subset of rows, in the caller's order
    sub = ds.labels.iloc[[5, 0, 3]]
    part = build_features(ds, feature_set=CORE + ["entropy"], labels=sub, n_jobs=1,
                          progress=False)
    pd.testing.assert_frame_equal(part, df.loc[sub["label_id"]], check_exact=False, rtol=1e-5)


def test_rows_of_several_recordings_keep_the_callers_order(hms_mini):
    ds = HMSDataset(hms_mini)
    a = ds.labels.iloc[[4, 0]]
    other = a.iloc[:1].assign(eeg_id=1000913311, eeg_label_offset_seconds=0.0, label_id=7)
    mixed = pd.concat([a.iloc[:1], other, a.iloc[1:]], ignore_index=True)  # A, B, A
    fams = ["spectral", "quality"]
    df = build_features(ds, feature_set=fams, labels=mixed, n_jobs=1, chunk_size=1,
                        progress=False)
    assert list(df.index) == list(mixed["label_id"])
    alone = build_features(ds, feature_set=fams, labels=a, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(df.loc[a["label_id"]], alone)
    b = build_features(ds, feature_set=fams, labels=other, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(df.loc[[7]], b)


def test_test_split_is_indexed_by_eeg_id(hms_mini):
    ds = HMSDataset(hms_mini, split="test")
    df = build_features(ds, feature_set=["spectral"], n_jobs=1, progress=False)
    assert list(df.index) == list(ds.labels["eeg_id"]) and len(df) == 1


def test_extractor_is_a_clonable_pipeline_head(hms_mini):
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = HMSDataset(hms_mini).labels
    ext = HMSFeatureExtractor(root=hms_mini, feature_set=["spectral", "quality"])
    c = clone(ext)
    assert c.get_params() == ext.get_params() and c is not ext
    pipe = make_pipeline(ext, StandardScaler())
    out = pipe.fit_transform(labels)
    names = ext.get_feature_names_out()
    assert out.shape == (len(labels), len(names))
    assert list(names) == feature_names(["spectral", "quality"], spectrogram=False)
    frame = clone(ext).set_output(transform="pandas").fit_transform(labels)
    assert list(frame.columns) == list(names) and len(frame) == len(labels)
    with pytest.raises(ValueError, match="root="):
        HMSFeatureExtractor(feature_set=["spectral"]).fit(labels).transform(labels)
    with pytest.raises(ValueError, match="eeg_label_offset_seconds"):
        ext.fit(labels.drop(columns="eeg_label_offset_seconds"))


def test_quality_has_one_definition_on_both_paths():
    from hms_features.signal import window_quality

    # raw windows: preprocess's quality is window_quality of its input and output
    x = _eeg(3, seed=11)
    x[0, 2, 100:600] = np.nan  # 500 NaN samples in one scalp channel
    x[1, 4] = 5.0  # flat channel
    x[2] *= 500.0  # clipping
    clean, q = preprocess(x, FS)
    ref = window_quality(x, clean, 1024.0)
    for k in q:
        np.testing.assert_array_equal(q[k], ref[k])
    assert q["nan_fraction"][0] == 500 / (19 * 10000)  # hand-computed
    np.testing.assert_array_equal(q["bad_channels"], [0.0, 1.0, 0.0])
    assert q["clipped_fraction"][2] == (np.abs(clean[2, :19]) >= 1024.0).mean() > 0.5
    # recording path: the same definition on windows cut from the recording preprocessed whole
    rec = _eeg(1, seconds=80, seed=12)[0]
    rec[3, 2000:2400] = np.nan
    (_, windows, quality, _), = recording_windows(rec, np.array([0.0, 20.0, 40.0]), FS, {}, 8)
    padded = np.concatenate([rec, np.full((20, 2000), np.nan, np.float32)], axis=1)
    raw = np.stack([padded[:, a:a + 10000] for a in (0, 4000, 8000)])
    ref = window_quality(raw, windows, 1024.0)
    for k in quality:
        np.testing.assert_array_equal(quality[k], ref[k])
    np.testing.assert_array_equal(quality["nan_fraction"],
                                  [400 / 190000, 0.0, 0.2])


def test_few_chunks_run_in_this_process_many_in_workers(monkeypatch):
    # a loky worker's start costs about one chunk of CPU: below MIN_WORKER_CHUNKS chunks the
    # chunks run here (no worker process), from that many on in joblib workers
    import os
    from contextlib import contextmanager

    from hms_features._build import run as run_mod
    from hms_features._build.plan import make_plan

    pids, held = [], []
    real = run_mod.run_chunk

    def spy(chunk, path, worker=False):
        pids.append((os.getpid(), worker))
        return real(chunk, path, worker)

    @contextmanager
    def heap_spy():  # the caller's process holds its heap for the run, then releases it
        held.append("hold")
        yield True
        held.append("release")

    monkeypatch.setattr(run_mod, "run_chunk", spy)
    monkeypatch.setattr(run_mod, "heap_held", heap_spy)
    few = make_plan(_eeg(3), ["spectral"], chunk_size=1)  # 3 chunks
    run_mod.run_plan(few, n_jobs=2, backend="loky", progress=False)
    assert pids == [(os.getpid(), False)] * 3
    assert held == ["hold", "release"]
    pids.clear()
    held.clear()
    many = make_plan(_eeg(run_mod.MIN_WORKER_CHUNKS), ["spectral"], chunk_size=1)
    tables, n = run_mod.run_plan(many, n_jobs=2, backend="loky", progress=False)
    # the workers import the module afresh (no spy there): no chunk ran in this process, which
    # leaves its own heap alone (the workers hold theirs)
    assert n == run_mod.MIN_WORKER_CHUNKS and len(tables) == n and pids == [] and held == []


def test_a_worker_chunk_holds_its_processs_heap_and_an_in_process_chunk_does_not(monkeypatch):
    from hms_features._build import run as run_mod
    from hms_features._build.plan import make_plan

    calls = []
    monkeypatch.setattr(run_mod, "feature_worker", lambda: calls.append("hold"))
    chunk = make_plan(_eeg(1), ["spectral"], chunk_size=1).chunks[0]
    run_mod.run_chunk(chunk, None)
    assert calls == []
    df = run_mod.run_chunk(chunk, None, worker=True)
    assert calls == ["hold"] and len(df) == 1
