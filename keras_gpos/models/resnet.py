"""CIFAR-style ResNet with a selectable border mode for every convolution.

The paper's backbone is a ResNet-18 whose stem is a 7x7 stride-2 convolution
*without* the usual max-pool, with stages of 64, 128, 256 and 512 channels
(strides 1, 2, 2, 2): a 96x96 canvas yields a 6x6 map. Depth 50 (the depth
of the paper's DeepLabV3 backbone) keeps this stem and these strides and
stacks bottleneck blocks in torchvision's v1.5 layout (1x1 reduce, 3x3 with
the stride, 1x1 expand by 4): its stages end in 256 ... 2048 channels, and
at width 64 it has the parameters of torchvision's ResNet-50 without its
classifier (whose max-pool has none).
`depth` and `width` shrink the network for CPU-sized runs; `output_stride=8`
dilates the last stage for dense prediction. `blur_kernel_size`
anti-aliases the strided blocks (Zhang 2019): the strided 3x3 convolution
runs at stride 1, BatchNorm, ReLU, then `BlurPool2D` with stride 2; the
projection shortcut blurs and subsamples before its 1x1 convolution. The
stem stays strided, as in Zhang's anti-aliased ResNets.
"""

import dataclasses

import keras

from keras_gpos.layers.blur_pool import BLUR_KERNEL_SIZES, BlurPool2D
from keras_gpos.layers.padding import PaddedConv2D, check_padding_mode
from keras_gpos.layers.permutation import ChannelPermutation
from keras_gpos.layers.polyphase import PolyphaseDownsample2D

DOWNSAMPLING = ("stride", "aps")
# A strided 1x1 projection on fewer input channels than this is sampled first (see _add_shortcut).
ONEDNN_SAFE_CHANNELS = 16

RESNET_BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}
# The block each depth stacks, as in torchvision: BasicBlocks up to 34,
# bottlenecks (whose last 1x1 expands by BOTTLENECK_EXPANSION) from 50.
RESNET_BLOCK_TYPES = {10: "basic", 18: "basic", 34: "basic", 50: "bottleneck"}
BOTTLENECK_EXPANSION = 4
PERMUTE_STAGES = ("stage1", "stage2", "stage3", "stage4")


def _center_crop_to(x, reference, name):
    """Crops `x` spatially to the size of `reference` (valid-conv shortcuts)."""
    dh = x.shape[1] - reference.shape[1]
    dw = x.shape[2] - reference.shape[2]
    if dh == 0 and dw == 0:
        return x
    if dh < 0 or dw < 0:
        raise ValueError(
            f"Shortcut {x.shape} is smaller than the residual branch "
            f"{reference.shape}; the input is too small for padding 'none'."
        )
    return keras.layers.Cropping2D(
        ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)), name=name
    )(x)


@dataclasses.dataclass(frozen=True)
class _BlockOptions:
    """The settings every residual block of one network shares."""

    padding: str
    bn_momentum: float
    blur_kernel_size: int | None
    sync_batchnorm: bool
    downsample: str

    def moves_stride(self, stride):
        """Whether a strided convolution runs at stride 1 and a `BlurPool2D`
        or `PolyphaseDownsample2D` after its ReLU downsamples instead."""
        return stride > 1 and (self.blur_kernel_size is not None or self.downsample == "aps")


def _batch_norm(x, name, options):
    return keras.layers.BatchNormalization(
        momentum=options.bn_momentum, synchronized=options.sync_batchnorm, name=name
    )(x)


def _strided_conv3x3(x, filters, stride, dilation, name, index, options):
    """The block's strided 3x3 convolution, BatchNorm and ReLU, named
    `{name}_conv{index}` etc.; returns the map and the APS phase (or None)."""
    moved = options.moves_stride(stride)
    y = PaddedConv2D(
        filters, 3, strides=1 if moved else stride, padding_mode=options.padding,
        dilation_rate=dilation, use_bias=False, name=f"{name}_conv{index}",
    )(x)
    y = _batch_norm(y, f"{name}_bn{index}", options)
    y = keras.layers.ReLU(name=f"{name}_relu{index}")(y)
    if moved and options.downsample == "aps":
        return PolyphaseDownsample2D(blur_kernel_size=options.blur_kernel_size, return_phase=True,
                                     name=f"{name}_aps")(y)
    if moved:
        y = BlurPool2D(options.blur_kernel_size, strides=stride, name=f"{name}_blur")(y)
    return y, None


