"""Training, validation and test pipelines of a dataset: `load`.

    data = keras_resnet.training.data.load("cifar10", batch_size=128)
    model = keras_resnet.build("ResNet20", input_shape=data.input_shape, classes=data.num_classes)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.train, validation_data=data.validation, epochs=10)

The datasets (`DATASETS`, or a folder of images with one sub-folder per class) are read by
`keras_resnet.training.sources`, then batched, augmented as in the papers and normalised by
`keras_resnet.training.pipelines`; docs/training.md ("Data") describes each.
"""

import dataclasses
import math
import os

import tensorflow as tf

from keras_resnet.checks import between, did_you_mean, is_number, one_of, positive, seed as check_seed
from keras_resnet.training import pipelines, sources
from keras_resnet.training.sources import SMALL_TFDS

DATASETS = ("digits", "fashion_mnist", *SMALL_TFDS, "imagenet2012")
NO_FLIP = ("digits", "svhn_cropped")  # mirrored digits change meaning; mirrored clothes do not


@dataclasses.dataclass(frozen=True)
class Data:
    """A dataset ready for `model.fit`.

    Attributes:
        name: the dataset's name (or folder path).
        train, validation, test: batched, prefetched `tf.data.Dataset`s of `(float32 image, int32 label)`
            (float32 one-hot labels with `one_hot`); `train` is shuffled and augmented, `validation` is `None`
            when `validation_split=0`.
        num_classes, input_shape: the number of classes, and `(height, width, channels)` of one image.
        train_size, validation_size, test_size, batch_size: numbers of examples (per batch for `batch_size`).
        mean, std: per-channel statistics (of images scaled to [0, 1]) that normalise the images; apply them
            to new images before `predict` (`normalize`).
        class_names, description: the label names, and one line saying what the data is.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    train_size: int
    validation_size: int
    test_size: int
    batch_size: int
    mean: tuple
    std: tuple
    class_names: tuple
    description: str

    @property
    def steps_per_epoch(self):
        return math.ceil(self.train_size / self.batch_size)

    def normalize(self, images):
        """Normalises `uint8`-range images (`[0, 255]`) the way the pipelines do."""
        return pipelines.normalize(images, self.mean, self.std)


def load(dataset="digits", batch_size=128, *, validation_split=0.1, seed=None, data_dir=None, augment=True,
         pad_mode="constant", image_size=224, test_split=0.2, manual_dir=None, subset=None, one_hot=False,
         batch_transform=None):
    """Loads a dataset as training, validation and test pipelines.

    Args:
        dataset: one of `DATASETS` or the path of a folder of images with one sub-folder per class.
        batch_size: examples per batch (the global batch under a distribution strategy).
        validation_split: fraction of the training split held out for validation: its *last* examples, as
            `model.fit(validation_split=)` takes them; `0` for none.
        seed: an integer for a reproducible order and augmentation; `None` for fresh randomness in every run.
        data_dir: tensorflow-datasets' data folder; `None` for its own (`TFDS_DATA_DIR`, by default
            `~/tensorflow_datasets`), where it downloads what is missing. Any other folder must hold the set,
            prepared or as the files tensorflow-datasets would download (`sources.check_tfds_files`). For
            `"fashion_mnist"`, the folder that holds its four files.
        augment: whether to augment the training images (the papers' recipe).
        pad_mode: padding before the random crop of 32x32 images: `"constant"` (zeros after normalisation,
            He 2015) or `"reflect"` (Wide ResNet).
        image_size: side of the square crops of ImageNet and image folders.
        test_split: fraction held out for testing where the source has no test split (digits, a folder
            without `test/`): a fixed random choice, the same in every run.
        manual_dir: the folder of files downloaded by hand for tensorflow-datasets (default
            `<data_dir>/downloads/manual`): `imagenet2012`'s archives, or the files of the other sets.
        subset: a number of training examples (before the validation split) to keep: the same in every run,
            whatever `seed`, with the classes as equally represented as the number allows; `None` for all.
        one_hot: float32 one-hot labels in every pipeline (label smoothing, MixUp/CutMix).
        batch_transform: a function `(images, labels, seed) -> (images, labels)` applied to every training
            batch (also with `augment=False`) of float32 images in [0, 255], after the random-resized crop and
            flip of large images, before the pad-crop and flip of 32x32 ones and before normalisation. `seed`
            is a shape-[2] int64 seed for stateless random ops, different for every batch. Batches are
            transformed one at a time, in order, so that random layers that keep a state (Keras'
            `RandAugment`, `MixUp`, `CutMix`) stay reproducible too.

    Returns:
        A `Data` record.

    Raises:
        ValueError: for an unknown dataset, an invalid argument, or data files that are missing or damaged
            (the message names the folder and files).
    """
    _check(batch_size, validation_split, pad_mode, image_size, test_split, subset, seed)
    source = _source(dataset, seed, data_dir, manual_dir, test_split)
    if subset is not None:
        source = sources.subset(source, subset)
    train, (validation, validation_size) = sources.split_off(source.train, source.train_size, validation_split)
    train_size = source.train_size - validation_size
    pipeline = pipelines.Small(source) if source.small else pipelines.Large(image_size)
    mean, std = pipeline.statistics(train)
    batches = dict(batch_size=batch_size, mean=mean, std=std)
    encode = pipelines.one_hot(len(source.class_names)) if one_hot else None
    hook = pipelines.hook(encode, batch_transform, seed)
    train = pipeline.train(train, train_size, seed, augment, source.name not in NO_FLIP, pad_mode, hook=hook, **batches)
    evaluation = lambda examples: pipelines.encoded(pipeline.evaluation(examples, **batches), encode)
    return Data(name=source.name, train=pipelines.sharded_by_example(train),
                validation=pipelines.sharded_by_example(evaluation(validation)) if validation_size else None,
                test=pipelines.sharded_by_example(evaluation(source.test)), num_classes=len(source.class_names),
                input_shape=pipeline.input_shape, train_size=train_size, validation_size=validation_size,
                test_size=source.test_size, batch_size=batch_size, mean=tuple(float(m) for m in mean),
                std=tuple(float(s) for s in std), class_names=tuple(source.class_names),
                description=source.description)


def _source(dataset, seed, data_dir, manual_dir, test_split):
    if check_dataset(dataset) == "digits":
        return sources.digits(test_split)
    if dataset == "fashion_mnist":
        return sources.fashion_mnist(data_dir)
    if dataset in DATASETS:
        return sources.tfds_dataset(dataset, seed, data_dir, manual_dir)
    return sources.image_folder(os.fspath(dataset), test_split)


def check_dataset(dataset):
    """Returns `dataset` if it is one of `DATASETS` or a folder; raises ValueError (`unknown_dataset`) otherwise."""
    if dataset in DATASETS or (isinstance(dataset, (str, os.PathLike)) and os.path.isdir(dataset)):
        return dataset
    raise ValueError(unknown_dataset(dataset))


def unknown_dataset(name):
    """The message for a dataset that is neither a known name nor a folder, with close names."""
    return (f"Unknown dataset {name!r}.{did_you_mean(name, DATASETS)} Use one of {', '.join(DATASETS)}, or the "
            f"path of a folder of images with one sub-folder per class.")


def _check(batch_size, validation_split, pad_mode, image_size, test_split, subset, seed):
    positive("batch_size", batch_size)
    positive("image_size", image_size)
    if subset is not None:
        positive("subset", subset)
    between("validation_split", validation_split, 0, 1)
    if not (is_number(test_split, (int, float)) and 0 < test_split < 1):
        raise ValueError(f"`test_split` must be in (0, 1); received test_split={test_split!r}")
    one_of("pad_mode", pad_mode, pipelines.PAD_MODES)
    check_seed("seed", seed)
