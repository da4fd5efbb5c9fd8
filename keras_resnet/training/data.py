"""Input pipelines for training residual networks: `keras_resnet.data.load`.

One call gives batched, prefetched `tf.data` pipelines of `(image, label)`
pairs, images float32 normalised per channel by the training set's mean and
standard deviation, labels int32:

    data = keras_resnet.data.load("cifar10", batch_size=128)
    model = keras_resnet.build("ResNet20", input_shape=data.input_shape, classes=data.num_classes)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.train, validation_data=data.validation, epochs=10)

Datasets (`DATASETS`):
- `"digits"`: the offline default. scikit-learn's bundled handwritten digits
  (1,797 grey 8x8 images of 0-9, UCI "optdigits"), upsampled to 32x32x1. A small
  demonstration set that needs no download, not a benchmark.
- `"fashion_mnist"`: Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf 2017,
  arXiv:1708.07747): 60,000 training and 10,000 test images of clothes, 28x28
  grey, 10 balanced classes; a real benchmark that works offline. Read from the
  four original IDX files where they already are (`data_dir`, then Debian's
  package `dataset-fashion-mnist` in `/usr/share/datasets/fashion-mnist`, then
  Keras' dataset cache `~/.keras/datasets/fashion-mnist`), otherwise downloaded
  as `keras.datasets.fashion_mnist` does. Zero-padded by 2 pixels to 32x32x1:
  the background is black (0), so padding adds more background and keeps every
  pixel as it was, while resizing would blur the 28x28 images; the CIFAR
  networks then see the 8x8 final feature map they were designed for.
- `"cifar10"`, `"cifar100"`, `"svhn_cropped"`: tensorflow-datasets, 32x32x3.
- `"imagenet2012"`: tensorflow-datasets from the manually downloaded archives
  (`manual_dir`, default `<data_dir>/downloads/manual`).
- the path of a folder of images with one sub-folder per class (optionally
  `train/` and `test/` (or `val/`, `validation/`) folders that each hold them).

Augmentation is the papers' (training pipeline only):
- 32x32 sets: pad 4 pixels on each side and take a random 32x32 crop (He 2015
  s4.2; the padding is zeros in normalised units, i.e. the mean image, or
  reflection as in Wide ResNet with `pad_mode="reflect"`), and flip
  horizontally at random. Digits and SVHN are not flipped: a mirrored 2, 3, 5,
  7 or 9 is no longer that digit.
- ImageNet-size sets: a random-resized crop (8%-100% of the area, aspect ratio
  3/4-4/3, resized to `image_size`; Szegedy 2015, as in torchvision and
  fb.resnet.torch) and a random flip. Evaluation resizes the shorter side to
  `image_size / 0.875` and takes the central crop.

tf.data practice: 32x32 sets are decoded once into memory (as numpy arrays,
as keras.datasets does); crops and flips run vectorised on whole batches;
every pipeline ends in `prefetch(AUTOTUNE)`. No pipeline uses
`Dataset.cache()`: in TensorFlow 2.21 an iterator that reads part of a cached
set and is then dropped (`next(iter(data.test))`) can leave the cache complete
with only the part it read, so later evaluations silently see fewer images
(seen in CI; `tests/test_data.py` reads part of each set, then all of it).
With `seed`, file order, shuffles and augmentation are deterministic
(stateless random ops fed by `tf.data.Dataset.random`) and still differ from
epoch to epoch.

Training recipes that need more (issue 16) get two hooks: `one_hot=True` gives every
pipeline one-hot float32 labels (`tf.one_hot(label, num_classes)`), and `batch_transform`
is applied to each training batch before normalisation, e.g. a recipe's RandAugment and
MixUp/CutMix (`keras_resnet.recipes.Recipe.batch_transform`).
"""

import dataclasses
import difflib
import gzip
import math
import os
import struct
import zlib

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.checks import between, is_number, one_of, positive, seed as check_seed

