"""One builder for every residual network in the spec table.

The architecture is written once, in `_network` and `_block`, against a small
set of operations (`conv`, `bn`, `relu`, ...). Two interpreters run it:
`_Layers` creates Keras layers on symbolic tensors (`build`), `_Counter` follows
shapes and counts parameters and multiply-accumulates (`complexity`), so the
two always describe the same network.
"""

import contextlib
import copy
import dataclasses
import functools
import math
import sys

import keras
from keras.applications import imagenet_utils

from keras_resnet import pretrained
from keras_resnet.checks import is_number, one_of, positive, text
from keras_resnet.layers import BatchNormalization, Conv2D
from keras_resnet.spec import SPECS, UNITS, Spec, get_spec, wide_resnet

# The architecture --------------------------------------------------------


def _activations(ops, x, names, prefix, last_name=None, zero_gamma=False):
    """Applies "bn"/"relu" in order, named `{prefix}_bn`, `{prefix}_relu`;
    `zero_gamma`: a first BN starts with gamma 0 (`Spec.zero_init_last`)."""
    for i, act in enumerate(names):
        name = last_name if last_name and i == len(names) - 1 else f"{prefix}_{act}"
        x = ops.bn(x, name, zero_gamma and i == 0) if act == "bn" else ops.relu(x, name)
    return x


def _squeeze_excite(ops, x, channels, hidden, name):
    """Hu 2018: channel weights from the global average, 1x1 down to `hidden`,
    ReLU, 1x1 back to `channels`, sigmoid; both 1x1 convs with a bias (timm's `SEModule`)."""
    s = ops.pool(x, "avg", f"{name}_squeeze", keepdims=True)
    s = ops.relu(ops.conv(s, f"{name}_reduce", hidden, 1, 1, 1, True, False), f"{name}_relu")
    s = ops.sigmoid(ops.conv(s, f"{name}_expand", channels, 1, 1, 1, True, False), f"{name}_gate")
    return ops.multiply(x, s, f"{name}_excite")


def _block(ops, x, spec, channels, inner, out, stride, name, drop_path=0.0):
    """One residual block (He 2015 Fig. 5, ordered as He 2016 Fig. 4 `spec.unit`);
    `drop_path`: this block's stochastic-depth rate."""
    pre, end, post = UNITS[spec.unit]
    convs = [(1, inner), (3, inner), (1, out)] if spec.block == "bottleneck" else [(3, inner), (3, out)]

    y = _activations(ops, x, pre, f"{name}_preact")
    if spec.shortcut == "C" or (spec.shortcut == "B" and channels != out):
        # Pre-activation blocks project the pre-activated input (He 2016, WRN).
        shortcut = y if spec.preact else x
        if spec.avg_down and stride > 1:  # ResNet-D: average, then project at stride 1
            shortcut, stride_0 = ops.avgpool(shortcut, stride, f"{name}_0_pool"), 1
        else:
            stride_0 = stride
        shortcut = ops.conv(shortcut, f"{name}_0", out, 1, stride_0, 1, spec.conv_bias(not spec.preact), False)
        if not spec.preact:
            shortcut = ops.bn(shortcut, f"{name}_0_bn")
    elif spec.shortcut == "none":
        shortcut = None
    else:  # identity, subsampled where the resolution changes, zero-padded (option A)
        if channels > out:
            raise ValueError(f"Shortcut option A cannot reduce channels ({channels} -> {out}) in {name}; use shortcut 'B'.")
        if stride > 1 and spec.avg_down:
            shortcut = ops.avgpool(x, stride, f"{name}_0_pool")
        else:
            shortcut = ops.maxpool(x, 1, stride, f"{name}_0_pool", 0) if stride > 1 else x
        if out > channels:
            shortcut = ops.pad_channels(shortcut, out - channels, f"{name}_0_pad")

    for i, (kernel, filters) in enumerate(convs):
        last = i == len(convs) - 1
        if last and spec.dropout:
            y = ops.dropout(y, spec.dropout, f"{name}_dropout")
        acts = end if last else ("bn", "relu")
        s = stride if i == spec.strided_conv else 1
        groups = spec.groups if kernel == 3 else 1
        # zero_init_last: the BN after the branch's last conv starts at gamma 0, or the conv itself at 0.
        zero = last and spec.zero_init_last
        y = ops.conv(y, f"{name}_{i + 1}", filters, kernel, s, groups, spec.conv_bias(acts[:1] == ("bn",)),
                     kernel > 1 and (s > 1 or spec.slim),  # explicit pads are symmetric, as in torch
                     zero=zero and acts[:1] != ("bn",))
        y = _activations(ops, y, acts, f"{name}_{i + 1}", zero_gamma=zero)
    if spec.se_ratio:
        y = _squeeze_excite(ops, y, out, spec.se_width(out), f"{name}_se")
    if drop_path:
        y = ops.drop_path(y, drop_path, f"{name}_drop_path")

    if shortcut is not None and spec.shortcut_scale != 1:
        shortcut = ops.scale(shortcut, spec.shortcut_scale, f"{name}_0_scale")
    merge = f"{name}_add" if post else f"{name}_out"
    y = ops.add(shortcut, y, merge) if shortcut is not None else ops.identity(y, merge)
    return _activations(ops, y, post, f"{name}_add", last_name=f"{name}_out")


