"""Alias of `keras_resnet.training.data`, so that `import keras_resnet.data` and
`from keras_resnet.data import ...` work as `keras_resnet.data` attribute access does."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("keras_resnet.training.data")
