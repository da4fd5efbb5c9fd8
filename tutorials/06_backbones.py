"""
Title: Backbones: DeepLabV3+ and RetinaNet on a ResNet feature pyramid
Description: Two heads from their papers on `keras_resnet.pyramid`, wired by level and sized by `feature_info`.

A segmentation head and a detection head, each on a backbone from `keras_resnet.pyramid`: its outputs are a dict
of feature levels ("P2" has stride 4, ... "P5" stride 32), so a head reads the levels it needs by name and
`keras_resnet.feature_info` gives their channels and strides before anything is built. No layer is named by hand.
Both backbones take raw 0-255 images (`include_preprocessing=True`: the normalisation of the backbone's weights is
inside the model) and both models train with plain `model.fit`, then save to a `.keras` file that loads in safe
mode, preprocessing and all.

- DeepLabV3+ (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution", arXiv:1802.02611): the
  encoder at output stride 16 (`output_stride=16`: the last stage dilated, DeepLabv3, arXiv:1706.05587); ASPP on
  its last level (a 1x1 conv, three 3x3 convs at rates 6, 12 and 18, and image pooling, each 256 channels with BN
  and ReLU, concatenated and projected by a 1x1 conv); the decoder upsamples that 4x, bilinearly, to the stride of
  the low-level features ("P2", reduced to 48 channels by a 1x1 conv), concatenates the two, refines them with two
  3x3 convs and classifies every pixel, upsampled 4x to the input. (The paper's Xception encoder's separable convs
  are plain convs here, as in its ResNet-101 variant.)
- RetinaNet (Lin et al. 2017, "Focal Loss for Dense Object Detection", arXiv:1708.02002): an FPN (Lin et al.
  2017, arXiv:1612.03144) on C3-C5 (1x1 lateral convs, nearest-neighbour 2x upsampling and addition top-down, a
  3x3 conv on each sum; 256 channels), P6 a 3x3 stride-2 conv on C5 and P7 another on ReLU(P6); a class subnet
  and a box subnet, each four 3x3 convs with ReLU then a 3x3 conv to A x K class logits or A x 4 box offsets,
  shared by all five levels; A = 9 anchors per place, the class bias at -log((1 - 0.01) / 0.01) (the prior 0.01),
  focal loss (alpha 0.25, gamma 2) and smooth L1.

The data are synthetic (random images, labels and targets): the point is the wiring, not the accuracy. Anchor
matching, the sampling of the paper's training and the decoding of boxes are a detector's own business.

Run: `python tutorials/06_backbones.py` (ResNet-50 with keras.applications' ImageNet weights, 512x512 images; on
a GPU). `--channels-first` builds and trains everything channels first. CI runs it with `--smoke`: a tiny backbone
of the same kind, 64x64 images, two steps.
"""

import argparse
import math

import keras
import numpy as np

import keras_resnet
from keras_resnet.weight_files import KERAS_WEIGHTS

parser = argparse.ArgumentParser(description="DeepLabV3+ and RetinaNet heads on a keras_resnet pyramid")
parser.add_argument("--backbone", default="ResNet50", choices=list(keras_resnet.SPECS))
parser.add_argument("--image-size", type=int, default=512, help="a multiple of 128 (RetinaNet's P7 has stride 128)")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--channels-first", action="store_true", help="NCHW throughout (GPUs' preferred format)")
parser.add_argument("--smoke", action="store_true", help="a tiny backbone, 64x64 images, 2 steps (CI)")
args = parser.parse_args()
if args.channels_first:
    keras.config.set_image_data_format("channels_first")
channels_last = keras.config.image_data_format() == "channels_last"
axis = -1 if channels_last else 1  # the channel axis of every feature map
# Smoke: the backbone's kind (bottleneck blocks, ImageNet stem, four stages) at toy size, no download.
backbone = (keras_resnet.SPECS[args.backbone].replace(blocks=(1, 1, 1, 1), width=4, stem_width=8)
            if args.smoke else args.backbone)
weights = None if args.smoke else "imagenet" if args.backbone in KERAS_WEIGHTS else None
size, steps, batch = (64, 2, 2) if args.smoke else (args.image_size, args.steps, args.batch_size)
width = 16 if args.smoke else 256  # the heads' channels
shape = (size, size, 3) if channels_last else (3, size, size)
rng = np.random.default_rng(0)


def images(n):
    """Raw images, 0-255 as a camera gives them: the backbone preprocesses them itself."""
    return rng.uniform(0, 255, (n, *shape)).astype("float32")


def conv_bn_relu(x, filters, kernel=3, dilation=1):
    x = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=False)(x)
    return keras.layers.ReLU()(keras.layers.BatchNormalization(axis=axis)(x))


"""
## DeepLabV3+

The encoder is the backbone at output stride 16; `feature_info` says that "P5" then has stride 16 and "P2" stride
4, so the decoder's upsampling factors and the image pooling's size come from it, whatever the backbone.
"""


