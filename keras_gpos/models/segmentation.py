"""Segmentation networks for the position-channel attacks.

* `build_deeplab`: a CPU-sized DeepLabV3 on the project's ResNet (explicit
  padding mode, output stride 8 or 16) with a small ASPP head. Its backbone
  output is the layer `stage4_out`, the map the paper ranks and attacks.
* `build_keras_cv_deeplab`: keras-cv's DeepLabV3+ on a ResNetV2 backbone
  built from architecture arguments (presets need a download). keras-cv is
  frozen upstream; its successor is KerasHub:
* `build_keras_hub_deeplab`: KerasHub's `DeepLabV3ImageSegmenter` on a
  `ResNetBackbone`, built from architecture arguments (no preset, no
  download; the optional extra `keras_gpos[hub]` installs KerasHub).

All take float images in [0, 255] and normalise inside. `build_deeplab` and
the KerasHub model return logits, keras-cv's model softmax probabilities
(`MODEL_OUTPUTS_LOGITS`). `default_layer` names each one's backbone output,
the map the experiment ranks unless told otherwise.
"""

import keras

from keras_gpos.base.backend import requires_extra
from keras_gpos.models.resnet import resnet_features

SEGMENTATION_MODELS = ("deeplab_resnet", "keras_cv_deeplabv3plus", "keras_hub_deeplabv3")
MODEL_OUTPUTS_LOGITS = {"deeplab_resnet": True, "keras_cv_deeplabv3plus": False, "keras_hub_deeplabv3": True}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _normalize(x, mean, std, name):
    x = keras.layers.Rescaling(1.0 / 255.0, name=f"{name}_rescale")(x)
    return keras.layers.Normalization(
        mean=list(mean), variance=[s * s for s in std], name=f"{name}_normalize"
    )(x)


def aspp(x, filters, rates, name="aspp"):
    """Atrous spatial pyramid pooling: 1x1, dilated 3x3s and image pooling."""
    height, width = x.shape[1], x.shape[2]

    def conv_bn(y, kernel, rate, branch):
        y = keras.layers.Conv2D(
            filters, kernel, padding="same", dilation_rate=rate, use_bias=False,
            kernel_initializer="he_normal", name=f"{name}_{branch}_conv",
        )(y)
        y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_{branch}_bn")(y)
        return keras.layers.ReLU(name=f"{name}_{branch}_relu")(y)

    branches = [conv_bn(x, 1, 1, "b0")]
    for index, rate in enumerate(rates, 1):
        branches.append(conv_bn(x, 3, rate, f"b{index}"))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = conv_bn(pooled, 1, 1, "pool")
    pooled = keras.layers.UpSampling2D((height, width), name=f"{name}_pool_up")(pooled)
    branches.append(pooled)
    y = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    return conv_bn(y, 1, 1, "project")