AUTOTUNE = tf.data.AUTOTUNE
SMALL_TFDS = ("cifar10", "cifar100", "svhn_cropped")
DATASETS = ("digits", "fashion_mnist", *SMALL_TFDS, "imagenet2012")
NO_FLIP = ("digits", "svhn_cropped")  # mirrored digits change meaning; mirrored clothes do not
PAD_MODES = ("constant", "reflect")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# The first bytes of each format `tf.io.decode_image` reads: a file without them fails to decode mid-epoch.
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a")
CROP_PADDING = 4
EVAL_CROP_FRACTION = 0.875  # 224 of 256
STATS_SAMPLE = 1024  # images that estimate mean/std of a streamed set

# Fashion-MNIST's four files, as keras.datasets.fashion_mnist names and downloads them.
FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_MNIST_FILES = {  # file: (IDX magic number, examples, image shape)
    "train-images-idx3-ubyte.gz": (2051, 60_000, (28, 28)),
    "train-labels-idx1-ubyte.gz": (2049, 60_000, ()),
    "t10k-images-idx3-ubyte.gz": (2051, 10_000, (28, 28)),
    "t10k-labels-idx1-ubyte.gz": (2049, 10_000, ()),
}
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"  # apt-get install dataset-fashion-mnist
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


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
        return _normalize(images, self.mean, self.std)


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
        data_dir: tensorflow-datasets' data folder (default `~/tensorflow_datasets`);
            for `"fashion_mnist"`, the folder that holds its four files.
        augment: whether to augment the training images (the papers' recipe).
        pad_mode: padding before the random crop of 32x32 images: `"constant"`
            (zeros after normalisation, He 2015) or `"reflect"` (Wide ResNet).
        image_size: side of the square crops of ImageNet and image folders.
        test_split: fraction of the examples held out for testing where the
            source has no test split (digits, a folder without `test/`): a
            fixed random choice, the same in every run.
        manual_dir: where `imagenet2012`'s archives were downloaded by hand.
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
            that are missing or damaged (the message names the folder and file).

    Example:
        >>> data = keras_resnet.data.load("digits", batch_size=64, seed=0)
        >>> data.input_shape, data.num_classes
        ((32, 32, 1), 10)
    """
    _check(batch_size, validation_split, pad_mode, image_size, test_split, subset)
    check_seed("seed", seed)
    if dataset == "digits":
        source = _digits(test_split)
    elif dataset == "fashion_mnist":
        source = _fashion_mnist(data_dir)
    elif dataset in SMALL_TFDS or dataset == "imagenet2012":
        source = _tfds(dataset, seed, data_dir, manual_dir)
    elif isinstance(dataset, (str, os.PathLike)) and os.path.isdir(dataset):
        source = _folder(os.fspath(dataset), test_split)
    else:
        raise ValueError(unknown_dataset(dataset))
    if subset is not None:
        source = _subset(source, subset)
    train, (validation, validation_size) = _split_off(source.train, source.train_size, validation_split)
    test = source.test
    sizes = dict(train_size=source.train_size - validation_size, validation_size=validation_size, test_size=source.test_size)
    pipeline = _Small(source) if source.small else _Large(source, image_size)
    mean, std = pipeline.statistics(train)
    flip = source.name not in NO_FLIP
    batches = dict(batch_size=batch_size, mean=mean, std=std)
    encode = _one_hot(len(source.class_names)) if one_hot else None
    hook = _hook(encode, batch_transform, seed)
    evaluation = lambda examples: _options(_labels(pipeline.evaluation(examples, **batches), encode))
    return Data(
        name=source.name,
        train=_options(pipeline.train(train, sizes["train_size"], seed, augment, flip, pad_mode, hook=hook, **batches)),
        validation=evaluation(validation) if validation_size else None,
        test=evaluation(test),
        num_classes=len(source.class_names),
        input_shape=pipeline.input_shape,
        batch_size=batch_size,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        class_names=tuple(source.class_names),
        description=source.description,
        **sizes,
    )


def unknown_dataset(name):
    """The message for a dataset that is neither a known name nor a folder, with close names."""
    close = difflib.get_close_matches(str(name).lower(), DATASETS, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return (f"Unknown dataset {name!r}.{hint} Use one of {', '.join(DATASETS)}, or the path of a folder of "
            f"images with one sub-folder per class.")


def _check(batch_size, validation_split, pad_mode, image_size, test_split, subset):
    positive("batch_size", batch_size)
    positive("image_size", image_size)
    if subset is not None:
        positive("subset", subset)
    between("validation_split", validation_split, 0, 1)
    if not (is_number(test_split, (int, float)) and 0 < test_split < 1):
        raise ValueError(f"`test_split` must be in (0, 1); received test_split={test_split!r}")
    one_of("pad_mode", pad_mode, PAD_MODES)


# Sources: examples of (image, label) before batching --------------------------


@dataclasses.dataclass
class _Source:
    """Unbatched examples. Small sources yield decoded uint8 images of one size;
    large ones yield encoded image files (bytes), decoded by the pipeline."""

    name: str
    train: tf.data.Dataset
    train_size: int
    test: tf.data.Dataset
    test_size: int
    class_names: list
    small: bool
    description: str
    labels: np.ndarray | None = None  # the training labels, where known without reading the images


def _digits(test_split):
    from sklearn.datasets import load_digits  # scikit-learn ships the images: no download

    digits = load_digits()
    # 0-16 grey levels, upsampled 4x (bilinear) to the 32x32 of the CIFAR networks.
    images = tf.image.resize(digits.images[..., None] * (255 / 16), (32, 32)).numpy()
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int32)
    train, test = _hold_out(len(images), test_split)
    return _Source("digits", _slices(images[train], labels[train]), len(train),
                   _slices(images[test], labels[test]), len(test), [str(d) for d in range(10)], True,
                   f"scikit-learn handwritten digits (8x8 upsampled to 32x32), a small demonstration set: "
                   f"{len(train)} training and {len(test)} test images", labels=labels[train])


def _fashion_mnist(data_dir):
    """The four IDX files from the first folder that has them, or from Keras' download."""
    if data_dir is not None:  # the user's folder, or a clear error: never a silent download elsewhere
        folders = [os.fspath(data_dir)]
    else:
        keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))  # as get_file
        keras_cache = os.path.join(keras_home, "datasets", "fashion-mnist")
        folders = [FASHION_MNIST_DEBIAN_DIR, keras_cache]
    folder = next((f for f in folders if all(os.path.exists(os.path.join(f, n)) for n in FASHION_MNIST_FILES)), None)
    if folder is None and data_dir is not None:
        missing = [n for n in FASHION_MNIST_FILES if not os.path.exists(os.path.join(folders[0], n))]
        raise ValueError(f"data_dir {folders[0]!r} does not hold Fashion-MNIST: missing {', '.join(missing)} "
                         f"(looked for {', '.join(FASHION_MNIST_FILES)} there). Install Debian's "
                         f"dataset-fashion-mnist, or omit data_dir to download the files into Keras' cache.")
    if folder is None:  # as keras.datasets.fashion_mnist.load_data downloads them
        paths = [keras.utils.get_file(n, origin=FASHION_MNIST_URL + n, cache_subdir=os.path.join("datasets", "fashion-mnist"))
                 for n in FASHION_MNIST_FILES]
        folder = os.path.dirname(paths[0])
    arrays = {n: read_idx(os.path.join(folder, n), *expected) for n, expected in FASHION_MNIST_FILES.items()}
    for name, values in arrays.items():
        if "labels" in name and values.max() >= len(FASHION_MNIST_CLASSES):
            raise ValueError(f"{os.path.join(folder, name)} is corrupt: labels must be 0-9; found {int(values.max())}")
    train_images, train_labels, test_images, test_labels = arrays.values()
    pad = lambda images: np.pad(images, [(0, 0), (2, 2), (2, 2)])[..., None]  # 28x28 -> 32x32x1, black border
    return _Source("fashion_mnist", _slices(pad(train_images), train_labels), len(train_labels),
                   _slices(pad(test_images), test_labels), len(test_labels), list(FASHION_MNIST_CLASSES), True,
                   f"Fashion-MNIST from {folder} (28x28 zero-padded to 32x32): {len(train_labels)} training and "
                   f"{len(test_labels)} test images", labels=train_labels)


