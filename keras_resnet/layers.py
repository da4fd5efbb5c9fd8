"""Keras' own Conv2D and BatchNormalization made fast on TensorFlow (docs/benchmark.md).

`Conv2D` and `BatchNormalization` are drop-in subclasses of the Keras layers of the same names: same arguments,
weights and results. On the TensorFlow backend they call TensorFlow's native kernels (grouped convolution; fused
batch normalization) wherever a one-time probe finds that the kernel exists and agrees with the definition;
everywhere else they are Keras' layers unchanged. They keep Keras' class names because `.weights.h5` files
address layers by class name and position: a model built with either class loads the other's weights.
"""

import concurrent.futures
import functools

import keras
import numpy as np


def _tf_grouped_conv(inputs, kernel, strides, padding, data_format, dilation_rate):
    """TensorFlow's own grouped convolution: `tf.nn.conv2d` with a kernel of shape `(kh, kw, in/groups, out)`."""
    import tensorflow as tf

    return tf.nn.conv2d(inputs, kernel, strides=strides, padding=padding.upper(),
                        data_format="NHWC" if data_format == "channels_last" else "NCHW", dilations=dilation_rate)


@functools.cache
def native_grouped_conv(data_format, dtype):
    """Whether TensorFlow runs grouped convolutions of `dtype` natively here (Keras 3 sends them through XLA,
    whose CPU gradient is far slower). Rather than trusting version numbers, this runs a small grouped convolution,
    strided then dilated, and its gradients once on the default device and compares them with the same convolution
    done group by group; `False` on other backends, or if the op fails or disagrees."""
    return _probe(_probe_grouped_conv, data_format, dtype)


