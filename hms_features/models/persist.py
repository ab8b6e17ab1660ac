"""Saving and loading models without pickle: JSON manifests, LightGBM text models, ``.npz``.

A saved model is a directory holding ``manifest.json`` and the files it lists. The manifest is
plain JSON::

    {"format": "hms_features.model", "format_version": 1, "kind": "SoftLabelLGBMClassifier",
     "library_version": "0.1.0", "classes": ["seizure", ...], "feature_names": [...],
     "params": {...}, "files": {"booster.txt": "<sha256>"}, ...}

Loading reads JSON, LightGBM's own text format (``lightgbm.Booster(model_file=...)``) and
``numpy.load(..., allow_pickle=False)``; it never unpickles or imports anything named in a
file: the ``kind`` is looked up in one allow-list, the registry that classes join with the
:func:`register_kind` decorator when their module is imported (the library's estimators, and any
of yours). Every listed file is checked against its SHA-256 so a half-written or swapped file is
reported, not silently used.

A model folder is untrusted input:

- each kind names the files it needs (``read_manifest(..., required=...)``): a manifest whose
  ``files`` omit one (or are emptied) is refused, so editing it cannot switch checks off;
- a name in a manifest is a relative path of plain components inside the folder, with no
  symbolic link on the way (:func:`model_file`); anything else is refused before it is opened,
  so no message tells anything about a file outside the folder;
- a LightGBM booster is validated in Python before LightGBM parses it
  (:mod:`hms_features.models._booster_check`), so a damaged file is a :class:`ModelFileError`,
  never a native crash;
- a save removes the old manifest first and writes the new one last (:func:`begin_save`), so a
  save that fails half-way leaves a folder :func:`load` refuses.

This module imports no estimator: the estimators import it (to register and to write their
manifests), so persistence and the models form no import circle.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from .._version import __version__
from ..metrics import CLASSES

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FeatureMismatchError",
    "MANIFEST",
    "ModelFileError",
    "begin_save",
    "check_feature_names",
    "check_preprocessing",
    "load",
    "model_file",
    "read_manifest",
    "register_kind",
    "registered_class",
    "registered_subclasses",
    "require_files",
    "save",
    "write_manifest",
]

#: Value of the manifest's ``format`` key.
FORMAT = "hms_features.model"
#: Version of the on-disk layout; bumped on incompatible changes.
FORMAT_VERSION = 1
#: File name of the manifest inside a model directory.
MANIFEST = "manifest.json"


class ModelFileError(ValueError):
    """A saved model directory is missing, incomplete, tampered with or of another kind."""


class FeatureMismatchError(ValueError):
    """The columns given to a model are not the ones it was fitted on (bad input, not a bug)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_safe(value, where: str):
    """Check that ``value`` survives a JSON round trip unchanged (plain numbers, str, lists...).

    Tuples are returned as lists; anything else that JSON cannot hold exactly (objects, numpy
    scalars, NaN) raises :class:`ModelFileError` naming ``where``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelFileError(f"{where}: {value!r} cannot be stored in JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ModelFileError(f"{where}: key {k!r} is not a string")
            out[k] = json_safe(v, f"{where}.{k}")
        return out
    raise ModelFileError(
        f"{where}: {type(value).__name__} value {value!r} cannot be saved without pickle; "
        "use plain numbers, strings, lists or dicts (e.g. an int random_state)"
    )


def model_file(directory, name, what: str = "file") -> Path:
    """``directory / name`` for a file or folder named in a manifest, refused unless it stays
    inside ``directory``.

    ``name`` must be a relative POSIX path of plain components (no ``..``, ``.``, empty part,
    backslash or drive) and no component below ``directory`` may be a symbolic link. Nothing is
    opened: a name that points outside the folder is refused before any I/O, so the message
    cannot tell anything about the file it names.

    Raises
    ------
    ModelFileError
        Naming the manifest entry and the rule it breaks.
    """
    directory = Path(directory)
    where = directory / MANIFEST
    if not isinstance(name, str) or not name:
        raise ModelFileError(f"{where}: {what} name {name!r} is not a relative file name")
    parts = name.split("/")
    if (name.startswith("/") or "\\" in name or ":" in name or "\x00" in name
            or any(part in ("", ".", "..") for part in parts)):
        raise ModelFileError(f"{where}: {what} {name!r} is outside the model folder (only "
                             "relative names inside it are allowed; not opened)")
    path = directory
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ModelFileError(f"{path}: is a symbolic link; model files must be plain files "
                                 "inside the model folder (not followed)")
    return path


def begin_save(directory) -> Path:
    """Create ``directory`` for a save and remove its manifest first, so that a save that fails
    half-way leaves a folder :func:`read_manifest` refuses (the manifest is written last)."""
    directory = Path(directory)
    if directory.is_symlink():
        raise ModelFileError(f"{directory}: is a symbolic link; save into a plain folder")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)
    return directory


def write_manifest(directory, kind: str, payload: dict, files=()) -> Path:
    """Write ``manifest.json`` into ``directory`` (created if needed).

    Parameters
    ----------
    directory : str or Path
        Model directory.
    kind : str
        Class name recorded for :func:`load` (one of the allow-listed kinds).
    payload : dict
        JSON-serialisable content (feature names, params, learned constants...).
    files : iterable of str
        Names, relative to ``directory``, of the files already written for this model; their
        SHA-256 is recorded and checked on load.

    Returns
    -------
    Path
        The manifest's path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for name in files:
        path = model_file(directory, str(name))
        if not path.is_file():
            raise ModelFileError(f"{path}: expected a saved model file, found none")
        checksums[str(name)] = _sha256(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "library_version": __version__,
        "classes": list(CLASSES),
        **json_safe(payload, f"{kind} manifest"),
        "files": checksums,
    }
    target = directory / MANIFEST
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, target)  # never leave a half-written manifest behind
    return target


