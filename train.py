"""Train a keras_gpos experiment: `python train.py --flagfile=flags/quickstart.cfg`.

`python train.py --help` lists the experiments; `--experiment=NAME --help`
lists that experiment's flags with its own defaults. Without any flag it
prints that usage and exits 2. Errors are one line (`train.py: error: ...`),
exit 2 for the command line and 1 for the run; Ctrl-C is one line and exit
130, and rerunning the same command resumes. `--debug` shows the traceback.
See README.md for the experiments and flagfiles.

The experiments run on TensorFlow and on JAX (`KERAS_BACKEND=jax`). Without
KERAS_BACKEND the backend is TensorFlow where it is installed, else JAX.
"""

import contextlib
import importlib.util
import os
import sys
import tempfile

# The backends the experiments run on (tested on both).
EXPERIMENT_BACKENDS = ("tensorflow", "jax")


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the module counts as absent
        return False


def default_backend():
    """The backend when KERAS_BACKEND is unset: TensorFlow where it is installed, else JAX.

    A JAX-only install (`pip install keras_gpos`, without the `tf` extra) therefore runs on JAX
    instead of failing on Keras' own default.
    """
    if _installed("tensorflow") or not _installed("jax"):
        return "tensorflow"
    return "jax"


os.environ.setdefault("KERAS_BACKEND", default_backend())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Lines TensorFlow's native libraries print while they load, before any setting can silence them
# (each of its two libraries prints the banner, so it came twice). They are harmless on a CPU
# machine; the docs' "Known messages" page lists them. Everything else the import prints is kept.
STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)


@contextlib.contextmanager
def quiet_native_startup():
    """Drops TensorFlow's known start-up banner from stderr while the block runs; keeps every other line.

    The banner comes from native code, which writes to file descriptor 2 directly, so Python's
    `sys.stderr` cannot filter it: the descriptor is pointed at a temporary file for the block.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines()
                    if not any(noise in line for noise in STARTUP_NOISE)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def _train(argv, state):
    from absl import flags as absl_flags

    from keras_gpos.experiments import flags as experiment_flags

    if len(argv) <= 1:
        print(experiment_flags.usage_text(), file=sys.stderr)
        return 2
    import keras

    backend = keras.config.backend()
    if backend not in EXPERIMENT_BACKENDS:
        raise ValueError(
            f"the experiments run on TensorFlow or JAX; KERAS_BACKEND={backend} is for the library (layers, "
            "losses, metrics, ranking, attacks, audit). Set KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow.")
    values = experiment_flags.share_logging_flags(absl_flags.FlagValues())
    try:
        name, config, state.debug = experiment_flags.parse(argv, values)
    except experiment_flags.HelpRequested as request:
        print(request.text)
        return 0
    from keras_gpos.experiments import check_strategy

    check_strategy(config)
    state.parsing = False
    state.interrupted = ("interrupted; the run keeps its last finished epoch: rerun the same command to resume "
                         "(--debug shows where it stopped).")
    from keras_gpos.experiments import run_experiment
    from keras_gpos.experiments.cli import start_logging

    start_logging()
    run_experiment(name, config)
    return 0


def run_program(program, body, argv):
    """Runs an entry point's `body(argv, state)`; prints its one-line error; returns the exit code.

    Shared with evaluate.py. Only this module-level code runs before keras_gpos is imported, so a
    missing Keras or TensorFlow is one line too.
    """
    try:
        with quiet_native_startup():
            from keras_gpos.experiments.cli import run_cli

            if os.environ.get("KERAS_BACKEND") == "tensorflow":
                import tensorflow as tf

                # Looking for GPUs is when TF reports a failed cuInit on a machine without one; listing
                # physical devices does not start the runtime, so multi-worker strategies still can.
                tf.config.list_physical_devices("GPU")
    except ImportError as error:  # Keras or TensorFlow is missing: nothing of keras_gpos imports
        print(f"{program}: error: {' '.join(str(error).split())} (keras_gpos's experiments need Keras 3 and "
              f"TensorFlow or JAX; KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}; see the README's install "
              "section)", file=sys.stderr)
        return 1
    code, line = run_cli(program, body, argv)
    if line:
        print(line, file=sys.stderr)
    return code


def main(argv):
    """Runs `train.py` with `argv` (program name first) in this process; returns the exit code."""
    return run_program("train.py", _train, argv)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # TensorFlow can crash in Python's teardown
