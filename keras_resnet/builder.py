"""`keras_resnet.build`: any row of the spec table, or any `Spec`, as a functional `keras.Model`."""

import contextlib
import sys

import keras

from keras_resnet import preprocessing, weight_files
from keras_resnet.architecture import Top, input_shape_of, network
from keras_resnet.checks import text
from keras_resnet.complexity import MAX_PARAMS, count, with_changes
from keras_resnet.keras_ops import KerasLayers
from keras_resnet.table import get_spec


def build(model, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=None, classifier_activation="softmax", name=None, dtype=None, include_preprocessing=False, **changes):
    """Builds any row of `keras_resnet.SPECS`, or any `Spec`, as a functional `keras.Model`.

    Args:
        model: a name in `keras_resnet.SPECS` (e.g. `"ResNet50"`) or a `Spec`.
        include_top: whether to end with global average pooling and a dense classifier.
        weights: `None` (random initialisation), `"imagenet"` (keras.applications' ImageNet weights, for
            ResNet50/101/152 and V2; see `keras_resnet.weight_files`) or the path of a weights file.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: `(height, width, channels)` (channels first when Keras is so configured); any channel count;
            height and width may be `None` without the top. Default: 224x224x3 (ImageNet stem) or 32x32x3 (CIFAR stem)
            with the top, `(None, None, 3)` without.
        pooling: `None`, `"avg"` or `"max"`: global pooling of the features when `include_top=False`.
        classes: classifier width; default 1000 (ImageNet stem) or 10 (CIFAR stem).
        classifier_activation: activation of the classifier; `None` for logits.
        name: model name; default the table name in lower case, or "resnet".
        dtype: dtype policy of the layers, e.g. `"mixed_bfloat16"`; default the global policy
            (`keras.mixed_precision.set_global_policy`). The classifier computes and returns its variable dtype
            (float32 under mixed precision).
        include_preprocessing: whether the model takes raw images in [0, 255] and normalises them itself, in its
            first layers (Keras' own, in float32), as keras.applications' EfficientNetV2 and ConvNeXt do: `True`
            for the mode of the weights this layout has (`keras_resnet.weight_files.preprocessing_mode`: "caffe"
            for keras.applications' v1 weights, "tf" for its V2 weights, "torch" for the torchvision layout, which
            torchvision's and timm's converted weights have), or a mode, "caffe", "tf" or "torch", as
            `keras_resnet.preprocess_input(x, mode=...)` applies it. Default False: inputs already preprocessed.
        **changes: `Spec` fields to override, e.g. `layout="torchvision"`, `unit="e"`, `shortcut="none"` (the plain
            network), `dropout=0.3`.

    Returns:
        A `keras.Model`. The outputs of the stages are the layers named in `spec.stage_outputs`
        (`conv{stage}_block{n}_out`).

    Example:
        >>> model = keras_resnet.build("ResNet56", shortcut="none")  # plain-56
        >>> model = keras_resnet.build(keras_resnet.wide_resnet(28, 10, dropout=0.3), classes=100)
        >>> model = keras_resnet.build("ResNet50", weights="imagenet", include_preprocessing=True)  # raw images
    """
    spec = with_changes(get_spec(model), changes)
    top = Top(include_top, pooling, spec.default_classes if classes is None else classes, classifier_activation)
    inputs, (_, _, channels) = _inputs(spec, top, input_tensor, input_shape)
    policy = _dtype_policy(dtype)
    text("name", name, allow_none=True)
    mode = preprocessing.preprocessing_mode(include_preprocessing, spec, channels)
    if isinstance(weights, str) and weights == "imagenet":
        weights = weight_files.imagenet(spec, include_top, top.classes, channels, classifier_activation)
    outputs = network(KerasLayers(spec, policy), preprocessing.preprocess(inputs, mode) if mode else inputs, spec, top)
    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    with recursion_limit(1000 + 30 * sum(spec.blocks)):
        result = keras.Model(source, outputs, name=name or (model.lower() if isinstance(model, str) else "resnet"))
    if weights is not None:
        weight_files.load_weights(result, weights)
    return result


def _inputs(spec, top, input_tensor, input_shape):
    """Checks the arguments that shape the network; returns its input tensor and (H, W, C)."""
    if input_tensor is not None and not (keras.backend.is_keras_tensor(input_tensor)
                                         or keras.ops.is_tensor(input_tensor)):
        raise ValueError(f"`input_tensor` must be None or a tensor (e.g. keras.Input(shape=(32, 32, 3))); "
                         f"received input_tensor={input_tensor!r}")
    input_shape, hwc = input_shape_of(spec, top, input_shape, input_tensor)
    _check_activation(top.classifier_activation)
    params = count(spec, hwc, top).params
    if params > MAX_PARAMS:
        raise ValueError(f"This network would have {params:,} parameters ({params * 4 / 2**30:,.1f} GiB of float32 "
                         f"weights); the limit is {MAX_PARAMS:,}. Received {spec}, classes={top.classes!r}")
    if input_tensor is None:
        return keras.Input(shape=input_shape), hwc
    if keras.backend.is_keras_tensor(input_tensor):
        return input_tensor, hwc
    return keras.Input(tensor=input_tensor, shape=input_shape), hwc


def _dtype_policy(dtype):
    if dtype is None:
        return keras.config.dtype_policy()
    try:
        policy = keras.dtype_policies.get(dtype)
        if all("float" in d for d in (policy.compute_dtype, policy.variable_dtype)):
            return policy
    except (ValueError, TypeError):
        pass
    raise ValueError(f"`dtype` must be None, a float dtype such as 'float32' or a mixed precision policy such as "
                     f"'mixed_bfloat16'; received dtype={dtype!r}")


def _check_activation(classifier_activation):
    try:
        if classifier_activation is not None:
            keras.activations.get(classifier_activation)
    except (ValueError, TypeError):
        raise ValueError(f"`classifier_activation` must be None, a Keras activation name such as 'softmax' or a "
                         f"callable; received classifier_activation={classifier_activation!r}") from None


@contextlib.contextmanager
def recursion_limit(limit):
    """Keras maps a functional graph recursively, one level per layer on the longest
    path: ResNet-1202 (4,212 layers) needs more than Python's default 1,000."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
