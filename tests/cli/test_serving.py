"""Every model kind serves without keras_gpos: export with `serving_default`,
load in a fresh Python process that never imports keras_gpos, and compare
with the Keras outputs; `saved_model_cli run` gives the same output.

Tolerance: 1e-5 absolute + relative. The SavedModel runs the same TF kernels
on the same float32 inputs as the Keras model; measured on a 2-core CPU the
outputs are bit-identical (max difference 0). The margin covers a server whose
kernels differ from the exporter's (e.g. oneDNN on in one, off in the other),
which changes float32 summation order, never the function.
"""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.attacks import get_channel_mask, insert_channel_mask
from keras_gpos.export import export_saved_model
from keras_gpos.training import AugShiftModel

TOLERANCE = 1e-5


# Runs in a fresh interpreter: loads each export with tf.saved_model.load
# only, and proves keras_gpos was never imported.
SERVE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

cases = json.loads(sys.argv[1])
report = {}
for name, case in cases.items():
    loaded = tf.saved_model.load(case["export"])
    signature = loaded.signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1]
    for path, served in zip(case["inputs"], case["served"]):
        result = signature(**{input_name: tf.constant(np.load(path))})
        (output,) = result.values()
        np.save(served, output.numpy())
    report[name] = input_name
assert "keras_gpos" not in sys.modules, sorted(m for m in sys.modules if "keras_gpos" in m)
print(json.dumps({"input_names": report, "keras_gpos_imported": "keras_gpos" in sys.modules}))
"""


def _classifier(**kwargs):
    return keras_gpos.models.build_classifier(
        4, input_shape=(32, 32, 3), depth=10, width=4, seed=0, **kwargs)


def _augshift_inference():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    model = AugShiftModel(keras.Model(inputs, x), keras.layers.Dense(3))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    views = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    model.fit((views, np.roll(views, 1, axis=2)), np.arange(4) % 3, epochs=1, verbose=0)
    return model.inference_model()


def _deeplab():
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_deeplab(5, (32, 48, 3), depth=10, width=4, aspp_filters=8)


def _attacked_deeplab():
    attacked = insert_channel_mask(_deeplab(), "stage4_out", channels=[0, 5, 9])
    assert get_channel_mask(attacked).num_channels == 32
    return attacked


MODELS = {
    "classifier_fc": lambda: _classifier(head="fc"),
    "gapnet": lambda: _classifier(head="gapnet"),
    "permutenet": lambda: _classifier(head="fc", permute_at="pooled"),
    "augshift_inference": _augshift_inference,
    "deeplab": _deeplab,
    "attacked_deeplab": _attacked_deeplab,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Exports every model kind, serves two batches each in one fresh
    process, and returns `{name: (keras outputs, served outputs, export)}`."""
    root = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(0)
    cases, expected = {}, {}
    for name, build in MODELS.items():
        model = build()
        shape = tuple(model.inputs[0].shape[1:])
        export = export_saved_model(model, root / name)
        batches = [rng.uniform(0, 1, (n, *shape)).astype("float32") for n in (2, 3)]
        paths = [str(root / f"{name}_input{i}.npy") for i in range(len(batches))]
        for path, batch in zip(paths, batches):
            np.save(path, batch)
        # Called after the export, so a PermuteNet's random stream starts
        # from the exported seed state: the first two served calls must draw
        # the same two permutations as these two Keras calls.
        expected[name] = [keras.ops.convert_to_numpy(model(b, training=False)) for b in batches]
        cases[name] = {"export": str(export), "inputs": paths,
                       "served": [str(root / f"{name}_served{i}.npy") for i in range(len(paths))]}
    result = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, json.dumps(cases)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["keras_gpos_imported"] is False
    outputs = {}
    for name, case in cases.items():
        served_outputs = [np.load(path, allow_pickle=False) for path in case["served"]]
        outputs[name] = (expected[name], served_outputs, case, report["input_names"][name])
    return outputs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_serves_the_keras_outputs_without_keras_gpos(served, name):
    expected, outputs, _, _ = served[name]
    for want, got in zip(expected, outputs):
        assert got.shape == want.shape
        print(f"{name}: max |served - keras| = {np.max(np.abs(got - want)):.2e}")
        np.testing.assert_allclose(got, want, rtol=TOLERANCE, atol=TOLERANCE)


def test_permutenet_export_really_permutes(served):
    # Guards the PermuteNet comparison above: two calls on the same batch
    # draw different permutations, so matching it means matching the stream.
    model = _classifier(head="fc", permute_at="pooled")
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    first, second = (keras.ops.convert_to_numpy(model(x)) for _ in range(2))
    assert not np.allclose(first, second)


def test_attacked_export_keeps_its_mask(served):
    clean, _, _, _ = served["deeplab"]
    attacked, _, _, _ = served["attacked_deeplab"]
    assert not np.allclose(clean[0], attacked[0], atol=1e-4)


def test_saved_model_cli_run_gives_the_keras_output(served, tmp_path):
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip(f"saved_model_cli not installed next to {sys.executable}")
    expected, _, case, input_name = served["attacked_deeplab"]
    result = subprocess.run(
        [str(cli), "run", "--dir", case["export"], "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"{input_name}={case['inputs'][0]}",
         "--outdir", str(tmp_path), "--overwrite"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = list(tmp_path.glob("*.npy"))
    assert len(written) == 1, result.stdout[-2000:]
    np.testing.assert_allclose(np.load(written[0]), expected[0], rtol=TOLERANCE, atol=TOLERANCE)


def test_saved_model_cli_lists_serving_default(tiny_run):
    config, _ = tiny_run
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip(f"saved_model_cli not installed next to {sys.executable}")
    out = subprocess.run(
        [str(cli), "show", "--dir", str(pathlib.Path(config.output_dir) / "saved_model"),
         "--all"], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "signature_def['serving_default']" in out.stdout
