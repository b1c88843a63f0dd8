"""`train.py` and `evaluate.py` on JAX with `import tensorflow` failing (issues 28 and 29).

One subprocess blocks every `tensorflow` import and leaves KERAS_BACKEND
unset (so the entry points must pick JAX themselves), then runs each
experiment at a tiny size through `train.main` / `evaluate.main`: location
(uninterrupted, and interrupted after epoch 1 then resumed: bit-identical
weights under `--deterministic`), classification, channel_position, audit,
augshift and position_attack; the run lifecycle (a rerun reuses the finished
run, a run of another backend or dtype policy is refused in one line until
`--overwrite`), `--dtype_policy=mixed_bfloat16`, the TensorBoard and
SavedModel notices, and the one-line refusals of the TensorFlow-only sources.
The subprocess prints one JSON record of what it saw; the tests read it.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[2]

# Not marked backend_agnostic: it starts its own JAX process, so a second (JAX) pass would only repeat it.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

SCRIPT = BLOCK_TENSORFLOW + r"""
import contextlib, io, json, os, pathlib, shutil, sys, time
sys.path.insert(0, REPO)
os.chdir(REPO)
import train, evaluate  # noqa: E402 - the entry points choose the backend at import
import keras, numpy as np  # noqa: E402

out = pathlib.Path(OUT)
record = {"backend": keras.config.backend(), "codes": {}, "errors": {}}
TINY = ["--embedded_train_size=40", "--embedded_test_size=8", "--depth=10", "--width=4", "--batch_size=16",
        "--verbose=0"]


def run(label, program, *argv):
    stderr, start = io.StringIO(), time.time()
    with contextlib.redirect_stderr(stderr):
        code = program.main([program.__name__ + ".py", *argv])
    record["codes"][label] = code
    record["errors"][label] = stderr.getvalue().strip().splitlines()[-1:] if code else []
    with open(out / "steps.log", "a") as log:  # progress, readable while the test runs
        log.write(f"{label}: exit {code} in {time.time() - start:.0f}s {record['errors'][label]}\n")
    return code


def weights(path):
    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False).get_weights()]


base = ["--experiment=location", "--grid_size=2", "--deterministic", *TINY]
location = [*base, "--epochs=2"]
run("location", train, *location, f"--output_dir={out / 'location'}")
os.environ["KERAS_GPOS_INTERRUPT_AFTER_EPOCH"] = "1"
run("interrupted", train, *location, f"--output_dir={out / 'resumed'}")
del os.environ["KERAS_GPOS_INTERRUPT_AFTER_EPOCH"]
record["backup_after_interrupt"] = (out / "resumed" / "backup").is_dir()
run("resumed", train, *location, f"--output_dir={out / 'resumed'}")
record["resumed_bit_identical"] = all(
    np.array_equal(a, b) for a, b in zip(weights(out / "location" / "model.keras"),
                                         weights(out / "resumed" / "model.keras"), strict=True))
stamp = (out / "location" / "run.json").stat().st_mtime_ns
run("rerun", train, *location, f"--output_dir={out / 'location'}")
record["rerun_kept_run"] = (out / "location" / "run.json").stat().st_mtime_ns == stamp
record["run"] = json.loads((out / "location" / "run.json").read_text())
record["fingerprint"] = json.loads((out / "location" / "fingerprint.json").read_text())
record["files"] = sorted(p.name for p in (out / "location").iterdir())

# A run of another backend (its fingerprint says so) is refused, then replaced with --overwrite.
other = out / "other_backend"
shutil.copytree(out / "location", other)
fingerprint = json.loads((other / "fingerprint.json").read_text())
(other / "fingerprint.json").write_text(json.dumps({**fingerprint, "keras_backend": "tensorflow"}))
run("other_backend", train, *location, f"--output_dir={other}")
run("other_policy", train, *location, "--dtype_policy=mixed_bfloat16", f"--output_dir={out / 'location'}")
run("mixed", train, *base, "--epochs=1", "--dtype_policy=mixed_bfloat16", "--overwrite", f"--output_dir={other}")
record["mixed_fingerprint"] = json.loads((other / "fingerprint.json").read_text())
record["mixed_compute_dtypes"] = sorted({layer.compute_dtype for layer in keras.saving.load_model(
    other / "model.keras", compile=False).layers})
record["policy_after_run"] = keras.config.dtype_policy().name

run("classification", train, "--experiment=classification", "--grid_size=2", "--epochs=1", *TINY,
    f"--output_dir={out / 'classification'}")
run("channel_position", train, "--experiment=channel_position", "--grid_size=2", "--epochs=1",
    "--variants=permutenet_class", *TINY, f"--output_dir={out / 'channel_position'}")