def _add_shortcut(x, y, stride, phase, name, options):
    """Adds block input `x` to residual branch `y` and applies the final ReLU.

    Where the shape changes, the shortcut is a 1x1 projection; in a block
    that moved its stride (`_BlockOptions.moves_stride`), the shortcut is
    blurred or polyphase-sampled first (at the main branch's `phase`), then
    projected at stride 1.
    """
    shortcut = x
    filters = y.shape[-1]
    moved = options.moves_stride(stride)
    if stride != 1 or x.shape[-1] != filters:
        if moved and options.downsample == "aps":
            shortcut = PolyphaseDownsample2D(blur_kernel_size=options.blur_kernel_size,
                                             name=f"{name}_proj_aps")([shortcut, phase])
        elif moved:
            shortcut = BlurPool2D(
                options.blur_kernel_size, strides=stride, name=f"{name}_proj_blur"
            )(shortcut)
        projection_stride = 1 if moved else stride
        if projection_stride > 1 and shortcut.shape[-1] < ONEDNN_SAFE_CHANNELS:
            # Sample first, then project at stride 1: the same function and weights as a strided
            # 1x1 convolution, whose weight gradient on < 16 input channels writes past a buffer
            # in TF 2.21's oneDNN CPU kernels (uxlfoundation/oneDNN#6035) and aborts narrow runs.
            shortcut = keras.layers.AveragePooling2D(
                pool_size=1, strides=projection_stride, name=f"{name}_proj_subsample")(shortcut)
            projection_stride = 1
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=projection_stride, use_bias=False,
            kernel_initializer="he_normal", name=f"{name}_proj",
        )(shortcut)
        shortcut = _batch_norm(shortcut, f"{name}_proj_bn", options)
    shortcut = _center_crop_to(shortcut, y, name=f"{name}_crop")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def basic_block(
    x, filters, stride, dilation, padding, name, bn_momentum=0.9, blur_kernel_size=None,
    sync_batchnorm=False, downsample="stride",
):
    """Two 3x3 convolutions with a residual shortcut (ResNet BasicBlock).

    With `blur_kernel_size` and `stride > 1`, the strided convolution runs at
    stride 1 and a `BlurPool2D` after its ReLU does the downsampling. With
    `downsample="aps"`, a `PolyphaseDownsample2D` does it instead, and the
    projection shortcut samples the block input at the phase the main
    branch chose (so both branches keep the same pixels).
    """
    options = _BlockOptions(padding, bn_momentum, blur_kernel_size, sync_batchnorm, downsample)
    y, phase = _strided_conv3x3(x, filters, stride, dilation, name, 1, options)
    y = PaddedConv2D(
        filters, 3, padding_mode=padding, dilation_rate=dilation,
        use_bias=False, name=f"{name}_conv2",
    )(y)
    y = _batch_norm(y, f"{name}_bn2", options)
    return _add_shortcut(x, y, stride, phase, name, options)


