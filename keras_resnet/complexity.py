"""Parameters and multiply-accumulates of a network, from its spec alone: `Counter` runs
`keras_resnet.architecture` on (height, width, channels) shapes instead of tensors, so it cannot disagree with
`keras_resnet.build`.
"""

import dataclasses
import math

import keras

from keras_resnet.architecture import Top, input_shape_of, network
from keras_resnet.spec import Spec
from keras_resnet.table import get_spec

# Parameters of a network, at most: 4 GB of float32 weights. The largest table row (ResNeXt101_64x4d) has 83 million.
MAX_PARAMS = 1_000_000_000


@dataclasses.dataclass
class Complexity:
    """Size and cost of a network.

    Attributes:
        trainable_params: trainable weights (what torch's `parameters()` counts).
        params: Keras' `count_params()`: also BatchNorm's moving mean and variance.
        macs: multiply-accumulates of one forward pass of one image (convs and the dense layer, as torchvision
            and the papers count), or `None` for a variable input size.
    """

    trainable_params: int = 0
    params: int = 0
    macs: int | None = 0


class Counter:
    """The architecture's operations on shapes: each returns its output's (H, W, C) and counts."""

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
        """Output size of a window of `kernel` (its dilated extent) at `stride`, `pad` on each side or "same" (None)."""
        if pad is None:
            return tuple(None if s is None else -(-s // stride) for s in size)
        return tuple(None if s is None else (s + 2 * pad - kernel) // stride + 1 for s in size)

    def conv(self, x, prefix, filters, kernel, *, stride=1, groups=1, bias, pad=False, zero=False, dilation=1):
        *size, c = x
        size = self._resize(size, dilation * (kernel - 1) + 1, stride, dilation * (kernel // 2) if pad else None)
        per_position = kernel * kernel * (c // groups) * filters
        self._weights(per_position + (filters if bias else 0))
        self._macs(size, per_position)
        return (*size, filters)

    def bn(self, x, name, zero_gamma=False):
        self._weights(2 * x[-1], 2 * x[-1])
        return x

    def relu(self, x, *_):
        return x

    sigmoid = dropout = drop_path = scale = identity = relu

    def multiply(self, a, b, name):  # an SE gate: element-wise, no multiply-accumulates counted
        return a

    def avgpool(self, x, name, size, stride):
        return (*self._resize(x[:-1], size, stride, None), x[-1])

    def maxpool(self, x, prefix, size, stride, pad=0):
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


def count(spec, hwc, top):
    """The `Complexity` of `spec` on (H, W, C) inputs with `top`, arguments already checked."""
    counter = Counter()
    network(counter, hwc, spec, top)
    return counter.result


def with_changes(spec, changes):
    """`spec` with `Spec` fields replaced; a ValueError naming unknown ones."""
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
    spec = with_changes(get_spec(model), changes)
    if input_shape is None:
        input_shape = (spec.default_size, spec.default_size, 3)
        if keras.config.image_data_format() == "channels_first":
            input_shape = input_shape[::-1]
    top = Top(include_top, pooling, spec.default_classes if classes is None else classes, None)
    _, hwc = input_shape_of(spec, top, input_shape)
    return count(spec, hwc, top)
