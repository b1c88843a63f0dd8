"""The models the benchmarks time, compiled with the experiments' own recipe."""

from keras_gpos.training.recipe import compile_classifier


def train_step(model):
    """The model's compiled train step, as `step(x, y)` (any backend: `train_on_batch`)."""
    return model.train_on_batch


def classifier(num_classes, size, depth, width, permute_at=None, **kwargs):
    """A compiled ResNet classifier with the fc head (the AugShift encoder's head); `kwargs`
    go to `build_classifier` (e.g. `blur_kernel_size=4`, `downsample="aps"`)."""
    from keras_gpos.models import build_classifier

    model = build_classifier(num_classes, (size, size, 3), depth=depth, width=width, head="fc",
                             permute_at=permute_at, seed=0, **kwargs)
    compile_classifier(model)
    return model


def augshift(num_classes, size, depth, width):
    """A compiled AugShiftModel on the same ResNet as `classifier` (as the experiment builds it)."""
    import keras

    from keras_gpos.training.augshift import AugShiftModel

    base = classifier(num_classes, size, depth, width)
    encoder = keras.Model(base.input, base.get_layer("pooled").output)
    model = AugShiftModel(encoder, base.get_layer("logits"))
    compile_classifier(model)
    return model


def step_runner(step, batch):
    """A callable running one train step on `batch` and waiting for its loss."""
    x, y = batch

    def run():
        logs = step(x, y, return_dict=True)
        float(logs["loss"])
    return run