run("audit", train, "--experiment=audit", f"--models={out / 'location'}", "--embedded_test_size=16",
    "--images=16", "--probe_images=16", "--grid_size=2", "--max_layers=1", "--verbose=0",
    f"--output_dir={out / 'audit'}")
run("evaluate", evaluate, f"--runs={out / 'location'}", f"--output_dir={out / 'report'}")
run("augshift", train, "--experiment=augshift", "--variants=augshift", "--seeds=0", "--epochs=1",
    "--probe_train_images=16", "--eval_repeats=1", *TINY,
    f"--output_dir={out / 'augshift'}")
run("position_attack", train, "--experiment=position_attack", "--street_train_size=8", "--street_val_size=4",
    "--image_height=32", "--image_width=48", "--depth=10", "--width=4", "--aspp_filters=8", "--epochs=1",
    "--batch_size=4", "--rank_batch_size=4", "--attack_n=2", "--region_n=2", "--random_draws=2",
    "--contrast_pairs=2", "--verbose=0", f"--output_dir={out / 'position_attack'}")
run("tfds", train, "--experiment=location", "--dataset=tfds:mnist", f"--output_dir={out / 'tfds'}")
run("keras_cv", train, "--experiment=position_attack", "--segmentation_model=keras_cv_deeplabv3plus",
    f"--output_dir={out / 'keras_cv'}")
record["results"] = {name: sorted(p.name for p in (out / name).glob("results.*"))
                     for name in ("audit", "report", "augshift", "position_attack", "channel_position")}
print("RECORD " + json.dumps(record))
"""


@pytest.fixture(scope="module")
def jax_record(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_jax")
    script = SCRIPT.replace("REPO", repr(str(REPO))).replace("OUT", repr(str(out)))
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=1800)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RECORD ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    return json.loads(lines[-1][len("RECORD "):])


def test_without_tensorflow_the_entry_points_default_to_jax(jax_record):
    assert jax_record["backend"] == "jax"


@pytest.mark.parametrize("label", ["location", "classification", "channel_position", "audit", "evaluate",
                                   "augshift", "position_attack"])
def test_each_experiment_runs_on_jax_without_tensorflow(jax_record, label):
    assert jax_record["codes"][label] == 0, jax_record["errors"][label]


def test_reports_are_written(jax_record):
    results = jax_record["results"]
    for name in ("audit", "report", "augshift", "position_attack", "channel_position"):
        assert "results.json" in results[name], (name, results[name])


def test_a_resumed_run_is_bit_identical_on_jax(jax_record):
    assert jax_record["codes"]["interrupted"] == 130 and jax_record["backup_after_interrupt"]
    assert jax_record["codes"]["resumed"] == 0
    assert jax_record["resumed_bit_identical"]


def test_a_rerun_reuses_the_finished_run(jax_record):
    assert jax_record["codes"]["rerun"] == 0 and jax_record["rerun_kept_run"]


def test_the_backend_is_part_of_the_run_identity(jax_record):
    assert jax_record["fingerprint"]["keras_backend"] == "jax"
    assert jax_record["run"]["keras_backend"] == "jax"
    assert jax_record["codes"]["other_backend"] == 1
    (line,) = jax_record["errors"]["other_backend"]
    assert "keras_backend" in line and "tensorflow" in line and "--overwrite" in line


def test_the_dtype_policy_is_part_of_the_run_identity_and_is_used(jax_record):
    (line,) = jax_record["errors"]["other_policy"]
    assert jax_record["codes"]["other_policy"] == 1 and "dtype_policy" in line
    assert jax_record["codes"]["mixed"] == 0
    assert jax_record["mixed_fingerprint"]["settings"]["dtype_policy"] == "mixed_bfloat16"
    assert "bfloat16" in jax_record["mixed_compute_dtypes"]
    assert jax_record["policy_after_run"] == "float32"
    assert "dtype_policy" not in jax_record["fingerprint"]["settings"]  # float32 runs keep their old identity


def test_savedmodel_and_tensorboard_are_left_out_with_a_notice(jax_record):
    assert "model.keras" in jax_record["files"]
    assert "saved_model" not in jax_record["files"] and "logs" not in jax_record["files"]
    assert "TensorFlow is not installed" in jax_record["run"]["export_notice"]


@pytest.mark.parametrize("label, needle", [("tfds", "needs TensorFlow"), ("keras_cv", "keras_gpos[tf]")])
def test_tensorflow_only_sources_refuse_in_one_line(jax_record, label, needle):
    assert jax_record["codes"][label] == 1
    (line,) = jax_record["errors"][label]
    assert line.startswith("train.py: error: ") and needle in line
