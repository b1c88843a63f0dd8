"""Every Python code block in the README and the hand-written docs runs as written.

A block that cannot run in a test says so beside it, visibly: the line just before its fence is
`*Not run by the docs test: <reason>.*`. Each block runs on its own (it imports what it uses),
in an empty temporary folder.
"""

import re

import keras
import pytest

from tests.docs.test_site import REPO, hand_written_pages

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"^\*Not run by the docs test: (.+)\.\*$")


def python_blocks():
    blocks = []
    for page in hand_written_pages():
        text = page.read_text()
        for number, match in enumerate(FENCE.finditer(text), start=1):
            before = [line for line in text[:match.start()].splitlines() if line.strip()]
            reason = NOT_RUN.match(before[-1]) if before else None
            blocks.append(pytest.param(
                page, match.group(1), text[:match.start()].count("\n") + 2,
                id=f"{page.relative_to(REPO)}:{number}",
                marks=[pytest.mark.skip(reason=reason.group(1))] if reason else []))
    return blocks


def test_the_pages_have_python_blocks_and_every_skip_gives_a_reason():
    blocks = python_blocks()
    assert len(blocks) >= 5
    for page in hand_written_pages():
        for line in page.read_text().splitlines():
            if line.startswith("*Not run by the docs test"):
                assert NOT_RUN.match(line), f"{page.name}: a not-run marker needs a reason: {line!r}"


@pytest.mark.parametrize("page, code, line", python_blocks())
def test_python_block_runs(page, code, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    padded = "\n" * (line - 1) + code  # tracebacks point at the page's own line numbers
    namespace = {"__name__": "__docs__"}
    try:
        exec(compile(padded, str(page), "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        keras.backend.clear_session()
