"""ShiftConsistencyCallback: the consistency of held-out images logged each epoch."""

import pytest

from keras_gpos.data import ViewProtocol
from keras_gpos.metrics import shift_consistency
from keras_gpos.training import ShiftConsistencyCallback
from tests.training.test_augshift import _model, _views

pytestmark = pytest.mark.backend_agnostic


def test_consistency_callback_logs_each_epoch():
    a, b, y = _views(8)
    model = _model()
    protocol = ViewProtocol("shift", max_shift=2)
    callback = ShiftConsistencyCallback(a, protocol)
    history = model.fit((a, b), y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["val_consistency"]) == 2
    # The last epoch's value is the consistency of the trained model (the callback's fixed seed).
    assert history.history["val_consistency"][-1] == shift_consistency(model, a, protocol=protocol, repeats=1)
