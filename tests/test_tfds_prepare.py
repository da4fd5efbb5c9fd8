"""tensorflow-datasets' real preparation path, offline: only the download itself is replaced.

`tfds.testing.mock_data` (used by the other data tests) never reaches
`download_and_prepare`, which is where a fresh install failed (tensorflow-datasets'
file utilities import `importlib_resources` without declaring it). Here the test writes
CIFAR-10's own archive (`cifar-10-binary.tar.gz`: `cifar-10-batches-bin/` with
`data_batch_1..5.bin`, `test_batch.bin` of 1 label byte + 3072 pixel bytes per image,
and `batches.meta.txt`), hands it to tfds in place of the download, and lets tfds
extract it, generate, shuffle and write its record files, then reads them back through
`keras_resnet.training.data.load`.
"""

import io
import tarfile

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

import promise  # noqa: E402 - tensorflow-datasets' own dependency, as its download manager uses it
from etils import epath  # noqa: E402
from tensorflow_datasets.core import download  # noqa: E402

from keras_resnet.training import data  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_FILE = 6  # images in each of the six batch files


def _batch(rng, count):
    """`count` CIFAR-10 binary records and their labels."""
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    pixels = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    return np.concatenate([labels[:, None], pixels], axis=1).tobytes(), labels


def write_cifar10_archive(path):
    rng = np.random.default_rng(0)
    files = {"batches.meta.txt": "\n".join(CLASSES).encode() + b"\n"}
    labels = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        files[name], labels[name] = _batch(rng, PER_FILE)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return labels


def test_cifar10_download_and_prepare_offline(tmp_path, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    labels = write_cifar10_archive(archive)
    served = []

    def serve_archive(self, resource):  # in place of the HTTP download and its cache
        served.append(resource.url if hasattr(resource, "url") else resource)
        return promise.Promise.resolve(epath.Path(archive))

    monkeypatch.setattr(download.DownloadManager, "_download_or_get_cache", serve_archive)
    data_dir = tmp_path / "tensorflow_datasets"
    builder = tfds.builder("cifar10", data_dir=str(data_dir))
    builder.download_and_prepare()  # real extraction, example generation and record writing
    assert len(served) == 1 and "cifar-10-binary.tar.gz" in str(served[0])
    assert builder.info.splits["train"].num_examples == 5 * PER_FILE
    assert builder.info.splits["test"].num_examples == PER_FILE
    assert builder.info.features["label"].names == CLASSES
    test = list(tfds.as_numpy(builder.as_dataset(split="test", as_supervised=True, shuffle_files=False)))
    assert sorted(int(y) for _, y in test) == sorted(labels["test_batch.bin"].tolist())
    assert all(x.shape == (32, 32, 3) and x.dtype == np.uint8 for x, _ in test)

    # The project's loader reads the prepared files (no second download).
    loaded = data.load("cifar10", batch_size=4, data_dir=str(data_dir), validation_split=0, seed=0)
    assert (loaded.train_size, loaded.test_size, loaded.num_classes) == (5 * PER_FILE, PER_FILE, 10)
    images, batch_labels = next(iter(loaded.test))
    assert images.shape == (4, 32, 32, 3) and len(served) == 1