def deeplab_v3_plus(classes):
    info = keras_resnet.feature_info(backbone, output_stride=16)
    encoder = keras_resnet.pyramid(backbone, ["P2", "P5"], output_stride=16, input_shape=shape, weights=weights,
                                   include_preprocessing=True)
    low, high = encoder.output["P2"], encoder.output["P5"]
    pooled = conv_bn_relu(keras.layers.GlobalAveragePooling2D(keepdims=True)(high), width, 1)
    pooled = keras.layers.UpSampling2D(size // info["P5"].stride)(pooled)  # back to the level's size
    aspp = [conv_bn_relu(high, width, 1), *(conv_bn_relu(high, width, 3, rate) for rate in (6, 12, 18)), pooled]
    x = conv_bn_relu(keras.layers.Concatenate(axis)(aspp), width, 1)
    x = keras.layers.UpSampling2D(info["P5"].stride // info["P2"].stride, interpolation="bilinear")(x)
    x = keras.layers.Concatenate(axis)([x, conv_bn_relu(low, 48, 1)])
    x = keras.layers.Conv2D(classes, 1)(conv_bn_relu(conv_bn_relu(x, width), width))
    logits = keras.layers.UpSampling2D(info["P2"].stride, interpolation="bilinear")(x)
    if not channels_last:  # Keras' sparse cross-entropy takes the classes last
        logits = keras.layers.Permute((2, 3, 1))(logits)
    return keras.Model(encoder.input, logits, name="deeplab_v3_plus")


"""
## RetinaNet

The FPN reads C3-C5 by level; the top-down path upsamples by the ratio of neighbouring levels' strides. The two
subnets are built once and called on every level, so their weights are shared as in the paper; each level's
outputs are flattened to one row per anchor and concatenated over levels.
"""


def subnet(outputs, bias_initializer="zeros"):
    """Four 3x3 convs with ReLU, then a 3x3 conv to `outputs` channels: one set of layers for all levels."""
    layers = [keras.layers.Conv2D(width, 3, padding="same", activation="relu") for _ in range(4)]
    layers.append(keras.layers.Conv2D(outputs, 3, padding="same", bias_initializer=bias_initializer,
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.01)))

    def apply(x):
        for layer in layers:
            x = layer(x)
        return x

    return apply


def per_anchor(x, n):
    """(batch, places x anchors, n): channels last, then one row per anchor."""
    return keras.layers.Reshape((-1, n))(x if channels_last else keras.layers.Permute((2, 3, 1))(x))


def retinanet(classes, anchors=9):
    levels = ["P3", "P4", "P5"]
    info = keras_resnet.feature_info(backbone)
    c = keras_resnet.pyramid(backbone, levels, input_shape=shape, weights=weights, include_preprocessing=True)
    laterals = {level: keras.layers.Conv2D(width, 1)(c.output[level]) for level in levels}
    p = {levels[-1]: laterals[levels[-1]]}
    for upper, level in zip(levels[:0:-1], levels[-2::-1]):  # top-down: P5 into P4, then P4 into P3
        upsampled = keras.layers.UpSampling2D(info[upper].stride // info[level].stride)(p[upper])
        p[level] = keras.layers.Add()([laterals[level], upsampled])
    p = {level: keras.layers.Conv2D(width, 3, padding="same")(p[level]) for level in levels}
    p["P6"] = keras.layers.Conv2D(width, 3, strides=2, padding="same")(c.output["P5"])
    p["P7"] = keras.layers.Conv2D(width, 3, strides=2, padding="same")(keras.layers.ReLU()(p["P6"]))
    prior = keras.initializers.Constant(-math.log((1 - 0.01) / 0.01))
    class_net, box_net = subnet(anchors * classes, prior), subnet(anchors * 4)
    outputs = {"classes": keras.layers.Concatenate(1)([per_anchor(class_net(x), classes) for x in p.values()]),
               "boxes": keras.layers.Concatenate(1)([per_anchor(box_net(x), 4) for x in p.values()])}
    return keras.Model(c.input, outputs, name="retinanet")


"""
## Training on synthetic data, saving, loading

`fit` takes raw images; the segmentation labels are a class per pixel (21, as PASCAL VOC), the detection targets
a one-hot class (80, as COCO; about 1% of anchors positive) and four box offsets per anchor.
"""


def train_and_reload(model, x, y, loss):
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), loss=loss)
    history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    path = f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    difference = keras.tree.map_structure(lambda a, b: float(np.abs(a - b).max()), model.predict(x[:batch], verbose=0),
                                          reloaded.predict(x[:batch], verbose=0))
    return history.history["loss"][-1], max(keras.tree.flatten(difference))


n = steps * batch
segmenter = deeplab_v3_plus(classes=21)
labels = rng.integers(0, 21, (n, size, size))
loss, difference = train_and_reload(segmenter, images(n), labels,
                                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
print(f"DeepLabV3+ {segmenter.count_params():,} params, logits {segmenter.output_shape[1:]}: "
      f"loss {loss:.3f}; {segmenter.name}.keras reloads in safe mode, max difference {difference:.1e}")

detector = retinanet(classes=80)
anchors = detector.output["classes"].shape[1]
positive = rng.random((n, anchors, 1)) < 0.01
targets = {"classes": positive * np.eye(80, dtype="float32")[rng.integers(0, 80, (n, anchors))],
           "boxes": rng.normal(0, 1, (n, anchors, 4)).astype("float32")}
losses = {"classes": keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0,
                                                           from_logits=True),
          "boxes": keras.losses.Huber(delta=1.0)}  # smooth L1
loss, difference = train_and_reload(detector, images(n), targets, losses)
print(f"RetinaNet {detector.count_params():,} params, {anchors:,} anchors on P3-P7: "
      f"loss {loss:.3f}; {detector.name}.keras reloads in safe mode, max difference {difference:.1e}")
