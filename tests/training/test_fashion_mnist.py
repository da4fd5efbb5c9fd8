"""Fashion-MNIST: the real files where they are installed, the download path and
every damaged-file error on files the tests write, and the class-balanced subset."""

import gzip
import json
import os
import shutil
import struct

import numpy as np
import pytest

from keras_resnet.cli.main import main
from keras_resnet.training import data as kdata
from keras_resnet.training import sources

FILES = sources.FASHION_MNIST_FILES


@pytest.fixture(scope="module")
def real_dir():
    """Debian's dataset-fashion-mnist. CI installs it (.ci/run), so there a missing
    folder fails the test; elsewhere it is skipped with the reason."""
    folder = sources.FASHION_MNIST_DEBIAN_DIR
    if not all(os.path.exists(os.path.join(folder, n)) for n in FILES):
        message = f"Fashion-MNIST is not installed in {folder} (apt-get install -y dataset-fashion-mnist)"
        if os.environ.get("KERAS_RESNET_CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


def write_idx(path, array, magic=None):
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    header = struct.pack(f">{array.ndim + 1}I", magic, *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_set(folder, label_offset=0):
    """Files of the right format and sizes: blank images, labels cycling 0-9."""
    os.makedirs(folder, exist_ok=True)
    for name, (magic, count, shape) in FILES.items():
        values = np.zeros((count, *shape), np.uint8) if shape else (np.arange(count) % 10 + label_offset)
        write_idx(os.path.join(folder, name), values, magic)


def test_real_files(real_dir):
    d = kdata.load("fashion_mnist", batch_size=1000, seed=0, augment=False)
    assert d.name == "fashion_mnist" and real_dir in d.description and "zero-padded" in d.description
    assert (d.train_size, d.validation_size, d.test_size) == (54_000, 6_000, 10_000)
    assert d.input_shape == (32, 32, 1) and d.num_classes == 10 and d.class_names[0] == "T-shirt/top"
    # The training set's published mean pixel (0.2860 = 72.94/255 over 28x28), diluted by the black 2-pixel border.
    np.testing.assert_allclose(d.mean[0], 72.94 / 255 * 784 / 1024, atol=2e-3)
    x, y = next(iter(d.test))
    black = -d.mean[0] / d.std[0]  # a zero pixel after normalisation
    border = np.concatenate([x[:, :2].numpy().ravel(), x[:, -2:].numpy().ravel(), x[:, :, :2].numpy().ravel()])
    np.testing.assert_allclose(border, black, atol=1e-6)
    assert not np.allclose(x[:, 2:-2, 2:-2], black)
    test_labels = np.concatenate([labels for _, labels in d.test.as_numpy_iterator()])
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)  # the published balance


def test_real_files_are_flipped_and_cropped(real_dir):
    from test_data import is_window  # the same check as for CIFAR

    plain, augmented = (kdata.load("fashion_mnist", 64, seed=2, augment=a, subset=640) for a in (False, True))
    x0, x1 = next(iter(plain.train))[0].numpy(), next(iter(augmented.train))[0].numpy()
    assert all(is_window(a, o, flips=True) for a, o in zip(x1, x0))
    assert any(not is_window(a, o, flips=False) for a, o in zip(x1, x0))  # clothes may be mirrored


def test_download_as_keras_does(tmp_path, monkeypatch):
    """No local copy: the files come from keras.utils.get_file, from Keras' URLs into its cache."""
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    server = tmp_path / "server"
    write_set(server)
    calls = []

    def get_file(fname, origin, cache_subdir):
        calls.append((fname, origin, cache_subdir))
        target = tmp_path / "keras" / cache_subdir / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(server / fname, target)
        return str(target)

    monkeypatch.setattr(sources.keras.utils, "get_file", get_file)
    d = kdata.load("fashion_mnist", 5000, augment=False)
    assert [c[0] for c in calls] == list(FILES)
    assert all(o == sources.FASHION_MNIST_URL + f and s == os.path.join("datasets", "fashion-mnist") for f, o, s in calls)
    assert (d.train_size + d.validation_size, d.test_size) == (60_000, 10_000)
    # Now cached: the next load reads Keras' cache and downloads nothing.
    calls.clear()
    kdata.load("fashion_mnist", 5000, augment=False)
    assert calls == []


def test_data_dir(tmp_path):
    write_set(tmp_path)
    d = kdata.load("fashion_mnist", 5000, augment=False, data_dir=tmp_path)
    assert str(tmp_path) in d.description and d.test_size == 10_000


def test_data_dir_without_the_files(tmp_path):
    write_set(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match=rf"data_dir '{tmp_path}' .* missing t10k-labels-idx1-ubyte.gz") as e:
        kdata.load("fashion_mnist", data_dir=tmp_path)
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in str(e.value)  # what it looked for


@pytest.mark.parametrize("damage, message", [
    ("truncate", "is not a readable gzip file"),
    ("wrong_count", r"expected an IDX file of 60000 label entries .* found header \(2049, 59999\)"),
    ("wrong_magic", r"\(magic 2049\), found header \(2051, 60000\)"),
    ("short", r"expected an IDX file of 60000 label entries"),
    ("label_10", "labels must be 0-9; found 10"),
])
def test_damaged_files_are_named(tmp_path, damage, message):
    write_set(tmp_path, label_offset=1 if damage == "label_10" else 0)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    labels = np.arange(60_000) % 10
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:30])
    elif damage == "wrong_count":
        write_idx(path, labels[:59_999])
    elif damage == "wrong_magic":
        write_idx(path, labels, magic=2051)
    elif damage == "short":
        with gzip.open(path, "wb") as f:
            f.write(struct.pack(">2I", 2049, 60_000) + bytes(100))
    with pytest.raises(ValueError, match=message) as e:
        kdata.load("fashion_mnist", data_dir=tmp_path)
    assert str(path) in str(e.value)


