"""The README's Python quick start, run as written on a small synthetic dataset."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_features import HMSDataset, make_synthetic_hms
from hms_features.metrics import kl_divergence

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    """The first ```python block under '## Python quick start'."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python quick start"):]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "README.md: no python block under '## Python quick start'"
    return match.group(1)


def test_quick_start_streams_uses_groups_and_ends_with_the_oof_score():
    code = quick_start()
    # no all-windows arrays: on the real data they would need 136 GB
    assert "eeg_windows(" not in code and "spectrogram_windows(" not in code
    assert "build_features(ds" in code and "cache_dir=" in code
    assert "groups=patients" in code  # the embedders' out-of-fold fits are by patient
    last = [line for line in code.splitlines() if line.strip()][-1]
    assert "cv.oof" in last and last.startswith("print(")


@pytest.mark.slow
def test_quick_start_runs(tmp_path, monkeypatch, capsys):
    data = make_synthetic_hms(tmp_path / "data", n_patients=6, seed=0, progress=False)
    code = quick_start()
    swaps = {"DATA_DIR": str(data), "n_estimators=400": "n_estimators=20",
             "n_jobs=-1": "n_jobs=1"}
    for old, new in swaps.items():
        assert old in code, f"README quick start no longer contains {old!r}; update this test"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    out = capsys.readouterr().out
    ds = HMSDataset(data)
    cv = namespace["cv"]
    assert cv.oof.shape == (len(ds.labels), 6) and np.isfinite(cv.oof).all()
    # the printed score is the out-of-fold KL of every label row
    kl = kl_divergence(ds.votes(), cv.oof, votes=True)
    assert "model (out-of-fold)" in out and f"{kl:.6f}"[:6] in out
    sub = pd.read_csv(tmp_path / "submission.csv")
    assert sub["eeg_id"].tolist() == HMSDataset(data, "test").labels["eeg_id"].tolist()
    np.testing.assert_allclose(sub.iloc[:, 1:].sum(axis=1), 1.0, rtol=1e-9)
    assert (tmp_path / "model" / "manifest.json").is_file()
    assert any((tmp_path / ".hms_features_cache").iterdir())  # features were cached
