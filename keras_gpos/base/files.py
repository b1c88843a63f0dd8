"""Atomic files: results, models and exports that a kill can never leave half written.

Every writer puts its bytes under a temporary name in the target folder and
renames it over the target only when complete, so a reader sees the old file
or the new one, never a torn one. On any failure (a full disk, a read-only
folder) the temporary file is removed and an `OSError` naming the target path
propagates; nothing half written stays behind.

Readers turn a corrupt or foreign file into a `ValueError` that names it.
"""

import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import zipfile

# Files a crashed writer may leave; cleaned up by `remove_temporaries`.
TEMPORARY_MARKER = ".tmp"


def _plain_file_mode():
    """The mode `open(path, "w")` would give a new file: 0o666 less the umask."""
    try:  # Linux: read the umask without changing it (os.umask is process-wide, racy in threads)
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def _named(error, path):
    """An `OSError` that names `path` (the bare one may name only a temp file)."""
    if isinstance(error, OSError) and error.filename != str(path):
        return type(error)(error.errno, error.strerror or str(error), str(path))
    return error


def write_bytes(path, payload):
    """Writes `payload` to `path` atomically (temporary file, fsync, rename)."""
    path = pathlib.Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_MARKER, dir=path.parent)
        # mkstemp makes the file owner-only (0600); a results file must be as
        # readable as any other file the user writes (shared results folders).
        os.chmod(tmp, _plain_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            pathlib.Path(tmp).unlink(missing_ok=True)
        raise _named(error, path) from error
    except BaseException:
        if tmp is not None:
            pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, payload):
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read_json(path):
    """Reads a JSON file; a corrupt or unreadable file is an error naming it."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a JSON file.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); it may be corrupted.") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not a text JSON file ({error}).") from error


_TYPE_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "an object",
               list: "a list", type(None): "null"}


def _type_name(kinds):
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if set(kinds) >= {int, float}:
        kinds = ("a number",) + tuple(k for k in kinds if k not in (int, float))
    return " or ".join(k if isinstance(k, str) else _TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _has_type(value, kinds):
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def read_record(path, what, required=None, optional=None):
    """A JSON object read from `path`, its structure checked: the one reader of sidecar files.

    Args:
        path: the file.
        what: str. What the file is, for the error ("best-model sidecar").
        required: `{key: type or tuple of types}` the object must hold
            (`(int, float)` is a number; `bool` is never an int).
        optional: `{key: types}` checked only where present.

    Raises:
        ValueError: a missing, corrupt or non-JSON file, or one whose structure
            differs, in one line naming the file and what was expected.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"{what} {path} does not exist.")
    record = read_json(path)
    required, optional = dict(required or {}), dict(optional or {})
    expected = ", ".join(f"{key!r} ({_type_name(kind)})" for key, kind in required.items())
    expected = f"a JSON object with {expected}" if expected else "a JSON object"
    if not isinstance(record, dict):
        problem = f"it holds {_type_name(type(record))}"
    else:
        missing = [key for key in required if key not in record]
        wrong = [f"{key!r} is {_type_name(type(record[key]))}" for key, kind in {**optional, **required}.items()
                 if key in record and not _has_type(record[key], kind)]
        problem = (f"it lacks {', '.join(repr(key) for key in missing)}" if missing
                   else "; ".join(wrong) if wrong else None)
        if problem is None:
            return record
    raise ValueError(f"{path} is not a valid {what}: expected {expected}; {problem}.")


