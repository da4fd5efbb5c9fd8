"""Alias of `keras_resnet.training.recipes`, so that `import keras_resnet.recipes` and
`from keras_resnet.recipes import ...` work as `keras_resnet.recipes` attribute access does."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("keras_resnet.training.recipes")
