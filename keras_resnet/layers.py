"""The layers Keras lacks: zero-padding of the channel axis (He 2015 option A)
and a grouped convolution that is fast on TensorFlow (ResNeXt)."""

import concurrent.futures
import functools

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadChannels(keras.layers.Layer):
    """Appends `padding` zero channels: the parameter-free shortcut of He 2015's
    option A ("extra zero entries padded for increasing dimensions").

    Args:
        padding: number of zero channels to append.
        data_format: `"channels_last"` or `"channels_first"`; default Keras' setting.
    """

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding <= 0:
            raise ValueError(f"`padding` must be a positive integer; received padding={padding!r}")
        self.padding = padding
        self.data_format = data_format or keras.config.image_data_format()
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first'; received {data_format!r}")

    @property
    def _axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def call(self, x):
        # Concatenation, not a pad op: TensorFlow 2.21's oneDNN remapper crashes when
        # it fuses conv + bias + add with a padded addend (see the test).
        shape = list(keras.ops.shape(x))
        shape[self._axis] = self.padding
        return keras.ops.concatenate([x, keras.ops.zeros(shape, x.dtype)], axis=self._axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis] += self.padding
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


def _tf_grouped_conv(inputs, kernel, strides, padding, data_format, dilation_rate):
    """TensorFlow's own grouped convolution: `tf.nn.conv2d` with a kernel of
    shape `(kh, kw, in/groups, out)` (oneDNN on CPU, cuDNN on GPU)."""
    import tensorflow as tf

    return tf.nn.conv2d(inputs, kernel, strides=strides, padding=padding.upper(),
                        data_format="NHWC" if data_format == "channels_last" else "NCHW", dilations=dilation_rate)


@functools.cache
def native_grouped_conv(data_format, dtype):
    """Whether TensorFlow runs grouped convolutions of `dtype` natively here.

    Keras 3 sends every grouped convolution on the TensorFlow backend through
    XLA, because TensorFlow once had no CPU kernel for them; XLA's CPU gradient
    of a grouped convolution is ~300x slower than TensorFlow's oneDNN kernel
    where that exists (TensorFlow 2.21). Rather than trusting version numbers,
    this runs a small grouped convolution and its gradients once on the default
    device and compares them with the same convolution done group by group.
    Cached per `(data_format, dtype)`.

    Returns:
        `False` on other backends, or if the op fails or disagrees.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    # A fresh thread runs eagerly, with gradient tapes recording, even when the
    # caller is tracing a tf.function (as Keras does when it builds a model).
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(_probe, data_format, dtype).result()


def _probe(data_format, dtype):
    import tensorflow as tf

    channels_last = data_format == "channels_last"
    axis = -1 if channels_last else 1
    x = tf.random.stateless_normal((1, 5, 5, 4) if channels_last else (1, 4, 5, 5), (1, 2), dtype=dtype)
    kernel = tf.random.stateless_normal((3, 3, 2, 4), (3, 4), dtype=dtype)  # 2 groups

    def with_gradients(conv):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = conv()
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        return [y, *tape.gradient(loss, [x, kernel])]

    def per_group():  # the definition of a grouped convolution
        parts = zip(tf.split(x, 2, axis), tf.split(kernel, 2, -1))
        return tf.concat([_tf_grouped_conv(xi, ki, 2, "same", data_format, 1) for xi, ki in parts], axis)

    try:
        native = with_gradients(lambda: _tf_grouped_conv(x, kernel, 2, "same", data_format, 1))
        reference = with_gradients(per_group)
    except (tf.errors.OpError, ValueError, TypeError):  # no kernel for this device, format or dtype
        return False
    tolerance = 1e-4 if tf.as_dtype(dtype).size >= 4 else 5e-2  # float16/bfloat16 round more
    return all(np.allclose(tf.cast(a, tf.float32), tf.cast(b, tf.float32), tolerance, tolerance)
               for a, b in zip(native, reference))


@keras.saving.register_keras_serializable(package="keras_resnet")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose grouped convolutions are fast on TensorFlow.

    Same arguments, weights and results as `keras.layers.Conv2D`. Keras 3
    compiles every grouped convolution (`groups > 1`) with XLA on the TensorFlow
    backend, which makes ResNeXt training ~30x slower on a CPU; this layer calls
    TensorFlow's native grouped kernel instead wherever `native_grouped_conv`
    finds one, and otherwise (other backends, older TensorFlow, a device or
    dtype without the kernel) does exactly what `keras.layers.Conv2D` does.

    It shares Keras' class name because Keras' weights files (`.weights.h5`)
    address layers by class name and position: a model built with either class
    loads the other's weights.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups > 1 and native_grouped_conv(self.data_format, keras.backend.standardize_dtype(inputs.dtype)):
            return _tf_grouped_conv(inputs, kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        return super().convolution_op(inputs, kernel)