def _atomic_with(path, write, tmp_name=None):
    """Runs `write(tmp_path)` then renames tmp over `path`; cleans up on failure.

    `tmp_name` overrides the temporary file's name (for writers that insist on a suffix).
    """
    path = pathlib.Path(path)
    tmp = path.with_name(tmp_name or f".{path.stem}{TEMPORARY_MARKER}{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise _named(error, path) from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_keras_model(model, path):
    """`model.save` to a temporary `.keras` file, then rename over `path`."""
    return _atomic_with(path, lambda tmp: model.save(tmp))


def save_weights(model, path):
    """`model.save_weights` (a `.weights.h5` file) written atomically."""
    path = pathlib.Path(path)
    tmp_name = f".{path.name[:-len('.weights.h5')]}{TEMPORARY_MARKER}.weights.h5"
    return _atomic_with(path, lambda tmp: model.save_weights(str(tmp), overwrite=True), tmp_name)


def replace_dir(tmp_dir, final_dir):
    """Moves a finished directory into place, replacing an older one."""
    final_dir = pathlib.Path(final_dir)
    if final_dir.exists():
        old = final_dir.with_name(f".{final_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final_dir, old)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)


def is_temporary_of(name, targets):
    """Whether the folder entry `name` is a temporary file of one of `targets` (names beside it).

    `write_bytes` writes `.<name>.<random>.tmp`, `save_keras_model` and
    `save_weights` `.<stem>.tmp<suffix>`, the SavedModel export `.<name>.tmp`
    and `replace_dir` `.<name>.old`.
    """
    if not name.startswith(".") or (TEMPORARY_MARKER not in name and not name.endswith(".old")):
        return False
    body = name[1:]
    for target in targets:
        target = str(target)
        path = pathlib.PurePath(target)
        if body == f"{target}.old" or body == f"{path.stem}{TEMPORARY_MARKER}{path.suffix}":
            return True
        if target.endswith(".weights.h5") and body == f"{target[:-len('.weights.h5')]}{TEMPORARY_MARKER}.weights.h5":
            return True
        if body.startswith(f"{target}.") and TEMPORARY_MARKER in body[len(target):]:
            return True
    return False


def remove_temporaries(folder, targets):
    """Deletes the temporary files a killed writer left in `folder` for the names in `targets`.

    Only temporaries of `targets` (the files a run knows it writes) go:
    `.tmp/`, `.tmp_cache/` or `.notes.tmp.txt` of anyone else stay.

    Returns:
        The removed paths.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    targets = set(targets)
    removed = []
    for path in folder.iterdir():
        if is_temporary_of(path.name, targets):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_keras_file(path):
    """Checks that `path` looks like a `.keras` archive, with a message that says why not.

    Keras answers a truncated or foreign file with "File not found" even when
    the path exists; this names the real problem before Keras is asked.

    Raises:
        ValueError: a missing path, a directory, an empty file, or a file that
            is not a complete zip archive holding a Keras config.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"model file {path} does not exist.")
    if path.is_dir():
        raise ValueError(f"model path {path} is a directory; expected a .keras file.")
    if path.suffix != ".keras":
        raise ValueError(f"model file {path} does not end in .keras; expected a Keras 3 .keras file.")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"model file {path} is empty (0 bytes); it was not written completely.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"model file {path} ({size} bytes) is not a complete .keras archive ({error}); "
            "it is truncated, corrupted or not a Keras model."
        ) from error
    if "config.json" not in names:
        raise ValueError(f"model file {path} is a zip archive but holds no Keras config.json.")
    return path


def load_keras_model(path, custom_objects=None):
    """`keras.saving.load_model` (safe mode) with errors that name the file and the cause."""
    import keras

    check_keras_file(path)
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        import re

        text = " ".join(str(error).split())
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        if missing:
            raise ValueError(
                f"cannot load the model file {path}: it uses {missing.group(1)!r}, which is not "
                "registered in this process; import the module that defines it (decorated with "
                "keras.saving.register_keras_serializable) before loading."
            ) from error
        if len(text) > 400:
            text = text[:400] + " ..."
        raise ValueError(f"cannot load the model file {path}: {text}") from error


def file_digest(path):
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex string)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

__all__ = [
    "TEMPORARY_MARKER", "write_bytes", "write_text", "write_json", "read_json", "read_record", "save_keras_model",
    "save_weights", "replace_dir", "is_temporary_of", "remove_temporaries", "check_keras_file", "load_keras_model",
    "file_digest"
]
