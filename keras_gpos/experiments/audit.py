"""The `audit` experiment: audit one or more saved models on any supported data source.

`--models` takes `.keras` files and run directories (glob patterns allowed),
several at once, into one report. A run directory's `run.json` gives the
normalisation and the canvas background the model was trained with; a
`keras.applications` model (`--application=resnet50`, random weights unless
`--weights=imagenet`, which needs a network) gets its own `preprocess_input`.
Nothing is trained: the run is the audit.
"""

import dataclasses
import glob
import pathlib

import numpy as np
from absl import logging

from keras_gpos.experiments.config import option
from keras_gpos.base.validation import check_non_negative_int, check_one_of, check_positive_int, check_seed

APPLICATIONS = {
    "resnet50": ("ResNet50", "resnet50"),
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2"),
    "resnet101": ("ResNet101", "resnet"),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet"),
}
PREPROCESSING = ("auto", "unit", "raw", "dataset")


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """Audit saved models (or a keras.applications model) on a data source."""

    output_dir: str = option("results/audit", "Where results.json, results.md and results.png go.")
    models: tuple[str, ...] = option((), ".keras files and/or run directories (glob patterns allowed).")
    skip_missing: bool = option(False, "Skip --models patterns that match nothing (else an error).")
    application: str = option("", "Audit a keras.applications model: " + "|".join(APPLICATIONS) + ".")
    weights: str = option("none", "Weights of --application: none (random, offline) or imagenet (downloads).")
    input_size: int = option(224, "Input side of --application.")
    dataset: str = option("embedded", "embedded | cifar10_binary | tfds:<name> | folder (segmentation).")
    data_dir: str = option("", "Folder of the dataset files.")
    split: str = option("test", "Which split's images to audit: test or train.")
    images: int = option(256, "Images to audit (the first N of the split).")
    embedded_test_size: int = option(600, "Images in the embedded test set.")
    preprocess: str = option("auto", "auto (run.json's normalisation, the application's preprocess_input, "
                                     "else pixels/255) | unit (pixels/255) | raw (0..255) | dataset "
                                     "(the split's own mean/std).")
    grid_size: int = option(3, "k for the k x k location canvas.")
    background: str = option("auto", "Canvas fill: auto (from run.json, else 0), a number, or mean.")
    layers: tuple[str, ...] = option((), "Layers to audit (default: stage ends spread over the depth).")
    max_layers: int = option(4, "How many default layers.")
    probe_images: int = option(512, "Images whose canvases feed the probes.")
    impact_n: tuple[int, ...] = option((), "Channel counts of the top-N vs random ablation (needs labels).")
    random_draws: int = option(10, "Random channel sets per N.")
    batch_size: int = option(16, "Images per forward pass.")
    seed: int = option(0, "Seed of the probe split and random channel sets.")
    verbose: int = option(1, "0 silent, 1 progress bar.")
    dtype_policy: str = option(
        "float32", "Keras dtype policy of --application models: float32|mixed_float16|mixed_bfloat16 (saved "
        "models keep the policy they were saved with).")
    overwrite: bool = option(False, "Unused: an audit rewrites its report (kept for the shared CLI).")

    def __post_init__(self):
        from keras_gpos.experiments.config import _check_float_fields

        _check_float_fields(self)
        if not self.models and not self.application:
            raise ValueError("give --models (saved models or run directories) or --application.")
        if self.application:
            check_one_of(self.application, "application", tuple(APPLICATIONS))
        check_one_of(self.weights, "weights", ("none", "imagenet"))
        check_one_of(self.split, "split", ("test", "train"))
        from keras_gpos.experiments.config import DTYPE_POLICIES

        check_one_of(self.dtype_policy, "dtype_policy", DTYPE_POLICIES)
        check_one_of(self.preprocess, "preprocess", PREPROCESSING)
        for name in ("input_size", "images", "embedded_test_size", "grid_size", "max_layers", "probe_images",
                     "batch_size"):
            check_positive_int(getattr(self, name), name)
        check_non_negative_int(self.random_draws, "random_draws")
        check_seed(self.seed)
        check_one_of(self.verbose, "verbose", (0, 1, 2))
        if self.background not in ("auto", "mean"):
            try:
                float(self.background)
            except ValueError:
                raise ValueError(f"background must be auto, mean or a number; got {self.background!r}.") from None
        if self.grid_size < 2:
            raise ValueError(f"grid_size must be >= 2; got {self.grid_size}.")
        if not self.output_dir.strip():
            raise ValueError("output_dir must name a folder.")

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def expand_models(patterns, skip_missing=False):
    """The model paths of `--models`: each a `.keras` file or a run directory holding `model.keras`.

    Entries that resolve to one model file (a run directory and its `model.keras`, overlapping
    patterns, links) are audited once, as `evaluate.py` reads one run once: a model audited twice
    would sit twice in one correction family.
    """
    paths, seen = [], set()
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            if skip_missing:
                logging.info("--models pattern %r matches nothing; skipped", pattern)
                continue
            raise ValueError(f"--models pattern {pattern!r} matches nothing.")
        for match in matches:
            path = pathlib.Path(match)
            if path.is_dir() and not (path / "model.keras").exists():
                raise ValueError(f"--models entry {path} is a folder without model.keras (not a run directory).")
            key = (path / "model.keras" if path.is_dir() else path).resolve()
            if key in seen:
                logging.info("--models entry %s names %s again; audited once", path, key)
                continue
            seen.add(key)
            paths.append(path)
    return paths


