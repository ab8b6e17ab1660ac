"""Shared fixtures: the real HMS slice (a few Kaggle files), when it can be found.

The files are not in the repository (Kaggle's licence). They are looked for, in order, in the
folder named by the ``HMS_MINI`` environment variable, then in ``../shared/data/hms_mini``
beside the repository. The folder tried is printed once in pytest's header.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]

#: Where the real HMS files are looked for (``HMS_MINI`` wins when set).
HMS_MINI = Path(os.environ["HMS_MINI"]) if os.environ.get("HMS_MINI") else (
    _REPO.parent / "shared" / "data" / "hms_mini")


def _found() -> bool:
    return (HMS_MINI / "train.csv").is_file()


def pytest_report_header(config):
    if _found():
        return f"real HMS files: {HMS_MINI}"
    return (f"real HMS files: NOT found at {HMS_MINI}; the tests that read them will skip "
            f"(set HMS_MINI=/path/to/hms_mini)")


@pytest.fixture(scope="session")
def hms_mini() -> Path:
    """Path of the real HMS slice; skips when it is absent (the header says where it looked)."""
    if not _found():
        if os.environ.get("CI"):  # CI must test the readers on real files, never skip them
            pytest.fail(f"CI: real HMS files not found at {HMS_MINI} (set HMS_MINI)")
        pytest.skip("real HMS files absent (see the header: set HMS_MINI)")
    return HMS_MINI
