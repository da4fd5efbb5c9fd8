"""
Title: Quickstart: residual networks with `model.fit` on tensorflow-datasets
Description: A CIFAR ResNet-20 on CIFAR-10, then ResNet50V2 on tf_flowers, both built by keras_resnet.

keras_resnet builds every network of the four ResNet papers the way `keras.applications`
builds its models. This script trains two of them with plain `model.fit`:

1. `keras_resnet.ResNet20`, He et al. 2015's CIFAR network (0.27M parameters), on CIFAR-10
   through `keras_resnet.training.data.load`, which adds the paper's augmentation and normalisation.
2. `keras_resnet.ResNet50V2`, a drop-in for `keras.applications.ResNet50V2`, on the
   tf_flowers photos read straight from tensorflow-datasets.

Paper and expectations (CIFAR-10 test error): ResNet-20 8.75% after He 2015's 182 epochs
with its step schedule (tutorial 02 runs that recipe). This quickstart's 30 epochs at a
constant learning rate stop short of it. ResNet50V2 trained from scratch on 3,670 flower
photos overfits; its purpose here is the API, and `--epochs` and `--image-size` are yours to raise.

Run: `python tutorials/01_quickstart.py` (downloads CIFAR-10 and tf_flowers on first use).
CI runs it with `--smoke`: tensorflow-datasets' mock data, two steps, tiny networks.
"""

import argparse
import contextlib

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_resnet
import keras_resnet.training.data

parser = argparse.ArgumentParser(description="Quickstart: keras_resnet with model.fit")
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--image-size", type=int, default=160, help="tf_flowers images are resized to this")
parser.add_argument("--smoke", action="store_true", help="mock data, 2 steps, tiny networks (CI)")
args = parser.parse_args()
steps = 2 if args.smoke else None
epochs = 1 if args.smoke else args.epochs
def mock():  # tensorflow-datasets' random examples in place of the download
    return tfds.testing.mock_data(num_examples=32) if args.smoke else contextlib.nullcontext()


"""
## 1. A CIFAR ResNet on CIFAR-10

`keras_resnet.training.data.load` returns batched `tf.data` pipelines: the training set shuffled,
padded by 4 pixels, randomly cropped back to 32x32 and flipped; every split normalised
by the training set's per-channel mean and standard deviation.
"""

with mock():
    cifar = keras_resnet.training.data.load("cifar10", batch_size=128)
print(cifar.description)

# A smoke run shrinks the network to one block per stage and width 4 (`Spec` fields).
tiny = dict(blocks=(1, 1, 1), width=4, stem_width=4) if args.smoke else {}
model = keras_resnet.ResNet20(input_shape=cifar.input_shape, classes=cifar.num_classes, **tiny)
model.compile(
    optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(cifar.train, validation_data=cifar.validation, epochs=epochs, steps_per_epoch=steps)
loss, accuracy = model.evaluate(cifar.test, steps=steps)
print(f"ResNet-20 CIFAR-10 test error: {100 * (1 - accuracy):.2f}% (He 2015: 8.75% after 182 epochs)")

"""
## 2. ResNet50V2 on tf_flowers, straight from tensorflow-datasets

Any `tf.data` pipeline works. Here the images are resized and scaled with
`keras_resnet.preprocess_input(mode="tf")`, the preprocessing keras.applications' V2
models use. tf_flowers has a single split; 80% trains, 20% tests.
"""

size = 32 if args.smoke else args.image_size


def prepare(image, label):
    image = tf.image.resize(image, (size, size))
    return keras_resnet.preprocess_input(image, mode="tf"), label


with mock():
    (flowers_train, flowers_test), info = tfds.load(
        "tf_flowers", split=["train[:80%]", "train[80%:]"], as_supervised=True, with_info=True
    )
flowers_train = flowers_train.shuffle(1000).map(prepare).batch(32).prefetch(tf.data.AUTOTUNE)
flowers_test = flowers_test.map(prepare).batch(32).prefetch(tf.data.AUTOTUNE)

classes = info.features["label"].num_classes
tiny = dict(blocks=(1, 1, 1, 1), width=8, stem_width=8) if args.smoke else {}
model = keras_resnet.ResNet50V2(weights=None, input_shape=(size, size, 3), classes=classes, **tiny)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(flowers_train, validation_data=flowers_test, epochs=epochs, steps_per_epoch=steps, validation_steps=steps)
loss, accuracy = model.evaluate(flowers_test, steps=steps)
print(f"ResNet50V2 tf_flowers test accuracy: {accuracy:.3f}")
