"""Feature names are API: models are saved with them. Renaming one must be a deliberate act.

The golden lists under ``tests/golden/`` were written from ``feature_names``; when a change
renames, adds or removes a feature on purpose, regenerate them in the same commit with::

    python -c "from hms_features.features.registry import feature_names as f; \
[open(f'tests/golden/feature_names_{s}.txt', 'w').write('\\n'.join(f(s)) + '\\n') \
for s in ('default', 'fast')]"
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hms_features.features.registry import compute_features, feature_names

GOLDEN = Path(__file__).parent / "golden"


def _golden(feature_set: str) -> list[str]:
    return (GOLDEN / f"feature_names_{feature_set}.txt").read_text().splitlines()


@pytest.mark.parametrize("feature_set", ["default", "fast"])
def test_feature_names_match_the_golden_list(feature_set):
    names, golden = feature_names(feature_set), _golden(feature_set)
    added = sorted(set(names) - set(golden))
    removed = sorted(set(golden) - set(names))
    assert not added and not removed, f"added {added[:10]}, removed {removed[:10]}"
    assert names == golden, "same names, different order"


def test_golden_lists_are_consistent():
    default, fast = _golden("default"), _golden("fast")
    assert len(default) == len(set(default)) and len(fast) == len(set(fast))
    assert set(fast) < set(default)


def test_computed_columns_are_the_named_ones():
    """The columns a real computation returns are exactly ``feature_names('fast')``, in order."""
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 20, (2, 20, 10_000)).astype(np.float32)
    feats = compute_features(eeg, feature_set="fast")
    assert list(feats) == _golden("fast")
