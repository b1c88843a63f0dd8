"""ShiftConsistencyCallback: the consistency of held-out images logged each epoch."""

from keras_gpos.data import ViewProtocol
from keras_gpos.training import ShiftConsistencyCallback
from tests.training.test_augshift import _model, _views


def test_consistency_callback_logs_each_epoch():
    a, b, y = _views(8)
    model = _model()
    callback = ShiftConsistencyCallback(a, ViewProtocol("shift", max_shift=2))
    history = model.fit((a, b), y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["val_consistency"]) == 2
    assert all(0.0 <= v <= 1.0 for v in history.history["val_consistency"])
