"""Finished chunks of :func:`hms_features.build.build_features` as parquet files.

Layout: ``{cache_dir}/{key}/chunk_{i:06d}_{ident}.parquet``. ``key`` (:func:`cache_key`) hashes
the kind of input, the families, the sampling rate, the preprocessing settings, the library
version, the source code that decides feature values (:func:`code_fingerprint`) and the identity
of the input; ``ident`` hashes the chunk's own inputs. A file is written atomically (a temporary
name, then :func:`os.replace`), so an interrupted run leaves only whole files and a re-run
computes just the missing chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .._version import __version__

__all__ = ["ChunkCache", "cache_key", "code_fingerprint", "write_chunk"]

_ROOT = Path(__file__).resolve().parent.parent  # the hms_features package


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


def write_chunk(df: pd.DataFrame, path: Path) -> None:
    """Write one chunk's table atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_parquet(tmp)
    os.replace(tmp, path)


class ChunkCache:
    """The chunk files of one plan.

    Parameters
    ----------
    cache_dir : path-like
        The cache root; the plan's folder ``{cache_dir}/{cache_key(plan)}`` is created.
    plan : Plan
        The plan whose chunks are cached.
    """

    def __init__(self, cache_dir, plan):
        self.folder = Path(cache_dir) / cache_key(plan)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, i: int, ident: str) -> Path:
        """File of chunk ``i`` with input hash ``ident``."""
        return self.folder / f"chunk_{i:06d}_{ident}.parquet"

    def read(self, i: int, ident: str) -> pd.DataFrame | None:
        """The cached table of chunk ``i``, or None when absent (a damaged file is removed)."""
        path = self.path(i, ident)
        if not path.is_file():
            return None
        try:
            return pd.read_parquet(path)
        except Exception:  # a damaged file (should not happen: writes are atomic)
            path.unlink(missing_ok=True)
            return None
