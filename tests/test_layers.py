"""Keras' Conv2D and BatchNormalization on TensorFlow's native kernels (keras_resnet/layers.py):
the probes that decide where the kernels apply, and the same outputs, gradients, moving
statistics, configs and weights as Keras' own layers, on the native path and off it."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import layers as kr_layers
from keras_resnet.transforms import with_stock_layers

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the native kernels are TensorFlow's")


# Conv2D: grouped convolutions ---------------------------------------------------------


@pytest.fixture
def conv_calls(monkeypatch):
    """Counts the calls of TensorFlow's native grouped convolution."""
    counter = []
    kr_layers.native_grouped_conv("channels_last", "float32")  # probe before counting
    native = kr_layers._tf_grouped_conv
    monkeypatch.setattr(kr_layers, "_tf_grouped_conv", lambda *a: counter.append(1) or native(*a))
    return counter


@pytest.fixture(params=["native", "fallback"])
def path(request, monkeypatch, conv_calls):
    if request.param == "fallback":  # as on a TensorFlow or device without the kernel
        monkeypatch.setattr(kr_layers, "native_grouped_conv", lambda *a: False)
    return request.param


def test_conv_probe_finds_the_native_kernel_of_this_tensorflow():
    assert kr_layers.native_grouped_conv("channels_last", "float32")


def test_conv_probe_says_no_where_the_kernel_fails_or_is_wrong(monkeypatch):
    native = kr_layers._tf_grouped_conv

    def failing(x, kernel, *args):
        if kernel.shape[-2] != x.shape[-1]:  # only grouped calls, not the per-group reference
            raise tf.errors.UnimplementedError(None, None, "Fused conv implementation does not support grouped convolutions")
        return native(x, kernel, *args)

    def wrong(x, kernel, *args):
        return native(x, kernel, *args) * (1.01 if kernel.shape[-2] != x.shape[-1] else 1)

    for fake in (failing, wrong):
        monkeypatch.setattr(kr_layers, "_tf_grouped_conv", fake)
        assert kr_layers.native_grouped_conv.__wrapped__("channels_last", "float32") is False


