"""Where `keras_resnet.training.data.load` reads its examples: one `Source` per dataset.

A source holds the unbatched `(image, label)` examples of a training and a test split: decoded uint8 images of
one size for the 32x32 sets, encoded image files (bytes) for ImageNet and image folders, which
`keras_resnet.training.pipelines` decodes and crops.

- `digits`: scikit-learn's bundled handwritten digits (1,797 grey 8x8 images, UCI "optdigits"), upsampled to
  32x32x1: a small demonstration set that needs no download, not a benchmark.
- `fashion_mnist`: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747), 28x28 grey, zero-padded to
  32x32x1: padding only adds black background, where resizing would blur, and the CIFAR networks end on the
  8x8 feature map they were designed for.
- `tfds_dataset`: tensorflow-datasets' `cifar10`, `cifar100`, `svhn_cropped` (32x32x3, decoded once into memory,
  as keras.datasets does) and `imagenet2012` (from the archives downloaded by hand). A `data_dir` other than
  tensorflow-datasets' own must already hold the set (`check_tfds_files`).
- `image_folder`: a folder with one sub-folder of images per class, optionally inside `train/` and `test/` (or
  `val/`, `validation/`) folders.
"""

import dataclasses
import gzip
import math
import os
import posixpath
import socket
import struct
import urllib.parse
import zlib

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
SMALL_TFDS = ("cifar10", "cifar100", "svhn_cropped")
MANUAL_TFDS = {"imagenet2012": "https://image-net.org/download-images"}  # archives downloaded by hand after registering
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# The first bytes of each format `tf.io.decode_image` reads: a file without them fails to decode mid-epoch.
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a")

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


@dataclasses.dataclass
class Source:
    """Unbatched examples of a dataset.

    Attributes:
        name: the dataset's name (or folder path).
        train, test: `tf.data.Dataset`s of `(image, int32 label)`: decoded uint8 images of one size held in
            memory when `small`, encoded image files (bytes) otherwise.
        train_size, test_size, class_names, description: numbers of examples, label names, one line about it.
        labels: the training labels, where known without reading the images.
    """

    name: str
    train: tf.data.Dataset
    train_size: int
    test: tf.data.Dataset
    test_size: int
    class_names: list
    small: bool
    description: str
    labels: np.ndarray | None = None


def digits(test_split):
    """scikit-learn's digits with a fixed `test_split` of them held out for testing."""
    from sklearn.datasets import load_digits  # scikit-learn ships the images: no download

    data = load_digits()
    # 0-16 grey levels, upsampled 4x (bilinear) to the 32x32 of the CIFAR networks.
    images = tf.image.resize(data.images[..., None] * (255 / 16), (32, 32)).numpy()
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    labels = data.target.astype(np.int32)
    train, test = hold_out(len(images), test_split)
    return _in_memory("digits", (images[train], labels[train]), (images[test], labels[test]), map(str, range(10)),
                      "scikit-learn handwritten digits (8x8 upsampled to 32x32), a small demonstration set")


def fashion_mnist(data_dir):
    """The four IDX files from the first folder that has them, or from Keras' download."""
    folder = _fashion_mnist_folder(data_dir)
    arrays = {n: read_idx(os.path.join(folder, n), *expected) for n, expected in FASHION_MNIST_FILES.items()}
    for name, values in arrays.items():
        if "labels" in name and values.max() >= len(FASHION_MNIST_CLASSES):
            raise ValueError(f"{os.path.join(folder, name)} is corrupt: labels must be 0-9; found {int(values.max())}")
    train_images, train_labels, test_images, test_labels = arrays.values()
    pad = lambda images: np.pad(images, [(0, 0), (2, 2), (2, 2)])[..., None]  # 28x28 -> 32x32x1, black border
    return _in_memory("fashion_mnist", (pad(train_images), train_labels), (pad(test_images), test_labels),
                      FASHION_MNIST_CLASSES, f"Fashion-MNIST from {folder} (28x28 zero-padded to 32x32)")


def _fashion_mnist_folder(data_dir):
    """`data_dir` if it holds the four files (an error if not: never a silent download elsewhere);
    without it, Debian's folder or Keras' cache, else Keras' cache after downloading the files."""
    has_all = lambda folder: all(os.path.exists(os.path.join(folder, n)) for n in FASHION_MNIST_FILES)
    if data_dir is not None:
        folder = os.fspath(data_dir)
        if not has_all(folder):
            missing = [n for n in FASHION_MNIST_FILES if not os.path.exists(os.path.join(folder, n))]
            raise ValueError(f"data_dir {folder!r} does not hold Fashion-MNIST: missing {', '.join(missing)} "
                             f"(looked for {', '.join(FASHION_MNIST_FILES)} there). Install Debian's "
                             f"dataset-fashion-mnist, or omit data_dir to download the files into Keras' cache.")
        return folder
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))  # as get_file
    subdir = os.path.join("datasets", "fashion-mnist")  # of Keras' cache, as keras.datasets.fashion_mnist's
    found = [f for f in (FASHION_MNIST_DEBIAN_DIR, os.path.join(keras_home, subdir)) if has_all(f)]
    if found:
        return found[0]
    paths = [keras.utils.get_file(n, origin=FASHION_MNIST_URL + n, cache_subdir=subdir) for n in FASHION_MNIST_FILES]
    return os.path.dirname(paths[0])


