"""Shared fixtures: the real HMS slice in ../shared/data/hms_mini, when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Real Kaggle HMS files (kept out of the repository for licence reasons); override with
#: the HMS_MINI environment variable.
HMS_MINI = Path(
    os.environ.get("HMS_MINI", Path(__file__).resolve().parents[2] / "shared" / "data" / "hms_mini")
)


@pytest.fixture(scope="session")
def hms_mini() -> Path:
    """Path of the real HMS slice; skips (saying why) when the folder is absent."""
    if not (HMS_MINI / "train.csv").is_file():
        pytest.skip(f"real HMS files not found at {HMS_MINI} (set HMS_MINI to their folder)")
    return HMS_MINI
