"""keras_resnet.layers.Conv2D (Keras' grouped Conv2D on TensorFlow's native kernel) and with_stock_layers (issue 4)."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import layers as kr_layers

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the native path is TensorFlow's")

@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of TensorFlow's native grouped convolution."""
    counter = []
    kr_layers.native_grouped_conv("channels_last", "float32")  # probe before counting
    native = kr_layers._tf_grouped_conv
    monkeypatch.setattr(kr_layers, "_tf_grouped_conv", lambda *a: counter.append(1) or native(*a))
    return counter


@pytest.fixture(params=["native", "fallback"])
def path(request, monkeypatch, calls):
    if request.param == "fallback":  # as on a TensorFlow or device without the kernel
        monkeypatch.setattr(kr_layers, "native_grouped_conv", lambda *a: False)
    return request.param


def test_probe_finds_the_native_kernel_of_this_tensorflow():
    assert kr_layers.native_grouped_conv("channels_last", "float32")


def test_probe_says_no_where_the_kernel_fails_or_is_wrong(monkeypatch):
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
def test_outputs_and_gradients_equal_keras_conv2d(path, calls, strides, padding, use_bias):
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
    assert len(calls) == (path == "native")  # the stock layer never takes it
    assert ours.get_config() == {**stock.get_config(), "name": ours.name}


def test_resnext_uses_it_for_grouped_convs_only(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    grouped = {l.name for l in model.layers if isinstance(l, kr_layers.Conv2D)}
    assert grouped == {"conv2_block1_2_conv", "conv3_block1_2_conv"}
    assert all(l.groups == 1 for l in model.layers if isinstance(l, keras.layers.Conv2D) and l.name not in grouped)


def test_weights_interchangeable_and_training_identical(path, calls, tmp_path, tiny_resnext):
    """A model built either way loads the other's weights; one SGD step in graph
    mode gives the same weights."""
    ours = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    stock = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    stock = kr_layers.with_stock_layers(stock)  # fresh random weights, then loaded from `ours` below
    assert not any(isinstance(l, kr_layers.Conv2D) for l in stock.layers)
    x = np.random.default_rng(1).normal(size=(4, 16, 16, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    for source, target in ((ours, stock), (stock, ours)):
        source.save_weights(tmp_path / "w.weights.h5")
        target.load_weights(tmp_path / "w.weights.h5")
        np.testing.assert_allclose(target.predict_on_batch(x), source.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    for model in (ours, stock):
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", jit_compile=False)
        model.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), stock.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert calls if path == "native" else not calls


def test_safe_mode_save_and_load(tmp_path, tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("conv2_block1_2_conv"), kr_layers.Conv2D)
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6, atol=1e-6)


def test_with_stock_layers_swaps_only_the_fast_subclasses(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    stock = kr_layers.with_stock_layers(model)
    assert [type(layer).__name__ for layer in stock.layers] == [type(layer).__name__ for layer in model.layers]
    assert not any(type(layer) in kr_layers.STOCK_LAYERS for layer in stock.layers)
    assert sum(type(layer) in kr_layers.STOCK_LAYERS for layer in model.layers) >= 6
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(stock.predict_on_batch(x), model.predict_on_batch(x), atol=1e-5)
