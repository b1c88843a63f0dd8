"""A leaf run directory that knows what it holds, and touches only what it wrote.

One training run writes one directory. Before anything is written into it,
`RunDirectory.open`:

* refuses an output path that is a file, a dangling link or cannot be written;
* refuses a folder that holds other runs or files keras_gpos did not write,
  naming them (`--overwrite` never deletes them either);
* takes an exclusive OS lock (`fcntl.flock` on `.lock`), so a second process
  aimed at the same folder fails at once, naming the holder's pid; the lock
  dies with its process, so a `kill -9` never leaves a stale lock;
* compares the stored *fingerprint* (every setting that changes the result,
  the Keras backend, and the data as read: a digest of the decoded arrays)
  with the new one: a finished or interrupted run is reused or resumed only
  when they match, otherwise it refuses with one line naming the differing
  settings (`padding: zero -> reflect`);
* removes the temporary files that a killed writer left of the run's own files;
* with `overwrite`, moves a finished run, or one with other settings, into
  `.previous/` before anything new is written. It is deleted when the new
  run finishes, and put back if it fails before training wrote anything.
  An unfinished run with the same settings is resumed, with or without
  `overwrite`: it is the interrupted run of the same command.

The run's files are listed in `manifest.json` before they are written; the
overwrite, the temporary-file cleanup and the resume act on those names only.
Runs of keras_gpos 0.1 and 0.2 kept no manifest: their files are the names
those versions wrote (`LEGACY_ENTRIES`). Their fingerprint identified the data
by size only, so a finished one is reused when every setting and size it
recorded matches (with a warning), an unfinished one is not resumed (the
data it saw cannot be checked; `--overwrite` trains it again).

In a multi-worker run only the chief writes the run directory; every other
worker writes a private folder *beside* it (`.<name>.worker-<i>`), which the
chief's overwrite and cleanup never touch, and locks that folder instead.
"""

import fcntl
import os
import pathlib
import shutil

from absl import logging

from keras_gpos.base.files import check_keras_file, is_temporary_of, read_record, remove_temporaries, write_json
from keras_gpos.base.records import describe_differences, normal, short_digests
from keras_gpos.base.schema import FINGERPRINT_FILE, FINGERPRINT_FORMAT, read_fingerprint
from keras_gpos.training.distribution import is_chief, task

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
PREVIOUS_DIR = ".previous"
# Where an --overwrite moves the old files one by one before renaming it to PREVIOUS_DIR.
STAGING_DIR = PREVIOUS_DIR + ".partial"
LOCK_FILE = ".lock"
# The directory's own bookkeeping.
BOOKKEEPING = (LOCK_FILE, MANIFEST_FILE, PREVIOUS_DIR, STAGING_DIR)
# What the lifecycle (`fit_run`, `finish_run`) writes into a run directory.
LIFECYCLE_ENTRIES = ("config.json", FINGERPRINT_FILE, "best.keras", "best.json", "backup", "history.csv", "logs",
                     "audit", "model.keras", "saved_model", "run.json")
# What keras_gpos 0.1 and 0.2 wrote into a run directory (they kept no manifest).
LEGACY_ENTRIES = LIFECYCLE_ENTRIES + ("training.json", "ranking.json", "ranking.png", "results.json", "results.md",
                                      "attack_curves.png")
# Files that only a finished (`run.json`) or started training leaves.
TRAINING_ARTIFACTS = ("best.keras", "best.json", "backup", "history.csv", "model.keras")
# A report's files; a suite folder holds them beside its runs/ (see `check_report_folder`).
REPORT_FILES = ("results.json", "results.md", "results.png", "step_time.json")
SUITE_RUNS = "runs"
# The audits of a suite's runs (`channel_position --audit`), one file per run, beside its runs/.
SUITE_AUDITS = "audit"
# Files that make a folder a run directory (a bare `.lock` does not: other tools write one too).
RUN_MARKERS = (MANIFEST_FILE, FINGERPRINT_FILE, "run.json")


class RunDirectoryError(ValueError):
    """The run directory cannot be used as asked (mismatch, lock, unwritable path, foreign files)."""


