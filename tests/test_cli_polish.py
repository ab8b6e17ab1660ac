"""What a newcomer meets on the command line (issue 15): an unambiguous --embedders, messages
that name the flags, help on every option, the report's baselines, the feature glossary, the
matplotlib message and one-line warnings."""

from __future__ import annotations

import json
import re
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import hms_features.cli as cli
from hms_features.cli import build_parser, main
from hms_features.data import VOTE_COLUMNS
from hms_features.features.registry import feature_names
from hms_features.metrics import CLASSES
from hms_features.synthetic import make_synthetic_hms


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a.choices, dict))
    return action.choices


# ------------------------------------------------------------------------------ --embedders
@pytest.mark.parametrize("argv", [
    ["cv", "--embedders", "mlp,lstm", "DATA"],
    ["cv", "DATA", "--embedders", "mlp,lstm"],
    ["cv", "--embedders", "mlp", "--embedders", "lstm", "DATA"],
])
def test_embedders_before_the_data_folder_is_not_taken_for_an_embedder(argv):
    args = build_parser().parse_args(argv)
    assert args.data_dir == "DATA"
    assert args.embedders == ["mlp", "lstm"]


def test_embedders_default_is_none_and_one_is_one():
    assert not build_parser().parse_args(["train", "D", "--out", "m"]).embedders
    assert build_parser().parse_args(["cv", "--embedders", "mlp", "D"]).embedders == ["mlp"]


@pytest.mark.parametrize("value", ["mlp,cnn", ",", "MLP"])
def test_bad_embedder_exits_2_naming_the_flag(value, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["cv", "D", "--embedders", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--embedders" in err and "mlp,lstm" in err


# ------------------------------------------------------------------------------ synth
def test_synth_into_a_non_empty_folder_names_the_flag(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["synth", "--out", str(tmp_path), "--patients", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "overwrite=True" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]  # nothing written


# ------------------------------------------------------------------------------ help
def test_every_option_has_help_and_no_default_reads_default_default():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
        text = " ".join(sub.format_help().split())
        assert "(default default)" not in text, name
        assert "%(default)" not in text, name
        assert not re.search(r"\(default [^:)]", text), f"{name}: '(default X)' not '(default: X)'"
    features = " ".join(_subparsers()["cv"].format_help().split())
    assert "(default: 'default')" in features and "mlp,lstm" in features


# ------------------------------------------------------------------------------ features --describe
def test_features_describe_writes_the_glossary_without_a_data_folder(tmp_path):
    out = tmp_path / "glossary.csv"
    assert main(["features", "--describe", "--feature-set", "spectral,temporal", "--out",
                 str(out), "--quiet"]) == 0
    table = pd.read_csv(out)
    assert table["feature"].tolist() == feature_names(["spectral", "temporal"])
    assert set(table["family"]) == {"spectral", "temporal"}
    assert (table[["measure", "unit"]] != "unknown").all().all()


def test_features_describe_prints_every_column(capsys):
    assert main(["features", "--describe", "--feature-set", "fast"]) == 0
    printed = capsys.readouterr().out
    names = feature_names("fast")
    assert all(name in printed for name in names)
    assert len(printed.strip().splitlines()) == len(names) + 1  # header + one line per column


def test_features_without_a_data_folder_exits_2(capsys):
    assert main(["features", "--out", "x.parquet"]) == 2
    assert "--describe" in capsys.readouterr().err


# ------------------------------------------------------------------------------ report
def _kl(y, p):
    """Mean over rows of sum_c y log(y / p), 0 log 0 = 0, y normalised votes (nats)."""
    y = y / y.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(y / p), 0.0)
    return float(terms.sum(axis=1).mean())


def test_report_shows_uniform_prior_and_oracle_baselines_and_the_settings(tmp_path,
                                                                          monkeypatch):
    data = make_synthetic_hms(tmp_path / "data", n_patients=4, seed=1, n_test=1)
    labels = pd.read_csv(data / "train.csv")
    votes = labels[list(VOTE_COLUMNS)].to_numpy(float)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(6), size=len(labels))
    cv_dir = tmp_path / "cv"
    cv_dir.mkdir()
    oof = labels[["label_id", "eeg_id", "patient_id"]].copy()
    oof["fold"] = np.arange(len(oof)) % 2
    oof[list(VOTE_COLUMNS)] = votes
    oof[list(CLASSES)] = proba
    oof.to_csv(cv_dir / "oof.csv", index=False)
    settings = {"seed": 7, "feature_set": "fast", "n_estimators": 123}
    (cv_dir / "cv.json").write_text(json.dumps({"data_dir": str(data), "by_eeg": False,
                                                "provenance": settings}))
    seen = {}
    from hms_features import report

    real = report.write_report

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", spy)
    assert main(["report", str(cv_dir), "--out", str(tmp_path / "rep"), "--examples", "0",
                 "--quiet"]) == 0
    base = seen["baselines"]
    assert list(base) == ["uniform", "class prior (in-sample)", "oracle (true distributions)"]
    y = votes / votes.sum(axis=1, keepdims=True)
    assert base["uniform"]["KL"] == pytest.approx(_kl(votes, np.full_like(y, 1 / 6)), rel=1e-9)
    assert base["class prior (in-sample)"]["KL"] == pytest.approx(
        _kl(votes, np.broadcast_to(y.mean(axis=0), y.shape)), rel=1e-9)
    truth = pd.read_csv(data / "synthetic_truth.csv").set_index("label_id")
    p = truth.loc[labels["label_id"], list(CLASSES)].to_numpy(float)
    assert base["oracle (true distributions)"][0] == pytest.approx(
        _kl(votes, p / p.sum(axis=1, keepdims=True)), rel=1e-6)
    assert seen["settings"] == settings and seen["importance_type"] == "gain"
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "oracle (true distributions)" in html and "class prior (in-sample)" in html
    assert "n_estimators" in html and "123" in html


# ------------------------------------------------------------------------------ matplotlib
def test_missing_matplotlib_message_says_pip_install_matplotlib(monkeypatch):
    from hms_features.report.figures import new_figure

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib$"):
        new_figure((4, 3))


# ------------------------------------------------------------------------------ warnings
def test_warnings_print_as_one_line_each_while_main_runs(monkeypatch, capsys):
    before = warnings.showwarning

    def noisy(args):
        warnings.simplefilter("always")
        warnings.warn("data/x.parquet: 3 NaN rows\n(filled with zeros)", UserWarning, stacklevel=1)
        warnings.warn("old_name is deprecated", DeprecationWarning, stacklevel=1)

    monkeypatch.setattr(cli, "cmd_synth", noisy)
    assert main(["synth", "--out", "unused"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "hms-features: data/x.parquet: 3 NaN rows (filled with zeros)",
        "hms-features: DeprecationWarning: old_name is deprecated",
    ]
    assert warnings.showwarning is before  # restored after main
