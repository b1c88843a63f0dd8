"""One training step of each experiment's model, and the data its flagfile gives, on the current backend.

Used on both sides of `tests/integration/test_backend_steps.py`: the test process
(TensorFlow) builds each model through its experiment's own code, saves the
weights and the batch, and takes one step; a subprocess with TensorFlow
blocked (JAX) loads the same weights and batch and takes the same step. The
data digests come from each backend's own feed (`tf.data` / `PyDataset`).
"""

import hashlib
import json
import os
import sys

import numpy as np

CASES = ("location", "classification_fc", "augshift", "position_attack")
# Flagfiles whose training data are compared across backends (first batches of epoch 0).
FLAGFILES = ("flags/quickstart.cfg",)
# (command line, experiment) of experiments compared on their default data (the flagfiles need shared data).
COMMAND_LINES = (["--experiment=augshift", "--embedded_train_size=64", "--embedded_test_size=16"],
                 ["--experiment=position_attack", "--street_train_size=8", "--street_val_size=4"])


def build_case(name):
    """`(compiled model, inference model, x, y)` of one experiment's model and its first training batch."""
    from keras_gpos import data as gdata
    from keras_gpos.experiments import augshift, location, position_attack
    from keras_gpos.training.recipe import compile_classifier

    if name in ("location", "classification_fc"):
        config_class = location.LocationConfig if name == "location" else location.ClassificationConfig
        config = config_class(depth=10, width=4, grid_size=2, embedded_train_size=40, embedded_test_size=10,
                              batch_size=8, head="gapnet" if name == "location" else "fc")
        splits = location.prepare_data(config)
        model = location.build_model(config, splits.train)
        compile_classifier(model, config.learning_rate, config.beta_1)
        source = gdata.grid_batches(splits.train, config.grid_size, config.task, config.batch_size, training=True,
                                    mean=splits.mean, std=splits.std, flip=True, seed=config.seed)
        x, y = source.batch(0, 0)
        return model, model, x, y
    if name == "augshift":
        config = augshift.AugShiftConfig(depth=10, width=4, embedded_train_size=40, embedded_test_size=10,
                                         batch_size=8)
        splits = augshift.prepare_data(config)
        model, classifier, _ = augshift.build_variant(config, "augshift", 1.0, splits.train.num_classes,
                                                      splits.train.image_shape)
        compile_classifier(model, config.learning_rate, config.beta_1)
        source = gdata.shift_view_batches(splits.train, splits.mean, splits.std, config.batch_size,
                                          config.protocol, two_views=True, flip=True, seed=0)
        x, y = source.batch(0, 0)
        return model, classifier, x, y
    config = position_attack.PositionAttackConfig(street_train_size=8, street_val_size=4, image_height=32,
                                                  image_width=48, depth=10, width=4, aspp_filters=8, batch_size=4)
    train, _ = position_attack.prepare_data(config)
    model = position_attack.build_model(config, train)
    # The head's dropout masks come from each backend's own random generator, so they differ; the
    # step is compared with its rate at 0 (everything else of the training step is the experiment's).
    model.get_layer("head_dropout").rate = 0.0
    position_attack.compile_model(model, config, train)
    x, y = gdata.segmentation_batches(train, config.batch_size, training=True, flip=True, seed=0).batch(0, 0)
    return model, model, x, y


def _inputs(x):
    return tuple(x) if isinstance(x, (tuple, list)) else x


def step_numbers(model, inference, x, y):
    """`{"outputs": inference outputs before the step, "loss": the step's loss}` as lists."""
    import keras

    first = x[0] if isinstance(x, (tuple, list)) else x
    outputs = keras.ops.convert_to_numpy(inference(first, training=False))
    logs = model.train_on_batch(_inputs(x), y, return_dict=True)
    return {"outputs": np.asarray(outputs, np.float64).ravel().tolist(), "loss": float(logs["loss"])}


def digest(arrays):
    """sha256 of a nest of arrays (shapes, dtypes and bytes)."""
    hasher = hashlib.sha256()
    for array in arrays:
        if isinstance(array, (tuple, list)):
            hasher.update(digest(array).encode())
            continue
        array = np.ascontiguousarray(np.asarray(array))
        hasher.update(f"{array.shape}{array.dtype}".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


def _first_batches(feed, count):
    import keras

    if keras.config.backend() == "tensorflow":
        return [tuple(np.asarray(part) if not isinstance(part, tuple) else tuple(np.asarray(p) for p in part)
                      for part in batch) for batch in feed.take(count).as_numpy_iterator()]
    import itertools

    return list(itertools.islice(iter(feed), count))  # a PyDataset, or a training stream's generator


def data_digests(repo):
    """`{source: digest}` of the first two training batches (epoch 0) of each flagfile and command line."""
    from absl import flags as absl_flags

    from keras_gpos import data as gdata
    from keras_gpos.experiments import augshift, location, position_attack
    from keras_gpos.experiments import flags as experiment_flags

    digests = {}
    sources = [(path, ["train.py", f"--flagfile={os.path.join(repo, path)}"]) for path in FLAGFILES]
    sources += [(" ".join(argv), ["train.py", *argv]) for argv in COMMAND_LINES]
    for label, argv in sources:
        name, config, _ = experiment_flags.parse(argv, absl_flags.FlagValues())
        if name == "augshift":
            splits = augshift.prepare_data(config)
            feed = gdata.shift_view_dataset(splits.train, splits.mean, splits.std, config.batch_size,
                                            config.protocol, two_views=True, flip=config.flip, seed=0,
                                            epochs=config.epochs)
        elif name == "position_attack":
            train, _ = position_attack.prepare_data(config)
            feed = gdata.segmentation_dataset(train, config.batch_size, training=True,
                                              flip=config.flip_augmentation, seed=config.seed, epochs=config.epochs)
        else:
            splits = location.prepare_data(config)
            feed = gdata.grid_dataset(splits.train, config.grid_size, config.task, config.batch_size, training=True,
                                      mean=splits.mean, std=splits.std, background=config.background,
                                      flip=config.flip, seed=config.seed, epochs=config.epochs)
        digests[label] = digest(_first_batches(feed, 2))
    return digests


def main(folder, repo):
    """The JAX side: loads each case's weights and batch from `folder`, prints the numbers as JSON."""
    import keras

    results = {"backend": keras.config.backend(), "steps": {}, "digests": data_digests(repo)}
    for name in CASES:
        keras.utils.set_random_seed(0)
        model, inference, _, _ = build_case(name)
        model.load_weights(os.path.join(folder, f"{name}.weights.h5"))
        with np.load(os.path.join(folder, f"{name}.npz")) as saved:
            x = [saved[key] for key in sorted(saved.files) if key.startswith("x")]
            y = saved["y"]
        results["steps"][name] = step_numbers(model, inference, x if len(x) > 1 else x[0], y)
    json.dump(results, sys.stdout)
