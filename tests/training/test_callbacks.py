"""Training callbacks: a non-finite loss stops training with a clear error."""

import keras
import numpy as np
import pytest


def test_nan_images_stop_training_with_a_clear_error(tmp_path):
    from keras_gpos.models import build_classifier
    from keras_gpos.training import NonFiniteLossError, StopOnNonFiniteLoss

    model = build_classifier(2, input_shape=(32, 32, 3), depth=10, width=4, head="fc")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.full((4, 32, 32, 3), np.nan, np.float32)
    with pytest.raises(NonFiniteLossError, match="loss became nan"):
        model.fit(x, np.zeros(4), epochs=1, verbose=0, callbacks=[StopOnNonFiniteLoss()])
