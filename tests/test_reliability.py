"""Determinism, corrupted files and hostile inputs for the foundation."""

import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos import data
from keras_gpos.layers import ChannelPermutation
from keras_gpos.reporting import read_json

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_deterministic_flag_makes_two_runs_bit_identical(tmp_path):
    args = ["--experiment=location", "--dataset=embedded", "--embedded_train_size=96",
            "--embedded_test_size=8", "--grid_size=2", "--depth=10", "--width=4",
            "--epochs=2", "--batch_size=16", "--head=fc", "--permute_at=pooled",
            "--deterministic", "--verbose=0"]
    weights = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = subprocess.run([sys.executable, "train.py", *args, f"--output_dir={out}"],
                                cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        model = keras.saving.load_model(out / "model.keras")
        weights.append([w.numpy() for w in model.weights])
        assert (out / "history.csv").exists()
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    histories = [(tmp_path / n / "history.csv").read_text() for n in ("a", "b")]
    assert histories[0] == histories[1]


def test_corrupt_result_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"test_accuracy": 9')
    with pytest.raises(ValueError, match=r"run\.json is not valid JSON"):
        read_json(path)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4), height=st.integers(1, 9), width=st.integers(1, 9),
    channels=st.integers(1, 4), grid=st.integers(1, 4),
    background=st.sampled_from(data.BACKGROUNDS),
)
def test_place_on_grid_any_shape_keeps_the_image_in_its_cell(batch, height, width, channels,
                                                           grid, background):
    rng = np.random.default_rng(batch * 1000 + height * 100 + width)
    images = rng.normal(size=(batch, height, width, channels)).astype(np.float32) + 10.0
    cells = rng.integers(0, grid * grid, size=batch)
    canvas = data.place_on_grid(images, cells, grid, background).numpy()
    assert canvas.shape == (batch, grid * height, grid * width, channels)
    assert np.all(np.isfinite(canvas))
    for i, cell in enumerate(cells):
        row, col = divmod(int(cell), grid)
        np.testing.assert_allclose(
            canvas[i, row * height:(row + 1) * height, col * width:(col + 1) * width], images[i])


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       per_sample=st.booleans(), seed=st.integers(0, 2**16))
def test_channel_permutation_any_shape_is_a_permutation(shape, per_sample, seed):
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    out = keras.ops.convert_to_numpy(ChannelPermutation(per_sample=per_sample, seed=seed)(x))
    assert out.shape == x.shape
    np.testing.assert_allclose(np.sort(out, axis=-1), np.sort(x, axis=-1))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float16", "float64"])
def test_place_on_grid_accepts_common_dtypes(dtype):
    images = np.ones((2, 3, 3, 1), dtype)
    canvas = data.place_on_grid(images, [0, 3], 2)
    assert canvas.dtype.is_floating and canvas.shape == (2, 6, 6, 1)


def test_nan_images_stop_training_with_a_clear_error(tmp_path):
    from keras_gpos.models import build_classifier
    from keras_gpos.training import NonFiniteLossError, StopOnNonFiniteLoss

    model = build_classifier(2, input_shape=(32, 32, 3), depth=10, width=4, head="fc")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.full((4, 32, 32, 3), np.nan, np.float32)
    with pytest.raises(NonFiniteLossError, match="loss became nan"):
        model.fit(x, np.zeros(4), epochs=1, verbose=0, callbacks=[StopOnNonFiniteLoss()])


def test_grid_dataset_runs_in_graph_over_all_backgrounds():
    s = data.make_shapes_dataset(6)
    for background in data.BACKGROUNDS:
        ds = data.grid_dataset(s, 2, "location", batch_size=4, training=True,
                               background=background)
        for canvas, _ in ds:
            assert bool(tf.reduce_all(tf.math.is_finite(canvas)))


def test_corrupt_backup_is_an_error_naming_the_file_not_a_fresh_start(tmp_path):
    from keras_gpos.experiments.location import LocationConfig, check_backup, train_location

    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    (backup / "latest.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"latest\.weights\.h5 is unreadable.*delete .*backup"):
        check_backup(backup)
    config = LocationConfig(output_dir=str(tmp_path / "run"), embedded_train_size=32,
                            embedded_test_size=4, grid_size=2, depth=10, width=4, epochs=1,
                            batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="unreadable"):
        train_location(config)
    assert not (tmp_path / "run" / "run.json").exists()
    (backup / "latest.weights.h5").unlink()
    (backup / "training_metadata.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"training_metadata\.json is not valid JSON"):
        check_backup(backup)


def test_corrupt_model_file_is_an_error_naming_it(tmp_path):
    from keras_gpos.experiments.location import load_saved_model

    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match=r"Cannot load the model file .*model\.keras"):
        load_saved_model(path)
