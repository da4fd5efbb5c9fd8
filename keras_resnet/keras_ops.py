"""The operations of `keras_resnet.architecture` as Keras layers: what `keras_resnet.build` runs. Every layer
gets the network's dtype policy (but the float32 batch norms and ReLUs of `bn`); what a `Spec` fixes for the
whole network is bound once, in `__init__`.
"""

import copy
import functools

import keras

from keras_resnet.layers import BatchNormalization, Conv2D, bfloat16_in_float32


class KerasLayers:
    def __init__(self, spec, dtype):
        self.dtype = dtype  # a keras.DTypePolicy
        self.channels_last = keras.config.image_data_format() == "channels_last"
        self.axis = -1 if self.channels_last else 1
        self.init = spec.kernel_initializer  # a Keras identifier; each conv gets its own instance
        self._bn = functools.partial(BatchNormalization, axis=self.axis, epsilon=spec.bn_epsilon,
                                     momentum=spec.bn_momentum, dtype=dtype)
        self._layer = lambda cls, *args, **kwargs: cls(*args, **kwargs, dtype=dtype)

    def conv(self, x, prefix, filters, kernel, *, stride=1, groups=1, bias, pad=False, zero=False, dilation=1):
        if pad:
            x = self._layer(keras.layers.ZeroPadding2D, dilation * (kernel // 2), name=f"{prefix}_pad")(x)
        # keras_resnet's Conv2D runs grouped convs on TensorFlow's native kernel, not XLA.
        return self._layer(Conv2D if groups > 1 else keras.layers.Conv2D,
                           filters, kernel, strides=stride, padding="valid" if pad else "same", groups=groups,
                           dilation_rate=dilation, use_bias=bias,
                           kernel_initializer="zeros" if zero else self._initializer(), name=f"{prefix}_conv")(x)

    def _initializer(self):
        """A new initializer for every conv: one unseeded Keras 3 initializer object shared by several layers draws
        the *same* kernel for every conv of the same shape, so all blocks of a stage would start identical."""
        return keras.initializers.get(copy.deepcopy(self.init)) if isinstance(self.init, dict) else self.init

    def bn(self, x, name, zero_gamma=False):
        # Under bfloat16, on channels where its bfloat16 kernel is slow, a batch norm computes in float32 and so
        # does the ReLU after it (`relu`): TensorFlow fuses the two into one float32 kernel, where a float32 batch
        # norm alone pays casts around it and a bfloat16 ReLU and ReLU gradient besides (docs/benchmark.md).
        in_float32 = bfloat16_in_float32(self.dtype.compute_dtype, x.shape[self.axis])
        return self._bn(name=name, dtype="float32" if in_float32 else self.dtype,
                        **({"gamma_initializer": "zeros"} if zero_gamma else {}))(x)

    def relu(self, x, name):
        # A float32 input under mixed precision comes from such a batch norm: the ReLU stays in float32 with it.
        float32 = x.dtype == "float32" and self.dtype.compute_dtype != "float32"
        return keras.layers.Activation("relu", name=name, dtype="float32" if float32 else self.dtype)(x)

    def sigmoid(self, x, name):
        return self._layer(keras.layers.Activation, "sigmoid", name=name)(x)

    def dropout(self, x, rate, name):
        return self._layer(keras.layers.Dropout, rate, name=name)(x)

    def drop_path(self, x, rate, name):
        # One draw per example for the whole branch; Dropout scales the kept ones by 1 / (1 - rate).
        return self._layer(keras.layers.Dropout, rate, noise_shape=(None, 1, 1, 1), name=name)(x)

    def multiply(self, a, b, name):
        return self._layer(keras.layers.Multiply, name=name)([a, b])

    def avgpool(self, x, name, size, stride):
        # "same": an odd size keeps its last row, averaged over what exists, as timm's torch AvgPool2d(ceil_mode=True,
        # count_include_pad=False). At stride 1, timm's AvgPool2dSame: the zero row and column it pads count.
        if stride == 1:
            x = self._layer(keras.layers.ZeroPadding2D, ((0, size - 1), (0, size - 1)), name=f"{name}_pad")(x)
        return self._layer(keras.layers.AveragePooling2D, size, strides=stride,
                           padding="same" if stride > 1 else "valid", name=name)(x)

    def maxpool(self, x, prefix, size, stride, pad=0):
        if pad:
            x = self._layer(keras.layers.ZeroPadding2D, pad, name=f"{prefix}_pad")(x)
        return self._layer(keras.layers.MaxPooling2D, size, strides=stride,
                           name=f"{prefix}_pool" if pad else prefix)(x)

    def pad_channels(self, x, n, name):
        """Option A's `n` zero channels from Keras' own layers, so that a saved model loads without keras_resnet: x
        times 0, repeated and cut to n channels, concatenated after x. Not a pad op: TensorFlow 2.21's oneDNN
        remapper crashes fusing conv + bias + add with a padded addend (tests/test_architecture.py)."""
        channels = x.shape[self.axis]
        zeros = self._layer(keras.layers.Rescaling, 0.0, name=f"{name}_zeros")(x)
        copies = -(-n // channels)
        if copies > 1:
            zeros = self._layer(keras.layers.Concatenate, self.axis, name=f"{name}_repeat")([zeros] * copies)
        if copies * channels > n:
            # Cropping2D told the other data format crops the channel axis and one spatial axis.
            cut = (0, copies * channels - n)
            crop, data_format = (((0, 0), cut), "channels_first") if self.channels_last else \
                ((cut, (0, 0)), "channels_last")
            zeros = self._layer(keras.layers.Cropping2D, crop, data_format=data_format, name=f"{name}_crop")(zeros)
        return self._layer(keras.layers.Concatenate, self.axis, name=name)([x, zeros])

    def add(self, a, b, name):
        return self._layer(keras.layers.Add, name=name)([a, b])

    def scale(self, x, factor, name):
        return self._layer(keras.layers.Rescaling, factor, name=name)(x)

    def identity(self, x, name):
        # Identity has no get_config of its own: Keras' automatic one takes a policy's name, not a DTypePolicy.
        return keras.layers.Identity(name=name, dtype=self.dtype.name)(x)

    def pool(self, x, kind, name, keepdims=False):
        layer = keras.layers.GlobalAveragePooling2D if kind == "avg" else keras.layers.GlobalMaxPooling2D
        return self._layer(layer, name=name, keepdims=keepdims)(x)

    def dense(self, x, units, activation, name):
        # In the variable dtype (float32 under mixed precision), as Keras' mixed-precision guide advises.
        return keras.layers.Dense(units, activation=activation, name=name, dtype=self.dtype.variable_dtype)(x)
