"""Hostile model folders: tampered boosters, manifests that point outside, links, recursion.

Every load of a tampered booster runs in a subprocess: a native crash (SIGABRT, SIGSEGV) then
fails the test instead of killing pytest. An attacker who edits ``booster.txt`` can update its
checksum in the manifest, or empty the manifest's ``files``; both are done here, so these tests
exercise the Python check of the booster text, not only the checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms_features.metrics import CLASSES
from hms_features.models import (
    EmbeddingUnion,
    HMSPipeline,
    ModelFileError,
    SoftLabelLGBMClassifier,
    load,
    make_hms_pipeline,
)
from hms_features.models.persist import MANIFEST

K = len(CLASSES)
_REPO = Path(__file__).resolve().parents[1]


def _table(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, d)), columns=[f"f{i}" for i in range(d)])
    Y = rng.multinomial(5, np.ones(K) / K, size=n)
    return X, Y


@pytest.fixture(scope="module")
def booster_dir(tmp_path_factory):
    X, Y = _table()
    model = SoftLabelLGBMClassifier(n_estimators=4, num_leaves=7, min_child_samples=5,
                                    random_state=0, n_jobs=1).fit(X, Y)
    out = tmp_path_factory.mktemp("m") / "lgbm"
    model.save(out)
    text = (out / "booster.txt").read_text()
    assert text.count("\nTree=") == 4 * K and "num_leaves=7" in text  # the mutations need these
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_block(text: str, i: int) -> tuple[int, int]:
    start = text.index(f"\nTree={i}\n") + 1
    nxt = re.search(r"\n(Tree=\d+|end of trees)\n", text[start:])
    return start, start + nxt.start() + 1


def _first_line(text: str, key: str) -> str:
    return next(ln for ln in text.split("\n") if ln.startswith(key + "="))


def _replace_in_tree(text, i, key, new_value):
    a, b = _tree_block(text, i)
    block = text[a:b]
    line = _first_line(block, key)
    return text[:a] + block.replace(line, f"{key}={new_value(line.split('=', 1)[1])}", 1) \
        + text[b:]


def _fix_sizes(text: str) -> str:
    """Recompute tree_sizes so only the mutation itself is wrong (what a careful attacker does)."""
    starts = [m.start() + 1 for m in re.finditer(r"\nTree=\d+\n", text)]
    end = text.index("\nend of trees\n") + 1
    sizes = [len(text[a:b].encode()) for a, b in zip(starts, starts[1:] + [end])]
    return re.sub(r"(?m)^tree_sizes=.*$", "tree_sizes=" + " ".join(map(str, sizes)), text)


def _delete_tree(text):
    a, b = _tree_block(text, 3)
    return _fix_sizes(text[:a] + text[b:])


# name -> mutation of booster.txt (text -> text)
MUTATIONS = {
    "truncated": lambda t: t[: len(t) // 2],
    "truncated_in_header": lambda t: t[:60],
    "tree_deleted": _delete_tree,
    "tree_deleted_sizes_stale": lambda t: t[: _tree_block(t, 3)[0]] + t[_tree_block(t, 3)[1]:],
    "num_leaves_changed": lambda t: _fix_sizes(_replace_in_tree(t, 0, "num_leaves",
                                                                lambda v: str(int(v) + 2))),
    "num_leaves_zero": lambda t: _fix_sizes(_replace_in_tree(t, 0, "num_leaves", lambda v: "0")),
    "split_feature_out_of_range": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "split_feature", lambda v: " ".join(["99"] + v.split()[1:]))),
    "split_feature_negative": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "split_feature", lambda v: " ".join(["-1"] + v.split()[1:]))),
    "child_out_of_range": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "left_child", lambda v: " ".join(["1000"] + v.split()[1:]))),
    "child_cycle": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "right_child", lambda v: " ".join(["0"] + v.split()[1:]))),
    "non_numeric_leaf_value": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "leaf_value", lambda v: " ".join(["abc"] + v.split()[1:]))),
    "nan_leaf_value": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "leaf_value", lambda v: " ".join(["nan"] + v.split()[1:]))),
    "short_threshold_array": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "threshold", lambda v: " ".join(v.split()[1:]))),
    "num_class_wrong": lambda t: t.replace(f"num_class={K}\n", "num_class=3\n", 1),
    "num_tree_per_iteration_wrong": lambda t: t.replace(f"num_tree_per_iteration={K}\n",
                                                        "num_tree_per_iteration=1\n", 1),
    "feature_names_short": lambda t: re.sub(r"(?m)^feature_names=(\S+) ", r"feature_names=",
                                            t, count=1),
    "max_feature_idx_wrong": lambda t: re.sub(r"(?m)^max_feature_idx=\d+", "max_feature_idx=40",
                                              t, count=1),
    "tree_sizes_too_large": lambda t: re.sub(r"(?m)^tree_sizes=(\d+)", "tree_sizes=999999", t,
                                             count=1),
    "end_of_trees_missing": lambda t: t.replace("end of trees", "end of tree", 1),
    "objective_injected": lambda t: t.replace("tree_sizes=", "objective=regression\ntree_sizes=",
                                              1),
    "decision_type_invalid": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "decision_type", lambda v: " ".join(["12"] + v.split()[1:]))),
    "categorical_without_boundaries": lambda t: _fix_sizes(_replace_in_tree(
        t, 0, "num_cat", lambda v: "1")),
}

# Loads each folder named on the command line, printing one JSON line per folder; runs in its
# own process so that a native crash fails the tests instead of killing pytest.
_LOADER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from hms_features.models import load, ModelFileError
    for d in sys.argv[2:]:
        try:
            load(d)
            out = {"dir": d, "result": "loaded"}
        except ModelFileError as err:
            out = {"dir": d, "result": "ModelFileError", "message": str(err)}
        print(json.dumps(out), flush=True)
""")


