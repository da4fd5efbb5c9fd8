"""tensorflow-datasets on disk, offline: its real preparation path, with only the download
itself replaced, and the one error that says which files go where when a named data_dir
lacks them, decided before any download starts.

`tfds.testing.mock_data` (used by the other data tests) never reaches `download_and_prepare`.
Here the test writes CIFAR-10's own archive (`cifar-10-binary.tar.gz`: `cifar-10-batches-bin/`
with `data_batch_1..5.bin`, `test_batch.bin` of 1 label byte + 3072 pixel bytes per image,
and `batches.meta.txt`), hands it to tfds in place of the download, and lets tfds extract it,
generate, shuffle and write its record files, then reads them back through
`keras_resnet.training.data.load`.
"""
import io
import re
import socket
import tarfile

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

import promise  # noqa: E402 - tensorflow-datasets' own dependency, as its download manager uses it
from etils import epath  # noqa: E402
from tensorflow_datasets.core import download  # noqa: E402

from keras_resnet.training import data, sources  # noqa: E402
from keras_resnet.training.sources import check_tfds_files  # noqa: E402

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


class DownloadStarted(Exception):
    """Raised where tensorflow-datasets would start a download (the tests have no network)."""


@pytest.fixture
def no_download(monkeypatch):
    """No download starts, and no download host answers (as on a machine that is offline)."""
    def refuse(self, resource):
        raise DownloadStarted(resource.url)

    monkeypatch.setattr(download.DownloadManager, "_download", refuse)
    monkeypatch.setattr(sources, "reachable", lambda url: False)


def test_reachable_tries_the_host():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert sources.reachable(f"http://127.0.0.1:{port}/file.tar.gz")
    assert not sources.reachable(f"http://127.0.0.1:{port}/file.tar.gz", timeout=1)  # nothing listens now


@pytest.mark.parametrize("name, version, files", [
    ("cifar10", "3.0.2", ["cifar-10-binary.tar.gz (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)"]),
    ("cifar100", "3.0.2", ["cifar-100-binary.tar.gz"]),
    ("svhn_cropped", "3.1.0", ["extra_32x32.mat", "test_32x32.mat", "train_32x32.mat (http://ufldl.stanford.edu/"]),
])
def test_an_empty_data_dir_says_which_files_go_where(tmp_path, no_download, name, version, files):
    with pytest.raises(ValueError) as e:
        data.load(name, data_dir=tmp_path)
    message = str(e.value)
    assert message.startswith(f"tensorflow-datasets' {name} is not in data_dir '{tmp_path}': it needs its prepared "
                              f"files in {tmp_path / name / version}/, or the files tensorflow-datasets downloads")
    assert f"in '{tmp_path / 'downloads' / 'manual'}': missing " in message and all(f in message for f in files)
    assert "and their host does not answer (offline?)" in message
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing half-downloaded


def test_imagenet_names_its_manual_archives(tmp_path, no_download):
    with pytest.raises(ValueError, match=rf"in manual_dir '{re.escape(str(tmp_path))}/downloads/manual', which lacks "
                                         r"ILSVRC2012_img_train\.tar, ILSVRC2012_img_val\.tar$"):
        data.load("imagenet2012", data_dir=tmp_path)
    manual = tmp_path / "by_hand"
    manual.mkdir()
    (manual / "ILSVRC2012_img_train.tar").write_bytes(b"")
    with pytest.raises(ValueError, match=rf"image-net\.org/download-images\) in manual_dir '{re.escape(str(manual))}', which lacks "
                                         r"ILSVRC2012_img_val\.tar$"):
        data.load("imagenet2012", data_dir=tmp_path / "tfds", manual_dir=manual)


def test_files_in_the_manual_folder_are_prepared_without_a_download(tmp_path, no_download):
    """tensorflow-datasets takes the file from `downloads/manual` and checks it against the checksum
    it knows (this one is not CIFAR-10's): no download is tried."""
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    write_cifar10_archive(manual / "cifar-10-binary.tar.gz")
    check_tfds_files("cifar10", tmp_path)
    with pytest.raises(download.download_manager.NonMatchingChecksumError, match="cifar-10-binary.tar.gz"):
        data.load("cifar10", data_dir=tmp_path)


def test_an_earlier_download_in_the_cache_is_enough(tmp_path):
    from tensorflow_datasets.core.download import resource

    url, info = next(iter(tfds.builder("cifar10").url_infos.items()))
    cached = tmp_path / "downloads" / "cifar10" / resource.get_dl_fname(url, info.checksum)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"archive")
    with pytest.raises(ValueError, match="missing cifar-10-binary.tar.gz"):  # tfds needs its .INFO beside it
        check_tfds_files("cifar10", tmp_path)
    resource.get_info_path(epath.Path(cached)).write_text("{}")
    check_tfds_files("cifar10", tmp_path)


def test_tensorflow_datasets_own_folder_still_downloads(tmp_path, monkeypatch, no_download):
    """Without data_dir, or given tensorflow-datasets' own folder, a missing set is downloaded;
    into any other folder, where the download host answers."""
    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path / "own"))
    for data_dir in (None, tmp_path / "own"):
        with pytest.raises(DownloadStarted, match="cifar-10-binary.tar.gz"):
            data.load("cifar10", data_dir=data_dir)
    monkeypatch.setattr(sources, "reachable", lambda url: True)  # online
    with pytest.raises(DownloadStarted, match="cifar-10-binary.tar.gz"):
        data.load("cifar10", data_dir=tmp_path / "elsewhere")
