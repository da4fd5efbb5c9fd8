"""Preprocessing inside the model: `keras_resnet.build(..., include_preprocessing=True)` takes raw 0-255 images
and normalises them in its first layers as its weights expect, as keras.applications' newer networks do
(EfficientNetV2, ConvNeXt: `include_preprocessing`). The modes are `keras.applications.imagenet_utils`'
`preprocess_input` modes: "caffe" (RGB to BGR, minus the ImageNet mean; Caffe's ResNets, He et al. 2015, and
keras.applications' v1 weights), "tf" (to [-1, 1]; TF-slim's, and keras.applications' V2 weights) and "torch"
(to [0, 1], then the ImageNet mean and standard deviation; torchvision's and timm's weights).

The layers are Keras' own (Rescaling, Normalization with fixed statistics, Cropping2D and Concatenate for the
channel reversal), have no weights and compute in float32 whatever the model's dtype policy: a saved model keeps
them and loads in safe mode without keras_resnet, and weights files load with or without them.
"""

import keras

from keras_resnet import weight_files

MODES = ("caffe", "tf", "torch")
CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR, keras.applications.imagenet_utils
TORCH_MEAN = (0.485, 0.456, 0.406)  # RGB, torchvision's ImageNet statistics
TORCH_STD = (0.229, 0.224, 0.225)


def preprocessing_mode(include_preprocessing, spec, channels):
    """The mode that `include_preprocessing` asks for: None for False, the mode of the weights `spec`'s layout has
    for True (`weight_files.preprocessing_mode`: keras.applications' for the keras layout, torchvision's for the
    torchvision layout), else the mode named. ValueError for anything else, or a mode that needs RGB images
    (caffe, torch) on other than 3 `channels`."""
    if include_preprocessing is True:
        mode = weight_files.preprocessing_mode(spec)
    elif include_preprocessing is False or include_preprocessing in MODES:
        mode = include_preprocessing or None
    else:
        raise ValueError(f"`include_preprocessing` must be True (the weights' own mode), False or one of "
                         f"{list(MODES)}; received include_preprocessing={include_preprocessing!r}")
    if mode in ("caffe", "torch") and channels != 3:
        raise ValueError(f"include_preprocessing={include_preprocessing!r} normalises the {mode!r} way, per RGB "
                         f"channel: the input needs 3 channels; received {channels} channels. Mode 'tf' takes any.")
    return mode


def preprocess(x, mode):
    """`x`, raw images in [0, 255], preprocessed as `keras.applications.imagenet_utils.preprocess_input(x,
    mode=mode)` does it, by Keras layers in float32, on the channel axis of `keras.config.image_data_format()`."""
    axis = -1 if keras.config.image_data_format() == "channels_last" else 1
    if mode == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, dtype="float32", name="preprocess_tf")(x)
    if mode == "caffe":
        x = _reverse_channels(x, axis)
        mean, std = CAFFE_MEAN, (1.0,) * 3
    else:
        mean, std = [255 * m for m in TORCH_MEAN], [255 * s for s in TORCH_STD]
    return keras.layers.Normalization(axis, mean=list(mean), variance=[s * s for s in std], dtype="float32",
                                      name=f"preprocess_{mode}")(x)


def _reverse_channels(x, axis):
    """RGB to BGR: each channel cut out by a Cropping2D told the other data format (which crops the channel axis
    and one spatial axis), then concatenated in reverse."""
    channels = []
    for c in (2, 1, 0):
        cut = (c, 2 - c)
        crop, data_format = (((0, 0), cut), "channels_first") if axis == -1 else ((cut, (0, 0)), "channels_last")
        channels.append(keras.layers.Cropping2D(crop, data_format=data_format, dtype="float32",
                                                name=f"preprocess_{'bgr'[2 - c]}")(x))
    return keras.layers.Concatenate(axis, dtype="float32", name="preprocess_bgr")(channels)