def _stages(spec):
    """(stage, block, stride) for every block. Stage i > 0 halves the resolution in
    its first block, or, in keras.applications' pre-activation (TF-slim) layout,
    stage i < last halves it in its last block."""
    last_stage = len(spec.blocks) - 1
    for stage, n in enumerate(spec.blocks):
        for b in range(n):
            halves = (b == n - 1 and stage < last_stage) if spec.slim else (b == 0 and stage > 0)
            yield stage, b, 2 if halves else 1


def _network(ops, x, spec, include_top, pooling, classes, classifier_activation):
    imagenet = spec.stem == "imagenet"
    if spec.deep_stem:  # ResNet-C: conv1_1, conv1_2 (half width, BN-ReLU each), then conv1_3
        for i in (1, 2):
            x = ops.conv(x, f"conv1_{i}", spec.stem_width // 2, 3, 2 if imagenet and i == 1 else 1, 1,
                         spec.conv_bias(True), imagenet and i == 1)
            x = _activations(ops, x, ("bn", "relu"), f"conv1_{i}")
        x = ops.conv(x, "conv1_3", spec.stem_width, 3, 1, 1, spec.conv_bias(not spec.preact), False)
    else:
        x = ops.conv(x, "conv1", spec.stem_width, 7 if imagenet else 3, 2 if imagenet else 1, 1,
                     spec.conv_bias(not spec.preact), imagenet)
    if not spec.preact:
        x = _activations(ops, x, ("bn", "relu"), "conv1")
    if imagenet and spec.stem_pool == "conv":  # ResNet-RS: a strided 3x3 conv in place of the max-pool
        x = ops.conv(x, "pool1", spec.stem_width, 3, 2, 1, spec.conv_bias(True), True)
        x = _activations(ops, x, ("bn", "relu"), "pool1")
    elif imagenet:
        x = ops.maxpool(x, 3, 2, "pool1", 1)
    channels = spec.stem_width
    total = sum(spec.blocks)
    for index, (stage, b, stride) in enumerate(_stages(spec), 1):
        inner, out = spec.widths(stage)
        # Huang 2016: the drop rate grows linearly with depth, to spec.drop_path in the last block.
        x = _block(ops, x, spec, channels, inner, out, stride, f"conv{stage + 2}_block{b + 1}",
                   spec.drop_path * index / total)
        channels = out
    x = _activations(ops, x, UNITS[spec.unit][0], "post")
    if include_top:  # keras.applications: global average pooling, then the classifier
        x = ops.pool(x, "avg", "avg_pool")
        return ops.dense(x, classes, classifier_activation, "predictions")
    if pooling:
        x = ops.pool(x, pooling, f"{pooling}_pool")
    return x


# Interpreter 1: Keras layers -----------------------------------------------


