"""Find a layer anywhere in a functional model, and read its output.

Users point the ranking and the attack at *their* model and a layer name.
The layer may sit inside a nested functional model (keras-cv's DeepLabV3+
calls its backbone's feature extractor as one sub-model), so lookups search
nested models, and the feature extractor is rebuilt through each nesting
level. Backend-agnostic; `keras_gpos.attacks` uses it too.
"""

import difflib

import keras


def _children(model):
    return list(getattr(model, "layers", []) or [])


def all_layer_names(model):
    """Names of every layer of `model`, nested models included."""
    names = []
    for layer in _children(model):
        names.append(layer.name)
        if isinstance(layer, keras.Model):
            names += all_layer_names(layer)
    return names


def layer_path(model, layer_name):
    """`[sub-model, ..., layer]`: how to reach `layer_name` from `model`.

    Direct layers win over nested ones of the same name.

    Raises:
        ValueError: no layer has that name; the message lists close matches.
    """
    for layer in _children(model):
        if layer.name == layer_name:
            return [layer]
    for layer in _children(model):
        if isinstance(layer, keras.Model):
            try:
                return [layer] + layer_path(layer, layer_name)
            except ValueError:
                continue
    names = all_layer_names(model)
    close = difflib.get_close_matches(layer_name, names, n=5, cutoff=0.5)
    hint = f"close matches: {close}" if close else f"it has {len(names)} layers, e.g. {names[-5:]}"
    raise ValueError(f"model {model.name!r} has no layer named {layer_name!r}; {hint}.")


def find_layer(model, layer_name):
    """The layer called `layer_name`, searched in nested models too.

    Example:

    >>> mask = keras_gpos.ranking.find_layer(attacked, "stage4_out_channel_mask")
    """
    return layer_path(model, layer_name)[-1]


def _node_of(model, operation):
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            if node.operation is operation:
                return node
    raise ValueError(f"{operation.name!r} is not called inside model {model.name!r}.")


def _symbolic_output(model, path):
    if len(path) == 1:
        try:
            return path[0].output
        except (AttributeError, ValueError) as error:
            raise ValueError(
                f"layer {path[0].name!r} has no single output in {model.name!r} ({error}); "
                "rank a layer that is called exactly once."
            ) from error
    sub_model = path[0]
    node = _node_of(model, sub_model)
    inner = keras.Model(sub_model.input, _symbolic_output(sub_model, path[1:]))
    return inner(*node.arguments.args, **node.arguments.kwargs)


def feature_model(model, layer_name, require_4d=True):
    """A model from `model`'s inputs to the output of `layer_name`.

    Shares weights with `model`.

    Raises:
        ValueError: unknown layer (close matches listed), a model that is
            not functional, or (with `require_4d`) an output that is not a
            `(batch, height, width, channels)` map.
    """
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"model {model.name!r} is a {type(model).__name__}, not a functional model; "
            "rebuild it with the functional API (keras.Model(inputs, outputs))."
        )
    path = layer_path(model, layer_name)
    output = _symbolic_output(model, path)
    if require_4d and (not hasattr(output, "shape") or len(output.shape) != 4):
        shape = getattr(output, "shape", type(output).__name__)
        raise ValueError(
            f"layer {layer_name!r} outputs {shape}, not a 4-D (batch, height, width, channels) "
            "feature map; pick a convolutional layer."
        )
    return keras.Model(model.inputs, output, name=f"{model.name}_to_{layer_name}")
