"""The preprocessing a model was fitted on (clip level, filter edges, notch) is in its manifest,
and a feature table built with other preprocessing is refused with one line naming both values
(Python and the command line's exit-2 contract)."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from hms_features.build import build_features
from hms_features.cli import main
from hms_features.models import HMSPipeline, make_hms_pipeline
from hms_features.models.persist import FeatureMismatchError, ModelFileError
from hms_features.signal import preprocess

FAMILIES = ["spectral"]
#: preprocess's own defaults: what a default build records, every parameter spelled out
DEFAULTS = {k: p.default for k, p in inspect.signature(preprocess).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.fixture(scope="module")
def windows():
    """24 windows of ~40 µV noise (a 20 µV clip changes every one), votes and 6 patients."""
    rng = np.random.default_rng(0)
    eeg = (rng.standard_normal((24, 20, 10000)) * 40).astype(np.float32)
    votes = rng.integers(0, 5, (24, 6)).astype(float)
    votes[:, 0] += 1
    return eeg, votes, np.repeat(np.arange(6), 4)


def _build(eeg, **prep):
    return build_features(eeg, FAMILIES, n_jobs=1, progress=False,
                          preprocess_kwargs=prep or None)


def _fit(X, windows, path):
    _, votes, groups = windows
    model = make_hms_pipeline(n_estimators=5, random_state=0, n_jobs=1)
    model.fit(X, votes, groups=groups)
    model.save(path)
    return model


def test_manifest_records_the_preprocessing_and_predict_refuses_other(windows, tmp_path):
    eeg = windows[0]
    X = _build(eeg)
    model = _fit(X, windows, tmp_path / "m")
    inputs = json.loads((tmp_path / "m" / "manifest.json").read_text())["inputs"]
    assert inputs["preprocess"] == DEFAULTS and DEFAULTS["clip_uv"] == 1024.0
    loaded = HMSPipeline.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    clipped = _build(eeg, clip_uv=20.0)
    assert not np.allclose(clipped.to_numpy(), X.to_numpy())  # the clip changes the features
    for m in (model, loaded):
        for call in (m.predict_proba, m.predict, m.check_feature_table):
            with pytest.raises(FeatureMismatchError) as err:
                call(clipped)
            msg = str(err.value)
            assert "\n" not in msg
            assert msg.startswith("feature table: built with clip_uv=20.0, the model was "
                                  "fitted on clip_uv=1024.0 (")
    with pytest.raises(FeatureMismatchError, match=r"l_freq=1\.0, notch=None, the model was "
                                                   r"fitted on l_freq=0\.5, notch=60\.0"):
        loaded.predict_proba(_build(eeg, l_freq=1.0, notch=None))
    # the defaults written out are the defaults: no difference
    np.testing.assert_array_equal(loaded.predict_proba(_build(eeg, clip_uv=1024, order=4)),
                                  model.predict_proba(X))
    # a table that records nothing (attrs dropped) cannot be checked: it is predicted
    bare = clipped.copy()
    bare.attrs = {}
    assert loaded.predict_proba(bare).shape == (24, 6)


def test_feature_table_recomputes_with_the_models_preprocessing(windows, tmp_path):
    eeg = windows[0]
    clipped = _build(eeg, clip_uv=20.0)
    model = _fit(clipped, windows, tmp_path / "m")
    loaded = HMSPipeline.load(tmp_path / "m")
    assert loaded.input_spec()["preprocess"] == {**DEFAULTS, "clip_uv": 20.0}
    X = loaded.feature_table(eeg, n_jobs=1, progress=False)
    assert X.attrs["preprocess"] == {"clip_uv": 20.0}
    pd.testing.assert_frame_equal(X, clipped)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(clipped))
    with pytest.raises(FeatureMismatchError, match="clip_uv=1024.0, the model was fitted on "
                                                   "clip_uv=20.0"):
        loaded.feature_table(eeg, n_jobs=1, progress=False,
                             preprocess_kwargs={"clip_uv": 1024.0})


def test_manifest_preprocess_entry_is_checked_and_older_models_load(windows, tmp_path):
    eeg = windows[0]
    _fit(_build(eeg), windows, tmp_path / "m")
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["inputs"]["preprocess"] = {"clip_uv": "big"}
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="'inputs.preprocess' must be null or an object"):
        HMSPipeline.load(tmp_path / "m")
    del manifest["inputs"]["preprocess"]  # a model saved before the entry existed
    path.write_text(json.dumps(manifest))
    old = HMSPipeline.load(tmp_path / "m")
    assert old.preprocess_ is None
    assert old.predict_proba(_build(eeg, clip_uv=20.0)).shape == (24, 6)  # nothing to compare


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A small synthetic Kaggle dataset and a model trained from the CLI on 20 µV features."""
    from hms_features.synthetic import make_synthetic_hms

    root = tmp_path_factory.mktemp("synth")
    make_synthetic_hms(root / "data", n_patients=6, seed=0, n_test=1, progress=False)
    common = ["--n-jobs", "1", "--quiet", "--cache-dir", ""]  # predict: the model's features
    fam = ["--feature-set", "spectral"]
    table = root / "f20.parquet"
    assert main(["features", str(root / "data"), "--out", str(table), "--clip-uv", "20",
                 *fam, *common]) == 0
    assert main(["train", str(root / "data"), "--features", str(table), "--out",
                 str(root / "model"), "--n-estimators", "5", *fam, *common]) == 0
    return root, common, fam


def test_cli_predict_and_scan_refuse_another_clip_level(synth, capsys):
    root, common, fam = synth
    data, model = str(root / "data"), str(root / "model")
    manifest = json.loads((root / "model" / "manifest.json").read_text())
    assert manifest["inputs"]["preprocess"]["clip_uv"] == 20.0
    out = str(root / "sub.csv")
    # computed features: the model's clip level unless told otherwise
    assert main(["predict", model, data, "--out", out, *common]) == 0
    capsys.readouterr()
    assert main(["predict", model, data, "--out", out, "--clip-uv", "500", *common]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hms-features: ")
    assert "built with clip_uv=500.0, the model was fitted on clip_uv=20.0" in err
    # a --features table built with the default clip level
    test_table = root / "test.parquet"
    assert main(["features", data, "--split", "test", "--out", str(test_table), *fam,
                 *common]) == 0
    capsys.readouterr()
    assert main(["predict", model, data, "--features", str(test_table), "--out", out,
                 *common]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{test_table}: feature table: built with clip_uv=1024.0, the model was fitted on " \
           "clip_uv=20.0" in err
    # scan: refused before the recording is read
    rec = next((root / "data" / "test_eegs").glob("*.parquet"))
    assert main(["scan", model, str(rec), "--out", str(root / "scan"), "--quiet",
                 "--no-plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--clip-uv 1024.0: built with clip_uv=1024.0, the model was fitted on clip_uv=20.0" \
        in err
    assert not (root / "scan").exists()