def read_idx(path, magic, count, shape):
    """A gzipped IDX file (LeCun's MNIST format) as a uint8 array, checked against
    the magic number, example count and image shape it must have."""
    try:
        with gzip.open(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path} is not a readable gzip file ({e}); delete it and load again") from e
    header = 4 * (2 + len(shape))
    found = struct.unpack(f">{2 + len(shape)}I", content[:header]) if len(content) >= header else ()
    if found != (magic, count, *shape) or len(content) != header + count * math.prod(shape):
        raise ValueError(f"{path} is corrupt or not the expected file: expected an IDX file of {count} "
                         f"{'x'.join(map(str, shape)) or 'label'} entries (magic {magic}), found header {found} "
                         f"and {len(content)} bytes")
    return np.frombuffer(content, np.uint8, offset=header).reshape((count, *shape))


def _subset(source, n):
    """The first `n` examples of a fixed, class-balanced choice from the training split."""
    labels = source.labels
    if labels is None:  # a tensorflow-datasets set: read its labels once
        labels = np.fromiter((y for _, y in source.train.as_numpy_iterator()), np.int64, source.train_size)
    if n > len(labels):
        raise ValueError(f"`subset` must be at most the {len(labels)} training examples of {source.name}; "
                         f"received subset={n}")
    keep = balanced_subset(labels, n)
    mask = np.zeros(len(labels), bool)
    mask[keep] = True
    mask = tf.constant(mask)
    train = source.train.enumerate().filter(lambda i, _: mask[i]).map(lambda _, example: example)
    return dataclasses.replace(source, train=train, train_size=n, labels=labels[keep],
                               description=f"{source.description}; a fixed class-balanced subset of {n} "
                                           f"training images")


