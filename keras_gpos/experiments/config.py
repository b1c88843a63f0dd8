"""Frozen experiment configs, and the one place their fields are described.

Each experiment declares a frozen dataclass. `train.py` turns the dataclass
fields into absl flags (help text from `option(help=...)`), passes only the
flags a user set, and the dataclass validates them in `__post_init__`.
The library never reads absl flags.
"""

import dataclasses
import typing

from keras_gpos.base.validation import (
    check_finite,
    check_fraction,
    check_non_negative_int,
    check_one_of,
    check_positive_int,
    check_seed,
)

# Fields that never change a run's result: they stay out of its fingerprint.
# The data enters the fingerprint by its source and size, never by its path
# (`data_dir`), so a run moved to another machine still matches.
NON_RESULT_FIELDS = ("output_dir", "overwrite", "verbose", "data_dir", "tfds_download", "audit_every", "budget_s")
# Keras dtype policies an experiment trains under (`--dtype_policy`): the mixed ones compute in 16 bits and
# keep float32 variables (Keras wraps the optimizer in a loss scale for mixed_float16).
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_DTYPE_POLICY = "float32"


def option(default, help):  # noqa: A002 - mirrors absl's argument name
    """A dataclass field with a help text for the command line."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults; configs are frozen")
    return dataclasses.field(default=default, metadata={"help": help})


def field_help(field):
    return field.metadata.get("help", "")


def field_kind(field):
    """`(kind, element type)` of a config field: scalar or tuple."""
    annotation = field.type
    if isinstance(annotation, str):
        annotation = eval(annotation, {"typing": typing, "tuple": tuple})  # noqa: S307
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return "tuple", typing.get_args(annotation)[0]
    if origin is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return "optional", args[0]
    return "scalar", annotation


def _check_float_fields(config):
    """Every float (or tuple-of-float) field holds finite numbers."""
    for field in dataclasses.fields(config):
        kind, element = field_kind(field)
        if element is not float:
            continue
        value = getattr(config, field.name)
        for item in (value if kind == "tuple" else (value,)):
            check_finite(item, field.name)


@dataclasses.dataclass(frozen=True)
class CommonConfig:
    """Settings shared by every experiment."""

    output_dir: str = option("runs/default", "Folder for checkpoints, logs, models and results.")
    seed: int = option(0, "Seed of data order, initialisation and random layers (0 .. 2**31-1).")
    epochs: int = option(4, "Training epochs (the paper: 20; flags/paper/).")
    batch_size: int = option(48, "Global batch size (split across replicas).")
    learning_rate: float = option(1e-3, "Adam learning rate.")
    beta_1: float = option(0.5, "Adam beta_1 (the paper uses 0.5).")
    strategy: str = option(
        "auto", "auto|one_device|mirrored|multi_worker_mirrored|tpu. On JAX: auto = data parallel over several "
        "local GPUs/TPUs, else one device; one_device = one device; mirrored = data parallel over every local "
        "device (CPU devices included); tpu = over the local TPU cores; multi_worker_mirrored is refused "
        "(one host only).")
    dtype_policy: str = option(
        DEFAULT_DTYPE_POLICY, "Keras dtype policy of the models: " + "|".join(DTYPE_POLICIES) + " (part of the "
        "run's fingerprint).")
    deterministic: bool = option(False, "Bit-identical CPU runs and resumes: TensorFlow's op determinism (JAX on "
                                        "a CPU is deterministic already).")
    verbose: int = option(2, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
    overwrite: bool = option(False, "Replace a finished run, or one with other settings, in the output dir.")

    def __post_init__(self):
        from keras_gpos.training.distribution import STRATEGIES

        from keras_gpos.experiments.sweeps import check_unique

        _check_float_fields(self)
        check_unique(self)
        check_seed(self.seed, "seed")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}.")
        check_fraction(self.beta_1, "beta_1", low_open=False)
        check_one_of(self.strategy, "strategy", STRATEGIES)
        check_one_of(self.dtype_policy, "dtype_policy", DTYPE_POLICIES)
        check_one_of(self.verbose, "verbose", (0, 1, 2))
        if not isinstance(self.output_dir, str) or not self.output_dir.strip():
            raise ValueError(f"output_dir must name a folder; got {self.output_dir!r}.")
        if self.output_dir != self.output_dir.strip():
            raise ValueError(f"output_dir must not start or end with spaces; got {self.output_dir!r}.")

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def result_settings(config, exclude=()):
    """The config fields that change a run's result (its fingerprint's settings).

    Fields the config says its data source does not read (`unread_fields()`,
    e.g. the embedded set's sizes for CIFAR-10 runs) are left out too, so a
    changed default of an unused field never makes a run look different; so is
    the default `dtype_policy` (float32), which every run had before the flag.
    """
    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    unread = config.unread_fields() if hasattr(config, "unread_fields") else ()
    if values.get("dtype_policy") == DEFAULT_DTYPE_POLICY:
        unread = (*unread, "dtype_policy")  # runs from before the flag (float32) keep their fingerprint
    return {key: value for key, value in sorted(values.items())
            if key not in NON_RESULT_FIELDS and key not in exclude and key not in unread}


def upgrade_record(config_class, record):
    """A config built from a recorded `config.json` dict; fields added since get their defaults.

    Raises:
        ValueError: a key the config class does not know (named).
    """
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown} for {config_class.__name__}.")
    values = {}
    for field in dataclasses.fields(config_class):
        if field.name in record:
            value = record[field.name]
            kind, _ = field_kind(field)
            values[field.name] = tuple(value) if kind == "tuple" and isinstance(value, list) else value
    return config_class(**values)


@dataclasses.dataclass(frozen=True)
class ImageDataConfig(CommonConfig):
    """An image classification set, optionally subsampled, with a held-out
    validation split for model selection (see `location.prepare_data`)."""

    dataset: str = option("embedded", "embedded | cifar10_binary | tfds:<name>.")
    data_dir: str = option("", "Folder of the dataset files (cifar10_binary) or TFDS data dir.")
    tfds_download: bool = option(False, "Allow TFDS to download data (needs a network).")
    train_examples: int = option(0, "Use only the first N training images (0: all).")
    embedded_train_size: int = option(2000, "Images in the embedded training set.")
    embedded_test_size: int = option(300, "Images in the embedded test set.")
    val_fraction: float = option(0.1, "Share of training images held out for model selection.")

    def unread_fields(self):
        """Fields the chosen data source never reads (left out of the run's fingerprint)."""
        return () if self.dataset == "embedded" else ("embedded_train_size", "embedded_test_size")

    def __post_init__(self):
        super().__post_init__()
        check_positive_int(self.embedded_train_size, "embedded_train_size")
        check_positive_int(self.embedded_test_size, "embedded_test_size")
        check_non_negative_int(self.train_examples, "train_examples")
        check_fraction(self.val_fraction, "val_fraction")
        if self.dataset == "cifar10_binary" and not self.data_dir:
            raise ValueError("dataset=cifar10_binary needs --data_dir (a folder of .bin files).")
        if not (self.dataset in ("embedded", "cifar10_binary") or (
                self.dataset.startswith("tfds:") and len(self.dataset) > 5)):
            raise ValueError(
                f"Unknown dataset {self.dataset!r}; expected one of ['embedded', 'cifar10_binary', "
                "'tfds:<name>']."
            )
