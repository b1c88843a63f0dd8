"""The numbers tests/integration/test_jax_backend.py compares across backends.

`save_models` builds the models once (on TensorFlow) and saves them with their inputs; `numbers`
loads them and computes, on whatever backend its process runs, what the library reports: logits,
consistency and accuracy over views, the position ranking, a position probe, the audit's location
probe and impact rows, and the attack's mIoU. Same weights, same inputs: the answers must agree.
"""

import json
import pathlib
import sys
import warnings

import keras
import numpy as np

import keras_gpos


def save_models(folder):
    folder = pathlib.Path(folder)
    keras.utils.set_random_seed(0)
    keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc").save(folder / "classifier.keras")
    keras_gpos.models.build_classifier(2, (48, 48, 1), depth=10, width=4, head="fc").save(folder / "audited.keras")
    keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8).save(folder / "deeplab.keras")
    rng = np.random.default_rng(0)
    labels = np.arange(24) % 2  # bright (1) and dim (0) images, as tests/audit/test_position_audit.py uses
    scenes = keras_gpos.data.make_street_scenes(6, (32, 48), seed=2)
    np.savez(folder / "inputs.npz", images=rng.normal(size=(6, 32, 32, 3)).astype("float32"),
             audit_images=(rng.uniform(0.2, 0.6, size=(24, 16, 16, 1)) + labels[:, None, None, None]).astype("float32"),
             audit_labels=labels, scenes=scenes.images.astype("float32"),
             masks=np.minimum(scenes.masks, 2).astype("int32"))


def numbers(folder):
    folder = pathlib.Path(folder)
    inputs = np.load(folder / "inputs.npz")
    images = inputs["images"]
    model = keras.saving.load_model(folder / "classifier.keras")
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    canvases = protocol.place(images, np.zeros(6, int), np.zeros(6, int))
    scores = keras_gpos.metrics.consistency_and_accuracy(model, images, np.arange(6) % 3, protocol, repeats=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an untrained model's ranking warns
        ranking = keras_gpos.ranking.rank_position_channels(model, "stage4_out", canvases)
        probe = keras_gpos.metrics.position_probe(
            keras.Model(model.input, model.get_layer("pooled").output), images[:4], images[4:], protocol)
        audit = keras_gpos.audit.position_audit(
            keras.saving.load_model(folder / "audited.keras"), (inputs["audit_images"], inputs["audit_labels"]),
            layers=["stage4_out"], grid_size=3, impact_n=(4,), random_draws=3, verbose=0).layers[0]
    attacked = keras_gpos.attacks.insert_channel_mask(keras.saving.load_model(folder / "deeplab.keras"), "stage4_out")
    evaluator = keras_gpos.attacks.AttackEvaluator(attacked, (inputs["scenes"], inputs["masks"]), 3, batch_size=4)
    attacks = {str(channels): evaluator.evaluate(channels) for channels in ([], [1, 2, 3])}
    return {
        "backend": keras.config.backend(),
        "logits": keras.ops.convert_to_numpy(model(canvases, training=False)).tolist(),
        "consistency": scores["consistency"], "accuracy": scores["accuracy"],
        "ranking_channels": ranking.num_channels, "ranking": ranking.overall.tolist(),
        "probe_accuracy": probe.accuracy,
        "audit_location": {view: audit["location"][view]["accuracy"] for view in ("ordered", "sorted", "sum")},
        "audit_clean_accuracy": audit["impact"]["clean_accuracy"],
        "audit_top_drop": audit["impact"]["rows"][0]["top_drop"],
        "miou": {name: {region: result[region]["miou"] for region in ("all", "left")}
                 for name, result in attacks.items()},
    }


if __name__ == "__main__":
    print("NUMBERS " + json.dumps(numbers(sys.argv[1])))
