"""A leaf run directory that knows what it holds.

One training run writes one directory. Before anything is written into it,
`RunDirectory.open`:

* refuses an output path that is a file or cannot be written;
* takes an exclusive OS lock (`fcntl.flock` on `.lock`), so a second process
  aimed at the same folder fails at once, naming the holder's pid; the lock
  dies with its process, so a `kill -9` never leaves a stale lock;
* removes temporary files that a killed writer left behind;
* compares the stored *fingerprint* (every setting that changes the result)
  with the new one: a finished or interrupted run is reused or resumed only
  when they match, otherwise it refuses with one line naming the differing
  settings (`padding: zero -> reflect`);
* with `overwrite`, moves the old run's files (including `best.*` and the
  backup) into `.previous/` before anything new is written. They are deleted
  when the new run finishes, and put back if it fails before training wrote
  anything.

In a multi-worker run only the chief writes the run directory; every other
worker writes a private folder *beside* it (`.<name>.worker-<i>`), which the
chief's overwrite and cleanup never touch, and locks that folder instead.
"""

import fcntl
import json
import os
import pathlib
import shutil

from absl import logging

from keras_gpos.base.files import check_keras_file, read_json, remove_temporaries, write_json
from keras_gpos.training.distribution import is_chief, task

FINGERPRINT_FILE = "fingerprint.json"
PREVIOUS_DIR = ".previous"
# Where an --overwrite moves the old files one by one before renaming it to PREVIOUS_DIR.
STAGING_DIR = PREVIOUS_DIR + ".partial"
LOCK_FILE = ".lock"
# Files that only a finished (`run.json`) or started training leaves.
TRAINING_ARTIFACTS = ("best.keras", "best.json", "backup", "history.csv", "model.keras")


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked (mismatch, lock, unwritable path)."""


def describe_differences(old, new, prefix=""):
    """`["padding: zero -> reflect", ...]` for the keys whose values differ."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += describe_differences(a, b, prefix=f"{prefix}{key}.")
        elif _normal(a) != _normal(b):
            lines.append(f"{prefix}{key}: {_show(a)} -> {_show(b)}")
    return lines