def _load_in_subprocess(dirs) -> tuple[dict, subprocess.CompletedProcess]:
    res = subprocess.run([sys.executable, "-c", _LOADER, str(_REPO), *map(str, dirs)],
                         capture_output=True, text=True, timeout=300)
    results = {}
    for line in res.stdout.splitlines():
        if not line.startswith("{"):  # LightGBM's own chatter
            continue
        item = json.loads(line)
        results[item["dir"]] = item
    return results, res


def _tamper(src: Path, dst: Path, mutate, *, empty_files=False) -> None:
    shutil.copytree(src, dst)
    booster = dst / "booster.txt"
    booster.write_text(mutate(booster.read_text()))
    manifest = json.loads((dst / MANIFEST).read_text())
    manifest["files"] = {} if empty_files else {"booster.txt": _sha(booster)}
    (dst / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def tampered_loads(booster_dir, tmp_path_factory):
    """Every mutation (checksum updated; and once with ``files`` emptied) loaded in one guarded
    subprocess: {name: (result line or None, completed process)}."""
    root = tmp_path_factory.mktemp("tampered")
    dirs = {}
    for name, mutate in MUTATIONS.items():
        _tamper(booster_dir, root / name, mutate)
        assert (root / name / "booster.txt").read_bytes() != \
            (booster_dir / "booster.txt").read_bytes()
        dirs[name] = root / name
    _tamper(booster_dir, root / "files_emptied", MUTATIONS["split_feature_out_of_range"],
            empty_files=True)
    dirs["files_emptied"] = root / "files_emptied"
    results, res = _load_in_subprocess(dirs.values())
    return {name: (results.get(str(d)), res) for name, d in dirs.items()}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_tampered_booster_gives_model_file_error_not_a_crash(tampered_loads, name):
    item, res = tampered_loads[name]
    assert item is not None, ("no result: the loader died", res.returncode, res.stderr[-600:])
    assert item["result"] == "ModelFileError", item
    assert "[LightGBM] [Fatal]" not in res.stderr and "Traceback" not in res.stderr
    assert "booster.txt" in item["message"] and "\n" not in item["message"]  # one line


def test_emptied_files_cannot_switch_verification_off(tampered_loads):
    item, res = tampered_loads["files_emptied"]
    assert item is not None and item["result"] == "ModelFileError", res.stderr[-600:]
    assert "does not record the checksum of 'booster.txt'" in item["message"]


def test_random_line_edits_never_crash(booster_dir, tmp_path):
    """Property: 60 seeded random edits of one line (value swapped, digit changed, line
    dropped or doubled), checksums updated, in one guarded process: every load either raises
    ModelFileError or gives a model whose predictions are finite probabilities."""
    script = textwrap.dedent("""
        import hashlib, json, shutil, sys
        import numpy as np
        from pathlib import Path
        sys.path.insert(0, sys.argv[3])
        from hms_features.models import load, ModelFileError
        src, work = Path(sys.argv[1]), Path(sys.argv[2])
        rng = np.random.default_rng(0)
        X = np.random.default_rng(1).normal(size=(20, 6))
        lines = (src / "booster.txt").read_text().split("\\n")
        outcome = {"error": 0, "loaded": 0}
        for trial in range(60):
            d = work / f"t{trial}"
            shutil.copytree(src, d)
            new = list(lines)
            i = int(rng.integers(len(new)))
            op = trial % 4
            if op == 0:
                new[i] = new[i].replace(str(rng.integers(10)), str(rng.integers(10)), 1)
            elif op == 1:
                del new[i]
            elif op == 2:
                new.insert(i, new[i])
            else:
                j = int(rng.integers(len(new)))
                new[i], new[j] = new[j], new[i]
            (d / "booster.txt").write_text("\\n".join(new))
            m = json.loads((d / "manifest.json").read_text())
            m["files"]["booster.txt"] = hashlib.sha256((d / "booster.txt").read_bytes()).hexdigest()
            (d / "manifest.json").write_text(json.dumps(m))
            print("trial", trial, op, i, flush=True)
            try:
                p = load(d).predict_proba(X)
            except ModelFileError:
                outcome["error"] += 1
                continue
            assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1), trial
            outcome["loaded"] += 1
        print(json.dumps(outcome))
    """)
    res = subprocess.run([sys.executable, "-c", script, str(booster_dir), str(tmp_path),
                          str(_REPO)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, (res.returncode, res.stdout[-300:], res.stderr[-800:])
    outcome = json.loads(res.stdout.strip().split("\n")[-1])
    assert outcome["error"] >= 30  # most edits break the structure and are reported


# ----------------------------------------------------------------------------- outside paths
@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.txt", "sub/../../x", "./booster.txt",
                                  "C:\\\\x", ""])
def test_files_entries_outside_the_folder_are_refused_unopened(booster_dir, tmp_path, name,
                                                               monkeypatch):
    target = tmp_path / "m"
    shutil.copytree(booster_dir, target)
    (tmp_path / "outside.txt").write_text("secret")
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"][name] = _sha(tmp_path / "outside.txt")  # a correct guess
    (target / MANIFEST).write_text(json.dumps(manifest))
    import hms_features.models.persist as persist

    opened = []
    real = persist._sha256
    monkeypatch.setattr(persist, "_sha256", lambda p: opened.append(p) or real(p))
    with pytest.raises(ModelFileError) as info:
        SoftLabelLGBMClassifier.load(target)
    msg = str(info.value)
    assert "outside the model folder" in msg or "not a relative file name" in msg
    assert "SHA-256" not in msg and "missing" not in msg  # says nothing about that file
    assert all(Path(p).resolve().is_relative_to(target.resolve()) for p in opened)


def test_symlinks_are_not_followed(booster_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(booster_dir, outside)
    target = tmp_path / "m"
    shutil.copytree(booster_dir, target)
    (target / "booster.txt").unlink()
    os.symlink(outside / "booster.txt", target / "booster.txt")  # same bytes, same checksum
    with pytest.raises(ModelFileError, match="booster.txt: is a symbolic link"):
        SoftLabelLGBMClassifier.load(target)
    linked = tmp_path / "linked_manifest"
    shutil.copytree(booster_dir, linked)
    (linked / MANIFEST).unlink()
    os.symlink(outside / MANIFEST, linked / MANIFEST)
    with pytest.raises(ModelFileError, match="manifest.json: is a symbolic link"):
        load(linked)


@pytest.mark.parametrize("field,value,message", [
    ("init_score", [1e308] * K, "finite numbers"),
    ("init_score", [0.0] * (K - 1), "finite numbers"),
    ("best_iteration", 0, "outside the booster's 1..4 rounds"),
    ("best_iteration", 10**6, "outside the booster's 1..4 rounds"),
    ("best_iteration", -1, "outside the booster's 1..4 rounds"),
    ("n_features", 0, "'n_features' must be >= 1"),
])
def test_manifest_numbers_out_of_range(booster_dir, tmp_path, field, value, message):
    target = tmp_path / "m"
    shutil.copytree(booster_dir, target)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest[field] = value
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=re.escape(message)):
        SoftLabelLGBMClassifier.load(target)


# ----------------------------------------------------------------------------- pipelines
@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    X, Y = _table()
    pipe = make_hms_pipeline(n_estimators=3, num_leaves=5, min_child_samples=5, n_jobs=1,
                             random_state=0).fit(X, Y)
    out = tmp_path_factory.mktemp("p") / "pipe"
    pipe.save(out)
    return out


def _edit_manifest(directory: Path, edit) -> None:
    m = json.loads((directory / MANIFEST).read_text())
    edit(m)
    (directory / MANIFEST).write_text(json.dumps(m))


@pytest.mark.parametrize("sub", [".", "", "..", "/tmp", "a/b"])
def test_step_dir_must_be_a_strict_subfolder(pipeline_dir, tmp_path, sub):
    target = tmp_path / "p"
    shutil.copytree(pipeline_dir, target)
    _edit_manifest(target, lambda m: m["steps"][0].__setitem__("dir", sub))
    with pytest.raises(ModelFileError) as info:  # not a RecursionError
        load(target)
    assert "manifest.json" in str(info.value)


def test_step_manifest_checksum_is_required(pipeline_dir, tmp_path):
    target = tmp_path / "p"
    shutil.copytree(pipeline_dir, target)
    _edit_manifest(target, lambda m: m.__setitem__("files", {}))
    with pytest.raises(ModelFileError, match="does not record the checksum of '00_lgbm/"):
        load(target)


def test_nesting_depth_is_bounded(pipeline_dir, tmp_path):
    """A chain of 20 pipelines, each a step of the one above (legal names, checksums right):
    refused at a fixed depth instead of recursing."""
    inner = tmp_path / "chain"
    shutil.copytree(pipeline_dir, inner)
    for _ in range(20):
        outer = inner.parent / (inner.name + "_up")
        outer.mkdir()
        shutil.move(str(inner), outer / "00_p")
        m = json.loads((outer / "00_p" / MANIFEST).read_text())
        m["steps"] = [{"name": "p", "kind": "HMSPipeline", "dir": "00_p"}]
        m["files"] = {f"00_p/{MANIFEST}": _sha(outer / "00_p" / MANIFEST)}
        (outer / MANIFEST).write_text(json.dumps(m))
        inner = outer
    with pytest.raises(ModelFileError, match="nested deeper than 8"):
        load(inner)


def test_extractor_io_parameters_come_from_the_caller(tmp_path, hms_mini):
    from hms_features.data import HMSDataset

    ds = HMSDataset(hms_mini)
    pipe = make_hms_pipeline(features=dict(root=hms_mini, feature_set=["quality", "temporal"]),
                             n_estimators=3, min_child_samples=2, n_jobs=1)
    pipe.fit(ds.labels, ds.votes())
    pipe.save(tmp_path / "p")
    step = json.loads((tmp_path / "p" / MANIFEST).read_text())["steps"][0]
    assert "root" not in step["params"] and "cache_dir" not in step["params"]
    # a manifest edited to read and write elsewhere: the paths are not restored
    evil = tmp_path / "evil_cache"
    _edit_manifest(tmp_path / "p", lambda m: m["steps"][0]["params"].update(
        root="/etc", cache_dir=str(evil)))
    back = load(tmp_path / "p")
    assert back.named_steps["features"].root is None
    assert back.named_steps["features"].cache_dir is None
    with pytest.raises(ValueError, match="set root="):
        back.predict_proba(ds.labels)
    back.set_params(features__root=hms_mini)
    np.testing.assert_array_equal(back.predict_proba(ds.labels), pipe.predict_proba(ds.labels))
    assert not evil.exists()


def test_failed_save_leaves_no_loadable_folder(pipeline_dir, tmp_path, monkeypatch):
    target = tmp_path / "p"
    shutil.copytree(pipeline_dir, target)
    assert isinstance(load(target), HMSPipeline)
    pipe = load(pipeline_dir)

    def broken(self, directory):
        raise OSError("disk full")

    monkeypatch.setattr(SoftLabelLGBMClassifier, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        pipe.save(target)  # over a model that loaded fine a moment ago
    with pytest.raises(ModelFileError, match="no model manifest"):
        load(target)


def test_union_step_dirs_are_checked(tmp_path):
    from hms_features.models import MLPEmbedder

    X, Y = _table(n=80, d=4)
    union = EmbeddingUnion([("mlp", MLPEmbedder(hidden=(4,), max_epochs=2, cv=2,
                                                random_state=0))])
    union.fit(X, Y, groups=np.repeat(np.arange(8), 10))
    union.save(tmp_path / "u")
    assert isinstance(load(tmp_path / "u"), EmbeddingUnion)
    _edit_manifest(tmp_path / "u", lambda m: m["embedders"][0].__setitem__("dir", "."))
    with pytest.raises(ModelFileError, match="outside the model folder"):
        load(tmp_path / "u")


def test_embedder_layer_sizes_cannot_ask_for_a_huge_allocation(tmp_path):
    from hms_features.models import MLPEmbedder

    X, Y = _table(n=60, d=4)
    MLPEmbedder(hidden=(4,), max_epochs=2, random_state=0).fit(X, Y).save(tmp_path / "e")
    assert isinstance(load(tmp_path / "e"), MLPEmbedder)
    _edit_manifest(tmp_path / "e", lambda m: m["params"].__setitem__("hidden", [10**9]))
    with pytest.raises(ModelFileError, match=r"layer sizes \[1000000000\] do not fit"):
        load(tmp_path / "e")  # refused before any weight is allocated (4 GB otherwise)


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_paths(v, prefix + (i,))


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")  # edited feature_names
def test_every_manifest_value_edited_gives_model_file_error(tmp_path):
    """Property: in a saved pipeline (MLP embedder + booster), replace any single value of any
    manifest by a hostile one (None, 0, -1, 10**12, a string, [], {}, True), fixing the parent
    checksums as an attacker would: loading and predicting either works or raises
    ModelFileError / FeatureMismatchError (exit 2 in the CLI), never another exception and
    never a runaway allocation."""
    import copy

    from hms_features.models import MLPEmbedder
    from hms_features.models.persist import FeatureMismatchError

    X, Y = _table(n=80, d=5)
    src = tmp_path / "src"
    make_hms_pipeline(embedders=[("mlp", MLPEmbedder(hidden=(3,), max_epochs=2, cv=2,
                                                     random_state=0))],
                      n_estimators=2, min_child_samples=5, n_jobs=1) \
        .fit(X, Y, embed__groups=np.repeat(np.arange(8), 10)).save(src)
    values = [None, 0, -1, 10**12, "x", [], {}, True]
    failures = []
    n_edits = 0
    for mpath in sorted(src.rglob(MANIFEST)):
        rel = mpath.relative_to(src)
        original = json.loads(mpath.read_text())
        for path in list(_json_paths(original)):
            if not path or path[0] == "files":
                continue
            for value in values:
                edited = copy.deepcopy(original)
                node = edited
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
                work = tmp_path / "w"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(src, work)
                (work / rel).write_text(json.dumps(edited))
                for parent in sorted(work.rglob(MANIFEST), key=lambda q: -len(q.parts)):
                    pm = json.loads(parent.read_text())
                    for name in [n for n in pm.get("files", {}) if n.endswith(MANIFEST)]:
                        pm["files"][name] = _sha(parent.parent / name)
                    parent.write_text(json.dumps(pm))
                n_edits += 1
                try:
                    load(work).predict_proba(X)
                except (ModelFileError, FeatureMismatchError):
                    pass
                except Exception as err:  # noqa: BLE001 - what the property forbids
                    failures.append(f"{rel} {path}={value!r}: {type(err).__name__}: {err}")
    assert n_edits > 500
    assert not failures, failures[:5]
