"""ShiftConsistency, the compile(metrics=...) metric of top-1 agreement between two views."""

import numpy as np
import pytest

from keras_gpos.metrics import ShiftConsistency

pytestmark = pytest.mark.backend_agnostic


def test_shift_consistency_metric_counts_agreeing_top1():
    metric = ShiftConsistency()
    metric.update_state(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]]),
                        np.array([[2.0, 1.0], [1.0, 0.0], [5.0, 0.0]]))
    np.testing.assert_allclose(float(metric.result()), 2 / 3, rtol=1e-6)
    metric.update_state(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]), sample_weight=np.array([3.0]))
    np.testing.assert_allclose(float(metric.result()), 5 / 6, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        metric.update_state(np.zeros((2, 3)), np.zeros((3, 3)))
