"""The "Your own model, any model kind" example of docs/library.md runs as written."""

import importlib.util
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "docs" / "library.md"


def _block(section):
    text = README.read_text()
    start = text.index(f"## {section}")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


@pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None,
                    reason="KerasHub is not installed (pip install 'keras_gpos[hub]')")
def test_use_it_on_your_own_model_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _block("Your own model, any model kind")
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["comparison"].to_dict()["rows"][0]["n"] == 8
    assert (tmp_path / "attack.png").exists()