def _normal(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _show(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "''"
    return repr(value) if isinstance(value, str) and not value else str(value)


def worker_path(run_dir):
    """Where this process writes: `run_dir` on the chief, else `.<name>.worker-<i>` beside it."""
    run_dir = pathlib.Path(run_dir)
    if is_chief():
        return run_dir
    kind, index = task()
    return run_dir.parent / f".{run_dir.name}.{kind}-{index}"


def check_output_path(path):
    """Refuses an output path that names a file or sits in an unwritable folder."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"output directory {path} exists and is a file, not a folder.")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirectoryError(f"cannot create {path}: {existing} is a file, not a folder.")
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise RunDirectoryError(f"cannot write into {existing}: Read-only file system; pick another --output_dir.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirectoryError(f"cannot write into {existing} (permission denied); pick another --output_dir.")
    return path


class RunDirectory:
    """One leaf run directory, locked for the lifetime of a `with` block.

    Args:
        path: the run's directory (the chief's; workers write beside it).
        experiment: str. The experiment name recorded in `run.json`.
        fingerprint: dict. Every setting that changes the result, and the
            data by source and size (never by path).
        overwrite: bool. Replace a finished or mismatching run.
        legacy_settings: function `config.json dict -> settings dict` used to
            compare runs written before fingerprints existed, or None.

    Attributes:
        path: the chief's directory. `work`: this process's folder.
        finished: bool. `run.json` exists (after `open`).
    """

    def __init__(self, path, experiment, fingerprint, overwrite=False, legacy_settings=None):
        self.path = pathlib.Path(path)
        self.experiment = experiment
        self.fingerprint = _normal(fingerprint)
        self.overwrite = bool(overwrite)
        self.legacy_settings = legacy_settings
        self.chief = is_chief()
        self.work = worker_path(self.path)
        self.finished = False
        self._lock_handle = None
        self._moved_aside = False

    # -- opening -------------------------------------------------------
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            self._on_failure()
        self.close()
        return False

    def open(self):
        check_output_path(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            return self._open_locked()
        except BaseException:
            self.close()
            raise

    def _open_locked(self):
        remove_temporaries(self.work)
        if not self.chief:
            if self.overwrite:
                # A worker's folder is private scratch: --overwrite starts it afresh too.
                self._clear_work()
            # Workers skip what the chief finished (a shared or the same file system);
            # under --overwrite the chief retrains, so they do too.
            self.finished = (self.path / "run.json").exists() and not self.overwrite
            return self
        self._roll_back_partial_move()
        previous = self.path / PREVIOUS_DIR
        stored = self._stored_fingerprint()
        has_run = stored is not None or any((self.path / name).exists() for name in TRAINING_ARTIFACTS)
        if self.overwrite and has_run:
            self._move_aside()
        elif has_run:
            self._check_matches(stored)
        elif previous.exists() and not self.overwrite:
            raise RunDirectoryError(
                f"{self.path} holds the files of an earlier run moved aside by --overwrite "
                f"({previous}); rerun with --overwrite to replace it, or delete {previous}."
            )
        self.finished = (self.path / "run.json").exists()
        if not self.finished:
            self._check_best_model()
        return self

    def _lock(self):
        lock_path = self.work / LOCK_FILE
        handle = open(lock_path, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunDirectoryError(
                f"{self.work} is in use by process {holder} (lock {lock_path}); wait for it to "
                "finish or pick another --output_dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def close(self):
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _stored_fingerprint(self):
        path = self.path / FINGERPRINT_FILE
        if path.exists():
            return read_json(path)
        config = self.path / "config.json"
        if config.exists() and self.legacy_settings is not None:
            # Runs written before fingerprints: compare what their config records.
            return {"settings": self.legacy_settings(read_json(config)), "legacy": True}
        return None

    def _check_matches(self, stored):
        if stored is None:
            raise RunDirectoryError(
                f"{self.path} holds training files but no {FINGERPRINT_FILE}, so it is unknown "
                "which settings produced them; rerun with --overwrite or pick another --output_dir."
            )
        old, new = dict(stored), dict(self.fingerprint)
        if stored.get("legacy"):
            old, new = {"settings": old["settings"]}, {"settings": new.get("settings", {})}
        differences = describe_differences(old, new)
        if differences:
            shown = "; ".join(differences[:6]) + ("; ..." if len(differences) > 6 else "")
            raise RunDirectoryError(
                f"{self.path} holds a run with other settings ({shown}); rerun with --overwrite "
                "to replace it, or pick another --output_dir."
            )

    def _clear_work(self):
        """Empties a worker's folder, all but its lock (held by this process)."""
        for entry in list(self.work.iterdir()):
            if entry.name != LOCK_FILE:
                _remove(entry)

    def _roll_back_partial_move(self):
        """Puts back the files of an `--overwrite` that was killed while moving them aside."""
        staging = self.path / STAGING_DIR
        if not staging.exists():
            return
        for entry in list(staging.iterdir()):
            target = self.path / entry.name
            if not target.exists():
                os.replace(entry, target)
        _remove(staging)
        logging.info("put back the files of an interrupted --overwrite in %s", self.path)

    def _move_aside(self):
        previous = self.path / PREVIOUS_DIR
        if previous.exists():
            # An earlier overwrite that failed after training had started:
            # `.previous` still holds the original run; drop the partial one.
            for entry in self.path.iterdir():
                if entry.name not in (PREVIOUS_DIR, LOCK_FILE):
                    _remove(entry)
        else:
            staging = self.path / STAGING_DIR
            staging.mkdir()
            for entry in list(self.path.iterdir()):
                if entry.name not in (LOCK_FILE, staging.name):
                    os.replace(entry, staging / entry.name)
            os.replace(staging, previous)
        self._moved_aside = True
        logging.info("--overwrite: moved the previous run in %s aside to %s", self.path, previous)

    def _check_best_model(self):
        best = self.work / "best.keras"
        if best.exists():
            try:
                check_keras_file(best)
            except ValueError as error:
                raise RunDirectoryError(
                    f"{error} Delete {best} (and {best.with_suffix('.json')}) to resume without it."
                ) from error

    # -- writing -------------------------------------------------------
    def write_start(self, config_dict):
        """Records the config and fingerprint as training starts (chief only)."""
        if not self.chief:
            return
        write_json(self.path / "config.json", config_dict)
        write_json(self.path / FINGERPRINT_FILE, self.fingerprint)

    def summary(self):
        return read_json(self.path / "run.json")

    def started_training(self):
        work = self.work
        return (work / "backup" / "training_metadata.json").exists() or (work / "best.keras").exists()

    def _on_failure(self):
        """Puts the moved-aside run back when the new one wrote nothing of its own."""
        if not (self.chief and self._moved_aside) or self.started_training():
            return
        previous = self.path / PREVIOUS_DIR
        if not previous.exists():
            return
        for entry in list(self.path.iterdir()):
            if entry.name not in (PREVIOUS_DIR, LOCK_FILE):
                _remove(entry)
        for entry in list(previous.iterdir()):
            os.replace(entry, self.path / entry.name)
        previous.rmdir()
        logging.info("the new run failed before training; restored the previous run in %s", self.path)

    def cleanup(self):
        """After the final files are written and verified: drop backup, moved-aside run, worker folder."""
        _remove(self.work / "backup")
        if self.chief:
            _remove(self.path / PREVIOUS_DIR)
        else:
            # Delete the folder's contents while still holding its lock, then the lock itself.
            self._clear_work()
            self.close()
            _remove(self.work)


def _remove(path):
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