def balanced_subset(labels, n):
    """Sorted indices of `n` examples, as many of each class as possible (differing
    by at most one where classes are large enough), chosen in a fixed random order."""
    order = np.random.RandomState(0).permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    quota = dict(zip(classes, np.zeros(len(classes), int)))
    left = n
    # Fill classes evenly; a class that runs out leaves its share to the others.
    available = dict(zip(classes, counts))
    while left:
        open_classes = [c for c in classes if quota[c] < available[c]]
        share, extra = divmod(left, len(open_classes))
        for i, c in enumerate(open_classes):
            take = min(share + (i < extra), available[c] - quota[c])
            quota[c] += take
            left -= take
    rank = np.zeros(len(labels), int)
    seen = dict.fromkeys(classes, 0)
    for i in order:
        rank[i] = seen[labels[i]]
        seen[labels[i]] += 1
    return np.sort(np.flatnonzero(rank < np.vectorize(quota.get)(labels)))


def _hold_out(n, fraction):
    """Indices (train, test) of `n` examples in a fixed random order, with
    `fraction` of them for testing: the same test set in every run, whatever `seed`."""
    order = np.random.RandomState(0).permutation(n)
    n_test = max(1, round(n * fraction))
    return order[n_test:], order[:n_test]


def _tfds(name, seed, data_dir, manual_dir):
    import tensorflow_datasets as tfds

    small = name in SMALL_TFDS
    splits = ["train", "test" if small else "validation"]
    kwargs = dict(data_dir=data_dir, as_supervised=True, shuffle_files=False)
    if manual_dir is not None:
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        kwargs["download_and_prepare_kwargs"] = {"download_config": config}
    if small:  # decoded once into memory, as keras.datasets does
        (train, test), info = tfds.load(name, split=splits, with_info=True, **kwargs)
        (train_images, labels), test_arrays = _arrays(train), _arrays(test)
        train, test = _slices(train_images, labels), _slices(*test_arrays)
        train_size, test_size = len(labels), len(test_arrays[1])
    else:  # the pipeline decodes (and crops) the JPEGs itself
        (train, test), info = tfds.load(name, split=splits, with_info=True, read_config=tfds.ReadConfig(shuffle_seed=seed),
                                        decoders={"image": tfds.decode.SkipDecoding()}, **kwargs)
        cast = lambda image, label: (image, tf.cast(label, tf.int32))
        train, test, labels = train.map(cast), test.map(cast), None
        train_size, test_size = int(train.cardinality()), int(test.cardinality())
    return _Source(name, train, train_size, test, test_size, info.features["label"].names, small,
                   f"tensorflow-datasets {name}: {train_size} training and {test_size} test images", labels=labels)


def _arrays(examples):
    """A dataset of (image, label) read whole into two numpy arrays."""
    batches = list(examples.batch(4096).as_numpy_iterator())
    return tuple(np.concatenate([b[i] for b in batches]) for i in range(2))


def _slices(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))