class _Layers:
    """Creates the network's Keras layers, each configured once here."""

    def __init__(self, spec, dtype):
        self.dtype = dtype  # a keras.DTypePolicy, given to every layer
        self.channels_last = keras.config.image_data_format() == "channels_last"
        self.bn_args = dict(axis=-1 if self.channels_last else 1, epsilon=spec.bn_epsilon, momentum=spec.bn_momentum)
        self.init = spec.kernel_initializer  # a Keras identifier; each conv gets its own instance

    def conv(self, x, prefix, filters, kernel, stride, groups, bias, pad, zero=False):
        if pad:
            x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{prefix}_pad", dtype=self.dtype)(x)
        # keras_resnet's Conv2D runs grouped convs on TensorFlow's native kernel, not XLA.
        return (Conv2D if groups > 1 else keras.layers.Conv2D)(
            filters, kernel, strides=stride, padding="valid" if pad else "same", groups=groups,
            use_bias=bias, kernel_initializer="zeros" if zero else self._initializer(), name=f"{prefix}_conv",
            dtype=self.dtype,
        )(x)

    def _initializer(self):
        """A new initializer for every conv. One unseeded Keras 3 initializer object shared
        by several layers draws the *same* kernel for every conv of the same shape, so all
        blocks of a stage would start identical: their residual branches then add up
        coherently, and deep networks start with huge logits and diverge at lr 0.1."""
        return keras.initializers.get(copy.deepcopy(self.init)) if isinstance(self.init, dict) else self.init

    def bn(self, x, name, zero_gamma=False):
        gamma = dict(gamma_initializer="zeros") if zero_gamma else {}
        return BatchNormalization(**self.bn_args, **gamma, name=name, dtype=self.dtype)(x)

    def relu(self, x, name):
        return keras.layers.Activation("relu", name=name, dtype=self.dtype)(x)

    def dropout(self, x, rate, name):
        return keras.layers.Dropout(rate, name=name, dtype=self.dtype)(x)

    def drop_path(self, x, rate, name):
        # One draw per example for the whole branch; Dropout scales the kept ones by 1 / (1 - rate).
        return keras.layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=name, dtype=self.dtype)(x)

    def sigmoid(self, x, name):
        return keras.layers.Activation("sigmoid", name=name, dtype=self.dtype)(x)

    def multiply(self, a, b, name):
        return keras.layers.Multiply(name=name, dtype=self.dtype)([a, b])

    def avgpool(self, x, size, name):
        # "same": an odd size keeps its last row, averaged over what exists, as
        # torch's AvgPool2d(ceil_mode=True, count_include_pad=False) in timm.
        return keras.layers.AveragePooling2D(size, strides=size, padding="same", name=name, dtype=self.dtype)(x)

    def maxpool(self, x, size, stride, prefix, pad):
        if pad:
            x = keras.layers.ZeroPadding2D(pad, name=f"{prefix}_pad", dtype=self.dtype)(x)
        return keras.layers.MaxPooling2D(size, strides=stride, name=f"{prefix}_pool" if pad else prefix, dtype=self.dtype)(x)

    def pad_channels(self, x, n, name):
        # Option A's zero channels from Keras' own layers, so that a saved model loads without
        # keras_resnet: x times 0, repeated and cut to n channels, concatenated after x. Exactly x
        # and zeros for finite x. Not a pad op: TensorFlow 2.21's oneDNN remapper crashes fusing
        # conv + bias + add with a padded addend (tests/test_models.py).
        axis = -1 if self.channels_last else 1
        channels = x.shape[axis]
        zeros = keras.layers.Rescaling(0.0, name=f"{name}_zeros", dtype=self.dtype)(x)
        copies = -(-n // channels)
        if copies > 1:
            zeros = keras.layers.Concatenate(axis, name=f"{name}_repeat", dtype=self.dtype)([zeros] * copies)
        if copies * channels > n:
            # Cropping2D told the other data format crops the channel axis and one spatial axis.
            crop = ((0, 0), (0, copies * channels - n)) if self.channels_last else ((0, copies * channels - n), (0, 0))
            zeros = keras.layers.Cropping2D(crop, data_format="channels_first" if self.channels_last else "channels_last",
                                            name=f"{name}_crop", dtype=self.dtype)(zeros)
        return keras.layers.Concatenate(axis, name=name, dtype=self.dtype)([x, zeros])

    def add(self, a, b, name):
        return keras.layers.Add(name=name, dtype=self.dtype)([a, b])

    def scale(self, x, factor, name):
        return keras.layers.Rescaling(factor, name=name, dtype=self.dtype)(x)

    def identity(self, x, name):
        # Identity has no get_config of its own: Keras' automatic one takes the policy's
        # name, not a DTypePolicy object (which it cannot serialize).
        return keras.layers.Identity(name=name, dtype=self.dtype.name)(x)

    def pool(self, x, kind, name, keepdims=False):
        layer = keras.layers.GlobalAveragePooling2D if kind == "avg" else keras.layers.GlobalMaxPooling2D
        return layer(name=name, keepdims=keepdims, dtype=self.dtype)(x)

    def dense(self, x, units, activation, name):
        # The classifier computes in the variable dtype (float32 under mixed
        # precision), so that softmax and the loss see float32, as the Keras
        # mixed-precision guide advises.
        return keras.layers.Dense(units, activation=activation, name=name, dtype=self.dtype.variable_dtype)(x)


# Interpreter 2: counting ----------------------------------------------------


@dataclasses.dataclass
class Complexity:
    """Size and cost of a network, computed from its spec without building it.

    Attributes:
        trainable_params: trainable weights (what torch's `parameters()` counts).
        params: Keras' `count_params()`: also BatchNorm's moving mean and variance.
        macs: multiply-accumulates of one forward pass of one image (convs and the
            dense layer, as torchvision and the papers count), or `None` for a
            variable input size.
    """

    trainable_params: int = 0
    params: int = 0
    macs: int | None = 0


class _Counter:
    """Follows (height, width, channels) through the network and counts."""

    def __init__(self):
        self.result = Complexity()

    def _weights(self, trainable, non_trainable=0):
        self.result.trainable_params += trainable
        self.result.params += trainable + non_trainable

    def _macs(self, size, per_position):
        if self.result.macs is not None:
            self.result.macs = None if None in size else self.result.macs + math.prod(size) * per_position

    @staticmethod
    def _resize(size, kernel, stride, pad):
        if pad is None:  # "same"
            return tuple(None if s is None else -(-s // stride) for s in size)
        return tuple(None if s is None else (s + 2 * pad - kernel) // stride + 1 for s in size)

    def conv(self, x, prefix, filters, kernel, stride, groups, bias, pad, zero=False):
        *size, c = x
        size = self._resize(size, kernel, stride, kernel // 2 if pad else None)
        per_position = kernel * kernel * (c // groups) * filters
        self._weights(per_position + (filters if bias else 0))
        self._macs(size, per_position)
        return (*size, filters)

    def bn(self, x, name, zero_gamma=False):
        self._weights(2 * x[-1], 2 * x[-1])
        return x

    def relu(self, x, *_):
        return x

    dropout = identity = scale = drop_path = sigmoid = relu

    def multiply(self, a, b, name):  # an SE gate: element-wise, no multiply-accumulates counted
        return a

    def avgpool(self, x, size, name):
        return (*self._resize(x[:-1], size, size, None), x[-1])

    def maxpool(self, x, size, stride, prefix, pad):
        return (*self._resize(x[:-1], size, stride, pad), x[-1])

    def pad_channels(self, x, n, name):
        return (*x[:-1], x[-1] + n)

    def add(self, a, b, name):
        return b

    def pool(self, x, kind, name, keepdims=False):
        return (1, 1, x[-1]) if keepdims else (x[-1],)

    def dense(self, x, units, activation, name):
        self._weights(x[-1] * units + units)
        self._macs((), x[-1] * units)
        return (units,)


# Public API ------------------------------------------------------------------

POOLINGS = (None, "avg", "max")
# Parameters of a network, at most: 4 GB of float32 weights, before the optimizer's
# copies. The largest table row (ResNeXt101_64x4d) has 83 million.
MAX_PARAMS = 1_000_000_000


def _resolve(spec, include_top, input_tensor, input_shape, pooling, classes):
    """Validates the keras.applications arguments; returns (H, W, C), classes."""
    one_of("pooling", pooling, POOLINGS)
    one_of("include_top", include_top, (True, False))
    classes = positive("classes", spec.default_classes if classes is None else classes)
    channels_last = keras.config.image_data_format() == "channels_last"
    if input_tensor is not None and not (keras.backend.is_keras_tensor(input_tensor)
                                         or keras.ops.is_tensor(input_tensor)):
        raise ValueError(f"`input_tensor` must be None or a tensor (e.g. keras.Input(shape=(32, 32, 3))); "
                         f"received input_tensor={input_tensor!r}")
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = spec.default_size if include_top else None
        input_shape = (size, size, 3) if channels_last else (3, size, size)
    layout = "(height, width, channels)" if channels_last else "(channels, height, width)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must have rank 3, {layout}; received input_shape={input_shape!r}")
    input_shape = tuple(input_shape)
    hwc = input_shape if channels_last else (*input_shape[1:], input_shape[0])
    if not all(d is None or (is_number(d) and d > 0) for d in hwc[:2]) or not is_number(hwc[2]) or hwc[2] <= 0:
        raise ValueError(f"`input_shape` must be {layout} with positive integers (height and width may be None); "
                         f"received input_shape={input_shape!r}")
    if any(d is not None and d < spec.min_size for d in hwc[:2]):
        raise ValueError(f"Input size must be at least {spec.min_size}x{spec.min_size} for this network (it "
                         f"downsamples {spec.min_size}x); received input_shape={input_shape!r}")
    if include_top and None in hwc:
        raise ValueError(f"`include_top=True` needs a fixed input size; received input_shape={input_shape!r}. "
                         f"Use include_top=False (with `pooling`) for variable-size inputs.")
    return input_shape, hwc, classes


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


def _count(spec, hwc, include_top, pooling, classes):
    counter = _Counter()
    _network(counter, hwc, spec, include_top, pooling, classes, None)
    return counter.result


def _check_size(spec, hwc, include_top, pooling, classes):
    """Refuses a network too large to build, with its parameter count (`complexity`)."""
    params = _count(spec, hwc, include_top, pooling, classes).params
    if params > MAX_PARAMS:
        raise ValueError(f"This network would have {params:,} parameters ({params * 4 / 2**30:,.1f} GiB of float32 "
                         f"weights); the limit is {MAX_PARAMS:,}. Received {spec}, classes={classes!r}")


def _with_changes(spec, changes):
    try:
        return spec.replace(**changes) if changes else spec
    except TypeError:
        fields = [f.name for f in dataclasses.fields(Spec)]
        unknown = sorted(set(changes) - set(fields))
        raise ValueError(f"Unknown arguments {unknown}; a builder takes the keras.applications arguments and "
                         f"the Spec fields {fields}") from None


def complexity(model, input_shape=None, classes=None, include_top=True, pooling=None, **changes):
    """Parameters and multiply-accumulates of a network, from its spec alone.

    Args:
        model: a name in `keras_resnet.SPECS` or a `keras_resnet.Spec`.
        input_shape: as for the builders; defaults to the network's default size.
        classes, include_top, pooling: as for the builders.
        **changes: `Spec` fields to override, as for the builders.

    Returns:
        A `Complexity` (`trainable_params`, `params` as `count_params()`, `macs`).

    Example:
        >>> keras_resnet.complexity("ResNet50").params
        25636712
    """
    spec = _with_changes(get_spec(model), changes)
    if input_shape is None:
        input_shape = (spec.default_size, spec.default_size, 3)
        if keras.config.image_data_format() == "channels_first":
            input_shape = input_shape[::-1]
    _, hwc, classes = _resolve(spec, include_top, None, input_shape, pooling, classes)
    return _count(spec, hwc, include_top, pooling, classes)



@contextlib.contextmanager
def _recursion_limit(limit):
    """Keras maps a functional graph recursively, one level per layer on the longest
    path: ResNet-1202 (4,212 layers) needs more than Python's default 1,000."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def build(model, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=None, classifier_activation="softmax", name=None, dtype=None, **changes):
    """Builds any row of `keras_resnet.SPECS`, or any `Spec`, as a functional `keras.Model`.

    Args:
        model: a name in `keras_resnet.SPECS` (e.g. `"ResNet50"`) or a `Spec`.
        include_top: whether to end with global average pooling and a dense classifier.
        weights: `None` (random initialisation), `"imagenet"` (keras.applications'
            ImageNet weights, for ResNet50/101/152 and V2; see
            `keras_resnet.weights`) or the path of a weights file.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: `(height, width, channels)` (channels first when Keras is so
            configured); any channel count; height and width may be `None`
            without the top. Default: 224x224x3 (ImageNet stem) or 32x32x3
            (CIFAR stem) with the top, `(None, None, 3)` without.
        pooling: `None`, `"avg"` or `"max"`: global pooling of the features when
            `include_top=False`.
        classes: classifier width; default 1000 (ImageNet stem) or 10 (CIFAR stem).
        classifier_activation: activation of the classifier; `None` for logits.
        name: model name; default the table name in lower case, or "resnet".
        dtype: dtype policy of the layers, e.g. `"mixed_bfloat16"`; default the
            global policy (`keras.mixed_precision.set_global_policy`). The
            classifier computes and returns its variable dtype (float32 under
            mixed precision).
        **changes: `Spec` fields to override, e.g. `layout="torchvision"`,
            `unit="e"`, `shortcut="none"` (the plain network), `dropout=0.3`.

    Returns:
        A `keras.Model`. The outputs of the stages are the layers named in
        `spec.stage_outputs` (`conv{stage}_block{n}_out`).

    Example:
        >>> model = keras_resnet.build("ResNet56", shortcut="none")  # plain-56
        >>> model = keras_resnet.build(keras_resnet.wide_resnet(28, 10, dropout=0.3), classes=100)
    """
    spec = _with_changes(get_spec(model), changes)
    input_shape, hwc, classes = _resolve(spec, include_top, input_tensor, input_shape, pooling, classes)
    _check_activation(classifier_activation)
    text("name", name, allow_none=True)
    _check_size(spec, hwc, include_top, pooling, classes)
    policy = _dtype_policy(dtype)
    if isinstance(weights, str) and weights == "imagenet":
        weights = pretrained.imagenet(spec, include_top, classes, hwc[2], classifier_activation)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = keras.Input(tensor=input_tensor, shape=input_shape)
    outputs = _network(_Layers(spec, policy), inputs, spec, include_top, pooling, classes, classifier_activation)
    if name is None:
        name = model.lower() if isinstance(model, str) else "resnet"
    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    with _recursion_limit(1000 + 30 * sum(spec.blocks)):
        result = keras.Model(source, outputs, name=name)
    if weights is not None:
        pretrained.load_weights(result, weights)
    return result


def preprocess_input(x, data_format=None, mode="caffe"):
    """Keras' ImageNet preprocessing. Mode "caffe" (RGB->BGR, subtract the mean)
    suits keras.applications v1 weights, "tf" (scale to [-1, 1]) V2 weights,
    "torch" (scale, then ImageNet mean/std) torchvision weights."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)


decode_predictions = imagenet_utils.decode_predictions


# The builders, one per table row, with the keras.applications signature --------

_ARGS_DOC = """
    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as in keras.applications; see `keras_resnet.build`.
        dtype: dtype policy, e.g. `"mixed_bfloat16"`; default the global policy.
        **changes: `Spec` fields to override (e.g. `layout="torchvision"`).

    Returns:
        A `keras.Model`.
"""


def _builder(key):
    spec = SPECS[key]

    # As in keras.applications, rows with published weights default to them.
    default_weights = "imagenet" if key in pretrained.KERAS_WEIGHTS else None

    def builder(include_top=True, weights=default_weights, input_tensor=None, input_shape=None, pooling=None,
                classes=spec.default_classes, classifier_activation="softmax", name=key.lower(), dtype=None,
                **changes):
        return build(key, include_top=include_top, weights=weights, input_tensor=input_tensor,
                     input_shape=input_shape, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, name=name, dtype=dtype, **changes)

    builder.__name__ = builder.__qualname__ = key
    # keras.applications' per-family functions, e.g. `keras_resnet.ResNet50V2.preprocess_input`.
    builder.preprocess_input = functools.partial(preprocess_input, mode=pretrained.preprocessing_mode(spec))
    builder.decode_predictions = decode_predictions
    builder.__doc__ = (f"Instantiates {key}: `keras_resnet.SPECS[{key!r}]` =\n    {spec}.\n"
                       f"{_ARGS_DOC}\n    Example:\n        >>> model = keras_resnet.{key}()\n")
    return builder


# One line per table row, so that a search for a model's name finds where it comes
# from: `ResNet50` builds `SPECS["ResNet50"]` (keras_resnet/spec.py).
ResNet18 = _builder("ResNet18")
ResNet34 = _builder("ResNet34")
ResNet50 = _builder("ResNet50")
ResNet101 = _builder("ResNet101")
ResNet152 = _builder("ResNet152")
ResNet200 = _builder("ResNet200")
ResNet18V2 = _builder("ResNet18V2")
ResNet34V2 = _builder("ResNet34V2")
ResNet50V2 = _builder("ResNet50V2")
ResNet101V2 = _builder("ResNet101V2")
ResNet152V2 = _builder("ResNet152V2")
ResNet200V2 = _builder("ResNet200V2")
ResNeXt50_32x4d = _builder("ResNeXt50_32x4d")
ResNeXt101_32x8d = _builder("ResNeXt101_32x8d")
ResNeXt101_64x4d = _builder("ResNeXt101_64x4d")
WideResNet50_2 = _builder("WideResNet50_2")
WideResNet101_2 = _builder("WideResNet101_2")
ResNet20 = _builder("ResNet20")
ResNet32 = _builder("ResNet32")
ResNet44 = _builder("ResNet44")
ResNet56 = _builder("ResNet56")
ResNet110 = _builder("ResNet110")
ResNet1202 = _builder("ResNet1202")
PreActResNet164 = _builder("PreActResNet164")
PreActResNet1001 = _builder("PreActResNet1001")
WRN16_4 = _builder("WRN16_4")
WRN16_8 = _builder("WRN16_8")
WRN28_10 = _builder("WRN28_10")
WRN40_4 = _builder("WRN40_4")
ResNeXt29_8x64d = _builder("ResNeXt29_8x64d")
ResNeXt29_16x64d = _builder("ResNeXt29_16x64d")
ResNet50D = _builder("ResNet50D")
ResNet101D = _builder("ResNet101D")
ResNet152D = _builder("ResNet152D")
ResNet200D = _builder("ResNet200D")
SEResNet50 = _builder("SEResNet50")
SEResNeXt50_32x4d = _builder("SEResNeXt50_32x4d")
SEResNeXt101_32x4d = _builder("SEResNeXt101_32x4d")
ResNetRS50 = _builder("ResNetRS50")
ResNetRS101 = _builder("ResNetRS101")

BUILDERS = {key: globals()[key] for key in SPECS}


def WideResNet(depth, widen, dropout=0.0, include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=10, classifier_activation="softmax", name=None, dtype=None, **changes):
    """Instantiates WRN-`depth`-`widen` (Zagoruyko & Komodakis 2016) for CIFAR-size inputs.

    Args:
        depth: 6n+4 (10, 16, 22, 28, 40, ...).
        widen: widening factor k (may be fractional).
        dropout: dropout rate between the two convs of each block (0.3 in the paper).
        (others): as in keras.applications; see `keras_resnet.build`.

    Example:
        >>> model = keras_resnet.WideResNet(28, 10, dropout=0.3, classes=100)
    """
    return build(wide_resnet(depth, widen, dropout), include_top=include_top, weights=weights,
                 input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name or f"wrn{depth}_{widen}", dtype=dtype,
                 **changes)