def read_idx(path, magic, count, shape):
    """A gzipped IDX file (LeCun's MNIST format) as a uint8 array, checked against its magic number, count, shape."""
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


def tfds_dataset(name, seed, data_dir, manual_dir):
    """A tensorflow-datasets set: `SMALL_TFDS` read whole into memory, ImageNet as encoded JPEGs."""
    import tensorflow_datasets as tfds

    check_tfds_files(name, data_dir, manual_dir)
    small = name in SMALL_TFDS
    splits = ["train", "test" if small else "validation"]
    kwargs = dict(split=splits, with_info=True, data_dir=data_dir, as_supervised=True, shuffle_files=False)
    if manual_dir is not None:
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        kwargs["download_and_prepare_kwargs"] = {"download_config": config}
    if small:  # decoded once into memory, as keras.datasets does
        (train, test), info = tfds.load(name, **kwargs)
        return _in_memory(name, _arrays(train), _arrays(test), info.features["label"].names,
                          f"tensorflow-datasets {name}")
    # The pipeline decodes (and crops) the JPEGs itself.
    (train, test), info = tfds.load(name, read_config=tfds.ReadConfig(shuffle_seed=seed),
                                    decoders={"image": tfds.decode.SkipDecoding()}, **kwargs)
    cast = lambda image, label: (image, tf.cast(label, tf.int32))
    train, test = train.map(cast), test.map(cast)
    train_size, test_size = int(train.cardinality()), int(test.cardinality())
    return Source(name, train, train_size, test, test_size, info.features["label"].names, False,
                  f"tensorflow-datasets {name}: {train_size} training and {test_size} test images")


