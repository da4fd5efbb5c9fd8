"""keras_resnet.training.data.load with its sources and pipelines: the tensorflow-datasets
code paths run for real on `tfds.testing.mock_data`; the offline digits and image folders on
real files."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_resnet.training import data as kdata
from keras_resnet.training import pipelines

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def arrays(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


def is_window(augmented, original, flips):
    """Whether `augmented` is a pad-4 crop (and, if allowed, a mirror) of `original`."""
    p = pipelines.CROP_PADDING
    padded = np.pad(original, [(p, p), (p, p), (0, 0)])
    h, w = original.shape[:2]
    candidates = [padded, padded[:, ::-1]] if flips else [padded]
    return any(np.allclose(c[i:i + h, j:j + w], augmented, atol=1e-5)
               for c in candidates for i in range(2 * p + 1) for j in range(2 * p + 1))


def check_structure(d, shape, classes):
    assert d.input_shape == shape and d.num_classes == classes and len(d.class_names) == classes
    for ds in (d.train, d.validation, d.test):
        x, y = next(iter(ds))
        assert x.dtype == tf.float32 and y.dtype == tf.int32
        assert tuple(x.shape[1:]) == shape and x.shape[0] == y.shape[0] <= d.batch_size
        assert np.all((y.numpy() >= 0) & (y.numpy() < classes))
    for name in ("train", "validation", "test"):
        assert sum(len(y) for _, y in getattr(d, name)) == getattr(d, f"{name}_size")


def dataset_ops(ds):
    """The names of the tf.data ops a pipeline is made of."""
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(tf.raw_ops.DatasetToGraphV2(input_dataset=ds._variant_tensor).numpy())
    return {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}


def check_no_cache(d):
    """No `Dataset.cache()`: TensorFlow can complete a cache with the part of the set that a
    dropped iterator read, after which every evaluation silently sees fewer images. Reading
    part of each set, then all of it, must give every example, however often it is done."""
    for name in ("train", "validation", "test"):
        ds = getattr(d, name)
        assert not any(op.startswith("CacheDataset") for op in dataset_ops(ds)), name
        for _ in range(3):
            next(iter(ds))
            assert sum(len(y) for _, y in ds) == getattr(d, f"{name}_size"), name


def test_digits_offline_default():
    d = kdata.load(batch_size=64, seed=0, augment=False)
    assert d.name == "digits" and "demonstration" in d.description
    check_structure(d, (32, 32, 1), 10)
    assert (d.train_size, d.validation_size, d.test_size) == (1294, 144, 359)
    # Normalised by the training set's own statistics: mean 0, std 1 there.
    x, _ = arrays(d.train)
    np.testing.assert_allclose([x.mean(), x.std()], [0, 1], atol=1e-3)
    # A fixed test set: the same whatever the seed.
    assert set(arrays(d.test)[1]) == set(range(10))
    np.testing.assert_array_equal(arrays(d.test)[1], arrays(kdata.load(batch_size=64, seed=5).test)[1])


def test_digits_augmentation_is_a_random_crop_without_flips():
    plain, augmented = (kdata.load("digits", 32, seed=1, augment=a) for a in (False, True))
    (x0, y0), (x1, y1) = next(iter(plain.train)), next(iter(augmented.train))
    np.testing.assert_array_equal(y0, y1)  # same seed, same order
    assert not np.allclose(x0, x1)
    assert all(is_window(a, o, flips=False) for a, o in zip(x1.numpy(), x0.numpy()))
    # A new crop in every epoch, the same ones for the same seed.
    again = next(iter(augmented.train))[0]
    assert not np.allclose(x1, again)
    np.testing.assert_array_equal(x1, next(iter(kdata.load("digits", 32, seed=1).train))[0])
    # Evaluation is never augmented.
    np.testing.assert_array_equal(arrays(augmented.test)[0], arrays(plain.test)[0])
    np.testing.assert_array_equal(arrays(augmented.test)[0], arrays(augmented.test)[0])


@pytest.mark.parametrize("name, classes, flips", [("cifar10", 10, True), ("cifar100", 100, True),
                                                  ("svhn_cropped", 10, False)])
def test_tfds_small_datasets(name, classes, flips):
    with tfds.testing.mock_data(num_examples=40):
        d = kdata.load(name, batch_size=16, seed=0, validation_split=0.25)
        plain = kdata.load(name, batch_size=16, seed=0, validation_split=0.25, augment=False)
        x, y = arrays(d.train)  # first epochs: the same seed shuffles alike
        x0, y0 = arrays(plain.train)
        check_structure(d, (32, 32, 3), classes)
        check_no_cache(d)
        assert (d.train_size, d.validation_size, d.test_size) == (30, 10, 40)
        np.testing.assert_array_equal(y, y0)
        assert all(is_window(a, o, flips) for a, o in zip(x, x0))
        mirrored = [not is_window(a, o, flips=False) for a, o in zip(x, x0)]
        assert any(mirrored) == flips  # 30 coin flips
        np.testing.assert_allclose(x0.mean(axis=(0, 1, 2)), 0, atol=1e-3)
        np.testing.assert_array_equal(arrays(d.test)[0], arrays(plain.test)[0])


def test_reflect_padding():
    # Zero padding puts exact zeros (the mean) at the borders; no digit pixel
    # normalises to exactly 0, so reflection leaves none.
    zeros = {mode: np.sum(next(iter(kdata.load("digits", 16, seed=3, pad_mode=mode).train))[0].numpy() == 0)
             for mode in pipelines.PAD_MODES}
    assert zeros["constant"] > 0 and zeros["reflect"] == 0


def test_imagenet_random_resized_crop():
    with tfds.testing.mock_data(num_examples=6):
        d = kdata.load("imagenet2012", batch_size=4, seed=0, image_size=48, validation_split=0.5)
        check_structure(d, (48, 48, 3), 1000)
        check_no_cache(d)
        assert (d.train_size, d.validation_size, d.test_size) == (3, 3, 6)
        first, second = (arrays(d.train)[0] for _ in range(2))
        assert not np.allclose(first, second)  # new crops every epoch
        np.testing.assert_array_equal(arrays(d.test)[0], arrays(d.test)[0])


def write_folder(root, sizes):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        os.makedirs(root / label)
        for i, (h, w) in enumerate(sizes):
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            encode = tf.io.encode_png if i % 2 else tf.io.encode_jpeg
            tf.io.write_file(str(root / label / f"{i}.{'png' if i % 2 else 'jpg'}"), encode(image))


def test_image_folder(tmp_path):
    write_folder(tmp_path, [(40, 60), (70, 50), (64, 64), (33, 90), (80, 80)])
    d = kdata.load(str(tmp_path), batch_size=4, image_size=32, seed=0, validation_split=0.25)
    check_structure(d, (32, 32, 3), 2)
    assert d.class_names == ("cat", "dog")
    assert (d.train_size, d.validation_size, d.test_size) == (6, 2, 2)
    np.testing.assert_array_equal(arrays(d.test)[0], arrays(d.test)[0])


def test_image_folder_with_train_and_test(tmp_path):
    write_folder(tmp_path / "train", [(40, 40)] * 3)
    write_folder(tmp_path / "val", [(50, 40)] * 2)
    d = kdata.load(tmp_path, batch_size=8, image_size=32, validation_split=0)
    assert (d.train_size, d.validation_size, d.test_size) == (6, 0, 4) and d.validation is None


@pytest.mark.parametrize("folder", [False, True])
def test_one_hot_labels_and_a_batch_transform_before_normalisation(folder, tmp_path):
    """The training recipes' hooks, on the 32x32 and the image-folder pipelines: one-hot labels
    everywhere; the transform sees [0, 255] images and one-hot labels, with a per-batch seed."""
    if folder:
        write_folder(tmp_path, [(40, 60), (70, 50), (64, 64), (33, 90), (80, 80)])
    seen = []

    def invert(images, labels, seed):
        seen.append((images.dtype, tuple(labels.shape), tuple(seed.shape)))
        return 255.0 - images, labels

    load = lambda **kwargs: kdata.load(str(tmp_path) if folder else "digits", 4, image_size=32, seed=0,
                                       augment=False, one_hot=True, **kwargs)
    plain, inverted = load(), load(batch_transform=invert)
    classes = plain.num_classes
    assert seen == [(tf.float32, (None, classes), (2,))]
    for ds in (plain.train, plain.validation, plain.test, inverted.train):
        x, y = next(iter(ds))
        assert y.dtype == tf.float32 and y.shape[1:] == (classes,) and set(np.unique(y.numpy())) == {0.0, 1.0}
    (x0, y0), (x1, y1) = next(iter(plain.train)), next(iter(inverted.train))
    np.testing.assert_array_equal(y0, y1)
    # Normalised after the transform: (1 - u - mean) / std = -(u - mean) / std + (1 - 2 mean) / std.
    mean, std = np.array(plain.mean), np.array(plain.std)
    np.testing.assert_allclose(x1, -x0.numpy() + (1 - 2 * mean) / std, atol=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="mnist"), "Unknown dataset 'mnist'"),
    (dict(dataset="fashion-mnist"), r"Unknown dataset 'fashion-mnist'\. Did you mean 'fashion_mnist'\?"),
    (dict(dataset="CIFAR10"), r"Unknown dataset 'CIFAR10'\. Did you mean 'cifar10'\? Use one of digits, "),
    (dict(batch_size=0), "received batch_size=0"),
    (dict(validation_split=1.0), "received validation_split=1.0"),
    (dict(pad_mode="zeros"), "received pad_mode='zeros'"),
    (dict(test_split=0), "received test_split=0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kdata.load(**kwargs)


def test_check_dataset(tmp_path):
    assert kdata.check_dataset("svhn_cropped") == "svhn_cropped" and kdata.check_dataset(tmp_path) == tmp_path
    with pytest.raises(ValueError, match=r"Unknown dataset '.*absent'\. Use one of digits, .* or the path of a folder"):
        kdata.check_dataset(str(tmp_path / "absent"))


def test_empty_folder(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="No images"):
        kdata.load(tmp_path)
