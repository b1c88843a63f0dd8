"""VGG body (with batch norm) whose convolutions use a selectable border mode."""

import keras

from keras_gpos.layers.padding import PaddedConv2D, check_padding_mode
from keras_gpos.layers.permutation import ChannelPermutation

# Channel multiples of `width / 64` per stage; each stage ends in a 2x2
# max-pool except the last, so four pools take 96x96 to 6x6 like the ResNet.
VGG_STAGES = {
    11: ((1,), (2,), (4, 4), (8, 8), (8, 8)),
    13: ((1, 1), (2, 2), (4, 4), (8, 8), (8, 8)),
    16: ((1, 1), (2, 2), (4, 4, 4), (8, 8, 8), (8, 8, 8)),
}
VGG_PERMUTE_STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5")


def check_vgg_args(depth, width):
    if depth not in VGG_STAGES:
        raise ValueError(
            f"Unknown VGG depth {depth!r}; expected one of {sorted(VGG_STAGES)}."
        )
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int; got {width!r}.")


def vgg_output_size(size, depth=11):
    """Last feature map size for `size` pixels with valid convolutions."""
    stages = VGG_STAGES[depth]
    for index, convs in enumerate(stages):
        size -= 2 * len(convs)
        if index < len(stages) - 1:
            size //= 2
    return size


def vgg_features(
    x, depth=11, width=64, padding="zero", permute_at=None,
    permute_per_sample=False, seed=None, sync_batchnorm=False,
):
    """Applies a VGG body to `x`; the last map comes from layer `stage5_out`.

    Args mirror `resnet_features`; `permute_at` may name `"stage1"` to
    `"stage5"`.
    """
    check_vgg_args(depth, width)
    check_padding_mode(padding)
    if permute_at is not None and permute_at not in VGG_PERMUTE_STAGES:
        raise ValueError(
            f"permute_at={permute_at!r} is not a VGG stage; expected one of "
            f"{list(VGG_PERMUTE_STAGES)}."
        )
    stages = VGG_STAGES[depth]
    for index, convs in enumerate(stages):
        stage_name = f"stage{index + 1}"
        if permute_at == stage_name:
            x = ChannelPermutation(
                per_sample=permute_per_sample, seed=seed, name=f"permute_{stage_name}"
            )(x)
        for conv_index, multiple in enumerate(convs):
            name = f"{stage_name}_conv{conv_index + 1}"
            x = PaddedConv2D(
                max(1, width * multiple), 3, padding_mode=padding,
                use_bias=False, name=name,
            )(x)
            x = keras.layers.BatchNormalization(
                momentum=0.9, synchronized=sync_batchnorm, name=f"{name}_bn"
            )(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        if index < len(stages) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"{stage_name}_pool")(x)
    return keras.layers.Identity(name="stage5_out")(x)
