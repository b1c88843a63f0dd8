"""What `train.py` and `evaluate.py` share: an exit code for every outcome, one line for every expected error.

Each entry point is a `main(argv) -> exit code` that tests call in process;
only its `__main__` block ends the process (with `os._exit`, since
TensorFlow can crash in Python's teardown). `run_cli` turns what a run can
be expected to raise into one line on stderr:

* `ValueError` (bad flags, data, settings; `RunDirectoryError`), `OSError`
  (disk full, permissions), `ImportError` (a missing extra, or TensorFlow)
  and a non-finite loss: `<program>: error: <one line>`;
* Ctrl-C (`KeyboardInterrupt`): one line saying that the run can be resumed.

The entry point prints that line (the library logs, it never prints). Exit codes: 0 done, 1 a run
error, 2 a command-line error (a `ValueError` while the command line is read), 130 interrupted.
Anything else is a bug and keeps its traceback; `--debug` shows it for all.
"""

import dataclasses

RUN_ERROR, USAGE_ERROR, INTERRUPTED = 1, 2, 130


class CommandLineError(ValueError):
    """The command line cannot be used (exit 2)."""


@dataclasses.dataclass
class CommandState:
    """What a CLI body tells `run_cli` as it goes.

    Attributes:
        debug: bool. Re-raise errors (set once `--debug` is parsed).
        parsing: bool. Still reading the command line: a `ValueError` exits with 2.
        interrupted: str. The line printed on Ctrl-C.
    """

    debug: bool = False
    parsing: bool = True
    interrupted: str = "interrupted."


def error_line(program, error):
    """`<program>: error: <message>` in one line, naming the file of an `OSError`."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{text} ({error.filename})"
    if isinstance(error, ImportError) and error.name:
        text = f"{text} (install {error.name.split('.')[0]}: it is an optional dependency, see the README)"
    return f"{program}: error: {text}"


def expected_errors():
    from keras_gpos.training.callbacks import NonFiniteLossError

    return (ValueError, OSError, ImportError, NonFiniteLossError)


def run_cli(program, body, argv):
    """Runs `body(argv, state) -> exit code`; an expected error becomes one line and a code.

    Args:
        program: str. The name in messages (`train.py`).
        body: the entry point's work; it updates the `CommandState` it gets.
        argv: `sys.argv`-like list.

    Returns:
        `(exit code, line)`: the line is what the entry point prints to stderr (None when done).
    """
    state = CommandState()
    try:
        return body(list(argv), state), None
    except KeyboardInterrupt:
        if state.debug:
            raise
        return INTERRUPTED, f"{program}: {state.interrupted}"
    except expected_errors() as error:
        if state.debug:
            raise
        usage = isinstance(error, CommandLineError) or (state.parsing and isinstance(error, ValueError))
        return USAGE_ERROR if usage else RUN_ERROR, error_line(program, error)


def start_logging():
    """absl logging as `absl.app.run` sets it up, with keras_gpos' progress at INFO."""
    from absl import flags as absl_flags
    from absl import logging

    from keras_gpos.experiments.flags import configure_logging

    if not absl_flags.FLAGS.is_parsed():
        absl_flags.FLAGS.mark_as_parsed()  # the flags were parsed here (`flags.parse`), not by absl.app
    logging.use_absl_handler()
    configure_logging()