def _folder(path, test_split):
    def listing(root):
        classes = sorted(d.name for d in os.scandir(root) if d.is_dir())
        files = [(os.path.join(dirpath, f), label) for label, c in enumerate(classes)
                 for dirpath, _, names in sorted(os.walk(os.path.join(root, c)))
                 for f in sorted(names) if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not files:
            raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in class sub-folders of {root!r}")
        _check_images([f for f, _ in files])
        return classes, files

    test_dir = next((os.path.join(path, d) for d in ("test", "val", "validation")
                     if os.path.isdir(os.path.join(path, d))), None)
    if os.path.isdir(os.path.join(path, "train")) and test_dir:
        classes, train = listing(os.path.join(path, "train"))
        test_classes, test = listing(test_dir)
        if test_classes != classes:
            raise ValueError(f"The class folders of {test_dir!r} ({test_classes}) differ from those of "
                             f"{os.path.join(path, 'train')!r} ({classes})")
    else:
        classes, files = listing(path)
        train, test = ([files[i] for i in indices] for indices in _hold_out(len(files), test_split))

    for split, name in ((train, "training"), (test, "test")):
        if not split:
            raise ValueError(f"The image folder {path!r} has {len(train) + len(test)} image(s): too few for a "
                             f"{name} set; it needs at least 2 (or train/ and test/ sub-folders)")

    def examples(files):
        paths, labels = zip(*files)
        ds = tf.data.Dataset.from_tensor_slices((list(paths), np.array(labels, np.int32)))
        return ds.map(lambda p, label: (tf.io.read_file(p), label), num_parallel_calls=AUTOTUNE)

    return _Source(path, examples(train), len(train), examples(test), len(test), classes, False,
                   f"image folder {path}: {len(classes)} classes, {len(train)} training and {len(test)} test images",
                   labels=np.array([label for _, label in train]))


def _check_images(paths):
    """Refuses image files that are empty or whose first bytes are no image format's."""
    bad = []
    for path in paths:
        with open(path, "rb") as f:
            if not f.read(8).startswith(IMAGE_SIGNATURES):
                bad.append(path)
    if bad:
        raise ValueError(f"{len(bad)} file(s) are not images (empty, damaged or another format), e.g. "
                         f"{', '.join(map(repr, bad[:3]))}; remove or replace them")


def _split_off(examples, size, fraction):
    """Holds out the last `fraction` of the examples: `rest, (held_out, count)`."""
    held = round(size * fraction)
    return examples.take(size - held), (examples.skip(size - held), held)


# Pipelines ------------------------------------------------------------------


def _normalize(images, mean, std):
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std


def _statistics(batches):
    """Per-channel mean and std, in [0, 1] units, of an iterable of uint8 batches."""
    total = squares = count = 0
    for images in batches:
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        total, squares, count = total + pixels.sum(0), squares + (pixels**2).sum(0), count + len(pixels)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0))
    return mean.astype(np.float32), np.maximum(std, 1 / 255).astype(np.float32)


