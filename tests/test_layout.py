"""The tests mirror the package: a module's tests are found by its path, and only two folders start processes.

- `tests/<subpackage>/test_<module>.py` tests `keras_gpos/<subpackage>/<module>.py` (behaviour, bad
  inputs, backends and the hostile passes' findings, marked `adversarial`), and
  `tests/<subpackage>/test_<subpackage>.py` what the subpackage's `__init__` defines.
- `tests/cli/` holds the tests that need a real process (exit codes, signals, a fresh interpreter, a
  backend other than the test process's); `tests/integration/` the slow real-data, multi-worker, kill
  and cross-backend runs; `tests/docs/` the documentation site.
- Nothing else starts a process: a test elsewhere calls `train.main(argv)`, `flags.parse` or the
  library in this process.
"""

import ast
import pathlib

import pytest

pytestmark = pytest.mark.backend_agnostic

TESTS = pathlib.Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "keras_gpos"
PROCESS_FOLDERS = {"cli", "integration"}
OTHER_FOLDERS = PROCESS_FOLDERS | {"docs", "fixtures"}
# What starts a process: the modules, and the calls of modules every test imports anyway.
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty", "concurrent.futures.process"}
PROCESS_CALLS = {"system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "spawnv", "posix_spawn",
                 "ProcessPoolExecutor"}


def subpackages():
    return sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))


def test_every_test_folder_is_a_subpackage_or_a_named_exception():
    folders = sorted(path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__")
    unknown = [name for name in folders if name not in set(subpackages()) | OTHER_FOLDERS]
    assert not unknown, f"tests/ folders that mirror no keras_gpos subpackage: {unknown}"


@pytest.mark.parametrize("subpackage", subpackages())
def test_every_test_file_names_a_module_of_its_subpackage(subpackage):
    folder = TESTS / subpackage
    if not folder.is_dir():
        pytest.fail(f"keras_gpos.{subpackage} has no tests/{subpackage}/ folder")
    modules = {path.stem for path in (PACKAGE / subpackage).glob("*.py") if path.stem != "__init__"}
    modules |= {path.parent.name for path in (PACKAGE / subpackage).glob("*/__init__.py")}
    modules.add(subpackage)  # test_<subpackage>.py: what its __init__ defines
    orphans = [path.name for path in sorted(folder.glob("test_*.py")) if path.stem[len("test_"):] not in modules]
    assert not orphans, (f"tests/{subpackage}/ holds test files named after no module of keras_gpos.{subpackage}: "
                         f"{orphans} (move their tests into test_<module>.py)")


def _starts_processes(path):
    """The lines of `path` that import a process module or call a process-starting function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(alias.name in PROCESS_CALLS for alias in node.names):
                found.append(node.lineno)
                continue
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in PROCESS_CALLS and isinstance(node.func.value, ast.Name) and \
                    node.func.value.id in {"os", "pty", "futures"}:
                found.append(node.lineno)
            continue
        else:
            continue
        if any(name in PROCESS_MODULES or name.split(".")[0] in PROCESS_MODULES for name in names):
            found.append(node.lineno)
    return found


def test_only_cli_and_integration_tests_start_processes():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.relative_to(TESTS).parts[0] in PROCESS_FOLDERS:
            continue
        offenders += [f"{path.relative_to(TESTS.parent)}:{line}" for line in _starts_processes(path)]
    assert not offenders, ("these files start (or import what starts) a process outside tests/cli/ and "
                           f"tests/integration/: {offenders}")


def test_the_process_check_sees_what_it_looks_for(tmp_path):
    # The check above passes on an empty match too: show it finds each way in.
    for source in ("import subprocess", "from subprocess import run", "import multiprocessing as mp",
                   "from concurrent.futures import ProcessPoolExecutor", "import os\nos.system('ls')",
                   "import os\nos.fork()"):
        path = tmp_path / "probe.py"
        path.write_text(source + "\n")
        assert _starts_processes(path), source
    path.write_text("import os\nimport threading\nos.environ.get('X')\n")
    assert not _starts_processes(path)


def _marked(node, name):
    return any(name in ast.unparse(decorator) for decorator in getattr(node, "decorator_list", ()))


def test_every_integration_test_is_marked_slow():
    # So `-m "not slow"` (the fast suite) starts processes only in tests/cli/.
    unmarked = []
    for path in sorted((TESTS / "integration").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        module_marks = " ".join(ast.unparse(node.value) for node in tree.body if isinstance(node, ast.Assign)
                                and any(getattr(target, "id", "") == "pytestmark" for target in node.targets))
        if "mark.slow" in module_marks:
            continue
        unmarked += [f"{path.name}::{node.name}" for node in tree.body
                     if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and
                     not _marked(node, "mark.slow")]
    assert not unmarked, f"tests/integration/ tests not marked slow: {unmarked}"
