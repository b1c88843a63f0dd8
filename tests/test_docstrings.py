"""The examples in the public docstrings run, so they cannot rot.

Every `>>>` example in the modules below runs with `keras`, `np`,
`keras_gpos` (and `tf` where TensorFlow is installed) in scope; each
module's examples share one namespace, in order. An example that needs data
a test cannot have (a CIFAR folder, a trained model) says so with
`# doctest: +SKIP`.
"""

import doctest
import importlib
import pathlib

import keras
import numpy as np
import pytest

import keras_gpos

PACKAGE = pathlib.Path(keras_gpos.__file__).parent
# Every module with a `>>>` example (found, not listed, so none is forgotten).
MODULES = sorted(
    "keras_gpos." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for path in PACKAGE.rglob("*.py") if ">>>" in path.read_text()
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    import tensorflow as tf

    module = importlib.import_module(name)
    globs = {"keras": keras, "np": np, "keras_gpos": keras_gpos, "tf": tf}
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = sorted(finder.find(module, name, globs=dict(globs)), key=lambda t: t.lineno or 0)
    assert tests, f"{name} has no docstring examples"
    shared = dict(globs)
    report = []
    for test in tests:
        test.globs = shared
        runner.run(test, out=report.append, clear_globs=False)
    if runner.failures:
        pytest.fail("".join(report)[-6000:])
