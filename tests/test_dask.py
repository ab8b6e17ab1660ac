"""build_features on a two-worker Dask cluster (loopback only) gives the local table."""

import numpy as np
import pandas as pd
import pytest

from hms_features import build_features

distributed = pytest.importorskip("dask.distributed", reason="the dask extra is not installed")


def _windows(n=6, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(10_000) / 200.0
    eeg = rng.normal(0, 20, (n, 20, 10_000)).astype(np.float32)
    eeg[:, :8] += (40 * np.sin(2 * np.pi * 2.0 * t)).astype(np.float32)  # left 2 Hz rhythm
    return eeg


@pytest.mark.slow
def test_dask_cluster_gives_the_local_table(tmp_path):
    eeg = _windows()
    local = build_features(eeg, "fast", n_jobs=1, chunk_size=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        remote = build_features(eeg, "fast", chunk_size=2, progress=False, backend="dask",
                                cache_dir=tmp_path)
        assert remote.attrs["chunks_computed"] == 3
        cached = build_features(eeg, "fast", chunk_size=2, progress=False, backend="dask",
                                cache_dir=tmp_path)
        assert cached.attrs["chunks_computed"] == 0
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(cached, local)


def test_dask_backend_without_a_client_says_what_to_do():
    with pytest.raises(RuntimeError, match="needs a running dask.distributed Client"):
        build_features(_windows(2), "fast", chunk_size=1, progress=False, backend="dask")


@pytest.mark.slow
def test_cli_features_on_a_scheduler_address(hms_mini, tmp_path):
    from hms_features.cli import main

    args = ["features", str(hms_mini), "--feature-set", "fast", "--quiet", "--cache-dir", ""]
    assert main([*args, "--out", str(tmp_path / "local.parquet"), "--n-jobs", "1"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        assert main([*args, "--out", str(tmp_path / "dask.parquet"),
                     "--scheduler", cluster.scheduler_address]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"),
                                  pd.read_parquet(tmp_path / "local.parquet"))
