"""keras_resnet: every residual network of the four ResNet papers, for Keras 3.

`keras_resnet.ResNet50V2(...)` works as `keras.applications.ResNet50V2(...)` does;
every network is one row of `keras_resnet.SPECS`, built by `keras_resnet.build`.

The package is the library: the spec table (`spec`), the builder and its complexity count
(`models`), layers (`layers`) and pretrained weights (`weights`). Around it, and never imported
by it: `keras_resnet.training` (data, recipes, the training command), `keras_resnet.tuning` (the
width-against-depth study) and `keras_resnet.tools` (benchmark, checkpoint conversion).
"""

import importlib

from keras_resnet import weights  # noqa: F401 - keras_resnet.weights.from_torchvision, .unfreeze
from keras_resnet.layers import ZeroPadChannels
from keras_resnet.models import BUILDERS, Complexity, WideResNet, build, complexity, decode_predictions, preprocess_input
from keras_resnet.spec import SPECS, UNITS, Spec, cifar_resnet, get_spec, preact_resnet, resnext29, wide_resnet

globals().update(BUILDERS)  # ResNet18, ..., ResNeXt29_16x64d: listed in keras_resnet/models.py

__version__ = "0.1.0"
__all__ = [
    "SPECS", "UNITS", "Spec", "Complexity", "ZeroPadChannels", "build", "complexity", "get_spec",
    "cifar_resnet", "preact_resnet", "wide_resnet", "resnext29", "WideResNet",
    "preprocess_input", "decode_predictions", *BUILDERS,
]

# Modules that moved into keras_resnet.training, still reachable as attributes
# (`keras_resnet.data.load(...)`) and imported only when first used, so that importing
# the library never imports tf.data pipelines.
_MOVED = {"data": "keras_resnet.training.data", "recipes": "keras_resnet.training.recipes"}


def __getattr__(name):
    if name in _MOVED:
        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")
