"""The named builders, one per row of the spec table: `keras_resnet.ResNet50V2(...)` takes the arguments of
`keras.applications.ResNet50V2(...)` and has its `preprocess_input` and `decode_predictions`; every builder is
`keras_resnet.build` of its table row, plus any `Spec` field as an override.
"""

import functools

from keras.applications import imagenet_utils

from keras_resnet import weight_files
from keras_resnet.builder import build
from keras_resnet.table import SPECS, wide_resnet


def preprocess_input(x, data_format=None, mode="caffe"):
    """Keras' ImageNet preprocessing. Mode "caffe" (RGB->BGR, subtract the mean) suits keras.applications v1
    weights, "tf" (scale to [-1, 1]) V2 weights, "torch" (scale, then ImageNet mean/std) torchvision weights."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)


decode_predictions = imagenet_utils.decode_predictions

_ARGS_DOC = """
    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as in keras.applications; see `keras_resnet.build`.
        dtype: dtype policy, e.g. `"mixed_bfloat16"`; default the global policy.
        include_preprocessing: `True` to take raw 0-255 images and apply this builder's `preprocess_input` inside
            the model (or a mode: "caffe", "tf", "torch"); see `keras_resnet.build`.
        **changes: `Spec` fields to override (e.g. `layout="torchvision"`).

    Returns:
        A `keras.Model`.
"""


def _builder(key):
    spec = SPECS[key]
    # As in keras.applications, rows with published weights default to them.
    default_weights = "imagenet" if key in weight_files.KERAS_WEIGHTS else None

    def builder(include_top=True, weights=default_weights, input_tensor=None, input_shape=None, pooling=None,
                classes=spec.default_classes, classifier_activation="softmax", name=key.lower(), dtype=None,
                include_preprocessing=False, **changes):
        return build(key, include_top=include_top, weights=weights, input_tensor=input_tensor,
                     input_shape=input_shape, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, name=name, dtype=dtype,
                     include_preprocessing=include_preprocessing, **changes)

    builder.__name__ = builder.__qualname__ = key
    # keras.applications' per-family functions, e.g. `keras_resnet.ResNet50V2.preprocess_input`.
    builder.preprocess_input = functools.partial(preprocess_input, mode=weight_files.preprocessing_mode(spec))
    builder.decode_predictions = decode_predictions
    builder.__doc__ = (f"Instantiates {key}: `keras_resnet.SPECS[{key!r}]` =\n    {spec}.\n"
                       f"{_ARGS_DOC}\n    Example:\n        >>> model = keras_resnet.{key}()\n")
    return builder


# One line per table row, so that a search for a model's name finds where it comes from.
ResNet18 = _builder("ResNet18")
ResNet34 = _builder("ResNet34")
ResNet50 = _builder("ResNet50")
ResNet101 = _builder("ResNet101")
ResNet152 = _builder("ResNet152")
ResNet200 = _builder("ResNet200")
ResNet18V2 = _builder("ResNet18V2")
ResNet34V2 = _builder("ResNet34V2")
ResNet50V2 = _builder("ResNet50V2")
ResNet101V2 = _builder("ResNet101V2")
ResNet152V2 = _builder("ResNet152V2")
ResNet200V2 = _builder("ResNet200V2")
ResNeXt50_32x4d = _builder("ResNeXt50_32x4d")
ResNeXt101_32x8d = _builder("ResNeXt101_32x8d")
ResNeXt101_64x4d = _builder("ResNeXt101_64x4d")
WideResNet50_2 = _builder("WideResNet50_2")
WideResNet101_2 = _builder("WideResNet101_2")
ResNet20 = _builder("ResNet20")
ResNet32 = _builder("ResNet32")
ResNet44 = _builder("ResNet44")
ResNet56 = _builder("ResNet56")
ResNet110 = _builder("ResNet110")
ResNet1202 = _builder("ResNet1202")
PreActResNet164 = _builder("PreActResNet164")
PreActResNet1001 = _builder("PreActResNet1001")
WRN16_4 = _builder("WRN16_4")
WRN16_8 = _builder("WRN16_8")
WRN28_10 = _builder("WRN28_10")
WRN40_4 = _builder("WRN40_4")
ResNeXt29_8x64d = _builder("ResNeXt29_8x64d")
ResNeXt29_16x64d = _builder("ResNeXt29_16x64d")
ResNet50D = _builder("ResNet50D")
ResNet101D = _builder("ResNet101D")
ResNet152D = _builder("ResNet152D")
ResNet200D = _builder("ResNet200D")
SEResNet50 = _builder("SEResNet50")
SEResNeXt50_32x4d = _builder("SEResNeXt50_32x4d")
SEResNeXt101_32x4d = _builder("SEResNeXt101_32x4d")
ResNetRS50 = _builder("ResNetRS50")
ResNetRS101 = _builder("ResNetRS101")


def WideResNet(depth, widen, dropout=0.0, include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=10, classifier_activation="softmax", name=None, dtype=None,
               include_preprocessing=False, **changes):
    """Instantiates WRN-`depth`-`widen` (Zagoruyko & Komodakis 2016) for CIFAR-size inputs.

    Args:
        depth: 6n+4 (10, 16, 22, 28, 40, ...).
        widen: widening factor k (may be fractional).
        dropout: dropout rate between the two convs of each block (0.3 in the paper).
        (others): as in keras.applications; see `keras_resnet.build`.

    Example:
        >>> model = keras_resnet.WideResNet(28, 10, dropout=0.3, classes=100)
    """
    return build(wide_resnet(depth, widen, dropout), include_top=include_top, weights=weights,
                 input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                 classifier_activation=classifier_activation, name=name or f"wrn{depth}_{widen}", dtype=dtype,
                 include_preprocessing=include_preprocessing, **changes)
