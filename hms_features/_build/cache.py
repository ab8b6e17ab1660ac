"""Finished chunks of :func:`hms_features.build.build_features` as self-verifying parquet files.

Layout: ``{cache_dir}/{key}/chunk_{i:06d}_{ident}.parquet``. ``key`` (:func:`cache_key`) hashes
the kind of input, the families, the sampling rate, the preprocessing settings, the library
version, the source code that decides feature values (:func:`code_fingerprint`) and the identity
of the input; ``ident`` hashes the chunk's own inputs: for raw arrays their bytes, for a dataset
the chunk's label rows and the identity of every parquet file the chunk reads (size,
modification time in ns and a hash of the parquet footer, see
:meth:`hms_features.data.HMSDataset.file_info`), so an edited recording recomputes its chunks.

Each file carries, in its parquet key-value metadata (``hms_features_chunk``), its key and ident,
its shape and a SHA-256 of its column names, index and float32 values. A file is served only if
it reads, its metadata matches the chunk asked for (key, ident, rows, columns, index), every value
is finite and the digest matches; anything else (a flipped byte, a truncated or replaced file, a
NaN written into it, a directory in its place) is removed and recomputed, and
:func:`~hms_features.build.build_features` reports the count once. A file is written atomically
(a temporary name, then :func:`os.replace`), so an interrupted run leaves only whole files and a
re-run computes just the missing chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._io import write_atomic
from .._version import __version__

__all__ = ["ChunkCache", "cache_key", "code_fingerprint", "write_chunk", "chunk_digest"]

_ROOT = Path(__file__).resolve().parent.parent  # the hms_features package
#: Key of the chunk's own metadata in the parquet key-value metadata.
META_KEY = b"hms_features_chunk"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the source files that decide feature values.

    The readers, the validation and window cutting, the preprocessing, ``build`` and its parts,
    every feature family and the sequence builders. Part of the cache key, so that installing
    changed code under the same version number never serves features computed by the old code.
    """
    files = [_ROOT / "data.py", _ROOT / "signal.py", _ROOT / "validation.py",
             _ROOT / "windows.py", _ROOT / "build.py", *sorted((_ROOT / "_build").glob("*.py")),
             *sorted((_ROOT / "features").glob("*.py"))]
    h = hashlib.sha1()
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_key(plan) -> str:
    """The folder name of a plan's chunk files (16 hex digits)."""
    blob = json.dumps([plan.kind, plan.families, plan.fs, sorted(plan.prep.items()),
                       __version__, code_fingerprint(), plan.ident], default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def chunk_digest(df: pd.DataFrame) -> str:
    """SHA-256 of a chunk table: its shape, column names, index and float32 values."""
    h = hashlib.sha256()
    h.update(json.dumps([list(df.shape), [str(c) for c in df.columns]]).encode())
    h.update(np.ascontiguousarray(df.index.to_numpy(np.int64)).tobytes())
    h.update(np.ascontiguousarray(df.to_numpy(np.float32)).tobytes())
    return h.hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_chunk(df: pd.DataFrame, path: Path) -> None:
    """Write one chunk's table atomically (temporary file, then rename) with its digest.

    The metadata records the file's own name (key folder and ident), shape and
    :func:`chunk_digest`; :meth:`ChunkCache.read` checks them all.
    """
    path = Path(path)
    meta = {"key": path.parent.name, "name": path.name, "rows": len(df),
            "columns": len(df.columns), "sha256": chunk_digest(df)}
    table = pa.Table.from_pandas(df)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           META_KEY: json.dumps(meta).encode()})
    if path.is_dir() and not path.is_symlink():  # something else took the name: replace it
        shutil.rmtree(path)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


class ChunkCache:
    """The chunk files of one plan.

    Parameters
    ----------
    cache_dir : path-like
        The cache root; the plan's folder ``{cache_dir}/{cache_key(plan)}`` is created.
    plan : Plan
        The plan whose chunks are cached (its ``names`` are the columns a file must have).

    Attributes
    ----------
    rejected : collections.Counter
        Reason -> number of chunk files that did not verify and were removed (reasons:
        ``"unreadable"``, ``"not a file"``, ``"no checksum"``, ``"other chunk"``,
        ``"wrong shape"``, ``"wrong columns"``, ``"wrong index"``, ``"NaN or inf"``,
        ``"checksum mismatch"``).
    """

    def __init__(self, cache_dir, plan):
        self.folder = Path(cache_dir) / cache_key(plan)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names = [str(c) for c in plan.names]
        self.rejected: Counter = Counter()

    def path(self, i: int, ident: str) -> Path:
        """File of chunk ``i`` with input hash ``ident``."""
        return self.folder / f"chunk_{i:06d}_{ident}.parquet"

    def read(self, i: int, ident: str, size: int | None = None,
             index: pd.Index | None = None) -> pd.DataFrame | None:
        """The cached table of chunk ``i``, or None when absent or when it does not verify.

        Parameters
        ----------
        i, ident
            Chunk number and input hash.
        size : int, optional
            Rows the chunk must have.
        index : pandas.Index, optional
            Index the chunk must have (row positions or window numbers).

        A file that does not verify is removed and its reason counted in :attr:`rejected`.
        """
        path = self.path(i, ident)
        if not os.path.lexists(path):
            return None
        df, reason = self._verify(path, size, index)
        if reason is not None:
            self.rejected[reason] += 1
            _remove(path)
            return None
        return df

    def _verify(self, path: Path, size, index):
        if not path.is_file():
            return None, "not a file"
        try:
            table = pq.read_table(path, use_threads=False)
            meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"null"))
            df = table.to_pandas()
        except Exception:  # noqa: BLE001 - any failure to decode is a damaged file
            return None, "unreadable"
        if not isinstance(meta, dict) or "sha256" not in meta:
            return None, "no checksum"
        if meta.get("key") != self.folder.name or meta.get("name") != path.name:
            return None, "other chunk"
        if (meta.get("rows") != len(df) or meta.get("columns") != len(df.columns)
                or (size is not None and len(df) != size)):
            return None, "wrong shape"
        if [str(c) for c in df.columns] != self.names or not all(
                t == np.float32 for t in df.dtypes):
            return None, "wrong columns"
        if index is not None and not np.array_equal(df.index.to_numpy(), np.asarray(index)):
            return None, "wrong index"
        if not np.isfinite(df.to_numpy(np.float32)).all():
            return None, "NaN or inf"
        if chunk_digest(df) != meta["sha256"]:
            return None, "checksum mismatch"
        return df, None

    def report(self) -> str | None:
        """One line saying how many chunk files were recomputed and why (None if none)."""
        n = sum(self.rejected.values())
        if not n:
            return None
        why = ", ".join(f"{k} {r}" for r, k in self.rejected.most_common())
        return (f"feature cache {self.folder}: {n} chunk file(s) did not verify and were "
                f"recomputed ({why})")
