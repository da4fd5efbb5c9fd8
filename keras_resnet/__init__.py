"""keras_resnet: every residual network of the four ResNet papers, for Keras 3.

`keras_resnet.ResNet50V2(...)` works as `keras.applications.ResNet50V2(...)` does; every network is one row
of `keras_resnet.SPECS`, built by `keras_resnet.build`. The library is the top-level modules; the commands
around it (`cli`, `training`, `tuning`, `experiments`, `tools`) are never imported by it (docs/architecture.md).
"""

from keras_resnet import _startup  # noqa: F401 - first: a quiet TensorFlow start-up for the command line
from keras_resnet.builder import build
from keras_resnet.complexity import Complexity, complexity
from keras_resnet.features import feature_info, pyramid
from keras_resnet.models import (
    PreActResNet164, PreActResNet1001, ResNet18, ResNet18V2, ResNet20, ResNet32, ResNet34, ResNet34V2, ResNet44,
    ResNet50, ResNet50D, ResNet50V2, ResNet56, ResNet101, ResNet101D, ResNet101V2, ResNet110, ResNet152,
    ResNet152D, ResNet152V2, ResNet200, ResNet200D, ResNet200V2, ResNet1202, ResNeXt29_8x64d, ResNeXt29_16x64d,
    ResNeXt50_32x4d, ResNeXt101_32x8d, ResNeXt101_64x4d, ResNetRS50, ResNetRS101, SEResNet50, SEResNeXt50_32x4d,
    SEResNeXt101_32x4d, WideResNet, WideResNet50_2, WideResNet101_2, WRN16_4, WRN16_8, WRN28_10, WRN40_4,
    decode_predictions, preprocess_input,
)
from keras_resnet.spec import UNITS, Spec
from keras_resnet.table import SPECS, cifar_resnet, get_spec, preact_resnet, resnext29, wide_resnet
from keras_resnet.torch_checkpoints import from_timm, from_torchvision
from keras_resnet.transforms import fold_batch_norm, unfreeze

__version__ = "0.1.0"
