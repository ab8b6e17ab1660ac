"""ci/constraints-lowest.txt pins every dependency of pyproject.toml to exactly its floor."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict:
    """``name -> floor`` of every ``name>=floor`` requirement in pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return {name.lower(): floor
            for name, floor in re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)"', text)}


def _pins() -> dict:
    lines = (ROOT / "ci" / "constraints-lowest.txt").read_text(encoding="utf-8").splitlines()
    pins = [ln.split("==") for ln in lines if ln.strip() and not ln.startswith("#")]
    return {name.strip().lower(): version.strip() for name, version in pins}


def _same_version(a: str, b: str) -> bool:
    """``1.24`` == ``1.24.0``."""
    def parts(v):
        return [int(p) for p in v.split(".")] + [0] * (3 - len(v.split(".")))

    return parts(a) == parts(b)


def test_constraints_pin_the_runtime_floors():
    floors, pins = _floors(), _pins()
    runtime = ["numpy", "pandas", "pyarrow", "scipy", "mne", "lightgbm", "scikit-learn", "joblib",
               "tqdm", "threadpoolctl"]
    assert set(runtime) <= set(floors), "a runtime dependency lost its floor in pyproject.toml"
    for name, version in pins.items():
        if name == "distributed":  # comes with dask[distributed]
            name = "dask"
        assert name in floors, f"ci/constraints-lowest.txt pins {name}, not in pyproject.toml"
        assert _same_version(version, floors[name]), (
            f"{name}: pinned to {version}, pyproject.toml's floor is {floors[name]}"
        )
    assert set(runtime) <= set(pins), f"unpinned floors: {sorted(set(runtime) - set(pins))}"
