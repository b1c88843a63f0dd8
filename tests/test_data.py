"""Data sources, the grid canvas and the tf.data pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gpos import data
from keras_gpos.data.cifar import RECORD_BYTES


# --- embedded shapes ---------------------------------------------------------

def test_shapes_dataset_is_deterministic_balanced_and_varied():
    a = data.make_shapes_dataset(200, seed=5)
    b = data.make_shapes_dataset(200, seed=5)
    c = data.make_shapes_dataset(200, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (200, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.num_classes == len(data.SHAPE_CLASSES) >= 10
    np.testing.assert_array_equal(np.bincount(a.labels), [20] * 10)
    # Colour is random, not a class cue: mean colours overlap across classes.
    means = a.images.reshape(200, -1, 3).mean(axis=1)
    per_class = [means[a.labels == k].mean(axis=0) for k in range(10)]
    assert np.ptp(np.array(per_class)) < 0.5 * np.ptp(means)


@pytest.mark.parametrize("kwargs", [{"num_examples": 0}, {"num_examples": 10, "image_size": 4}])
def test_shapes_dataset_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be"):
        data.make_shapes_dataset(**kwargs)


# --- CIFAR-10 binary ---------------------------------------------------------

def _write_cifar(path, labels, rng):
    pixels = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate(
        [np.asarray(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1
    )
    path.write_bytes(records.tobytes())
    return pixels.transpose(0, 2, 3, 1)  # HWC, as the reader must return


def test_cifar_reader_decodes_planes_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    want_train = _write_cifar(tmp_path / "data_batch_1.bin", [3, 0, 9], rng)
    want_train2 = _write_cifar(tmp_path / "data_batch_2.bin", [1, 2], rng)
    want_test = _write_cifar(tmp_path / "test_batch.bin", [7], rng)
    train, test = data.load_cifar10_binary(tmp_path)
    np.testing.assert_array_equal(train.images, np.concatenate([want_train, want_train2]))
    np.testing.assert_array_equal(train.labels, [3, 0, 9, 1, 2])
    np.testing.assert_array_equal(test.images, want_test)
    assert test.class_names[7] == "horse"


def test_cifar_reader_names_truncated_file_and_record_size(tmp_path):
    rng = np.random.default_rng(0)
    _write_cifar(tmp_path / "data_batch_1.bin", [1, 2], rng)
    _write_cifar(tmp_path / "test_batch.bin", [1], rng)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=rf"data_batch_1\.bin has {2 * RECORD_BYTES - 100} bytes.*3073-byte"):
        data.load_cifar10_binary(tmp_path)


def test_cifar_reader_rejects_wrong_labels_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        data.load_cifar10_binary(tmp_path / "nope")
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match="no CIFAR-10 binary files.*readme.txt"):
        data.load_cifar10_binary(tmp_path)
    rng = np.random.default_rng(0)
    _write_cifar(tmp_path / "data_batch_1.bin", [1, 200], rng)
    _write_cifar(tmp_path / "test_batch.bin", [1], rng)
    with pytest.raises(ValueError, match="data_batch_1.bin holds label byte 200"):
        data.load_cifar10_binary(tmp_path)


def test_real_cifar_subset(cifar10_dir):
    train, test = data.load_cifar10_binary(cifar10_dir)
    assert (len(train), len(test)) == (3728, 846)
    assert train.class_names[0] == "airplane" and train.num_classes == 10
    assert set(np.unique(test.labels)) == set(range(10))


def test_tfds_source_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        train, test = data.load_image_dataset("tfds:cifar10", tfds_download=False)
    assert train.images.shape == (12, 32, 32, 3) and train.num_classes == 10
    assert len(test) == 12


def test_unknown_dataset_and_missing_data_dir():
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        data.load_image_dataset("mnist")
    with pytest.raises(ValueError, match="needs data_dir"):
        data.load_image_dataset("cifar10_binary")


# --- validation split ---------------------------------------------------------

def test_validation_split_is_disjoint_complete_and_seeded():
    s = data.make_shapes_dataset(100)
    train, val = data.split_validation(s, 0.2, seed=3)
    train2, val2 = data.split_validation(s, 0.2, seed=3)
    assert (len(train), len(val)) == (80, 20)
    np.testing.assert_array_equal(val.images, val2.images)
    joined = np.concatenate([train.images, val.images]).reshape(100, -1)
    assert len({row.tobytes() for row in joined}) == len({r.tobytes() for r in s.images.reshape(100, -1)})
    with pytest.raises(ValueError, match="must be in"):
        data.split_validation(s, 1.5)


# --- grid canvas --------------------------------------------------------------

def _numpy_canvas(images, cells, k, fill):
    n, h, w, c = images.shape
    canvas = np.empty((n, k * h, k * w, c), np.float32)
    for i in range(n):
        canvas[i] = fill[i]
        r, col = divmod(int(cells[i]), k)
        canvas[i, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return canvas


@pytest.mark.parametrize("background", ["zeros", "black", "white", "mean"])
def test_place_on_grid_matches_numpy_reference(background):
    rng = np.random.default_rng(1)
    images = rng.normal(size=(7, 5, 4, 3)).astype(np.float32)
    cells = rng.integers(0, 9, size=7)
    mean, std = np.array([0.5, 0.4, 0.3], np.float32), np.array([0.2, 0.25, 0.3], np.float32)
    fill = {
        "zeros": np.zeros((7, 3)),
        "black": np.broadcast_to((0 - mean) / std, (7, 3)),
        "white": np.broadcast_to((1 - mean) / std, (7, 3)),
        "mean": images.mean(axis=(1, 2)),
    }[background]
    got = data.place_on_grid(images, cells, 3, background, pixel_mean=mean, pixel_std=std)
    np.testing.assert_allclose(got, _numpy_canvas(images, cells, 3, fill), atol=1e-5)


def test_place_on_grid_noise_background_and_single_image():
    image = np.ones((4, 4, 3), np.float32) * 5.0
    canvas = data.place_on_grid(image, 3, 2, "noise")
    assert canvas.shape == (8, 8, 3)
    np.testing.assert_array_equal(canvas[4:, 4:], 5.0)  # cell 3 = bottom right
    rest = canvas[:4]
    assert rest.min() >= 0.0 and rest.max() <= 1.0 and rest.std() > 0.1


def test_place_on_grid_centres_small_image_in_larger_cell():
    image = np.ones((1, 2, 2, 1), np.float32)
    canvas = data.place_on_grid(image, [1], 2, cell_size=(4, 4))[0, ..., 0]
    expected = np.zeros((8, 8))
    expected[1:3, 5:7] = 1.0
    np.testing.assert_array_equal(canvas, expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid_size": 0}, "grid_size must be an int >= 1; got 0"),
        ({"grid_size": 2, "background": "purple"}, "Unknown background 'purple'"),
        ({"grid_size": 2, "cell_size": (3, 3)}, "4x4 does not fit a 3x3 grid cell"),
    ],
)
def test_place_on_grid_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.place_on_grid(np.zeros((1, 4, 4, 3), np.float32), [0], **kwargs)


def test_place_on_grid_rejects_out_of_range_cell():
    with pytest.raises(ValueError, match="cell index out of range"):
        data.place_on_grid(np.zeros((1, 4, 4, 3), np.float32), [4], 2)


def test_exhaustive_placement_visits_every_cell_in_order():
    images = tf.reshape(tf.range(2, dtype=tf.float32), (2, 1, 1, 1))
    out, labels, cells = data.exhaustive_placement(images, tf.constant([7, 8]), 3)
    np.testing.assert_array_equal(cells, list(range(9)) * 2)
    np.testing.assert_array_equal(labels, [7] * 9 + [8] * 9)
    np.testing.assert_array_equal(out.ravel(), [0] * 9 + [1] * 9)


def _cell_of_image(canvas, k):
    """The grid cell whose content differs from the zero background."""
    h = canvas.shape[0] // k
    energy = [np.abs(canvas[r * h:(r + 1) * h, c * h:(c + 1) * h]).sum()
              for r in range(k) for c in range(k)]
    return int(np.argmax(energy))


def test_grid_dataset_training_labels_match_where_the_image_is():
    s = data.make_shapes_dataset(40)
    mean, std = data.normalization_stats(s)
    ds = data.grid_dataset(s, 3, "both", batch_size=16, training=True, mean=mean, std=std,
                           flip=True)
    seen = set()
    for canvas, target in ds:
        for x, loc in zip(canvas.numpy(), target["location"].numpy()):
            assert _cell_of_image(x, 3) == loc
            seen.add(int(loc))
    assert len(seen) >= 6  # random cells, not a constant


def test_grid_dataset_evaluation_is_exhaustive_and_deterministic():
    s = data.make_shapes_dataset(10)
    ds = data.grid_dataset(s, 2, "class", batch_size=8)
    first = [(x.numpy(), y.numpy()) for x, y in ds]
    second = [(x.numpy(), y.numpy()) for x, y in ds]
    labels = np.concatenate([y for _, y in first])
    np.testing.assert_array_equal(labels, np.repeat(s.labels, 4))
    for (x1, _), (x2, _) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)


def test_grid_dataset_noise_background_is_the_same_on_every_pass_and_after_a_resume():
    s = data.make_shapes_dataset(12)
    evaluation = data.grid_dataset(s, 2, "location", batch_size=8, background="noise", seed=3)
    first, second = ([x.numpy() for x, _ in evaluation] for _ in range(2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], first[1][0])  # noise, not one repeated fill

    def epoch(dataset, number):
        return [x.numpy() for x, _ in dataset.skip(number * 3).take(3)]

    full = data.grid_dataset(s, 2, "location", batch_size=4, training=True, background="noise",
                             seed=3, epochs=2)
    resumed = data.grid_dataset(s, 2, "location", batch_size=4, training=True, background="noise",
                                seed=3, epochs=2, initial_epoch=1)
    for a, b in zip(epoch(full, 1), epoch(resumed, 0)):
        np.testing.assert_array_equal(a, b)


def test_grid_dataset_rejects_empty_set_and_bad_target():
    s = data.make_shapes_dataset(4)
    with pytest.raises(ValueError, match="Unknown target 'cell'"):
        data.grid_dataset(s, 2, "cell")
    empty = s.take(np.arange(0))
    with pytest.raises(ValueError, match="is empty"):
        data.grid_dataset(empty, 2)