def bottleneck_block(
    x, filters, stride, dilation, padding, name, bn_momentum=0.9, blur_kernel_size=None,
    sync_batchnorm=False, downsample="stride",
):
    """1x1 reduce, 3x3, 1x1 expand to `4 * filters`, with a residual shortcut.

    torchvision's v1.5 bottleneck: the stride and the dilation sit on the
    3x3 convolution. With `blur_kernel_size` or `downsample="aps"` and
    `stride > 1`, the 3x3 runs at stride 1 and the `BlurPool2D` or
    `PolyphaseDownsample2D` follows its ReLU, before the expanding 1x1, as in
    Zhang's anti-aliased and Chaman & Dokmanic's APS ResNet-50s; the
    projection shortcut samples the block input at the phase APS chose.
    The 1x1 convolutions are plain `Conv2D`s: a 1x1 kernel reads no border,
    so no padding mode applies to them.
    """
    options = _BlockOptions(padding, bn_momentum, blur_kernel_size, sync_batchnorm, downsample)

    def conv1x1_bn(y, channels, index):
        y = keras.layers.Conv2D(
            channels, 1, use_bias=False, kernel_initializer="he_normal", name=f"{name}_conv{index}"
        )(y)
        return _batch_norm(y, f"{name}_bn{index}", options)

    y = keras.layers.ReLU(name=f"{name}_relu1")(conv1x1_bn(x, filters, 1))
    y, phase = _strided_conv3x3(y, filters, stride, dilation, name, 2, options)
    y = conv1x1_bn(y, BOTTLENECK_EXPANSION * filters, 3)
    return _add_shortcut(x, y, stride, phase, name, options)


_BLOCK_FUNCTIONS = {"basic": basic_block, "bottleneck": bottleneck_block}


def resnet_output_size(size, depth=18, output_stride=16):
    """Spatial size of the last feature map for an input of `size` pixels,
    when every convolution is valid (padding mode `none`)."""
    size = (size - 7) // 2 + 1
    strides = _stage_strides(output_stride)
    # Only 3x3 convolutions shrink a valid map: a BasicBlock has two (the
    # first strided), a bottleneck one (strided; its 1x1s keep the size).
    unstrided_3x3s = 1 if RESNET_BLOCK_TYPES[depth] == "basic" else 0
    for stage, blocks in enumerate(RESNET_BLOCKS[depth]):
        for block in range(blocks):
            stride = strides[stage] if block == 0 else 1
            dilation = _stage_dilations(output_stride)[stage]
            size = (size - 1 - 2 * dilation) // stride + 1 - 2 * dilation * unstrided_3x3s
    return size


def _stage_strides(output_stride):
    return {16: (1, 2, 2, 2), 8: (1, 2, 2, 1)}[output_stride]


def _stage_dilations(output_stride):
    return {16: (1, 1, 1, 1), 8: (1, 1, 1, 2)}[output_stride]


def check_blur_kernel_size(blur_kernel_size, padding):
    if blur_kernel_size is None:
        return None
    if not isinstance(blur_kernel_size, int) or isinstance(blur_kernel_size, bool) or (
        blur_kernel_size not in BLUR_KERNEL_SIZES
    ):
        raise ValueError(
            f"blur_kernel_size must be None or one of {list(BLUR_KERNEL_SIZES)}; "
            f"got {blur_kernel_size!r}."
        )
    if padding == "none":
        # resnet_output_size (the valid-convolution size bookkeeping) does
        # not model the blurred stride; refuse rather than mis-size the input.
        raise ValueError("blur_kernel_size cannot be combined with padding 'none'.")
    return blur_kernel_size


def check_resnet_args(depth, width, output_stride):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in RESNET_BLOCKS:
        raise ValueError(
            f"Unknown ResNet depth {depth!r}; expected one of {sorted(RESNET_BLOCKS)}."
        )
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int; got {width!r}.")
    if output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 8 or 16; got {output_stride!r}.")


