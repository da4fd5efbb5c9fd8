"""keras_resnet: every residual network of the four ResNet papers, for Keras 3.

`keras_resnet.ResNet50V2(...)` works as `keras.applications.ResNet50V2(...)` does;
every network is one row of `keras_resnet.SPECS`, built by `keras_resnet.build`.
"""

from keras_resnet.layers import ZeroPadChannels
from keras_resnet.models import BUILDERS, Complexity, WideResNet, build, complexity, decode_predictions, preprocess_input
from keras_resnet.spec import SPECS, UNITS, Spec, cifar_resnet, get_spec, preact_resnet, resnext29, wide_resnet

globals().update(BUILDERS)

__version__ = "0.1.0"
__all__ = [
    "SPECS", "UNITS", "Spec", "Complexity", "ZeroPadChannels", "build", "complexity", "get_spec",
    "cifar_resnet", "preact_resnet", "wide_resnet", "resnext29", "WideResNet",
    "preprocess_input", "decode_predictions", *BUILDERS,
]
