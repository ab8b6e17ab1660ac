"""Check a LightGBM text model in Python before LightGBM parses it.

LightGBM parses the trees of a text model in an OpenMP loop and trusts what it reads: a tree
with a wrong array length raises inside a worker thread (the process aborts with ``SIGABRT``),
an out-of-range ``split_feature``, child index or ``tree_sizes`` entry reads outside its arrays
(``SIGSEGV``). :func:`check_booster_text` validates the whole structure first (an allow-list:
every key, count, index and number), so a damaged or edited file raises
:class:`~hms_features.models.persist.ModelFileError` naming the file, the tree and the key,
and LightGBM only ever sees a well-formed model.

What is checked (the layout ``Booster.save_model`` writes, format ``v3``/``v4``):

- header: ``tree``, ``version``, ``num_class``, ``num_tree_per_iteration``, ``label_index``,
  ``max_feature_idx``, ``feature_names`` and ``feature_infos`` (one per feature, as many as the
  caller expects), ``tree_sizes`` (the exact byte length of each tree block); no other key;
- one ``Tree=i`` block per tree, numbered in order, a multiple of ``num_tree_per_iteration``;
  each with exactly the keys LightGBM writes, ``num_leaves >= 1``, every array of the length
  ``num_leaves`` implies, integers and finite floats, ``split_feature`` in
  ``[0, max_feature_idx]``, children that form one tree reachable from the root (no cycle, no
  shared node), a valid ``decision_type``, categorical boundaries consistent with ``num_cat``,
  no linear trees;
- ``end of trees``, then only the feature importances, the ``parameters:`` block and
  ``pandas_categorical:null``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .persist import ModelFileError

__all__ = ["check_booster_text"]

_INT_TOKEN = r"-?\d{1,18}"
_FLOAT_TOKEN = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# a whole space-separated array in one match (fast: one regex call per line)
_ARRAY = {"int": re.compile(f"{_INT_TOKEN}(?: {_INT_TOKEN})*"),
          "float": re.compile(f"{_FLOAT_TOKEN}(?: {_FLOAT_TOKEN})*")}
_HEADER_KEYS = {"version", "num_class", "num_tree_per_iteration", "label_index",
                "max_feature_idx", "feature_names", "feature_infos", "tree_sizes"}
# Arrays of a tree with ``L`` leaves: length as a function of L, element type.
_NODE_ARRAYS = {"split_feature": "int", "split_gain": "float", "threshold": "float",
                "decision_type": "int", "left_child": "int", "right_child": "int",
                "internal_value": "float", "internal_weight": "float", "internal_count": "int"}
_LEAF_ARRAYS = {"leaf_value": "float", "leaf_weight": "float", "leaf_count": "int"}
_TREE_KEYS = {"num_leaves", "num_cat", "is_linear", "shrinkage"} | set(_NODE_ARRAYS) \
    | set(_LEAF_ARRAYS)
_CAT_KEYS = {"cat_boundaries", "cat_threshold"}
_MAX_BYTES = 1 << 31  # 2 GiB: a larger text model is not one this library wrote


def _numbers(text: str, kind: str, where: str) -> list:
    """Parse a space-separated array of ints or finite floats (``where`` names it on error)."""
    if text == "":
        return []
    if not _ARRAY[kind].fullmatch(text):
        expected = "integers" if kind == "int" else "finite numbers"
        bad = next((t for t in text.split(" ")
                    if not re.fullmatch(_INT_TOKEN if kind == "int" else _FLOAT_TOKEN, t)), text)
        raise ModelFileError(f"{where}: {bad[:30]!r} in a list of {expected}")
    tokens = text.split(" ")
    if kind == "int":
        return [int(t) for t in tokens]
    values = np.array(tokens, dtype=np.float64)
    if not np.isfinite(values).all():
        bad = tokens[int(np.argmin(np.isfinite(values)))]
        raise ModelFileError(f"{where}: {bad[:30]!r} is not a finite number")
    return values.tolist()


def _one_int(kv: dict, key: str, where: str, lo: int, hi: int) -> int:
    if key not in kv:
        raise ModelFileError(f"{where}: missing {key!r}")
    vals = _numbers(kv[key], "int", f"{where} {key}")
    if len(vals) != 1 or not lo <= vals[0] <= hi:
        raise ModelFileError(f"{where}: {key}={kv[key][:30]!r} is not an integer in [{lo}, {hi}]")
    return vals[0]


def _key_values(lines: list[str], where: str, allowed: set) -> dict:
    kv = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or key not in allowed:
            raise ModelFileError(f"{where}: unexpected line {line[:40]!r}")
        if key in kv:
            raise ModelFileError(f"{where}: {key!r} appears twice")
        kv[key] = value
    return kv


def _check_tree(block: str, i: int, n_features: int, path) -> None:
    where = f"{path}: Tree={i}"
    lines = block.split("\n")
    if lines[0] != f"Tree={i}":
        raise ModelFileError(f"{where}: block starts with {lines[0][:30]!r}")
    body = lines[1:]
    while body and body[-1] == "":
        body.pop()
    kv = _key_values(body, where, _TREE_KEYS | _CAT_KEYS)
    L = _one_int(kv, "num_leaves", where, 1, 1 << 20)
    num_cat = _one_int(kv, "num_cat", where, 0, max(L - 1, 0))
    if _one_int(kv, "is_linear", where, 0, 1) != 0:
        raise ModelFileError(f"{where}: linear trees are not supported by this loader")
    shrink = _numbers(kv.get("shrinkage", ""), "float", f"{where} shrinkage")
    if len(shrink) != 1:
        raise ModelFileError(f"{where}: 'shrinkage' must be one finite number")
    missing = _TREE_KEYS - set(kv)
    if missing:
        raise ModelFileError(f"{where}: missing {sorted(missing)}")
    arrays = {k: _numbers(kv[k], t, f"{where} {k}") for k, t in {**_NODE_ARRAYS,
                                                                  **_LEAF_ARRAYS}.items()}
    if len(arrays["leaf_value"]) != L:
        raise ModelFileError(f"{where}: leaf_value has {len(arrays['leaf_value'])} values, "
                             f"num_leaves={L}")
    if L == 1:  # a stump: LightGBM reads only leaf_value (the writer leaves the rest empty)
        if num_cat or set(kv) & _CAT_KEYS:
            raise ModelFileError(f"{where}: a one-leaf tree has no categorical split")
        return
    for k in _NODE_ARRAYS:
        if len(arrays[k]) != L - 1:
            raise ModelFileError(f"{where}: {k} has {len(arrays[k])} values, num_leaves={L} "
                                 f"needs {L - 1}")
    for k in _LEAF_ARRAYS:
        if len(arrays[k]) != L:
            raise ModelFileError(f"{where}: {k} has {len(arrays[k])} values, num_leaves={L} "
                                 f"needs {L}")
    bad = [f for f in arrays["split_feature"] if not 0 <= f < n_features]
    if bad:
        raise ModelFileError(f"{where}: split_feature {bad[0]} outside [0, {n_features - 1}]")
    # children: >= 0 an internal node, < 0 the leaf ~child; one tree reachable from node 0
    seen_nodes, seen_leaves, stack = {0}, set(), [0]
    while stack:
        node = stack.pop()
        for child in (arrays["left_child"][node], arrays["right_child"][node]):
            if child >= 0:
                if child >= L - 1 or child in seen_nodes:
                    raise ModelFileError(f"{where}: node {node} has child {child}, which is out "
                                         "of range or reached twice (not a tree)")
                seen_nodes.add(child)
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= L or leaf in seen_leaves:
                    raise ModelFileError(f"{where}: node {node} has leaf child {child}, which is "
                                         "out of range or reached twice (not a tree)")
                seen_leaves.add(leaf)
    if len(seen_nodes) != L - 1 or len(seen_leaves) != L:
        raise ModelFileError(f"{where}: {L - 1 - len(seen_nodes)} nodes and "
                             f"{L - len(seen_leaves)} leaves unreachable from the root")
    n_categorical = 0
    for node, dt in enumerate(arrays["decision_type"]):
        if not 0 <= dt <= 15 or (dt >> 2) & 3 == 3:
            raise ModelFileError(f"{where}: decision_type {dt} of node {node} is invalid")
        if dt & 1:
            n_categorical += 1
            t = arrays["threshold"][node]
            if t != int(t) or not 0 <= t < num_cat:
                raise ModelFileError(f"{where}: categorical node {node} has threshold {t}, "
                                     f"expected an index in [0, {num_cat - 1}]")
    if n_categorical != num_cat:
        raise ModelFileError(f"{where}: num_cat={num_cat} but {n_categorical} categorical splits")
    if num_cat:
        if set(kv) & _CAT_KEYS != _CAT_KEYS:
            raise ModelFileError(f"{where}: num_cat={num_cat} needs cat_boundaries and "
                                 "cat_threshold")
        bounds = _numbers(kv["cat_boundaries"], "int", f"{where} cat_boundaries")
        thresh = _numbers(kv["cat_threshold"], "int", f"{where} cat_threshold")
        if (len(bounds) != num_cat + 1 or bounds[0] != 0
                or any(b > a for a, b in zip(bounds[1:], bounds[:-1]))
                or bounds[-1] != len(thresh)):
            raise ModelFileError(f"{where}: cat_boundaries {bounds[:5]}... do not fit "
                                 f"num_cat={num_cat} and {len(thresh)} cat_threshold values")
    elif set(kv) & _CAT_KEYS:
        raise ModelFileError(f"{where}: categorical arrays without categorical splits")


def check_booster_text(path, *, n_features: int, n_classes: int) -> int:
    """Validate a LightGBM text model before LightGBM parses it.

    Parameters
    ----------
    path : str or Path
        The ``booster.txt`` file.
    n_features : int
        Number of input features the manifest records.
    n_classes : int
        Number of classes (trees per boosting round) the manifest records.

    Returns
    -------
    int
        Number of boosting rounds in the file.

    Raises
    ------
    ModelFileError
        Naming the file, the tree and the key that is wrong.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > _MAX_BYTES:
        raise ModelFileError(f"{path}: {size} bytes is too large for a model of this library")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{path}: not a LightGBM text model (not UTF-8 at byte "
                             f"{e.start})") from None
    if "\r" in text or "\x00" in text:
        raise ModelFileError(f"{path}: not a LightGBM text model (carriage return or NUL byte)")
    first_tree = text.find("\nTree=")
    end = text.find("\nend of trees\n")
    if not text.startswith("tree\n") or first_tree < 0 or end < first_tree:
        raise ModelFileError(f"{path}: not a complete LightGBM text model (expected 'tree', "
                             "'Tree=' blocks and 'end of trees'; truncated?)")
    header = [ln for ln in text[len("tree\n"):first_tree].split("\n") if ln != ""]
    kv = _key_values(header, f"{path}: header", _HEADER_KEYS)
    missing = _HEADER_KEYS - set(kv)
    if missing:
        raise ModelFileError(f"{path}: header lacks {sorted(missing)}")
    if kv["version"] not in ("v3", "v4"):
        raise ModelFileError(f"{path}: version {kv['version'][:20]!r} is not v3 or v4")
    n_class = _one_int(kv, "num_class", f"{path}: header", 1, 1 << 16)
    per_iter = _one_int(kv, "num_tree_per_iteration", f"{path}: header", 1, 1 << 16)
    if n_class != n_classes or per_iter != n_classes:
        raise ModelFileError(f"{path}: num_class={n_class}, num_tree_per_iteration={per_iter}; "
                             f"the manifest has {n_classes} classes")
    if _one_int(kv, "label_index", f"{path}: header", 0, 1 << 30) != 0:
        raise ModelFileError(f"{path}: label_index must be 0")
    max_idx = _one_int(kv, "max_feature_idx", f"{path}: header", 0, 1 << 30)
    names = kv["feature_names"].split(" ")
    infos = kv["feature_infos"].split(" ")
    if not (max_idx + 1 == len(names) == len(infos) == n_features):
        raise ModelFileError(f"{path}: max_feature_idx={max_idx}, {len(names)} feature_names, "
                             f"{len(infos)} feature_infos; the manifest has {n_features} "
                             "features")
    sizes = _numbers(kv["tree_sizes"], "int", f"{path}: tree_sizes")
    body = raw[raw.find(b"\nTree=") + 1: raw.find(b"\nend of trees\n") + 1]
    if any(s <= 0 for s in sizes) or sum(sizes) != len(body):
        raise ModelFileError(f"{path}: tree_sizes add up to {sum(sizes)} bytes, the trees take "
                             f"{len(body)}")
    if not sizes or len(sizes) % per_iter:
        raise ModelFileError(f"{path}: {len(sizes)} trees is not a positive multiple of "
                             f"num_tree_per_iteration={per_iter}")
    offset = 0
    for i, s in enumerate(sizes):
        block = body[offset: offset + s]
        offset += s
        if not block.endswith(b"\n\n"):
            raise ModelFileError(f"{path}: Tree={i} does not end where tree_sizes says")
        _check_tree(block.decode("utf-8"), i, n_features, path)
    tail = text[end + len("\nend of trees\n"):].split("\n")
    _check_tail(tail, path)
    return len(sizes) // per_iter


def _check_tail(lines: list[str], path) -> None:
    """What follows ``end of trees``: importances, parameters, ``pandas_categorical:null``."""
    lines = [ln for ln in lines if ln != ""]
    state = "start"
    for ln in lines:
        if state == "start" and ln == "feature_importances:":
            state = "importances"
        elif state == "importances" and re.fullmatch(r"[^=]+=\d+", ln):
            continue
        elif state in ("start", "importances") and ln == "parameters:":
            state = "parameters"
        elif state == "parameters" and re.fullmatch(r"\[[A-Za-z0-9_]+: .*\]", ln):
            continue
        elif state == "parameters" and ln == "end of parameters":
            state = "end"
        elif state in ("start", "importances", "end") and ln == "pandas_categorical:null":
            state = "done"
        else:
            raise ModelFileError(f"{path}: unexpected line {ln[:40]!r} after 'end of trees'")
    if state != "done":
        raise ModelFileError(f"{path}: incomplete after 'end of trees' (expected "
                             "'pandas_categorical:null' last; truncated?)")
