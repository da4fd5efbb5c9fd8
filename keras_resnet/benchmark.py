"""Benchmark."""

import keras

from keras_resnet import layers


def with_stock_conv(model):
    """The same network with every `keras_resnet.layers.Conv2D` replaced by `keras.layers.Conv2D`
    (stock Keras grouped convolution), with the same weights."""

    def clone(layer):
        cls = keras.layers.Conv2D if isinstance(layer, layers.Conv2D) else type(layer)
        return cls.from_config(layer.get_config())

    stock = keras.models.clone_model(model, clone_function=clone)
    stock.set_weights(model.get_weights())
    return stock
