"""Weight files (keras_resnet/weight_files.py): weights="imagenet" as in keras.applications
(offline, with weights files written here), the preprocessing that suits each network's
weights, and loading a weights file only where it fits."""

import hashlib

import h5py
import keras
import numpy as np
import pytest
from keras.src.applications import resnet as keras_app_resnet  # the oracle: its URL and hash table
from keras.src.backend import config as keras_config
from keras.src.legacy.saving import legacy_h5_format

import keras_resnet
from keras_resnet import weight_files
from keras_resnet.transforms import with_stock_layers

TINY = keras_resnet.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras cache ($KERAS_HOME) and no network: downloads come from
    `tmp_path / "origin"` through file:// URLs."""
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))  # what $KERAS_HOME sets
    monkeypatch.setattr(weight_files, "KERAS_WEIGHTS_URL", (tmp_path / "origin").as_uri() + "/")
    (tmp_path / "origin").mkdir()
    (tmp_path / "keras").mkdir()  # get_file falls back to /tmp/.keras when the folder is missing
    return tmp_path


def randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        low = 0.5 if "variance" in v.path else -0.5  # moving variances stay positive
        v.assign(rng.uniform(low, low + 1, v.shape).astype("float32"))


def assert_loaded(ours, reference, x):
    """`ours` holds `reference`'s weights, exactly; on Keras' own layers it
    computes `reference`'s outputs bit for bit, and on ours to float rounding
    (the fused batch normalization sums in another order; random weights make
    activations of ~1e8, so the tolerance scales with them)."""
    for a, b in zip(ours.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=a.path)
    expected = np.asarray(reference(x))
    np.testing.assert_array_equal(with_stock_layers(ours)(x), expected)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_urls_and_hashes_are_keras_applications():
    assert weight_files.KERAS_WEIGHTS_URL == keras_app_resnet.BASE_WEIGHTS_PATH
    assert {k.lower(): v for k, v in weight_files.KERAS_WEIGHTS.items()} == {
        k: v for k, v in keras_app_resnet.WEIGHTS_HASHES.items() if not k.startswith("resnext")}
    assert weight_files.keras_weights_file("ResNet152V2", include_top=False) == \
        "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.mark.parametrize("name", ["ResNet152", "ResNet152V2"])