#: Largest manifest read (bytes): a manifest holds names and a few numbers.
_MAX_MANIFEST_BYTES = 64 << 20


def read_manifest(directory, kind=None, required=()) -> dict:
    """Read and validate ``directory/manifest.json``.

    Checks: valid JSON object, ``format`` and ``format_version``, ``kind`` (when given; a str
    or tuple of accepted kinds), the class order equals :data:`~hms_features.metrics.CLASSES`,
    every listed file is a plain file inside ``directory`` (:func:`model_file`) with the
    recorded SHA-256, and every name in ``required`` is listed.

    Parameters
    ----------
    directory : str or Path
    kind : str or tuple of str, optional
    required : iterable of str
        The files this kind of model needs (known by the code, not the manifest): each must be
        listed with its checksum, so emptying ``files`` cannot switch verification off.

    Raises
    ------
    ModelFileError
        Naming the file and what was wrong.
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if path.is_symlink():
        raise ModelFileError(f"{path}: is a symbolic link (not followed)")
    if not path.is_file():
        raise ModelFileError(f"{path}: no model manifest (expected a directory written by save())")
    if path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise ModelFileError(f"{path}: larger than {_MAX_MANIFEST_BYTES >> 20} MiB, not a "
                             "model manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({str(e).splitlines()[0][:80]})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: 'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this library reads version {FORMAT_VERSION})"
        )
    if kind is not None:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        if manifest.get("kind") not in kinds:
            raise ModelFileError(
                f"{path}: holds a {manifest.get('kind')!r}, expected {' or '.join(kinds)}"
            )
    if manifest.get("classes") != list(CLASSES):
        raise ModelFileError(
            f"{path}: classes {manifest.get('classes')!r} differ from the library's class order "
            f"{list(CLASSES)}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ModelFileError(f"{path}: 'files' must map file names to SHA-256 checksums")
    for name, digest in files.items():
        fpath = model_file(directory, name)  # refused before any I/O when outside the folder
        if not fpath.is_file():
            raise ModelFileError(f"{fpath}: listed in {path.name} but missing")
        if not isinstance(digest, str) or _sha256(fpath) != digest:
            raise ModelFileError(
                f"{fpath}: SHA-256 differs from the one recorded in {path.name} "
                "(file changed or corrupted after saving)"
            )
    require_files(manifest, required, directory)
    return manifest


def require_files(manifest: dict, names, directory) -> None:
    """Raise :class:`ModelFileError` unless every name in ``names`` is listed (with its checksum,
    verified by :func:`read_manifest`) in the manifest's ``files``."""
    files = manifest.get("files") or {}
    for name in names:
        if name not in files:
            raise ModelFileError(f"{Path(directory) / MANIFEST}: does not record the checksum of "
                                 f"{name!r}, a file this {manifest.get('kind')} needs (manifest "
                                 "edited?)")


def manifest_field(manifest: dict, key: str, directory, types):
    """Return ``manifest[key]`` checking its JSON type; a clear error when absent or wrong."""
    if key not in manifest:
        raise ModelFileError(f"{Path(directory) / MANIFEST}: missing key {key!r}")
    value = manifest[key]
    if not isinstance(value, types):
        raise ModelFileError(
            f"{Path(directory) / MANIFEST}: {key!r} has type {type(value).__name__}"
        )
    return value


def check_feature_names(expected, given, where: str) -> None:
    """Raise :class:`FeatureMismatchError` (a ``ValueError``) unless ``given`` holds exactly
    the names in ``expected``.

    The message is one line: both counts and (up to 5 of) the missing and unexpected names.
    """
    expected = [str(c) for c in expected]
    given = [str(c) for c in given]
    if expected == given:
        return
    have, want = set(given), set(expected)
    missing = [c for c in expected if c not in have]
    extra = [c for c in given if c not in want]
    if not missing and not extra:
        if len(set(given)) != len(given):
            dup = sorted({c for c in given if given.count(c) > 1})[:5]
            raise FeatureMismatchError(f"{where}: duplicated feature names {dup}")
        return  # same names, other order: callers reorder by name
    raise FeatureMismatchError(
        f"{where}: feature names differ from those the model was fitted with: "
        f"{len(missing)} missing (e.g. {missing[:5]}), {len(extra)} unexpected (e.g. {extra[:5]}); "
        f"expected {len(expected)} features, got {len(given)}"
    )


