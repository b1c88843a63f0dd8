"""The models the benchmarks time, and their compiled train steps."""

from benchmarks.common import TRAIN_SETTINGS


def train_step(model):
    """The compiled train function (Keras builds it on `model.train_function`)."""
    model.make_train_function()
    return model.train_function


def classifier(num_classes, size, depth, width, permute_at=None):
    """A compiled ResNet classifier with the fc head (the AugShift encoder's head)."""
    from keras_gpos.experiments.location import compile_model
    from keras_gpos.models import build_classifier

    model = build_classifier(num_classes, (size, size, 3), depth=depth, width=width, head="fc",
                             permute_at=permute_at, seed=0)
    compile_model(model, TRAIN_SETTINGS)
    return model


def augshift(num_classes, size, depth, width):
    """A compiled AugShiftModel on the same ResNet as `classifier` (as the experiment builds it)."""
    import keras

    from keras_gpos.experiments.location import compile_model
    from keras_gpos.training.augshift import AugShiftModel

    base = classifier(num_classes, size, depth, width)
    encoder = keras.Model(base.input, base.get_layer("pooled").output)
    model = AugShiftModel(encoder, base.get_layer("logits"))
    compile_model(model, TRAIN_SETTINGS)
    return model


def step_runner(step, batch):
    """A callable running one train step on `batch` and waiting for it."""
    def run():
        logs = step(iter([batch]))
        float(logs["loss"])
    return run