def test_weight_order_is_keras_applications(name):
    """keras.applications' .h5 files load by the order of the layers with weights:
    ours must have the same layers, in the same order, with the same shapes
    (ResNet50 and 50V2 are loaded below; 101 differs from 152 in block counts only)."""
    def weighted(model):
        return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers if layer.weights]

    kwargs = dict(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert weighted(getattr(keras_resnet, name)(**kwargs)) == weighted(getattr(keras.applications, name)(**kwargs))


@pytest.mark.parametrize("name, include_top", [("ResNet50", True), ("ResNet50V2", False)])
def test_imagenet_file_in_the_keras_cache_gives_keras_applications_outputs(cache, monkeypatch, name, include_top):
    """A randomised keras.applications model's weights, saved as keras.applications
    publishes them (legacy HDF5) in the Keras cache, load into both libraries."""
    kwargs = dict(include_top=include_top, input_shape=None if include_top else (64, 64, 3))
    reference = getattr(keras.applications, name)(weights=None, **kwargs)
    randomise(reference)
    path = cache / "keras" / "models" / weight_files.keras_weights_file(name, include_top)
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    monkeypatch.setitem(weight_files.KERAS_WEIGHTS, name, (md5(path),) * 2)
    monkeypatch.setitem(keras_app_resnet.WEIGHTS_HASHES, name.lower(), (md5(path),) * 2)

    ours = getattr(keras_resnet, name)(**kwargs)  # weights="imagenet" by default
    theirs = getattr(keras.applications, name)(**kwargs)
    x = np.random.default_rng(1).uniform(-1, 1, (1, *reference.input_shape[1:])).astype("float32")
    expected = reference(x)
    assert_loaded(ours, reference, x)
    np.testing.assert_array_equal(theirs(x), expected)
    assert not list((cache / "origin").iterdir())  # nothing was downloaded


def test_weights_path_of_either_format(tmp_path):
    reference = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    randomise(reference)
    legacy, current = tmp_path / "legacy.h5", tmp_path / "current.weights.h5"
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    reference.save_weights(current)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    for path in (legacy, current):
        ours = keras_resnet.ResNet50V2(weights=str(path), include_top=False, input_shape=(32, 32, 3))
        assert_loaded(ours, reference, x)
        with pytest.raises(ValueError, match=rf"The weights file '{path}' does not fit model 'resnet50'"):
            keras_resnet.ResNet50(weights=path, include_top=False, input_shape=(32, 32, 3))


def test_weights_that_do_not_fit_name_the_layer(tmp_path):
    path, spec = tmp_path / "w.weights.h5", TINY.replace(layout="torchvision")  # no conv biases
    keras_resnet.build(spec, input_shape=(16, 16, 3)).save_weights(path)
    with pytest.raises(ValueError, match=r"does not fit model 'resnet': layer 'conv2_block1_1_conv' expects weights "
                                         r"of shapes \[\(3, 3, 4, 8\)\], the file has \[\(3, 3, 4, 4\)\]"):
        keras_resnet.build(spec.replace(width=8), input_shape=(16, 16, 3), weights=path)
    with pytest.raises(ValueError, match=r"layer 'conv4_block1_1_conv' expects .* the file has \[\]"):
        keras_resnet.build(spec.replace(blocks=(1, 1, 1)), input_shape=(16, 16, 3), weights=path)
    with pytest.raises(ValueError, match=r"the file has weights for \d+ more layers than the model"):
        keras_resnet.build(spec.replace(blocks=(1,)), input_shape=(16, 16, 3), weights=path)


def test_files_that_are_not_weights_files(tmp_path):
    (tmp_path / "empty.weights.h5").write_bytes(b"")
    (tmp_path / "text.keras").write_text("not a zip")
    (tmp_path / "w.npz").write_bytes(b"PK")
    for name, message in [("empty.weights.h5", r"is not a whole \.h5 file \(empty, truncated or another format\)"),
                          ("text.keras", r"is not a whole \.keras file"),
                          ("w.npz", r"is not a \.weights\.h5, \.h5 or \.keras file"),
                          ("", r"must be None, 'imagenet' or the path of an existing weights file; .*\(a folder\)")]:
        with pytest.raises(ValueError, match=message):
            weight_files.load_weights(keras_resnet.build(TINY, input_shape=(16, 16, 3)), tmp_path / name)


def test_corrupt_download_fails_and_leaves_no_file(cache, monkeypatch):
    name = weight_files.keras_weights_file("ResNet50")
    good = b"the real weights"
    (cache / "origin" / name).write_bytes(good[:7])  # a truncated download
    monkeypatch.setitem(weight_files.KERAS_WEIGHTS, "ResNet50", (hashlib.md5(good).hexdigest(), "0" * 32))
    with pytest.raises(ValueError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels\.h5 is corrupt or truncated"):
        weight_files.imagenet(keras_resnet.SPECS["ResNet50"])
    assert not (cache / "keras" / "models" / name).exists()

    # A broken file left in the cache (keras.applications leaves one) is fetched again.
    (cache / "keras" / "models" / name).write_bytes(good[:7])
    (cache / "origin" / name).write_bytes(good)
    path = weight_files.imagenet(keras_resnet.SPECS["ResNet50"])
    assert path == str(cache / "keras" / "models" / name)
    assert (cache / "keras" / "models" / name).read_bytes() == good


def test_offline_download_error_says_where_to_put_the_file(cache):
    with pytest.raises(OSError, match=r"resnet101v2_weights_tf_dim_ordering_tf_kernels_notop\.h5.*Offline.*models"):
        keras_resnet.ResNet101V2(include_top=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="ResNet50", classes=10), r"include_top=True has 1000 classes; received classes=10"),
    (dict(model="ResNet18"), r"only for the keras.applications networks ResNet50, ResNet101, ResNet152, "
                             r"ResNet50V2, ResNet101V2, ResNet152V2 .* received it for ResNet18\. Other pretrained "
                             r"networks come from torchvision or timm.*from_torchvision.*keras-resnet convert"),
    (dict(model="ResNet50", layout="torchvision"), r"received it for Spec\(.*layout='torchvision'.*\)"),
    (dict(model="WRN28_10"), r"received it for WRN28_10"),
    (dict(model="ResNet50", input_shape=(224, 224, 1)), r"3 input channels \(RGB\); received 1"),
    (dict(model="ResNet152", classifier_activation="relu"), r"classifier_activation must be 'softmax' or None"),
])
def test_imagenet_errors(cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_resnet.build(weights="imagenet", **kwargs)


def test_preprocessing_matches_the_weights():
    assert [weight_files.preprocessing_mode(m) for m in ("ResNet50", "ResNet152V2", "ResNeXt50_32x4d")] == \
        ["caffe", "tf", "torch"]
    assert weight_files.preprocessing_mode("ResNet50", layout="torchvision") == "torch"
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(keras_resnet.preprocess_input(x.copy()), keras.applications.resnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(keras_resnet.ResNet101.preprocess_input(x.copy()),
                               keras.applications.resnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(keras_resnet.ResNet50V2.preprocess_input(x.copy()),
                               keras.applications.resnet_v2.preprocess_input(x.copy()))
    torchvision = (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  # transforms.Normalize
    np.testing.assert_allclose(keras_resnet.WideResNet50_2.preprocess_input(x.copy()), torchvision, atol=1e-6)
    with pytest.raises(ValueError, match=r"Unknown arguments \['depth'\]"):
        weight_files.preprocessing_mode("ResNet50", depth=50)