def resnet_features(
    x,
    depth=18,
    width=64,
    padding="zero",
    output_stride=16,
    permute_at=None,
    permute_per_sample=False,
    seed=None,
    blur_kernel_size=None,
    sync_batchnorm=False,
    downsample="stride",
):
    """Applies the ResNet body to the functional tensor `x`.

    Args:
        x: a symbolic NHWC tensor.
        depth: int. 10, 18 or 34 (BasicBlocks per stage 1-1-1-1, 2-2-2-2,
            3-4-6-3) or 50 (bottlenecks, 3-4-6-3); `RESNET_BLOCK_TYPES`
            says which block each depth uses.
        width: int. Channels of the stem and of stage 1's 3x3 convolutions
            (64 in the paper); later stages use 2x, 4x and 8x. Bottleneck
            blocks expand by 4, so the last map has `8 * width` channels up
            to depth 34 and `32 * width` at depth 50.
        padding: str. Border mode of every 3x3 and 7x7 convolution.
        output_stride: int. 16 (the paper; the stem has no max-pool) or 8:
            as in torchvision's `replace_stride_with_dilation`, the last
            stage runs at stride 1 and dilates its 3x3 convolutions by 2
            (all of them, for either block type; torchvision keeps a dilated
            stage's first 3x3 at the previous dilation).
        permute_at: None or `"stage1"` ... `"stage4"`: insert a
            `ChannelPermutation` on the input of that stage.
        permute_per_sample: bool. Passed to the `ChannelPermutation`.
        seed: int or None. Seed of the `ChannelPermutation`.
        blur_kernel_size: None, or an int in 1..7: anti-alias every strided
            block with a `BlurPool2D` of that binomial size (4 is Zhang's
            ResNet setting). As in Zhang's ResNets the stem convolution
            stays strided: blurring it would quadruple its cost. None keeps
            the plain network, layer names unchanged.

        sync_batchnorm: bool. Batch statistics over the global batch under a
            multi-replica `tf.distribute` strategy (TensorFlow backend only),
            so a distributed run trains like a single-device one.
        downsample: `"stride"` (strided convolutions) or `"aps"`: every
            strided convolution (the stem's too) becomes a stride-1
            convolution followed by `PolyphaseDownsample2D`; with circular
            padding the network is then exactly invariant to circular shifts
            (`blur_kernel_size`, if given, is the APS + LPF blur).

    Returns:
        The last feature map, from a layer named `stage4_out`.

    Examples:
        >>> canvas = keras.Input((96, 96, 3))
        >>> features = keras_gpos.models.resnet_features(canvas, depth=50, width=4, output_stride=8)
        >>> tuple(features.shape)
        (None, 12, 12, 128)
    """
    check_resnet_args(depth, width, output_stride)
    check_padding_mode(padding)
    if permute_at is not None and permute_at not in PERMUTE_STAGES:
        raise ValueError(
            f"permute_at={permute_at!r} is not a ResNet stage; expected one of "
            f"{list(PERMUTE_STAGES)}."
        )
    check_blur_kernel_size(blur_kernel_size, padding)
    if downsample not in DOWNSAMPLING:
        raise ValueError(f"Unknown downsample {downsample!r}; expected one of {list(DOWNSAMPLING)}.")
    if downsample == "aps" and padding == "none":
        raise ValueError("downsample='aps' cannot be combined with padding 'none' (maps must stay even).")
    aps = downsample == "aps"
    x = PaddedConv2D(
        width, 7, strides=1 if aps else 2, padding_mode=padding, use_bias=False, name="stem_conv"
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=0.9, synchronized=sync_batchnorm, name="stem_bn"
    )(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if aps:
        x = PolyphaseDownsample2D(blur_kernel_size=blur_kernel_size, name="stem_aps")(x)
    strides = _stage_strides(output_stride)
    dilations = _stage_dilations(output_stride)
    block_function = _BLOCK_FUNCTIONS[RESNET_BLOCK_TYPES[depth]]
    for stage, blocks in enumerate(RESNET_BLOCKS[depth]):
        stage_name = f"stage{stage + 1}"
        if permute_at == stage_name:
            x = ChannelPermutation(
                per_sample=permute_per_sample, seed=seed, name=f"permute_{stage_name}"
            )(x)
        for block in range(blocks):
            x = block_function(
                x,
                width * 2**stage,
                strides[stage] if block == 0 else 1,
                dilations[stage],
                padding,
                name=f"{stage_name}_block{block + 1}",
                blur_kernel_size=blur_kernel_size,
                sync_batchnorm=sync_batchnorm,
                downsample=downsample,
            )
    return keras.layers.Identity(name="stage4_out")(x)
