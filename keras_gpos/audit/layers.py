"""Which layers the audit measures by default: the end of each spatial resolution."""

import keras
import numpy as np

from keras_gpos.base.graph import functional_view
from keras_gpos.layers.padding import SpatialPadding2D

DEFAULT_MAX_LAYERS = 4
# Layers that only move, pad or crop the values of the layer before them: never a stage end
# (MobileNetV2's `block_3_pad` is the last layer at its size, yet it holds no new features).
REARRANGING_LAYERS = (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D,
                      keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Cropping3D,
                      keras.layers.Reshape, keras.layers.Permute, SpatialPadding2D)


def candidate_layers(model):
    """4-D layers at the end of each spatial resolution, in graph order.

    The documented default rule: walk the layers (nested models included) in
    graph order, keep those with a single `(batch, h, w, c)` output, and take
    the *last* one at each spatial size (the end of each stage, just before a
    downsampling), plus the very last 4-D layer. Padding, cropping and
    reshaping layers (`REARRANGING_LAYERS`) are skipped: they add no feature,
    and a padding layer is often the last layer at its size. Returns layer
    paths.
    """
    graph = functional_view(model)
    found = []

    def walk(current, prefix):
        for layer in getattr(current, "layers", []):
            if isinstance(layer, keras.Model) and layer.layers:
                walk(functional_view(layer), prefix + layer.name + "/")
                continue
            try:
                shape = layer.output.shape
            except (AttributeError, ValueError):
                continue
            if isinstance(layer, (keras.layers.InputLayer, *REARRANGING_LAYERS)):
                continue
            if len(shape) == 4 and shape[1] and shape[2]:
                found.append((prefix + layer.name, (shape[1], shape[2])))

    walk(graph, "")
    stage_ends = []
    for index, (name, size) in enumerate(found):
        following = found[index + 1][1] if index + 1 < len(found) else None
        if following != size:
            stage_ends.append(name)
    return stage_ends


def default_layers(model, max_layers=DEFAULT_MAX_LAYERS):
    """`max_layers` stage ends spread over the depth (always keeping the deepest; one: the deepest)."""
    stages = candidate_layers(model)
    if not stages:
        raise ValueError(f"model {model.name!r} has no 4-D (batch, h, w, c) layer to audit.")
    if len(stages) <= max_layers:
        return stages
    if max_layers == 1:  # linspace would pick the first
        return stages[-1:]
    picks = np.linspace(0, len(stages) - 1, max_layers).round().astype(int)
    return [stages[i] for i in sorted(set(picks.tolist()))]
