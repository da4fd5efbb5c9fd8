"""Whole-model transforms: a functional model in, a new (or retrained) model out: `with_stock_layers`,
`fold_batch_norm` (for inference), `unfreeze` (for fine-tuning).
"""

import keras
import numpy as np

from keras_resnet.layers import BatchNormalization, Conv2D

# keras_resnet's fast subclasses -> the Keras layers they stand in for.
STOCK_LAYERS = {Conv2D: keras.layers.Conv2D, BatchNormalization: keras.layers.BatchNormalization}


def with_stock_layers(model):
    """The same network with keras_resnet's `Conv2D` and `BatchNormalization` replaced by Keras' own, with the same
    weights: the reference the benchmark and the tests compare these layers with."""

    def clone(layer):
        return STOCK_LAYERS.get(type(layer), type(layer)).from_config(layer.get_config())

    stock = keras.models.clone_model(model, clone_function=clone)
    stock.set_weights(model.get_weights())
    return stock


def _producer(tensor):
    return tensor._keras_history.operation


def _foldable_pairs(model):
    """`{conv name: batch-norm name}` for every BatchNormalization whose input is the output of a Conv2D that feeds
    nothing else, over the conv's channel axis."""
    consumers = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                consumers.setdefault(_producer(tensor).name, []).append(layer.name)
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        (tensor,) = layer._inbound_nodes[0].input_tensors
        conv = _producer(tensor)
        channels = -1 if getattr(conv, "data_format", None) == "channels_last" else 1
        if (type(conv) in (Conv2D, keras.layers.Conv2D) and len(conv._inbound_nodes) == 1
                and consumers.get(conv.name) == [layer.name] and layer.axis in (channels, len(tensor.shape) + channels)):
            pairs[conv.name] = layer.name
    return pairs


def fold_batch_norm(model):
    """The same network for inference, with every BatchNormalization that directly follows a convolution folded
    into that convolution's kernel and bias.

    A batch norm in inference is an affine map per channel that a convolution can absorb: the kernel times
    `s = gamma / sqrt(var + eps)` per output channel, and the bias `(bias - mean) * s + beta`. The model gives the
    original's inference outputs to float rounding, but must not be trained further. The folded batch norms leave
    the graph; the other layers keep their names. Batch norms that follow something else (the pre-activation
    units' BN before the ReLU and conv) stay. Whether this pays depends on the runtime (docs/benchmark.md).

    Args:
        model: a functional Keras model (e.g. from `keras_resnet.build`).

    Returns:
        A new functional model with the folded weights.
    """
    pairs = _foldable_pairs(model)
    folded_norms = set(pairs.values())

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return type(layer).from_config(config)

    def call(layer, inputs, *args, **kwargs):  # a folded batch norm passes its input on
        return inputs if layer.name in folded_norms else layer(inputs, *args, **kwargs)

    result = keras.models.clone_model(model, clone_function=clone, call_function=call)
    originals = {layer.name: layer for layer in model.layers}
    value = lambda v: keras.ops.convert_to_numpy(v).astype(np.float64)  # noqa: E731
    for layer in result.layers:
        if not layer.weights:
            continue
        original = originals[layer.name]
        if layer.name in pairs:
            norm = originals[pairs[layer.name]]
            kernel = value(original.kernel)
            bias = value(original.bias) if original.use_bias else 0.0
            gamma = value(norm.gamma) if norm.scale else 1.0
            beta = value(norm.beta) if norm.center else 0.0
            scale = gamma / np.sqrt(value(norm.moving_variance) + norm.epsilon)
            dtype = keras.backend.standardize_dtype(original.kernel.dtype)
            bias = (bias - value(norm.moving_mean)) * scale + beta
            layer.set_weights([(kernel * scale).astype(dtype), bias.astype(dtype)])
        else:
            layer.set_weights(original.get_weights())
    return result


def unfreeze(model, first=None):
    """Makes a pretrained backbone trainable for fine-tuning, except its BatchNorm layers.

    In Keras 3 a BatchNormalization layer with `trainable=False` runs in inference mode, normalising with its
    pretrained moving statistics and leaving them unchanged, which is what fine-tuning on a small dataset needs
    (calling the backbone with `training=False` is not enough: `fit` passes `training=True` down to nested models).
    Freeze the whole backbone with `model.trainable = False` to train a new head first; then unfreeze it, or its
    last stages, with a low learning rate, and compile again.

    Args:
        model: the backbone, e.g. `keras_resnet.ResNet50(include_top=False)`.
        first: the first layer to train, by name or name prefix: `"conv5"` trains the last stage of a ResNet-50
            only. Default: every layer.

    Returns:
        `model`, whose layers from `first` on, BatchNorm excepted, are trainable.

    Example:
        >>> backbone = keras_resnet.ResNet50(include_top=False, pooling="avg")
        >>> keras_resnet.unfreeze(backbone, "conv5")
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model (a backbone such as keras_resnet.ResNet50(include_top=False)); "
                         f"received model={model!r}")
    if first is not None and not isinstance(first, str):
        raise ValueError(f"`first` must be None or a layer name (or its prefix, e.g. 'conv5'); received first={first!r}")
    names = [layer.name for layer in model.layers]
    starts = [i for i, name in enumerate(names) if first is None or name == first or name.startswith(f"{first}_")]
    if not starts:
        raise ValueError(f"Model {model.name!r} has no layer named {first!r} or starting with '{first}_'; "
                         f"its stages start at {sorted({n.split('_')[0] for n in names if n.startswith('conv')})}")
    model.trainable = True
    for i, layer in enumerate(model.layers):
        layer.trainable = i >= starts[0] and not isinstance(layer, keras.layers.BatchNormalization)
    return model