def worker_path(run_dir):
    """Where this process writes: `run_dir` on the chief, else `.<name>.worker-<i>` beside it."""
    run_dir = pathlib.Path(run_dir)
    if is_chief():
        return run_dir
    kind, index = task()
    return run_dir.parent / f".{run_dir.name}.{kind}-{index}"


def check_output_path(path):
    """Refuses an output path that names a file or a dangling link, or sits in an unwritable folder."""
    path = pathlib.Path(path)
    if path.is_symlink() and not path.exists():
        raise RunDirectoryError(f"output directory {path} is a symbolic link to {os.readlink(path)}, which does not "
                                "exist; create its target or pick another --output_dir.")
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"output directory {path} exists and is a file, not a folder.")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise RunDirectoryError(f"cannot create {path}: {existing} is a symbolic link to {os.readlink(existing)}, "
                                    "which does not exist.")
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


def make_fingerprint(fingerprint):
    """A fingerprint as stored: the experiment's `{"settings", "data"}` plus the format and the Keras backend."""
    import keras

    return normal({**fingerprint, "format": FINGERPRINT_FORMAT, "keras_backend": keras.config.backend()})


def read_manifest(folder):
    """The entry names a run's `manifest.json` lists, or None without one."""
    path = pathlib.Path(folder) / MANIFEST_FILE
    if not path.exists():
        return None
    record = read_record(path, "run manifest", {"format": int, "entries": list})
    entries = record["entries"]
    bad = [e for e in entries if not isinstance(e, str) or not e or e in (".", "..") or "/" in e]
    if bad:
        raise ValueError(f"{path} is not a valid run manifest: expected 'entries' to list file names in "
                         f"the run's folder; got {bad[:3]}.")
    return entries


def _is_legacy_run(folder):
    """A folder that keras_gpos 0.1/0.2 trained into: a fingerprint, or a config.json it wrote."""
    folder = pathlib.Path(folder)
    if (folder / FINGERPRINT_FILE).is_file():
        return True
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        record = read_record(config, "run config")
    except ValueError:
        return False
    return {"output_dir", "seed"} <= set(record)


def owned_entries(folder):
    """The names in `folder` that belong to the run in it: its manifest, or what 0.1/0.2 wrote."""
    entries = read_manifest(folder)
    if entries is None:
        entries = LEGACY_ENTRIES if _is_legacy_run(folder) else ()
    return set(entries) | set(BOOKKEEPING)


def _holds_a_run(path):
    return path.is_dir() and not path.is_symlink() and any((path / name).exists() for name in RUN_MARKERS)


def foreign_entries(folder, owned):
    """`(other runs, unknown files)`: the entries of `folder` that are not the run's (nor its temporaries)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return [], []
    others, unknown = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name in owned or is_temporary_of(entry.name, owned):
            continue
        (others if _holds_a_run(entry) else unknown).append(entry.name)
    return others, unknown


def _refusal(folder, others, unknown, what):
    parts = []
    if others:
        parts.append(f"other runs ({', '.join(others[:5])}{', ...' if len(others) > 5 else ''})")
    if unknown:
        parts.append(f"files keras_gpos did not write there ({', '.join(unknown[:5])}"
                     f"{f', ... ({len(unknown)} in all)' if len(unknown) > 5 else ''})")
    return RunDirectoryError(f"{folder} holds {' and '.join(parts)}; {what}")


def lock_holder(folder):
    """The pid (as written) of the process that holds `folder`'s run lock, or None when it is free."""
    lock_path = pathlib.Path(folder) / LOCK_FILE
    if not lock_path.is_file():
        return None
    with open(lock_path) as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "another process"
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def check_report_folder(path, runs=()):
    """Refuses a folder for a report (results.json/.md/.png) that could lose someone's files.

    A report goes into a new or empty folder, a folder that holds only an
    earlier report, or a suite folder: its report beside its `runs/` and
    `audit/` (where `train.py` writes a suite's report and `evaluate.py` may
    rewrite it).
    Never into a run directory, one of the runs it reports, a folder inside
    one, or a folder a running process holds locked.

    Raises:
        RunDirectoryError: naming the folder and why.
    """
    path = check_output_path(path)
    resolved = path.resolve()
    for run in runs:
        run = pathlib.Path(run).resolve()
        if resolved == run or run in resolved.parents:
            raise RunDirectoryError(f"--output_dir {path} is {'one of' if resolved == run else 'inside one of'} the "
                                    "--runs; the report would overwrite that run's files: pick a folder of its own.")
    holder = lock_holder(resolved)
    if holder is not None:
        raise RunDirectoryError(f"{path} is in use by process {holder} (a run is training there); "
                                "write the report into a folder of its own.")
    for folder in (resolved, *resolved.parents):
        if _holds_a_run(folder):
            raise RunDirectoryError(f"{path} is {'' if folder == resolved else 'inside '}the run directory {folder}; "
                                    "write the report into a folder of its own.")
    if not path.exists():
        return path
    allowed = set(REPORT_FILES) | {SUITE_RUNS, SUITE_AUDITS}
    others, unknown = foreign_entries(path, allowed)
    if others or unknown:
        raise _refusal(path, others, unknown, "a report goes into an empty folder, an earlier report's "
                       "folder or a suite folder (runs/ and its report): pick another --output_dir.")
    return path