def _probe(check, *args):
    """Runs `check(*args)` on TensorFlow; `False` on other backends or where a TensorFlow op fails (no kernel for
    this device, format or dtype)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    def run():
        try:
            return check(*args)
        except (tf.errors.OpError, ValueError, TypeError):
            return False

    # A fresh thread runs eagerly, with gradient tapes recording, even when the caller is tracing a tf.function.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(run).result()


def _agrees(compute, reference, watched, dtype):
    """Whether `compute()` and `reference()`, each a sequence of tensors, agree to `dtype`'s rounding, and so do
    the gradients of the sum of squares of their first tensors with respect to `watched`."""
    import tensorflow as tf

    def with_gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(watched)
            y, *rest = function()
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        return [y, *rest, *tape.gradient(loss, watched)]

    tolerance = 1e-4 if tf.as_dtype(dtype).size >= 4 else 5e-2  # float16/bfloat16 round more
    return all(np.allclose(tf.cast(a, tf.float32), tf.cast(b, tf.float32), tolerance, tolerance)
               for a, b in zip(with_gradients(compute), with_gradients(reference), strict=True))


def _probe_grouped_conv(data_format, dtype):
    import tensorflow as tf

    channels_last = data_format == "channels_last"
    axis = -1 if channels_last else 1
    x = tf.random.stateless_normal((1, 5, 5, 4) if channels_last else (1, 4, 5, 5), (1, 2), dtype=dtype)
    kernel = tf.random.stateless_normal((3, 3, 2, 4), (3, 4), dtype=dtype)  # 2 groups

    def native(stride, dilation):
        return [_tf_grouped_conv(x, kernel, stride, "same", data_format, dilation)]

    def per_group(stride, dilation):  # the definition of a grouped convolution
        parts = zip(tf.split(x, 2, axis), tf.split(kernel, 2, -1))
        return [tf.concat([_tf_grouped_conv(xi, ki, stride, "same", data_format, dilation) for xi, ki in parts], axis)]

    # Strided, and dilated as in a network of a smaller output stride (`Spec.output_stride`).
    return all(_agrees(functools.partial(native, *args), functools.partial(per_group, *args), [x, kernel], dtype)
               for args in ((2, 1), (1, 2)))


def _saved_as_keras(cls):
    """Makes `cls`, a subclass of the Keras layer of the same name, save as that Keras layer and load back as
    `cls` where keras_resnet is imported. Keras records a layer as `module`, `class_name` and `registered_name`, and
    looks the registered name up first: `cls` is recorded as `keras.layers.<name>` registered as `<name>`, which
    importing keras_resnet registers; without it, Keras accepts a built-in's registered name equal to its class name
    and loads its own layer. Keras' own layers have no registered name: their saved models load as Keras' layers."""
    cls.__module__ = "keras.layers"  # what Keras writes as the saved layer's module
    keras.saving.get_custom_objects()[cls.__name__] = cls
    return cls


@_saved_as_keras
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose grouped convolutions (`groups > 1`) call TensorFlow's native kernel, not XLA,
    wherever `native_grouped_conv` finds one; elsewhere exactly `keras.layers.Conv2D`."""

    def convolution_op(self, inputs, kernel):
        if self.groups > 1 and native_grouped_conv(self.data_format, keras.backend.standardize_dtype(inputs.dtype)):
            return _tf_grouped_conv(inputs, kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        return super().convolution_op(inputs, kernel)


def _tf_fused_batch_norm(x, scale, offset, mean, variance, epsilon, training, data_format):
    """TensorFlow's fused batch normalization, one kernel for what Keras does in a dozen ops: `(outputs, mean,
    variance)`. `x` may be float16 or bfloat16; statistics and parameters are float32, as is the computation. In
    training, `mean` and `variance` are ignored and the batch's are returned, the variance biased, as Keras' moving
    statistics use it (the kernel gives the unbiased one)."""
    import tensorflow as tf

    empty = tf.constant([], tf.float32)
    outputs, mean_out, variance_out, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=scale, offset=offset, mean=empty if training else mean, variance=empty if training else variance,
        epsilon=epsilon, data_format="NHWC" if data_format == "channels_last" else "NCHW", is_training=training)
    if not training:
        return outputs, mean, variance
    n = tf.cast(tf.size(x, out_type=tf.int64) // tf.size(scale, out_type=tf.int64), tf.float32)
    return outputs, mean_out, variance_out * ((n - 1) / tf.maximum(n, 1))


@functools.cache
def native_fused_batch_norm(data_format, dtype, epsilon):
    """Whether TensorFlow's fused batch normalization works here for `dtype` inputs, `data_format` and `epsilon`
    (cuDNN has a minimum epsilon): one small batch, in training and in inference, outputs, statistics and gradients
    compared with the definition; `False` on other backends, or if the op fails or disagrees."""
    return _probe(_probe_fused_batch_norm, data_format, dtype, epsilon)


def _probe_fused_batch_norm(data_format, dtype, epsilon):
    import tensorflow as tf

    channels_last = data_format == "channels_last"
    axes = [0, 1, 2] if channels_last else [0, 2, 3]
    x = tf.random.stateless_normal((2, 3, 3, 4) if channels_last else (2, 4, 3, 3), (5, 6), dtype=dtype)
    scale, offset, mean, variance = (tf.random.stateless_uniform((4,), (7, i), 0.5, 1.5) for i in range(4))

    def definition(training):
        xf = tf.cast(x, tf.float32)
        m, v = tf.nn.moments(xf, axes) if training else (mean, variance)
        shape = [1, 1, 1, 4] if channels_last else [1, 4, 1, 1]
        inverse = tf.reshape(scale * tf.math.rsqrt(v + epsilon), shape)
        return tf.cast((xf - tf.reshape(m, shape)) * inverse + tf.reshape(offset, shape), dtype), m, v

    def fused(training):
        return _tf_fused_batch_norm(x, scale, offset, mean, variance, epsilon, training, data_format)

    return all(_agrees(functools.partial(fused, t), functools.partial(definition, t), [x, scale, offset], dtype)
               for t in (True, False))


BFLOAT16_BLOCK = 16  # channels per block of oneDNN's AVX-512 kernels: 16 float32 lanes


def bfloat16_in_float32(dtype, channels):
    """Whether a batch norm over `channels` that computes in `dtype` is faster in float32: bfloat16 on TensorFlow,
    whose oneDNN bfloat16 kernel is several times slower than its float32 one where the channels do not fill
    whole blocks of `BFLOAT16_BLOCK` (docs/benchmark.md)."""
    return (keras.backend.standardize_dtype(dtype) == "bfloat16" and keras.backend.backend() == "tensorflow"
            and channels % BFLOAT16_BLOCK != 0)


@_saved_as_keras
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights, results and moving-statistics updates) on
    TensorFlow's fused kernel for 4-D inputs where `native_fused_batch_norm` finds it, in place of Keras' dozen
    element-wise ops. Masks, renorm, synchronized statistics, other ranks, backends, devices and dtypes without the
    kernel take Keras' own path. bfloat16 inputs are normalised in float32 where `bfloat16_in_float32` says so: the
    kernel computes in float32 anyway."""

    def call(self, inputs, training=None, mask=None):
        data_format = self._fused_data_format(inputs, mask)
        if data_format is None:
            return super().call(inputs, training=training, mask=mask)
        if bfloat16_in_float32(inputs.dtype, self.moving_mean.shape[0]):
            inputs = keras.ops.cast(inputs, "float32")
        training = bool(training and self.trainable)  # as Keras: frozen layers use the moving statistics
        shape = self.moving_mean.shape
        scale = self.gamma if self.scale else keras.ops.ones(shape)
        offset = self.beta if self.center else keras.ops.zeros(shape)
        outputs, mean, variance = _tf_fused_batch_norm(
            inputs, scale, offset, self.moving_mean, self.moving_variance, self.epsilon, training, data_format)
        if training:
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return keras.ops.cast(outputs, self.compute_dtype)

    def _fused_data_format(self, inputs, mask):
        """`"channels_last"` or `"channels_first"` where the fused kernel applies, else `None`."""
        if (mask is not None or self.renorm or self.synchronized or len(inputs.shape) != 4
                or self.moving_mean.dtype != "float32"):
            return None
        data_format = {-1: "channels_last", 3: "channels_last", 1: "channels_first"}.get(self.axis)
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if data_format and native_fused_batch_norm(data_format, dtype, self.epsilon):
            return data_format
        return None