def check_tfds_files(name, data_dir, manual_dir=None):
    """Raises ValueError, within seconds, where reading tensorflow-datasets' `name` would need a download that
    cannot happen, instead of letting the download hang.

    A `data_dir` other than tensorflow-datasets' own (`TFDS_DATA_DIR`, by default `~/tensorflow_datasets`) must
    hold the set prepared, or every file tensorflow-datasets would download (which it prepares offline): in
    `manual_dir` (default `<data_dir>/downloads/manual`) under the file's own name, or in its download cache
    `<data_dir>/downloads`; or the hosts of the missing files must answer (`reachable`). ImageNet's archives are
    only ever taken from the manual folder.
    """
    import tensorflow_datasets as tfds

    if data_dir is None:
        return
    data_dir = os.fspath(data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    own_folder = os.path.realpath(os.path.expanduser(tfds.core.constants.DATA_DIR))
    if builder.is_prepared() or (name not in MANUAL_TFDS and os.path.realpath(data_dir) == own_folder):
        return
    manual = os.fspath(manual_dir) if manual_dir is not None else os.path.join(data_dir, "downloads", "manual")
    downloads = _tfds_downloads(builder, data_dir, manual)
    if not downloads or (name not in MANUAL_TFDS and all(reachable(url) for url, _ in downloads)):
        return
    missing = [f"{file} ({url})" if name not in MANUAL_TFDS else file for url, file in downloads]
    message = (f"tensorflow-datasets' {name} is not in data_dir {data_dir!r}: it needs its prepared files in "
               f"{builder.data_dir}/, or ")
    if name in MANUAL_TFDS:
        raise ValueError(f"{message}the archives downloaded by hand ({MANUAL_TFDS[name]}) in manual_dir "
                         f"{manual!r}, which lacks {', '.join(missing)}")
    raise ValueError(f"{message}the files tensorflow-datasets downloads, which it prepares offline, in {manual!r}: "
                     f"missing {', '.join(missing)}, and their host does not answer (offline?). Put the files "
                     f"there, or download them from a machine that is online.")


def reachable(url, timeout=3.0):
    """Whether the host of `url` accepts a connection within `timeout` seconds."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tfds_downloads(builder, data_dir, manual):
    """`(url, file name)` of each file `builder` downloads that is neither in the folder `manual` nor (except
    for ImageNet's archives) in tensorflow-datasets' cache `<data_dir>/downloads`."""
    from etils import epath
    from tensorflow_datasets.core.download import resource

    downloads = epath.Path(data_dir) / "downloads"
    missing = []
    for url, info in (builder.url_infos or {}).items():
        file = info.filename or posixpath.basename(url)
        cache = resource.get_dl_fname(url, info.checksum)
        cached = builder.name not in MANUAL_TFDS and any(
            resource.is_locally_cached(folder / cache) for folder in (downloads / builder.name, downloads))
        if not (cached or os.path.exists(os.path.join(manual, file))):
            missing.append((url, file))
    return missing


def _arrays(examples):
    """A dataset of (image, label) read whole into two numpy arrays."""
    batches = list(examples.batch(4096).as_numpy_iterator())
    return tuple(np.concatenate([b[i] for b in batches]) for i in range(2))


def _slices(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))


def _in_memory(name, train, test, class_names, about):
    """A `small` source of `(images, labels)` arrays, described by `about` and its sizes."""
    train_size, test_size = len(train[1]), len(test[1])
    return Source(name, _slices(*train), train_size, _slices(*test), test_size, list(class_names), True,
                  f"{about}: {train_size} training and {test_size} test images", labels=train[1])


def image_folder(path, test_split):
    """The image files in `path`'s class sub-folders (or in its train/ and test/ folders)."""
    test_dir = next((os.path.join(path, d) for d in ("test", "val", "validation")
                     if os.path.isdir(os.path.join(path, d))), None)
    if os.path.isdir(os.path.join(path, "train")) and test_dir:
        classes, train = _listing(os.path.join(path, "train"))
        test_classes, test = _listing(test_dir)
        if test_classes != classes:
            raise ValueError(f"The class folders of {test_dir!r} ({test_classes}) differ from those of "
                             f"{os.path.join(path, 'train')!r} ({classes})")
    else:
        classes, files = _listing(path)
        train, test = ([files[i] for i in indices] for indices in hold_out(len(files), test_split))

    for split, name in ((train, "training"), (test, "test")):
        if not split:
            raise ValueError(f"The image folder {path!r} has {len(train) + len(test)} image(s): too few for a "
                             f"{name} set; it needs at least 2 (or train/ and test/ sub-folders)")

    def examples(files):
        paths, labels = zip(*files)
        ds = tf.data.Dataset.from_tensor_slices((list(paths), np.array(labels, np.int32)))
        return ds.map(lambda p, label: (tf.io.read_file(p), label), num_parallel_calls=AUTOTUNE)

    return Source(path, examples(train), len(train), examples(test), len(test), classes, False,
                  f"image folder {path}: {len(classes)} classes, {len(train)} training and {len(test)} test images",
                  labels=np.array([label for _, label in train]))


def _listing(root):
    """The class sub-folders of `root` and its `(image file, label)` pairs, checked to be images."""
    classes = sorted(d.name for d in os.scandir(root) if d.is_dir())
    files = [(os.path.join(dirpath, f), label) for label, c in enumerate(classes)
             for dirpath, _, names in sorted(os.walk(os.path.join(root, c)))
             for f in sorted(names) if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in class sub-folders of {root!r}")
    bad = []
    for path, _ in files:
        with open(path, "rb") as f:
            if not f.read(8).startswith(IMAGE_SIGNATURES):
                bad.append(path)
    if bad:
        raise ValueError(f"{len(bad)} file(s) are not images (empty, damaged or another format), e.g. "
                         f"{', '.join(map(repr, bad[:3]))}; remove or replace them")
    return classes, files


def subset(source, n):
    """`source` with the first `n` examples of a fixed, class-balanced choice from its training split."""
    labels = source.labels
    if labels is None:  # a tensorflow-datasets set: read its labels once
        labels = np.fromiter((y for _, y in source.train.as_numpy_iterator()), np.int64, source.train_size)
    if n > len(labels):
        raise ValueError(f"`subset` must be at most the {len(labels)} training examples of {source.name}; "
                         f"received subset={n}")
    keep = balanced_subset(labels, n)
    mask = tf.constant(np.isin(np.arange(len(labels)), keep))
    train = source.train.enumerate().filter(lambda i, _: mask[i]).map(lambda _, example: example)
    description = f"{source.description}; a fixed class-balanced subset of {n} training images"
    return dataclasses.replace(source, train=train, train_size=n, labels=labels[keep], description=description)


def balanced_subset(labels, n):
    """Sorted indices of `n` examples, as many of each class as possible (differing by at most one where classes
    are large enough), chosen in a fixed random order."""
    order = np.random.RandomState(0).permutation(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    available, quota, left = dict(zip(classes, counts)), dict.fromkeys(classes, 0), n
    # Fill classes evenly; a class that runs out leaves its share to the others.
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


def hold_out(n, fraction):
    """Indices (train, test) of `n` examples in a fixed random order, `fraction` of them for testing: the same
    test set in every run, whatever `seed`."""
    order = np.random.RandomState(0).permutation(n)
    n_test = max(1, round(n * fraction))
    return order[n_test:], order[:n_test]


def split_off(examples, size, fraction):
    """Holds out the last `fraction` of the examples: `rest, (held_out, count)`."""
    held = round(size * fraction)
    return examples.take(size - held), (examples.skip(size - held), held)
