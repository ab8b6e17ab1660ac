"""Atomic file writes: the one way the library writes an output file."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path, write) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``.

    A failure (or an interrupt) never leaves a half-written ``path``: the temporary file is
    removed and an existing ``path`` is kept as it was.

    Parameters
    ----------
    path : path-like
        The output file.
    write : callable
        Called with the temporary path; writes (and may check) the whole file there.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
