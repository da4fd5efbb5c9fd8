"""Training, validation and test pipelines of a dataset: `load`.

One call gives batched, prefetched `tf.data` pipelines of `(image, label)` pairs, images
float32 normalised per channel by the training set's mean and standard deviation, labels
int32:

    data = keras_resnet.training.data.load("cifar10", batch_size=128)
    model = keras_resnet.build("ResNet20", input_shape=data.input_shape, classes=data.num_classes)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.train, validation_data=data.validation, epochs=10)

Datasets (`DATASETS`, read by `keras_resnet.training.sources`):
- `"digits"`: the offline default, scikit-learn's bundled handwritten digits upsampled to
  32x32x1; a small demonstration set, not a benchmark.
- `"fashion_mnist"`: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747), 28x28
  zero-padded to 32x32x1; a real benchmark that works offline.
- `"cifar10"`, `"cifar100"`, `"svhn_cropped"`: tensorflow-datasets, 32x32x3.
- `"imagenet2012"`: tensorflow-datasets from the archives downloaded by hand (`manual_dir`,
  default `<data_dir>/downloads/manual`).
- the path of a folder of images with one sub-folder per class (optionally `train/` and
  `test/` (or `val/`, `validation/`) folders that each hold them).

The training pipeline is augmented as in the papers (`keras_resnet.training.pipelines`):
random pad-and-crop and flip of 32x32 images, random-resized crop and flip of larger ones.
Digits and SVHN are not flipped: a mirrored 2, 3, 5, 7 or 9 is no longer that digit. With
`seed`, file order, shuffles and augmentation are deterministic and still differ from epoch
to epoch.

The training recipes (`keras_resnet.training.recipes`) use two hooks: `one_hot=True` gives
every pipeline float32 one-hot labels, and `batch_transform` is applied to each training
batch before normalisation, e.g. a recipe's RandAugment and MixUp/CutMix
(`Recipe.batch_transform`).
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
        train, validation, test: batched, prefetched `tf.data.Dataset`s of
            `(float32 image, int32 label)` (float32 one-hot labels with `one_hot`);
            `train` is shuffled and augmented, `validation` is `None` when
            `validation_split=0`.
        num_classes: number of classes.
        input_shape: `(height, width, channels)` of one image.
        train_size, validation_size, test_size: number of examples.
        batch_size: examples per batch.
        mean, std: per-channel statistics (of images scaled to [0, 1]) that
            normalise the images; apply them to new images before `predict`.
        class_names: the label names.
        description: one line saying what the data is.
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
        dataset: one of `DATASETS` or the path of a folder of images with one
            sub-folder per class.
        batch_size: examples per batch (the global batch under a distribution
            strategy).
        validation_split: fraction of the training split held out for
            validation: its *last* examples, as `model.fit(validation_split=)`
            takes them; `0` for none.
        seed: an integer for a reproducible order and augmentation; `None` for
            fresh randomness in every run.
        data_dir: tensorflow-datasets' data folder; `None` for its own folder
            (`TFDS_DATA_DIR`, by default `~/tensorflow_datasets`), where it downloads what is
            missing. Any other folder must hold the set, prepared or as the files
            tensorflow-datasets would download (see `sources.check_tfds_files`). For
            `"fashion_mnist"`, the folder that holds its four files.
        augment: whether to augment the training images (the papers' recipe).
        pad_mode: padding before the random crop of 32x32 images: `"constant"`
            (zeros after normalisation, He 2015) or `"reflect"` (Wide ResNet).
        image_size: side of the square crops of ImageNet and image folders.
        test_split: fraction of the examples held out for testing where the
            source has no test split (digits, a folder without `test/`): a
            fixed random choice, the same in every run.
        manual_dir: the folder of files downloaded by hand for tensorflow-datasets
            (default `<data_dir>/downloads/manual`): `imagenet2012`'s archives, or the
            files it would download for the other sets.
        subset: a number of training examples (before the validation split)
            to keep, for experiments that must fit a small machine: the same
            examples in every run, whatever `seed`, with every class as equally
            represented as the number allows. `None` keeps them all.
        one_hot: labels as float32 one-hot vectors of `num_classes`, in every
            pipeline, for losses with label smoothing and for MixUp/CutMix.
        batch_transform: a function `(images, labels, seed) -> (images, labels)`
            applied to every training batch (also with `augment=False`): float32
            images in [0, 255] (after the random-resized crop and flip of large
            images; before the pad-crop and flip of 32x32 images), the labels
            (one-hot with `one_hot`), and a shape-[2] int64 seed for stateless random
            ops, reproducible with `seed` and different for every batch. It runs on
            one batch at a time, in order, so that random layers that keep a state
            (Keras' `RandAugment`, `MixUp`, `CutMix`) stay reproducible too; its
            images are then normalised like the others.

    Returns:
        A `Data` record.

    Raises:
        ValueError: for an unknown dataset, an invalid argument, or data files
            that are missing or damaged (the message names the folder and files).

    Example:
        >>> data = keras_resnet.training.data.load("digits", batch_size=64, seed=0)
        >>> data.input_shape, data.num_classes
        ((32, 32, 1), 10)
    """
    _check(batch_size, validation_split, pad_mode, image_size, test_split, subset)
    check_seed("seed", seed)
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
    train = pipeline.train(train, train_size, seed, augment, source.name not in NO_FLIP, pad_mode, hook=hook,
                           **batches)
    evaluation = lambda examples: pipelines.encoded(pipeline.evaluation(examples, **batches), encode)
    return Data(
        name=source.name,
        train=pipelines.sharded_by_example(train),
        validation=pipelines.sharded_by_example(evaluation(validation)) if validation_size else None,
        test=pipelines.sharded_by_example(evaluation(source.test)),
        num_classes=len(source.class_names),
        input_shape=pipeline.input_shape,
        train_size=train_size,
        validation_size=validation_size,
        test_size=source.test_size,
        batch_size=batch_size,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        class_names=tuple(source.class_names),
        description=source.description,
    )


