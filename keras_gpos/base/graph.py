"""Find a layer anywhere in a user's model and read its output.

Users point the ranking, the attacks and the audit at *their* model and a
layer. Models come in several kinds, and each is handled here once:

* functional models (`keras.Model(inputs, outputs)`, keras.applications,
  KerasHub and keras-cv backbones and task models);
* Sequential models, built or not (`functional_view` builds them from an
  input shape and wraps them in a functional model that shares every layer);
* models nested inside others, Sequential included, at any depth: a layer is
  named by its name (a direct layer first; a name only nested models hold
  must be unique among them, else an error lists the paths) or by a path
  such as `"backbone/conv4_block6_out"`;
* subclassed models: their graph is Python code, so no layer output can be
  read from outside. Pass a *feature callable* instead (`images -> feature
  map`, e.g. `lambda x: model.encoder(x)`): the ranking and the audit take
  one in place of a layer name.

Backend-agnostic: only Keras' functional graph API.
"""

import difflib
import warnings

import keras


def _children(model):
    return list(getattr(model, "layers", []) or [])


def _is_sequential(model):
    return isinstance(model, keras.Sequential)


def _graph(model):
    """The functional graph that holds `model`'s layers (a Sequential's inner one)."""
    if _is_sequential(model):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ValueError(
                f"Sequential model {model.name!r} is not built; call it on data once, or pass "
                "input_shape, before reading its layers."
            )
        return functional
    return model


def is_functional(model):
    """True for models whose layer graph can be read (functional or built Sequential)."""
    if _is_sequential(model):
        return getattr(model, "_functional", None) is not None
    return hasattr(model, "_nodes_by_depth") and bool(getattr(model, "inputs", None))


def subclassed_model_error(model, what="read a layer's output", argument="layer_name"):
    """The error for a subclassed model: what works instead, with the argument that takes it.

    `argument` is the caller's own argument for a feature callable, written as
    it is passed (`"layer_name"` for the ranking, `"layers"` for the audit,
    which takes a list), or None where no callable can stand in (masking).
    """
    example = "lambda x: model.backbone(x)"
    if argument is None:
        instead = ("Build the model with the functional API (keras.Model(inputs, outputs)), or put a "
                   "keras_gpos.layers.ChannelMask into its call().")
    else:
        given = f"[{example}]" if argument == "layers" else example
        instead = (f"Pass a feature callable (images -> feature map) in place of the layer name, e.g. "
                   f"{argument}={given}, or build the model with the functional API (keras.Model(inputs, outputs)).")
    return ValueError(f"model {model.name!r} is a subclassed {type(model).__name__}: keras_gpos cannot {what} "
                      f"from outside its call(). {instead}")


def functional_view(model, input_shape=None):
    """`model` as a functional model whose layers are `model`'s own (shared weights).

    Args:
        model: a functional or Sequential `keras.Model`.
        input_shape: `(height, width, channels)`, used only to build a
            Sequential model that has not been built yet.

    Raises:
        ValueError: a subclassed model, or an unbuilt Sequential model without
            `input_shape`.
    """
    if _is_sequential(model):
        if getattr(model, "_functional", None) is None:
            if input_shape is None:
                raise ValueError(
                    f"Sequential model {model.name!r} is not built; pass input_shape (or data) "
                    "so keras_gpos can build it."
                )
            model.build((None,) + tuple(input_shape))
        return keras.Model(model.inputs, model.outputs, name=model.name)
    if not is_functional(model):
        raise subclassed_model_error(model)
    return model


def all_layer_names(model, prefix=""):
    """Paths of every layer of `model`, nested models included (`"outer/inner"`)."""
    names = []
    for layer in _children(model):
        names.append(prefix + layer.name)
        if isinstance(layer, keras.Model):
            names += all_layer_names(layer, prefix + layer.name + "/")
    return names


def _unknown(model, layer_name):
    names = all_layer_names(model)
    leaves = [n.rsplit("/", 1)[-1] for n in names]
    close = difflib.get_close_matches(layer_name, names + leaves, n=5, cutoff=0.5)
    hint = f"close matches: {close}" if close else f"it has {len(names)} layers, e.g. {names[-5:]}"
    return ValueError(f"model {model.name!r} has no layer named {layer_name!r}; {hint}.")


def _search_all(model, layer_name):
    """Every path to a layer named `layer_name`: direct layers first, then each nested model's."""
    found = [[layer] for layer in _children(model) if layer.name == layer_name]
    for layer in _children(model):
        if isinstance(layer, keras.Model):
            found += [[layer] + path for path in _search_all(layer, layer_name)]
    return found


def _search(model, layer_name):
    """The one path to `layer_name`: a direct layer, or the only nested one (else an error)."""
    found = _search_all(model, layer_name)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    paths = ["/".join(layer.name for layer in path) for path in found]
    if len(found[0]) == 1:
        warnings.warn(f"layer name {layer_name!r} in model {model.name!r} is its own layer and also nested at "
                      f"{paths[1:6]}; using its own (name a nested one by its path).", UserWarning, stacklevel=4)
        return found[0]
    raise ValueError(
        f"layer name {layer_name!r} is ambiguous in model {model.name!r}: nested models hold it at "
        f"{paths[:5]}; name one by its path, e.g. {paths[0]!r}."
    )


