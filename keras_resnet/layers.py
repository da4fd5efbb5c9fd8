"""The one layer Keras lacks: zero-padding of the channel axis (He 2015 option A)."""

import keras


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
        widths = [(0, 0)] * len(x.shape)
        widths[self._axis] = (0, self.padding)
        return keras.ops.pad(x, widths)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis] += self.padding
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}