def _seeds(seed):
    """Seeds for stateless random ops, one per example or batch: reproducible for a given `seed`,
    different in every epoch."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def _flip(images, seed):
    flips = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) < 0.5
    return tf.where(flips, tf.reverse(images, axis=[2]), images)


def _pad_crop(images, seed, mode):
    """He 2015's augmentation, vectorised: pad each side by 4, then crop every
    image of the batch at its own random offset."""
    height, width = images.shape[1], images.shape[2]
    p = CROP_PADDING
    padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode=mode.upper())
    offsets = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed, maxval=2 * p + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(height)
    cols = offsets[:, 1:] + tf.range(width)
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def _one_hot(num_classes):
    return lambda images, labels: (images, tf.one_hot(labels, num_classes, dtype=tf.float32))


def _labels(batches, encode):
    """The evaluation batches with their labels encoded (one-hot), if `encode`."""
    return batches if encode is None else batches.map(encode, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _hook(encode, batch_transform, seed):
    """What `load` does to training batches of [0, 255] images before normalising them, as a
    function of a batched dataset, or `None`: one-hot labels, then `batch_transform`."""
    if encode is None and batch_transform is None:
        return None

    def apply(batch, seeds):
        images, labels = batch
        images = tf.cast(images, tf.float32)
        if encode is not None:
            images, labels = encode(images, labels)
        if batch_transform is not None:
            images, labels = batch_transform(images, labels, tf.ensure_shape(seeds, [2]))
        return images, labels

    # A seed stream of its own, so that the pipeline's crops and flips stay as without the hook.
    # Sequential: stateful random layers must see the batches in order (see `load`).
    return lambda batches: tf.data.Dataset.zip(batches, _seeds(None if seed is None else seed + 1)).map(apply)


class _Small:
    """32x32 images decoded once and held in memory."""

    def __init__(self, source):
        self.input_shape = tuple(source.train.element_spec[0].shape)

    def statistics(self, train):
        return _statistics(images for images, _ in train.batch(4096).as_numpy_iterator())

    def train(self, examples, size, seed, augment, flip, pad_mode, batch_size, mean, std, hook=None):
        def transform(batch, seeds):
            (images, labels), keys = batch, tf.random.experimental.stateless_split(seeds, 2)
            images = _normalize(images, mean, std)
            if augment:
                images = _pad_crop(images, keys[0], pad_mode)
                images = _flip(images, keys[1]) if flip else images
            return images, labels

        ds = examples.shuffle(max(size, 1), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
        ds = ds if hook is None else hook(ds)
        return tf.data.Dataset.zip(ds, _seeds(seed)).map(transform, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)

    def evaluation(self, examples, batch_size, mean, std):
        normalize = lambda images, labels: (_normalize(images, mean, std), labels)
        return examples.batch(batch_size).map(normalize, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _decode(encoded):
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


class _Large:
    """Encoded images of any size, decoded and cropped per example."""

    def __init__(self, source, image_size):
        self.size = image_size
        self.input_shape = (image_size, image_size, 3)

    def _central_crop(self, encoded, label):
        image = _decode(encoded)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        resized = tf.cast(tf.round(shape * (self.size / EVAL_CROP_FRACTION) / tf.reduce_min(shape)), tf.int32)
        image = tf.image.resize(image, resized, antialias=True)
        top, left = (resized[0] - self.size) // 2, (resized[1] - self.size) // 2
        image = image[top:top + self.size, left:left + self.size]
        return tf.saturate_cast(tf.round(image), tf.uint8), label

    def _random_resized_crop(self, example, seed):
        encoded, label = example
        image = _decode(encoded)
        begin, crop, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed, min_object_covered=0.0,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
            use_image_if_no_bounding_boxes=True)
        image = tf.image.resize(tf.slice(image, begin, crop), (self.size, self.size), antialias=True)
        return image, label

    def statistics(self, train):
        sample = train.take(STATS_SAMPLE).map(self._central_crop, num_parallel_calls=AUTOTUNE).batch(256)
        return _statistics(images for images, _ in sample.as_numpy_iterator())

    def train(self, examples, size, seed, augment, flip, pad_mode, batch_size, mean, std, hook=None):
        ds = examples.shuffle(min(max(size, 1), 10_000), seed=seed, reshuffle_each_iteration=True)
        if augment:
            ds = tf.data.Dataset.zip(ds, _seeds(seed))
            ds = ds.map(self._random_resized_crop, num_parallel_calls=AUTOTUNE)
        else:
            ds = ds.map(self._central_crop, num_parallel_calls=AUTOTUNE)

        def transform(batch, seed):
            images, labels = batch
            images = _flip(images, seed) if augment and flip else images
            return (images, labels) if hook else (_normalize(images, mean, std), labels)

        ds = tf.data.Dataset.zip(ds.batch(batch_size), _seeds(seed)).map(transform, num_parallel_calls=AUTOTUNE)
        if hook is not None:
            normalize = lambda images, labels: (_normalize(images, mean, std), labels)
            ds = hook(ds).map(normalize, num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)

    def evaluation(self, examples, batch_size, mean, std):
        ds = examples.map(self._central_crop, num_parallel_calls=AUTOTUNE)
        normalize = lambda images, labels: (_normalize(images, mean, std), labels)
        return ds.batch(batch_size).map(normalize, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _options(ds):
    """Shards by example under multi-worker strategies: the sources are in-memory
    tensors or one tensorflow-datasets reader, not one file per worker."""
    if ds is None:
        return None
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