def _search_object(model, target):
    for layer in _children(model):
        if layer is target:
            return [layer]
    for layer in _children(model):
        if isinstance(layer, keras.Model):
            found = _search_object(layer, target)
            if found:
                return [layer] + found
    return None


def layer_path(model, layer):
    """`[sub-model, ..., layer]`: how to reach `layer` from `model`.

    Args:
        model: a Keras model.
        layer: a layer name (a direct layer wins over nested ones; a name
            that only nested models hold must be unique among them), a path
            `"outer/inner/name"`, or a layer object of `model`.

    Raises:
        ValueError: no such layer (the message lists close matches), or a
            name that two nested models hold (the message lists the paths).
    """
    if isinstance(layer, keras.layers.Layer):
        found = _search_object(model, layer)
        if not found:
            raise ValueError(f"layer {layer.name!r} is not part of model {model.name!r}.")
        return found
    if not isinstance(layer, str) or not layer:
        raise ValueError(f"layer must be a non-empty name, a 'outer/inner' path or a layer; got {layer!r}.")
    if "/" in layer:
        path, current = [], model
        for part in layer.split("/"):
            match = next((child for child in _children(current) if child.name == part), None)
            if match is None:
                raise _unknown(model, layer)
            path.append(match)
            current = match
        return path
    found = _search(model, layer)
    if not found:
        raise _unknown(model, layer)
    return found


def find_layer(model, layer):
    """The layer named `layer` (a name, an `"outer/inner"` path or a layer object).

    Examples:
        >>> model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4)
        >>> keras_gpos.base.graph.find_layer(model, "stage4_out").name
        'stage4_out'
    """
    return layer_path(model, layer)[-1]


def _node_of(model, operation):
    graph = _graph(model)
    for nodes in graph._nodes_by_depth.values():
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
                "pick a layer that is called exactly once."
            ) from error
    sub_model = path[0]
    node = _node_of(model, sub_model)
    graph = _graph(sub_model)
    inner = keras.Model(graph.inputs, _symbolic_output(sub_model, path[1:]))
    return inner(*node.arguments.args, **node.arguments.kwargs)


def layer_output(model, layer):
    """The symbolic output of `layer` in the graph of `model` (which must be functional)."""
    return _symbolic_output(model, layer_path(model, layer))


def _describe(layer):
    return layer if isinstance(layer, str) else getattr(layer, "name", repr(layer))


def feature_model(model, layers, require_4d=True, input_shape=None):
    """A model from `model`'s inputs to the output of one layer or several.

    Shares weights with `model`. One multi-output model reads every layer in
    one forward pass (the audit reads several at once).

    Args:
        model: a functional or Sequential model (nested models are searched).
        layers: a layer name, an `"outer/inner"` path, a layer object, or a
            list of them (the model then has one output per layer).
        require_4d: bool. Refuse outputs that are not `(batch, h, w, c)`.
        input_shape: builds an unbuilt Sequential model.

    Raises:
        ValueError: unknown layer (close matches listed), a subclassed model
            (use a feature callable), or (with `require_4d`) an output that is
            not a `(batch, height, width, channels)` map.
    """
    many = isinstance(layers, (list, tuple))
    wanted = list(layers) if many else [layers]
    if not wanted:
        raise ValueError("feature_model needs at least one layer.")
    graph = functional_view(model, input_shape)
    outputs = []
    for layer in wanted:
        output = layer_output(graph, layer)
        if require_4d and (not hasattr(output, "shape") or len(output.shape) != 4):
            shape = getattr(output, "shape", type(output).__name__)
            raise ValueError(
                f"layer {_describe(layer)!r} outputs {shape}, not a 4-D (batch, height, width, "
                "channels) feature map; pick a convolutional layer."
            )
        outputs.append(output)
    name = f"{model.name}_features" if many else f"{model.name}_to_{_describe(wanted[0]).replace('/', '_')}"
    return keras.Model(graph.inputs, outputs if many else outputs[0], name=name)


def with_input_shape(model, input_shape):
    """`model` applied to inputs of another size: a new functional model sharing every layer.

    Fully convolutional models with global pooling (every keras_gpos
    classifier) take any spatial size this way, e.g. to score them under a
    consistency protocol whose views are smaller crops.

    Examples:
        >>> model = keras_gpos.models.build_classifier(3, (32, 32, 3), depth=10, width=4, head="fc")
        >>> tuple(keras_gpos.base.graph.with_input_shape(model, (28, 28, 3)).output.shape)
        (None, 3)
    """
    graph = functional_view(model)
    if tuple(graph.inputs[0].shape[1:]) == tuple(input_shape):
        return graph
    inputs = keras.Input(tuple(input_shape), name=graph.inputs[0].name.split(":")[0] + "_resized")
    structure = [inputs] if isinstance(graph.input, (list, tuple)) else inputs
    return keras.models.clone_model(graph, input_tensors=structure, clone_function=lambda layer: layer)

__all__ = [
    "is_functional", "subclassed_model_error", "functional_view", "all_layer_names", "layer_path", "find_layer",
    "layer_output", "feature_model", "with_input_shape"
]