@pytest.mark.parametrize("strides,padding,use_bias", [(1, "same", False), (2, "same", True), (2, "valid", False)])
def test_outputs_and_gradients_equal_keras_conv2d(path, conv_calls, strides, padding, use_bias):
    args = dict(filters=8, kernel_size=3, strides=strides, padding=padding, groups=4, use_bias=use_bias,
                bias_initializer="random_normal")
    ours, stock = kr_layers.Conv2D(**args), keras.layers.Conv2D(**args)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 9, 9, 12)), tf.float32)
    ours.build(x.shape)
    stock.build(x.shape)
    stock.set_weights(ours.get_weights())

    def forward_backward(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.sin(y))
        return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]

    for a, b in zip(forward_backward(ours), forward_backward(stock), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert len(conv_calls) == (path == "native")  # the stock layer never takes it
    assert ours.get_config() == {**stock.get_config(), "name": ours.name}


def test_resnext_uses_it_for_grouped_convs_only(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    grouped = {l.name for l in model.layers if isinstance(l, kr_layers.Conv2D)}
    assert grouped == {"conv2_block1_2_conv", "conv3_block1_2_conv"}
    assert all(l.groups == 1 for l in model.layers if isinstance(l, keras.layers.Conv2D) and l.name not in grouped)


def _closest_to_a_relu_kink(model, x):
    """The smallest |input| of any ReLU in a training-mode forward pass (stateless: the
    batch norms' moving statistics stay as they are)."""
    probe = keras.Model(model.inputs, [l.input for l in model.layers if isinstance(l, keras.layers.Activation)])
    relu_inputs, _ = probe.stateless_call([v.value for v in probe.trainable_variables],
                                          [v.value for v in probe.non_trainable_variables], x, training=True)
    return min(float(np.abs(a).min()) for a in relu_inputs)


def test_weights_interchangeable_and_training_identical(path, conv_calls, tmp_path, tiny_resnext):
    """A model built either way loads the other's weights; one SGD step in graph
    mode gives the same weights.

    Two float32 implementations differ by round-off (up to about 3e-6 in these
    activations), so a ReLU input closer to zero than that can fall on opposite sides of
    the kink in the two, which changes that step's gradients by about 1%: about one
    initialisation in 20 of this network has one. The seed fixes an initialisation, and
    the test checks that no ReLU input of it lies that close."""
    keras.utils.set_random_seed(9)
    ours = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    stock = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    stock = with_stock_layers(stock)  # fresh random weights, then loaded from `ours` below
    assert not any(isinstance(l, kr_layers.Conv2D) for l in stock.layers)
    x = np.random.default_rng(1).normal(size=(4, 16, 16, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    for source, target in ((ours, stock), (stock, ours)):
        source.save_weights(tmp_path / "w.weights.h5")
        target.load_weights(tmp_path / "w.weights.h5")
        np.testing.assert_allclose(target.predict_on_batch(x), source.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    assert _closest_to_a_relu_kink(ours, x) > 1e-5
    for model in (ours, stock):
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", jit_compile=False)
        model.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), stock.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert conv_calls if path == "native" else not conv_calls


# BatchNormalization: the fused kernel ---------------------------------------------------

TOLERANCE = {"float32": 1e-4, "mixed_bfloat16": 5e-2, "mixed_float16": 1e-2}


@pytest.fixture
def norm_calls(monkeypatch):
    """The calls of TensorFlow's fused batch normalization: `(input shape, input dtype)` each."""
    counter = []
    fused = kr_layers._tf_fused_batch_norm
    monkeypatch.setattr(kr_layers, "_tf_fused_batch_norm", lambda x, *a: counter.append(
        (tuple(x.shape), keras.backend.standardize_dtype(x.dtype))) or fused(x, *a))
    return counter


def test_batch_norm_probe_finds_the_kernel_for_float_types_and_not_float64():
    for data_format in ("channels_last", "channels_first"):
        for dtype in ("float32", "bfloat16", "float16"):
            assert kr_layers.native_fused_batch_norm(data_format, dtype, 1e-3)
        assert not kr_layers.native_fused_batch_norm(data_format, "float64", 1e-3)


def test_batch_norm_probe_says_no_where_the_kernel_fails_or_is_wrong(monkeypatch):
    fused = kr_layers._tf_fused_batch_norm

    def failing(*args):
        raise tf.errors.InvalidArgumentError(None, None, "epsilon must be at least 1e-5")

    def wrong_statistics(*args):
        y, mean, variance = fused(*args)
        return y, mean, variance * 1.01

    for fake in (failing, wrong_statistics):
        monkeypatch.setattr(kr_layers, "_tf_fused_batch_norm", fake)
        assert kr_layers.native_fused_batch_norm.__wrapped__("channels_last", "float32", 1e-3) is False


def _forward_backward(layer, x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.sin(tf.cast(y, tf.float32)))
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    return [y, *gradients, layer.moving_mean, layer.moving_variance]


def _pair(x_shape, policy="float32", **args):
    """Our layer and Keras', built on `x_shape` with the same random weights."""
    ours, stock = kr_layers.BatchNormalization(dtype=policy, **args), keras.layers.BatchNormalization(dtype=policy, **args)
    for layer in (ours, stock):
        layer.build(x_shape)
    rng = np.random.default_rng(3)
    ours.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ours.get_weights()])
    stock.set_weights(ours.get_weights())
    return ours, stock


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("axis,center,scale", [(-1, True, True), (1, True, True), (-1, False, True), (-1, True, False)])
def test_outputs_gradients_and_moving_statistics_equal_keras(norm_calls, training, policy, axis, center, scale):
    shape = (4, 5, 6, 8) if axis == -1 else (4, 8, 5, 6)
    ours, stock = _pair(shape, policy, axis=axis, center=center, scale=scale, momentum=0.9, epsilon=1.001e-5)
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, size=shape), keras.DTypePolicy(policy).compute_dtype)
    results = _forward_backward(ours, x, training)
    assert results[0].dtype == x.dtype
    tolerance = TOLERANCE[policy]
    for a, b in zip(results, _forward_backward(stock, x, training), strict=True):
        np.testing.assert_allclose(tf.cast(a, tf.float32), tf.cast(b, tf.float32), rtol=tolerance, atol=tolerance)
    assert any(called == shape for called, _ in norm_calls), "the fused kernel was not used"  # not only the probe
    if not training:  # inference leaves the moving statistics alone
        np.testing.assert_array_equal(ours.moving_variance, stock.get_weights()[-1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("channels, kernel_dtype", [(8, "float32"), (15, "float32"), (16, "bfloat16"),
                                                     (24, "float32"), (32, "bfloat16"), (40, "float32")])
def test_bfloat16_fills_whole_channel_blocks_or_computes_in_float32(norm_calls, channels, kernel_dtype, axis,
                                                                     training):
    """oneDNN's bfloat16 batch norm is fast only on whole blocks of 16 channels: other channel counts
    go to the kernel in float32, and all give Keras' outputs, gradients and moving statistics, in
    bfloat16."""
    shape = (4, 5, 6, channels) if axis == -1 else (4, channels, 5, 6)
    ours, stock = _pair(shape, "mixed_bfloat16", axis=axis, momentum=0.9)
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, size=shape), "bfloat16")
    kr_layers.native_fused_batch_norm("channels_last" if axis == -1 else "channels_first", "bfloat16", 1e-3)
    norm_calls.clear()  # the probe's own calls, if it ran just now
    results = _forward_backward(ours, x, training)
    assert norm_calls == [(shape, kernel_dtype)] and results[0].dtype == "bfloat16"
    assert results[0].shape == shape and [tuple(r.shape) for r in results[2:]] == [(channels,)] * 4
    for a, b in zip(results, _forward_backward(stock, x, training), strict=True):
        np.testing.assert_allclose(tf.cast(a, tf.float32), tf.cast(b, tf.float32), rtol=5e-2, atol=5e-2)