def load_data(config):
    """`(uint8 images, labels or masks, source)` of the split to audit."""
    if config.dataset == "folder":
        from keras_gpos.data.segmentation import load_camvid_folders

        train, val = load_camvid_folders(config.data_dir)
        data = val if config.split == "test" else train
        data = data.head(config.images)
        return data.images, data.masks, data.source, data.ignore_label
    from keras_gpos.data import load_image_dataset

    train, test = load_image_dataset(config.dataset, data_dir=config.data_dir or None, seed=0,
                                     embedded_test_size=config.embedded_test_size)
    data = (test if config.split == "test" else train).head(config.images)
    return data.images, data.labels, data.source, None


def _recomputed_normalization(summary):
    """The training split's statistics of an AugShift run that did not record them (before 0.2)."""
    if summary.get("experiment") != "augshift" or not isinstance(summary.get("config"), dict):
        return None
    from keras_gpos.experiments.augshift import AugShiftConfig, prepare_data
    from keras_gpos.experiments.config import upgrade_record

    record = {k: v for k, v in summary["config"].items()
              if k not in ("variant", "consistency_weight", "seed", "probe_epochs")}
    return prepare_data(upgrade_record(AugShiftConfig, record)).normalization()


def _model_and_preprocessing(config, path):
    """`(model, normalise function, background, name)` for one `--models` entry."""
    from keras_gpos.base.files import load_keras_model

    run_json = path / "run.json" if path.is_dir() else None
    model = load_keras_model(path / "model.keras" if path.is_dir() else path)
    mean = std = None
    background = 0.0
    if run_json is not None and run_json.exists():
        from keras_gpos.reporting.schema import read_run_summary

        summary = read_run_summary(path)
        normalization = summary.get("normalization") or _recomputed_normalization(summary)
        if normalization:
            mean, std = np.asarray(normalization["mean"]), np.asarray(normalization["std"])
        recorded = (summary.get("config") or {})
        background = {"mean": "mean"}.get(recorded.get("background"), float(recorded.get("fill", 0.0) or 0.0))
    name = f"{path.parent.name}/{path.name}" if path.is_dir() else path.name

    def normalise(images, own_mean, own_std):
        pixels = images.astype("float32")
        if config.preprocess == "raw":
            return pixels
        if config.preprocess == "dataset":
            return (pixels / 255.0 - own_mean) / own_std
        if config.preprocess == "auto" and mean is not None:
            return (pixels / 255.0 - mean) / std
        return pixels / 255.0

    return model, normalise, background, name


def _application(config):
    import keras

    class_name, module = APPLICATIONS[config.application]
    if config.weights == "imagenet":
        logging.info("--weights=imagenet downloads the %s weights (needs a network)", class_name)
    model = getattr(keras.applications, class_name)(
        input_shape=(config.input_size, config.input_size, 3),
        weights=None if config.weights == "none" else "imagenet", include_top=True)
    preprocess = getattr(keras.applications, module).preprocess_input

    def normalise(images, own_mean, own_std):
        pixels = images.astype("float32")
        if config.preprocess in ("auto",):
            return np.asarray(preprocess(pixels.copy()))
        if config.preprocess == "unit":
            return pixels / 255.0
        if config.preprocess == "dataset":
            return (pixels / 255.0 - own_mean) / own_std
        return pixels

    return model, normalise, 0.0, f"keras.applications.{class_name} ({config.weights} weights)"


def dataset_statistics(images):
    """`(mean, std)` per channel of uint8 images, as fractions (`--preprocess=dataset`)."""
    pixels = images.reshape(-1, images.shape[-1])
    return pixels.mean(0) / 255.0, np.maximum(pixels.std(0) / 255.0, 1e-3)


def audit_entry(config, entry, images, labels, ignore_label=None, statistics=None):
    """The audit dict of one model entry (`(model, normalise, background, name)`) on uint8 `images`."""
    from keras_gpos.audit import position_audit

    model, normalise, background, name = entry
    own_mean, own_std = statistics or dataset_statistics(images)
    fill = background if config.background == "auto" else (
        "mean" if config.background == "mean" else float(config.background))
    logging.info("auditing %s on %d images", name, len(images))
    audit = position_audit(
        model, (normalise(images, own_mean, own_std), labels),
        layers=list(config.layers) or None, grid_size=config.grid_size, background=fill,
        probe_images=config.probe_images, impact_n=config.impact_n or None, random_draws=config.random_draws,
        ignore_label=ignore_label, batch_size=config.batch_size, max_layers=config.max_layers,
        seed=config.seed, verbose=config.verbose)
    return {**audit.to_dict(), "model": name}


def audit_run_directory(config, run_dir, images, labels):
    """The audit dict of one run directory's model (its run.json's normalisation and canvas background)."""
    return audit_entry(config, _model_and_preprocessing(config, pathlib.Path(run_dir)), images, labels)


def run_audit(config):
    """Audits every model of the config on the same images; writes one report.

    Returns:
        The results.json content (a dict with one audit per model).
    """
    from keras_gpos.reporting.audit import write_report
    from keras_gpos.runs.directory import check_report_folder

    check_report_folder(config.output_dir)
    entries = [_model_and_preprocessing(config, path) for path in expand_models(config.models, config.skip_missing)]
    if config.application:
        entries.append(_application(config))
    if not entries:
        raise ValueError("no model to audit: every --models pattern matched nothing.")
    images, labels, source, ignore_label = load_data(config)
    statistics = dataset_statistics(images)
    audits = [audit_entry(config, entry, images, labels, ignore_label, statistics) for entry in entries]
    if len(audits) > 1:  # one report: one Holm correction over every model's verdicts
        from keras_gpos.audit.verdicts import correct_audits

        audits = correct_audits(audits)
    report = write_report(config.output_dir, audits,
                          {"config": config.to_dict(), "data": {"source": source, "images": int(len(images))}})
    logging.info("audit:\n%s", report.text)
    logging.info("results: %s, %s, %s", report.json, report.markdown, report.plot)
    return report.payload