def check_preprocessing(expected: dict, given: dict, where: str) -> None:
    """Raise :class:`FeatureMismatchError` (a ``ValueError``) unless a feature table was built
    with the preprocessing parameters a model was fitted on.

    Parameters
    ----------
    expected, given : dict
        Parameter name -> value (``clip_uv`` µV, ``l_freq`` / ``h_freq`` / ``notch`` Hz, ...) of
        the model and of the table (:func:`hms_features.models.pipeline.preprocess_spec`).
    where : str
        What is checked, for the message.

    The message is one line naming every parameter that differs with both values, e.g.
    ``feature table: built with clip_uv=500.0, the model was fitted on clip_uv=1024.0 (...)``.
    """
    diff = [k for k in sorted(set(expected) | set(given)) if expected.get(k) != given.get(k)]
    if not diff:
        return
    built = ", ".join(f"{k}={given.get(k)!r}" for k in diff)
    fitted = ", ".join(f"{k}={expected.get(k)!r}" for k in diff)
    raise FeatureMismatchError(
        f"{where}: built with {built}, the model was fitted on {fitted} (rebuild the features "
        "with the model's preprocessing: --clip-uv, or preprocess_kwargs in Python)")


#: The one allow-list of loadable kinds: kind -> class (from the decorator) or loader callable.
#: Filled by code when modules are imported, never by a file.
_KINDS: dict = {}


def register_kind(kind, loader=None):
    """Allow :func:`load` (and pipeline loading) to rebuild a kind of model; a class decorator.

    A saved file can only name a kind, never a class or module, so code has to register what
    may be loaded. Two forms::

        @register_kind                  # kind = the class name
        class MyEmbedder(TransformerMixin, BaseEstimator):
            def save(self, directory): ...
            @classmethod
            def load(cls, directory): ...

        register_kind("MyEmbedder", MyEmbedder.load)   # kind and loader given explicitly

    A decorated class with ``save``/``load`` is saved in a directory of its own; one without
    them (a parameter-only transformer such as the feature extractor) is saved by the pipeline
    as its JSON parameters and rebuilt with ``cls(**params)``.

    Parameters
    ----------
    kind : type or str
        The class to register under its name, or a kind name.
    loader : callable, optional
        With a kind name: ``loader(directory)`` returning the model.

    Returns
    -------
    The class (decorator form) or None.

    Raises
    ------
    ValueError
        When ``kind`` is registered already with another class or loader (a kind is never
        silently taken over).
    """
    if isinstance(kind, type) and loader is None:
        entry, name = kind, kind.__name__
    elif isinstance(kind, str) and callable(loader):
        entry, name = loader, kind
    else:
        raise TypeError("register_kind(cls) as a class decorator, or register_kind(kind: str, "
                        "loader: callable)")
    if name in _KINDS and _KINDS[name] != entry:
        raise ValueError(f"register_kind: kind {name!r} is registered already "
                         f"({_KINDS[name]!r})")
    _KINDS[name] = entry
    return kind if isinstance(kind, type) else None


def _unknown(kind, directory, what="model kind") -> ModelFileError:
    return ModelFileError(f"{Path(directory) / MANIFEST}: unknown {what} {kind!r}; expected one "
                          f"of {sorted(_KINDS)}")


def registered_class(kind, directory) -> type:
    """The class registered as ``kind`` (for steps saved as parameters); :class:`ModelFileError`
    if there is none."""
    entry = _KINDS.get(kind) if isinstance(kind, str) else None
    if not isinstance(entry, type):
        raise _unknown(kind, directory, "parameter-only step")
    return entry


def registered_subclasses(base: type) -> dict:
    """Registered classes that are ``base`` or derive from it, by kind (e.g. the numpy
    embedders for their shared ``load``)."""
    return {k: c for k, c in _KINDS.items() if isinstance(c, type) and issubclass(c, base)}


def loader_for(kind, directory):
    """The registered loader of ``kind``; :class:`ModelFileError` if there is none."""
    entry = _KINDS.get(kind) if isinstance(kind, str) else None
    if isinstance(entry, type):
        entry = getattr(entry, "load", None)
    if entry is None:
        raise _unknown(kind, directory)
    return entry


def save(model, directory) -> Path:
    """Save a fitted library model (anything with a ``save(directory)`` method) to a directory."""
    if not hasattr(model, "save"):
        raise TypeError(
            f"{type(model).__name__} has no save(); build models with "
            "hms_features.models.make_hms_pipeline or SoftLabelLGBMClassifier"
        )
    model.save(directory)
    return Path(directory)


def load(directory):
    """Load any model saved by this library, dispatching on the manifest's ``kind``.

    Raises
    ------
    ModelFileError
        When the directory holds no valid manifest or a kind this library does not know.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    return loader_for(manifest.get("kind"), directory)(directory)
