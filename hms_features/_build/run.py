"""Running the chunks of a plan: joblib (loky, threads, sequential) or Dask, with progress.

Each chunk runs with one BLAS thread (threadpoolctl): the batched small products of the feature
code gain nothing from BLAS threads, which would only spin on the cores the workers use. A worker
writes its chunk's cache file itself (with Dask, on the worker's machine: the cache folder must
be shared). The processes that compute chunks keep their freed memory in the heap
(:func:`hms_features.parallel.hold_heap`): loky workers for their life, without loky's leak
check restarting them for it (:func:`~hms_features.parallel.feature_worker`), the caller's
process for the duration of the run.
"""

from __future__ import annotations

from contextlib import nullcontext

import pandas as pd

from ..parallel import feature_worker, feature_workers, heap_held
from .cache import write_chunk

__all__ = ["BACKENDS", "parallel", "run_plan"]

#: Parallel backends accepted by :func:`hms_features.build.build_features`.
BACKENDS = ("loky", "threading", "sequential", "dask")

#: Fewest chunks to compute for which loky worker processes are started. A worker's start
#: (a fresh interpreter importing numpy, scipy, MNE and the library) costs about as much CPU as
#: one 64-window chunk, so below four chunks one process is as fast on an idle machine and
#: faster on a busy one (measured with 3 chunks of the default set, other jobs running, fresh
#: interpreters interleaved: 15.9 s with two workers, 9.7 s in one process).
MIN_WORKER_CHUNKS = 4


def parallel(n_jobs, backend):
    """The joblib executor of a backend name.

    ``"dask"`` runs the chunks on the workers of the current ``dask.distributed`` client
    (joblib's Dask backend); ``n_jobs`` is then the cluster's business.
    """
    from joblib import Parallel

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "dask":
        try:
            from dask.distributed import get_client
        except ImportError:
            raise ImportError("backend='dask' needs dask.distributed: "
                              "python3 -m pip install 'hms-features[dask]'") from None
        try:
            get_client()
        except ValueError:
            raise RuntimeError("backend='dask' needs a running dask.distributed Client, e.g. "
                               "Client(LocalCluster()) or Client('tcp://scheduler:8786')") from None
        from joblib import parallel_config

        with parallel_config(backend="dask"):  # registers joblib's Dask backend on first use
            return Parallel(n_jobs=-1, return_as="generator_unordered")
    if backend == "sequential":
        n_jobs = 1
    return Parallel(n_jobs=n_jobs, backend="loky" if backend == "sequential" else backend,
                    return_as="generator_unordered", max_nbytes="1M")


def run_chunk(chunk, cache_path, worker: bool = False):
    """Compute one chunk (one BLAS thread) and write its cache file if ``cache_path``
    (``worker``: this is one of the library's loky workers, which keeps its freed memory and is
    not restarted for it, :func:`hms_features.parallel.feature_worker`)."""
    from threadpoolctl import threadpool_limits

    if worker:
        feature_worker()
    # the BLAS calls are many small batched products: extra BLAS threads only spin and steal
    # the cores the chunk-level parallelism already uses
    with threadpool_limits(limits=1, user_api="blas"):
        df = chunk.fn(*chunk.args)
    if cache_path is not None:
        write_chunk(df, cache_path)
    return df


def _indexed(i, chunk, path, worker):
    return i, run_chunk(chunk, path, worker)


def run_plan(plan, cache=None, *, n_jobs: int = -1, backend: str = "loky",
             progress: bool = True) -> tuple[dict[int, pd.DataFrame], int]:
    """Tables of every chunk of ``plan``: from ``cache`` when there, else computed.

    Parameters
    ----------
    plan : Plan
    cache : ChunkCache, optional
    n_jobs, backend, progress
        See :func:`hms_features.build.build_features`.

    Returns
    -------
    tables : dict
        Chunk number -> its DataFrame, for every chunk.
    n_computed : int
        Chunks computed (not read from the cache).
    """
    from tqdm.auto import tqdm

    chunks = plan.chunks
    paths = [None if cache is None else cache.path(i, c.ident) for i, c in enumerate(chunks)]
    done: dict[int, pd.DataFrame] = {}
    if cache is not None:
        for i, c in enumerate(chunks):
            df = cache.read(i, c.ident, c.size, c.index)
            if df is not None:
                done[i] = df
    todo = [i for i in range(len(chunks)) if i not in done]
    # cached windows are the bar's starting count, not an update: tqdm's rate then counts only
    # the windows computed here (an update made a fully cached table read "600 win in 0 s" at
    # millions of windows/s), and the bar says how many came from the cache
    cached = int(sum(chunks[i].size for i in done))
    bar = tqdm(total=plan.n_windows, initial=cached, disable=not progress, unit="win",
               desc="features", smoothing=0.1)
    if cached:
        bar.set_postfix_str(f"{cached} from cache", refresh=False)
    try:
        if todo:
            from joblib import delayed

            few = len(todo) < (MIN_WORKER_CHUNKS if backend == "loky" else 2)
            # (Dask ignores the count: the cluster has its own)
            workers = (1 if few or backend in ("sequential", "dask")
                       else feature_workers(n_jobs))
            # chunks run in loky workers, on a Dask cluster (not our processes: left alone) or
            # here (one process, or threads), which then holds its heap for the run only
            in_workers = backend == "loky" and workers > 1
            here = not in_workers and backend != "dask"
            par = parallel(workers, backend)
            with heap_held() if here else nullcontext():
                for i, df in par(delayed(_indexed)(i, chunks[i], paths[i], in_workers)
                                 for i in todo):
                    done[i] = df
                    bar.update(chunks[i].size)
    finally:
        bar.close()
    return done, len(todo)