class RunDirectory:
    """One leaf run directory, locked for the lifetime of a `with` block.

    Args:
        path: the run's directory (the chief's; workers write beside it).
        experiment: str. The experiment name recorded in `run.json`.
        fingerprint: dict. `{"settings": every setting that changes the
            result, "data": the data as read}` (`make_fingerprint` adds the
            format and the Keras backend).
        overwrite: bool. Replace a finished run, or one with other settings.
        legacy_settings: function `config.json dict -> settings dict` used to
            compare runs written before fingerprints existed, or None.
        extra_entries: names the experiment writes into the run directory
            besides the lifecycle's (`LIFECYCLE_ENTRIES`); they go into the
            manifest too.

    Attributes:
        path: the chief's directory. `work`: this process's folder.
        finished: bool. `run.json` exists (after `open`).
    """

    def __init__(self, path, experiment, fingerprint, overwrite=False, legacy_settings=None, extra_entries=()):
        self.path = pathlib.Path(path)
        self.experiment = experiment
        self.fingerprint = make_fingerprint(fingerprint)
        self.overwrite = bool(overwrite)
        self.legacy_settings = legacy_settings
        self.entries = tuple(dict.fromkeys((*LIFECYCLE_ENTRIES, *extra_entries)))
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
        if self.chief:
            self._check_foreign()  # before the lock file: a refused folder gets nothing new
        self.work.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            return self._open_locked()
        except BaseException:
            self.close()
            raise

    def _check_foreign(self):
        others, unknown = foreign_entries(self.path, owned_entries(self.path))
        if others or unknown:
            raise _refusal(self.path, others, unknown,
                           "a run needs a folder of its own (--overwrite never deletes what keras_gpos did not "
                           "write): move them or pick another --output_dir.")

    def _open_locked(self):
        if not self.chief:
            remove_temporaries(self.work, self.entries)
            if self.overwrite:
                # A worker's folder is private scratch: --overwrite starts it afresh too.
                self._clear_work()
            # Workers skip what the chief finished (a shared or the same file system);
            # under --overwrite the chief retrains, so they do too.
            self.finished = (self.path / "run.json").exists() and not self.overwrite
            return self
        self._check_foreign()
        self._roll_back_partial_move()
        previous = self.path / PREVIOUS_DIR
        stored = self._stored_fingerprint()
        finished = (self.path / "run.json").exists()
        has_run = stored is not None or any((self.path / name).exists() for name in TRAINING_ARTIFACTS)
        if has_run:
            differences = self._differences(stored)
            legacy = stored is not None and "format" not in stored
            same = stored is not None and not differences and not legacy
            if self.overwrite and not (same and (not finished or previous.exists())):
                self._move_aside()
                finished = False
            else:
                if self.overwrite:
                    # The interrupted run of this same --overwrite command: carry on with it.
                    self._moved_aside = previous.exists()
                    logging.info("%s holds the %s run of these settings (this command, interrupted); carrying "
                                 "on with it", self.path, "finished" if finished else "unfinished")
                else:
                    self._check_matches(stored, differences, finished)
                if finished and previous.exists():
                    # run.json commits the new run before `.previous` goes: a kill fell between them.
                    _remove(previous)
        elif previous.exists() and not self.overwrite:
            raise RunDirectoryError(
                f"{self.path} holds the files of an earlier run moved aside by --overwrite "
                f"({previous}); rerun with --overwrite to replace it, or delete {previous}."
            )
        remove_temporaries(self.path, owned_entries(self.path) - {PREVIOUS_DIR})
        self.finished = finished
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
            return read_fingerprint(path)
        config = self.path / "config.json"
        if config.exists() and self.legacy_settings is not None:
            # Runs written before fingerprints (0.1): compare what their config records.
            return {"settings": self.legacy_settings(read_record(config, "run config")), "legacy": True}
        return None

    def _differences(self, stored):
        """What differs between the stored fingerprint and this run's (in words)."""
        if stored is None:
            return []
        old, new = dict(stored), dict(self.fingerprint)
        if "format" not in stored:
            # 0.1 recorded settings; 0.2 settings and the data's sizes: compare what they hold.
            old = {"settings": stored["settings"], "data": stored.get("data", {})}
            new = {"settings": new["settings"],
                   "data": {key: new.get("data", {}).get(key, "<unset>") for key in old["data"]}}
        return describe_differences(old, new)

    def _check_matches(self, stored, differences, finished):
        if stored is None:
            raise RunDirectoryError(
                f"{self.path} holds training files but no {FINGERPRINT_FILE}, so it is unknown "
                "which settings produced them; rerun with --overwrite or pick another --output_dir."
            )
        if differences:
            shown = "; ".join(short_digests(line) for line in differences[:6])
            shown += "; ..." if len(differences) > 6 else ""
            data = " (the data differ from those it was trained on)" if any(
                line.startswith("data.") for line in differences) else ""
            raise RunDirectoryError(
                f"{self.path} holds a run with other settings ({shown}){data}; rerun with --overwrite "
                "to replace it, or pick another --output_dir."
            )
        if "format" in stored:
            return
        version = "0.1" if stored.get("legacy") else "0.2"
        if not finished:
            raise RunDirectoryError(
                f"{self.path} holds an unfinished run of keras_gpos {version}, which identified its data by "
                "size only, so resuming could mix two data sets; rerun with --overwrite to train it again."
            )
        logging.warning("%s was written by keras_gpos %s, which identified its data by size only: its "
                        "settings and data sizes match, so it is reused (--overwrite retrains it)",
                        self.path, version)

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

    def _run_entries(self):
        """The existing entries of the run in the folder (not the lock, nor what is moved aside)."""
        owned = owned_entries(self.path) - {LOCK_FILE, PREVIOUS_DIR, STAGING_DIR}
        return [self.path / name for name in sorted(owned) if (self.path / name).exists()
                or (self.path / name).is_symlink()]

    def _move_aside(self):
        previous = self.path / PREVIOUS_DIR
        if previous.exists():
            # An earlier overwrite that failed after training had started:
            # `.previous` still holds the original run; drop the partial one.
            for entry in self._run_entries():
                _remove(entry)
        else:
            staging = self.path / STAGING_DIR
            staging.mkdir()
            for entry in self._run_entries():
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
        """Records the manifest, config and fingerprint as training starts (chief only).

        The manifest comes first: every file of the run is named in it before it exists.
        """
        if not self.chief:
            return
        listed = read_manifest(self.path) or []
        write_json(self.path / MANIFEST_FILE, {"format": MANIFEST_FORMAT,
                                               "entries": list(dict.fromkeys((*listed, *self.entries)))})
        write_json(self.path / "config.json", config_dict)
        write_json(self.path / FINGERPRINT_FILE, self.fingerprint)

    def summary(self):
        return read_record(self.path / "run.json", "run summary")

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
        for entry in self._run_entries():
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
