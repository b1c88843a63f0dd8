"""GAPNet / PermuteNet classifiers: a backbone plus one of two heads.

* `gapnet`: a 3x3 convolution straight to the class count, then global
  average pooling; the pooled map *is* the logit vector (no dense layer).
* `fc`: global average pooling, then a dense layer. With
  `permute_at="pooled"` a `ChannelPermutation` sits between the two: the
  paper's PermuteNet.
"""

import keras

from keras_gpos.layers.padding import PaddedConv2D, check_padding_mode
from keras_gpos.layers.permutation import ChannelPermutation
from keras_gpos.models import resnet, vgg

ARCHITECTURES = ("resnet", "vgg")
HEADS = ("gapnet", "fc")


def permute_positions(arch):
    """Where a `ChannelPermutation` may go for `arch` (besides None)."""
    stages = resnet.PERMUTE_STAGES if arch == "resnet" else vgg.VGG_PERMUTE_STAGES
    return stages + ("head", "pooled")


def check_classifier_args(arch="resnet", head="gapnet", padding="zero", depth=18, permute_at=None,
                          pooled_batchnorm=False):
    """Checks the settings that shape a classifier, for `build_classifier` and the experiments' configs.

    Raises:
        ValueError: an unknown arch, head, padding mode or depth; a
            `permute_at` the arch does not have; a pooled permutation or
            pooled BatchNorm without the fc head.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {list(ARCHITECTURES)}.")
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; expected one of {list(HEADS)}.")
    check_padding_mode(padding)
    depths = resnet.RESNET_BLOCKS if arch == "resnet" else vgg.VGG_STAGES
    if depth not in depths:
        raise ValueError(f"depth {depth!r} is not a {arch} depth; expected one of {sorted(depths)}.")
    positions = permute_positions(arch)
    if permute_at is not None and permute_at not in positions:
        raise ValueError(
            f"permute_at={permute_at!r} is out of range for arch {arch!r}; "
            f"expected None or one of {list(positions)}."
        )
    if permute_at == "pooled" and head != "fc":
        raise ValueError(
            "permute_at='pooled' needs head='fc': the gapnet head's pooled "
            "vector is the logits, so permuting it would scramble the classes."
        )
    if pooled_batchnorm and head != "fc":
        raise ValueError("pooled_batchnorm needs head='fc' (the gapnet head has no pooled vector).")


def _valid_input_size(size, arch, depth, output_stride):
    """Smallest input size whose valid-convolution map is as large as the
    zero-padded network's map for `size` (the paper's 'no padding' setup:
    enlarge the input by the border the convolutions eat)."""
    if arch == "resnet":
        target = -(-size // output_stride)
        output = lambda s: resnet.resnet_output_size(s, depth, output_stride)
    else:
        target = size // 16
        output = lambda s: vgg.vgg_output_size(s, depth)
    candidate = size
    while output(candidate) < target:
        candidate += 1
        if candidate > 8 * size + 512:
            raise ValueError(f"No input size gives a {target}px map for padding none.")
    return candidate


def build_classifier(
    num_classes,
    input_shape=(96, 96, 3),
    arch="resnet",
    depth=18,
    width=64,
    padding="zero",
    head="gapnet",
    permute_at=None,
    permute_per_sample=False,
    output_stride=16,
    seed=None,
    name=None,
    blur_kernel_size=None,
    sync_batchnorm=False,
    pooled_batchnorm=False,
    downsample="stride",
):
    """Builds a GAPNet or PermuteNet classifier as a functional model.

    Args:
        num_classes: int. Outputs (grid cells for location, classes for
            objects).
        input_shape: tuple. `(height, width, channels)` of the (normalised)
            canvas.
        arch: str. `"resnet"` or `"vgg"`.
        depth: int. ResNet 10/18/34/50 (50 stacks bottleneck blocks) or VGG
            11/13/16.
        width: int. Channels of the first stage (64 in the paper); at ResNet
            depth 50 the bottleneck width, so `features` has `32 * width`
            channels (`8 * width` for the other ResNets).
        padding: str. Border mode of every convolution, see
            `keras_gpos.layers.PADDING_MODES`. With `"none"` the input is first
            resized up so the final map keeps the zero-padded network's size.
        head: str. `"gapnet"` or `"fc"`.
        permute_at: None or where to insert a `ChannelPermutation`: a stage
            name (`"stage1"`..), `"head"` (the head's input) or `"pooled"`
            (after global pooling; `fc` head only; the paper's PermuteNet).
        permute_per_sample: bool. One permutation per sample instead of per
            batch.
        output_stride: int. ResNet only: 16 or 8.
        seed: int or None. Seed of the permutation's random stream.
        name: str or None. Model name.
        blur_kernel_size: None or an int in 1..7. ResNet only: anti-alias
            the strided convolutions with `BlurPool2D` of this binomial
            size (Zhang 2019). None (default) builds the plain network.

        sync_batchnorm: bool. Synchronise batch-norm statistics across
            replicas (TensorFlow backend; set it when building inside a
            multi-replica strategy scope).
        downsample: `"stride"` or `"aps"` (ResNet only): adaptive polyphase
            sampling at every downsampling (`keras_gpos.layers.
            PolyphaseDownsample2D`); with `padding="circular"` the classifier
            gives identical outputs for every circular shift of its input.
        pooled_batchnorm: bool. `fc` head only: a per-channel
            `BatchNormalization` on the pooled vector, before any
            permutation. It normalises each channel over the batch, not each
            sample over its channels, so the channel sum (all a dense layer
            behind a fresh permutation can read) survives.

    Returns:
        A `keras.Model` mapping canvases to logits. The last backbone map is
        the layer `features`, the pooled vector (fc head) the layer `pooled`.
    """
    check_classifier_args(arch, head, padding, depth, permute_at, pooled_batchnorm)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}.")
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels); got {input_shape!r}."
        )
    if arch == "vgg" and output_stride != 16:
        raise ValueError("output_stride applies to arch='resnet' only.")
    if arch == "vgg" and blur_kernel_size is not None:
        raise ValueError("blur_kernel_size applies to arch='resnet' only.")
    if arch == "vgg" and downsample != "stride":
        raise ValueError("downsample='aps' applies to arch='resnet' only.")
    resnet.check_blur_kernel_size(blur_kernel_size, padding)

    inputs = keras.Input(shape=tuple(input_shape), name="canvas")
    x = inputs
    if padding == "none":
        h = _valid_input_size(input_shape[0], arch, depth, output_stride)
        w = _valid_input_size(input_shape[1], arch, depth, output_stride)
        x = keras.layers.Resizing(h, w, name="enlarge_for_valid_conv")(x)
    stage_permute = permute_at if permute_at not in ("head", "pooled") else None
    if arch == "resnet":
        x = resnet.resnet_features(
            x, depth, width, padding, output_stride, stage_permute,
            permute_per_sample, seed, blur_kernel_size=blur_kernel_size,
            sync_batchnorm=sync_batchnorm, downsample=downsample,
        )
    else:
        x = vgg.vgg_features(
            x, depth, width, padding, stage_permute, permute_per_sample, seed,
            sync_batchnorm=sync_batchnorm,
        )
    x = keras.layers.Identity(name="features")(x)
    if permute_at == "head":
        x = ChannelPermutation(
            per_sample=permute_per_sample, seed=seed, name="permute_head"
        )(x)
    if head == "gapnet":
        x = PaddedConv2D(
            num_classes, 3, padding_mode=padding,
            use_bias=True, kernel_initializer="glorot_uniform", name="head_conv",
        )(x)
        outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
        if pooled_batchnorm:
            x = keras.layers.BatchNormalization(
                momentum=0.9, synchronized=sync_batchnorm, name="pooled_bn"
            )(x)
        if permute_at == "pooled":
            x = ChannelPermutation(
                per_sample=permute_per_sample, seed=seed, name="permute_pooled"
            )(x)
        outputs = keras.layers.Dense(num_classes, name="logits")(x)
    if name is None:
        name = f"{arch}{depth}_{'permutenet' if permute_at else head}"
    return keras.Model(inputs, outputs, name=name)