def _source(dataset, seed, data_dir, manual_dir, test_split):
    if dataset == "digits":
        return sources.digits(test_split)
    if dataset == "fashion_mnist":
        return sources.fashion_mnist(data_dir)
    if dataset in SMALL_TFDS or dataset == "imagenet2012":
        return sources.tfds_dataset(dataset, seed, data_dir, manual_dir)
    if isinstance(dataset, (str, os.PathLike)) and os.path.isdir(dataset):
        return sources.image_folder(os.fspath(dataset), test_split)
    raise ValueError(unknown_dataset(dataset))


def check_dataset(dataset):
    """Returns `dataset` if it is one of `DATASETS` or a folder; raises ValueError (`unknown_dataset`)
    otherwise."""
    if dataset in DATASETS or (isinstance(dataset, (str, os.PathLike)) and os.path.isdir(dataset)):
        return dataset
    raise ValueError(unknown_dataset(dataset))


def unknown_dataset(name):
    """The message for a dataset that is neither a known name nor a folder, with close names."""
    return (f"Unknown dataset {name!r}.{did_you_mean(name, DATASETS)} Use one of {', '.join(DATASETS)}, or the "
            f"path of a folder of images with one sub-folder per class.")


def _check(batch_size, validation_split, pad_mode, image_size, test_split, subset):
    positive("batch_size", batch_size)
    positive("image_size", image_size)
    if subset is not None:
        positive("subset", subset)
    between("validation_split", validation_split, 0, 1)
    if not (is_number(test_split, (int, float)) and 0 < test_split < 1):
        raise ValueError(f"`test_split` must be in (0, 1); received test_split={test_split!r}")
    one_of("pad_mode", pad_mode, pipelines.PAD_MODES)