def test_subset_is_fixed_and_class_balanced():
    d = kdata.load("digits", 64, seed=0, subset=500, validation_split=0, augment=False)
    assert d.train_size == 500 and "class-balanced subset of 500" in d.description
    labels = np.concatenate([y for _, y in d.train.as_numpy_iterator()])
    assert len(labels) == 500 and np.bincount(labels).tolist() == [50] * 10
    other = kdata.load("digits", 64, seed=7, subset=500, validation_split=0, augment=False)
    images = lambda data: np.sort(np.concatenate([x for x, _ in data.train.as_numpy_iterator()]).reshape(500, -1), 0)
    np.testing.assert_array_equal(images(d), images(other))  # the same examples, whatever the seed


def test_balanced_subset_gives_a_small_class_all_it_has():
    labels = np.array([0] * 3 + [1] * 50 + [2] * 50)
    keep = sources.balanced_subset(labels, 33)
    assert np.bincount(labels[keep]).tolist() == [3, 15, 15] and list(keep) == sorted(set(keep))
    assert np.bincount(labels[sources.balanced_subset(labels, 103)]).tolist() == [3, 50, 50]


@pytest.mark.parametrize("subset, message", [
    (0, "received subset=0"), (-5, "received subset=-5"), (2.5, "received subset=2.5"), ("100", "received subset='100'"),
    (True, "received subset=True"), (10**6, "at most the 1438 training examples of digits; received subset=1000000"),
])
def test_bad_subset(subset, message):
    with pytest.raises(ValueError, match=message):
        kdata.load("digits", subset=subset)


@pytest.mark.slow
def test_training_command_on_a_subset(real_dir, tmp_path):
    from keras_resnet.training import train

    out = tmp_path / "run"
    args = ["train", "--model", "ResNet20", "--set", "blocks=(1,1,1)", "--dataset", "fashion_mnist", "--subset", "1280",
            "--epochs", "3", "--batch-size", "64", "--seed", "0", "--verbose", "0", "--output-dir", str(out)]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"] == "fashion_mnist" and run["subset"] == 1280
    rows = train.read_log(out)
    assert len(rows) == 3 and all(np.isfinite(r["loss"]) for r in rows)
    assert json.loads((out / "evaluation.json").read_text())["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
