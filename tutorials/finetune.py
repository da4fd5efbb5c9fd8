"""
Title: Fine-tuning a pretrained ResNet on a new dataset
Author: keras_resnet
Description: Train a new classifier on a frozen ImageNet backbone, then fine-tune
the backbone's last stage with BatchNorm kept in inference mode.

Run it with the ImageNet weights of keras.applications (downloaded on first use):

    python tutorials/finetune.py --model ResNet50

with weights converted from torchvision:

    keras-resnet convert resnext50_32x4d-1a0047aa.pth resnext50.weights.h5 --no-top
    python tutorials/finetune.py --model ResNeXt50_32x4d --weights resnext50.weights.h5

or offline in a few seconds, on random images from `tfds.testing.mock_data`,
with a small untrained network (what CI runs):

    python tutorials/finetune.py --smoke
"""

"""
## Setup
"""

import argparse
import contextlib

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_resnet
from keras_resnet.weight_files import preprocessing_mode

"""
## The data

`tf_flowers` has 3,670 photos of five kinds of flowers, in a single split: we
keep 85% for training and 15% for validation. Images are resized to the input
size and preprocessed as the backbone's pretrained weights expect:
`keras_resnet.weight_files.preprocessing_mode` gives "caffe" for keras.applications'
ResNet50/101/152, "tf" for their V2 versions and "torch" for weights converted from
torchvision. Random flips are the only augmentation.
"""


def load_data(model, image_size, batch_size):
    (train, validation), info = tfds.load(
        "tf_flowers", split=["train[:85%]", "train[85%:]"], as_supervised=True, with_info=True)
    mode = preprocessing_mode(model)

    def prepare(image, label):
        image = tf.image.resize(tf.cast(image, "float32"), (image_size, image_size))
        return keras_resnet.preprocess_input(image, mode=mode), label

    def flip(image, label):
        return tf.image.random_flip_left_right(image), label

    train = train.shuffle(1000).map(prepare, tf.data.AUTOTUNE).map(flip).batch(batch_size)
    validation = validation.map(prepare, tf.data.AUTOTUNE).batch(batch_size)
    return train.prefetch(tf.data.AUTOTUNE), validation.prefetch(tf.data.AUTOTUNE), info.features["label"].num_classes


"""
## The model

The backbone is the pretrained network without its ImageNet classifier
(`include_top=False`), ending in global average pooling. It is frozen
(`trainable = False`): in Keras 3 that also runs its BatchNorm layers in
inference mode, with their ImageNet statistics. On top: dropout and a new
dense classifier, returning logits.
"""


def make_model(model, weights, image_size, classes):
    backbone = keras_resnet.build(model, include_top=False, weights=weights, pooling="avg",
                                  input_shape=(image_size, image_size, 3))
    backbone.trainable = False
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Dropout(0.2)(backbone(inputs))
    outputs = keras.layers.Dense(classes, name="classifier")(x)
    return keras.Model(inputs, outputs), backbone


def compile_and_fit(model, learning_rate, train, validation, epochs, steps):
    model.compile(keras.optimizers.Adam(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model.fit(train, validation_data=validation, epochs=epochs, steps_per_epoch=steps)


"""
## Train the new classifier, then fine-tune

First only the classifier trains. Then `keras_resnet.unfreeze` makes the
backbone's last stage trainable, BatchNorm excepted (frozen BatchNorm stays in
inference mode; calling the backbone with `training=False` would not be enough,
as `fit` passes `training=True` down to nested models), and the whole model
trains on with a learning rate 100 times lower. Changing `trainable` needs a new
`compile`.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--model", default="ResNet50", help="a row of keras_resnet.SPECS")
    parser.add_argument("--weights", default="imagenet", help="'imagenet' or a weights file without the top")
    parser.add_argument("--stage", default=None, help="first stage to fine-tune (default: the last one)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5, help="epochs for the classifier, then for fine-tuning")
    parser.add_argument("--smoke", action="store_true",
                        help="a few steps of a small untrained network on random images, offline")
    args = parser.parse_args(argv)
    steps, data = None, contextlib.nullcontext()
    if args.smoke:
        args.model, args.weights, args.image_size, args.batch_size, args.epochs = "ResNet18", None, 32, 4, 1
        steps, data = 2, tfds.testing.mock_data(num_examples=8)
    stage = args.stage or f"conv{len(keras_resnet.get_spec(args.model).blocks) + 1}"

    with data:
        train, validation, classes = load_data(args.model, args.image_size, args.batch_size)
        model, backbone = make_model(args.model, args.weights, args.image_size, classes)
        compile_and_fit(model, 1e-3, train, validation, args.epochs, steps)
        keras_resnet.unfreeze(backbone, stage)
        history = compile_and_fit(model, 1e-5, train, validation, args.epochs, steps)
    return model, history


if __name__ == "__main__":
    main()