def test_frozen_layer_uses_moving_statistics_even_in_training(norm_calls):
    ours, stock = _pair((4, 3, 3, 8))
    ours.trainable = stock.trainable = False
    before = ours.get_weights()
    x = tf.constant(np.random.default_rng(1).normal(size=(4, 3, 3, 8)), tf.float32)
    np.testing.assert_allclose(ours(x, training=True), stock(x, training=True), rtol=1e-5, atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, ours.get_weights(), strict=True))
    assert norm_calls


def test_one_value_per_channel_gives_zero_variance_as_keras():
    ours, stock = _pair((1, 1, 1, 8), momentum=0.0)
    x = tf.ones((1, 1, 1, 8))
    np.testing.assert_allclose(ours(x, training=True), stock(x, training=True), rtol=1e-5)
    np.testing.assert_array_equal(ours.moving_variance, np.zeros(8))


@pytest.mark.parametrize("case", ["mask", "rank 3", "renorm", "axis 2", "float64"])
def test_other_cases_take_keras_path_with_keras_results(norm_calls, case):
    shape = (4, 6, 8) if case in ("mask", "rank 3") else (4, 5, 6, 8)
    args = {"renorm": True} if case == "renorm" else {"axis": 2} if case == "axis 2" else {}
    ours, stock = _pair(shape, "float64" if case == "float64" else "float32", **args)
    x = tf.constant(np.random.default_rng(2).normal(size=shape), ours.compute_dtype)
    mask = tf.constant(np.random.default_rng(3).uniform(size=shape[:2]) > 0.3) if case == "mask" else None
    np.testing.assert_allclose(ours(x, training=True, mask=mask), stock(x, training=True, mask=mask), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.moving_variance, stock.moving_variance, rtol=1e-6)
    assert not norm_calls


def test_models_use_it_configured_as_keras_would_be():
    """(A saved model loads with these layers: tests/test_saving.py.)"""
    model = keras_resnet.ResNet20(input_shape=(16, 16, 3), classes=3)
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms) == 19 and all(type(layer) is kr_layers.BatchNormalization for layer in batch_norms)
    # ResNet20's torchvision layout: epsilon 1e-5, momentum 0.9 (torch's 0.1).
    for layer in batch_norms:
        stock = keras.layers.BatchNormalization(axis=-1, epsilon=1e-5, momentum=0.9, name=layer.name)
        assert layer.get_config() == stock.get_config()