def build_deeplab(
    num_classes,
    input_shape=(180, 240, 3),
    depth=18,
    width=32,
    padding="zero",
    output_stride=8,
    aspp_filters=64,
    aspp_rates=(3, 6, 9),
    dropout=0.1,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    name=None,
):
    """A small DeepLabV3 on the keras_gpos ResNet.

    Args:
        num_classes: int. Output classes (logits per pixel).
        input_shape: `(height, width, 3)`. Fixed, so the ASPP image-pooling
            branch can be broadcast back.
        depth: int. ResNet depth, 10, 18, 34 or 50 (bottleneck blocks, the
            paper's DeepLabV3 backbone).
        width: int. Channels of the first stage (the bottleneck width at
            depth 50); `stage4_out` has 8x this, 32x at depth 50.
        padding: str. Border mode of every backbone convolution.
        output_stride: int. 8 (dilated last stage, the usual DeepLab choice
            on small images) or 16.
        aspp_filters: int. Channels of each ASPP branch.
        aspp_rates: tuple of int. Dilations of the 3x3 ASPP branches.
        dropout: float. Dropout before the classifier.
        mean, std: per-channel statistics for pixels scaled to [0, 1].
        name: str or None. Model name.

    Returns:
        A functional `keras.Model` from float images in [0, 255] to logits
        `(batch, height, width, num_classes)`.

    Examples:
        >>> model = keras_gpos.models.build_deeplab(11, (64, 80, 3), depth=10, width=8)
        >>> model.get_layer("stage4_out").output.shape
        (None, 8, 10, 64)
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3); got {input_shape!r}.")
    if not isinstance(aspp_filters, int) or aspp_filters < 1:
        raise ValueError(f"aspp_filters must be a positive int; got {aspp_filters!r}.")
    if any((not isinstance(r, int)) or r < 1 for r in aspp_rates):
        raise ValueError(f"aspp_rates must be positive ints; got {aspp_rates!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _normalize(inputs, mean, std, "input")
    features = resnet_features(
        x, depth=depth, width=width, padding=padding, output_stride=output_stride
    )
    y = aspp(features, aspp_filters, tuple(aspp_rates))
    if dropout:
        y = keras.layers.Dropout(dropout, name="head_dropout")(y)
    y = keras.layers.Conv2D(num_classes, 1, name="classifier")(y)
    logits = keras.layers.Resizing(
        input_shape[0], input_shape[1], interpolation="bilinear", name="upsample"
    )(y)
    return keras.Model(
        inputs, logits, name=name or f"deeplab_resnet{depth}_w{width}_os{output_stride}"
    )


def build_keras_cv_deeplab(
    num_classes,
    input_shape=(180, 240, 3),
    stackwise_filters=(64, 128, 256, 512),
    stackwise_blocks=(2, 2, 2, 2),
    stackwise_strides=(1, 2, 2, 2),
    block_type="basic_block",
    projection_filters=48,
):
    """keras-cv DeepLabV3+ on a ResNetV2 backbone, from architecture arguments.

    Nothing is downloaded: the backbone is `keras_cv.models.ResNetV2Backbone`
    built from its stage widths, depths and strides (the defaults make a
    ResNet-18 v2), randomly initialised. The ranked map is the backbone's
    last stage, e.g. `v2_stack_3_block2_out` for four stages of two blocks
    (`keras_gpos.attacks.find_layer` searches nested backbones).

    Args:
        num_classes: int. Output classes.
        input_shape: `(height, width, 3)`.
        stackwise_filters, stackwise_blocks, stackwise_strides: per-stage
            ResNetV2 widths, block counts and strides.
        block_type: str. `"basic_block"` or `"block"` (bottleneck).
        projection_filters: int. Channels of the low-level projection.

    Returns:
        A `keras_cv.models.DeepLabV3Plus` (a functional model) producing
        per-pixel class *probabilities* (its head ends in a softmax).

    Examples:
        >>> model = keras_gpos.models.build_keras_cv_deeplab(
        ...     6, (64, 64, 3), stackwise_filters=(64, 16, 16, 32))
    """
    from keras_gpos.base.backend import requires_extra

    keras_cv = requires_extra("keras_cv", "tf", "the keras-cv DeepLabV3+ (it needs TensorFlow)")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
    lengths = {len(stackwise_filters), len(stackwise_blocks), len(stackwise_strides)}
    if len(lengths) != 1 or lengths.pop() < 4:
        raise ValueError(
            "stackwise_filters, stackwise_blocks and stackwise_strides need the same length "
            f">= 4 (DeepLabV3+ reads levels P2 and P5); got {stackwise_filters!r}, "
            f"{stackwise_blocks!r}, {stackwise_strides!r}."
        )
    if len(input_shape) != 3 or input_shape[0] % 32 or input_shape[1] % 32:
        # DeepLabV3+ upsamples the stride-32 map by a fixed 8x to meet the
        # stride-4 map, so other sizes cannot be concatenated.
        raise ValueError(
            f"keras-cv DeepLabV3+ needs height and width divisible by 32; got input_shape={input_shape!r}."
        )
    if block_type == "basic_block" and stackwise_filters[0] != 64:
        # keras-cv's stem always has 64 channels and its first basic-block
        # stage has no projection shortcut, so the widths must agree.
        raise ValueError(
            f"with block_type='basic_block' the first stage needs 64 filters (keras-cv's stem "
            f"width); got stackwise_filters={stackwise_filters!r}."
        )
    backbone = keras_cv.models.ResNetV2Backbone(
        stackwise_filters=list(stackwise_filters),
        stackwise_blocks=list(stackwise_blocks),
        stackwise_strides=list(stackwise_strides),
        include_rescaling=True,
        input_shape=tuple(input_shape),
        block_type=block_type,
    )
    return keras_cv.models.DeepLabV3Plus(
        backbone=backbone, num_classes=num_classes, projection_filters=projection_filters,
    )


def build_keras_hub_deeplab(
    num_classes,
    input_shape=(192, 256, 3),
    stackwise_num_filters=(64, 128, 256, 512),
    stackwise_num_blocks=(2, 2, 2, 2),
    stackwise_num_strides=(1, 2, 2, 2),
    dilation_rates=(6, 12, 18),
    projection_filters=48,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
):
    """KerasHub DeepLabV3 (with its DeepLabV3+ decoder) from architecture arguments.

    Nothing is downloaded: the image encoder is a
    `keras_hub.models.ResNetBackbone` of basic blocks built from its stage
    widths, depths and strides (the defaults make a ResNet-18), randomly
    initialised. Spatial pyramid pooling reads level P5 (stride 32), the
    decoder level P2, so the input height and width must be multiples of 32.
    KerasHub leaves normalisation to its preprocessor; here the model takes
    float pixels in [0, 255] and normalises inside, like the others. The
    ranked map is the encoder's last stage,
    `stack3_block{blocks - 1}_out` (`default_layer`).

    Args:
        num_classes: int. Output classes (logits per pixel).
        input_shape: `(height, width, 3)`, multiples of 32.
        stackwise_num_filters, stackwise_num_blocks, stackwise_num_strides:
            the ResNet stages (KerasHub needs 64 filters in the first).
        dilation_rates: dilations of the pyramid pooling branches.
        projection_filters: int. Channels of the low-level projection.
        mean, std: per-channel statistics for pixels scaled to [0, 1].

    Returns:
        A functional `keras.Model` holding the KerasHub segmenter as a nested model.

    Raises:
        ImportError: KerasHub is not installed (the message gives the install line).
        ValueError: a shape it cannot take.
    """
    keras_hub = requires_extra("keras_hub", "hub", "segmentation model keras_hub_deeplabv3")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
    if len(input_shape) != 3 or input_shape[-1] != 3 or input_shape[0] % 32 or input_shape[1] % 32:
        raise ValueError(
            f"KerasHub DeepLabV3 needs (height, width, 3) with height and width multiples of 32 (it "
            f"pools at stride 32 and decodes at stride 4); got input_shape={tuple(input_shape)!r}."
        )
    if stackwise_num_filters[0] != 64:
        raise ValueError(
            f"KerasHub's ResNetBackbone needs 64 filters in its first stage; got {stackwise_num_filters!r}."
        )
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=list(stackwise_num_filters), stackwise_num_blocks=list(stackwise_num_blocks),
        stackwise_num_strides=list(stackwise_num_strides), block_type="basic_block",
        use_pre_activation=False, image_shape=tuple(input_shape),
    )
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P5", upsampling_size=8,
        dilation_rates=list(dilation_rates), low_level_feature_key="P2",
        projection_filters=projection_filters, image_shape=tuple(input_shape),
    )
    segmenter = keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=num_classes)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    logits = segmenter(_normalize(inputs, mean, std, "input"))
    return keras.Model(inputs, logits, name=f"keras_hub_deeplabv3_{len(stackwise_num_blocks)}stages")


def default_layer(name, blocks=(2, 2, 2, 2)):
    """The layer the position experiment ranks by default for segmentation model `name`."""
    if name == "deeplab_resnet":
        return "stage4_out"
    if name == "keras_cv_deeplabv3plus":
        return f"v2_stack_{len(blocks) - 1}_block{blocks[-1]}_out"
    if name == "keras_hub_deeplabv3":
        return f"stack{len(blocks) - 1}_block{blocks[-1] - 1}_out"
    raise ValueError(f"Unknown segmentation model {name!r}; expected one of {list(SEGMENTATION_MODELS)}.")


def build_segmentation_model(name, num_classes, input_shape, depth=18, width=32, padding="zero",
                             output_stride=8, aspp_filters=64):
    """Builds one of `SEGMENTATION_MODELS` by name (the position-attack experiment's models).

    The arguments after `input_shape` configure `deeplab_resnet`; the
    keras-cv and KerasHub models take their architecture from their
    builders' defaults (ResNet-18 encoders).
    """
    if name == "deeplab_resnet":
        return build_deeplab(num_classes, input_shape, depth=depth, width=width, padding=padding,
                             output_stride=output_stride, aspp_filters=aspp_filters)
    if name == "keras_cv_deeplabv3plus":
        return build_keras_cv_deeplab(num_classes, input_shape)
    if name == "keras_hub_deeplabv3":
        return build_keras_hub_deeplab(num_classes, input_shape)
    raise ValueError(f"Unknown segmentation model {name!r}; expected one of {list(SEGMENTATION_MODELS)}.")
