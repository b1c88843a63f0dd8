"""Frozen experiment configs, and the one place their fields are described.

Each experiment declares a frozen dataclass. `train.py` turns the dataclass
fields into absl flags (help text from `option(help=...)`), passes only the
flags a user set, and the dataclass validates them in `__post_init__`.
The library never reads absl flags.
"""

import dataclasses
import typing


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


@dataclasses.dataclass(frozen=True)
class CommonConfig:
    """Settings shared by every experiment."""

    output_dir: str = option("runs/default", "Folder for checkpoints, logs, models and results.")
    seed: int = option(0, "Seed of data order, initialisation and random layers.")
    epochs: int = option(20, "Training epochs.")
    batch_size: int = option(48, "Global batch size (split across replicas).")
    learning_rate: float = option(1e-3, "Adam learning rate.")
    beta_1: float = option(0.5, "Adam beta_1 (the paper uses 0.5).")
    strategy: str = option("auto", "auto|one_device|mirrored|multi_worker_mirrored|tpu.")
    deterministic: bool = option(False, "Enable TF op determinism (bit-identical CPU runs).")
    verbose: int = option(2, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
    overwrite: bool = option(False, "Retrain even if the output dir holds a finished run.")

    def __post_init__(self):
        from keras_gpos.training.distribution import STRATEGIES

        positive_int(self, "epochs", "batch_size")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}.")
        if not 0.0 <= self.beta_1 < 1.0:
            raise ValueError(f"beta_1 must be in [0, 1); got {self.beta_1}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; expected one of {list(STRATEGIES)}.")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2; got {self.verbose}.")
        if not self.output_dir:
            raise ValueError("output_dir must not be empty.")

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class ImageDataConfig(CommonConfig):
    """An image classification set, optionally subsampled, with a held-out
    validation split for model selection (see `location.prepare_data`)."""

    dataset: str = option("embedded", "embedded | cifar10_binary | tfds:<name>.")
    data_dir: str = option("", "Folder of the dataset files (cifar10_binary) or TFDS data dir.")
    tfds_download: bool = option(False, "Allow TFDS to download data (needs a network).")
    train_examples: int = option(0, "Use only the first N training images (0: all).")
    embedded_train_size: int = option(3000, "Images in the embedded training set.")
    embedded_test_size: int = option(600, "Images in the embedded test set.")
    val_fraction: float = option(0.1, "Share of training images held out for model selection.")

    def __post_init__(self):
        super().__post_init__()
        positive_int(self, "embedded_train_size", "embedded_test_size")
        if self.train_examples < 0:
            raise ValueError(f"train_examples must be >= 0; got {self.train_examples}.")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1); got {self.val_fraction}.")
        if self.dataset == "cifar10_binary" and not self.data_dir:
            raise ValueError("dataset=cifar10_binary needs --data_dir (a folder of .bin files).")


def positive_int(config, *names):
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")


def one_of(config, name, allowed):
    value = getattr(config, name)
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {list(allowed)}.")
