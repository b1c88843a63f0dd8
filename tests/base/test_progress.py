"""Progress output (`keras_gpos.base.progress`): real totals, and no control codes outside a terminal."""

import io

import numpy as np
import pytest

import keras_gpos
from keras_gpos.base.progress import Progress

pytestmark = pytest.mark.backend_agnostic
CONTROL = ("\x1b", "\b", "\r")


def test_piped_progress_is_plain_lines_with_the_real_total():
    out = io.StringIO()
    with Progress("work", total=50, verbose=1, stream=out) as progress:
        for _ in range(50):
            progress.add(1)
    text = out.getvalue()
    assert not any(code in text for code in CONTROL), repr(text)
    lines = text.splitlines()
    assert lines[-1].startswith("work: 50/50 images (100%)") and lines[-1].endswith("done")
    assert 2 <= len(lines) <= 12  # about every tenth, not every unit
    assert text.endswith("\n")


@pytest.mark.parametrize("verbose, lines", [(0, 0), (2, 1)])
def test_verbose_0_is_silent_and_2_is_one_line(verbose, lines):
    out = io.StringIO()
    with Progress("work", total=8, verbose=verbose, stream=out) as progress:
        for _ in range(8):
            progress.add(1)
    assert len(out.getvalue().splitlines()) == lines


def test_a_bad_verbose_is_refused():
    with pytest.raises(ValueError, match="verbose must be 0"):
        Progress("work", verbose=3)


def test_the_library_loops_report_real_totals_without_control_codes(capsys):
    model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")
    images = np.random.default_rng(0).normal(size=(12, 32, 32, 3)).astype("float32")
    keras_gpos.ranking.rank_position_channels(model, "stage4_out", images, batch_size=4, verbose=1)
    keras_gpos.metrics.consistency_and_accuracy(model, images[:, 4:28, 4:28], np.zeros(12, int),
                                                keras_gpos.data.ViewProtocol(canvas_size=32), repeats=1, verbose=2)
    text = capsys.readouterr().out
    assert not any(code in text for code in CONTROL), repr(text)
    assert "rank_position_channels: 12/12 images (100%)" in text
    assert [line for line in text.splitlines() if line.startswith("consistency_and_accuracy")] == [
        next(line for line in text.splitlines() if line.startswith("consistency_and_accuracy: 12/12 images"))]
