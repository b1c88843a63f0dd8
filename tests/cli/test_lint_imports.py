"""The package's floors hold: `lint-imports` over the import-linter contracts in pyproject.toml.

It runs in a child process: import-linter configures logging with dictConfig, which disables every
logger that already exists (absl's among them) for the rest of a test session.
"""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    # In a child process: import-linter configures logging with dictConfig,
    # which disables every logger that already exists (absl's among them)
    # and would silence the log assertions of tests that run after this one.
    script = "import sys; from importlinter import cli; sys.exit(cli.lint_imports(no_cache=True, no_logo=True))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"lint-imports: a floor was crossed:\n{result.stdout}{result.stderr}"
