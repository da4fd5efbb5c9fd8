"""weights="imagenet" as in keras.applications (offline, with weights files
written here), preprocessing, and fine-tuning with a frozen backbone."""

import hashlib
import inspect

import h5py
import keras
import numpy as np
import pytest
from keras.src.applications import resnet as keras_app_resnet  # the oracle: its URL and hash table
from keras.src.backend import config as keras_config
from keras.src.legacy.saving import legacy_h5_format

import keras_resnet
from keras_resnet import pretrained, weights
from keras_resnet.layers import with_stock_layers

TINY = keras_resnet.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras cache ($KERAS_HOME) and no network: downloads come from
    `tmp_path / "origin"` through file:// URLs."""
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))  # what $KERAS_HOME sets
    monkeypatch.setattr(pretrained, "KERAS_WEIGHTS_URL", (tmp_path / "origin").as_uri() + "/")
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
    assert pretrained.KERAS_WEIGHTS_URL == keras_app_resnet.BASE_WEIGHTS_PATH
    assert {k.lower(): v for k, v in weights.KERAS_WEIGHTS.items()} == {
        k: v for k, v in keras_app_resnet.WEIGHTS_HASHES.items() if not k.startswith("resnext")}
    assert weights.keras_weights_file("ResNet152V2", include_top=False) == \
        "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5"


def test_builders_default_to_imagenet_as_keras_applications():
    for name, builder in keras_resnet.BUILDERS.items():
        default = inspect.signature(builder).parameters["weights"].default
        assert default == ("imagenet" if name in weights.KERAS_WEIGHTS else None), name


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
    path = cache / "keras" / "models" / weights.keras_weights_file(name, include_top)
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    monkeypatch.setitem(weights.KERAS_WEIGHTS, name, (md5(path),) * 2)
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


def test_corrupt_download_fails_and_leaves_no_file(cache, monkeypatch):
    name = weights.keras_weights_file("ResNet50")
    good = b"the real weights"
    (cache / "origin" / name).write_bytes(good[:7])  # a truncated download
    monkeypatch.setitem(weights.KERAS_WEIGHTS, "ResNet50", (hashlib.md5(good).hexdigest(), "0" * 32))
    with pytest.raises(ValueError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels\.h5 is corrupt or truncated"):
        weights.imagenet(keras_resnet.SPECS["ResNet50"])
    assert not (cache / "keras" / "models" / name).exists()

    # A broken file left in the cache (keras.applications leaves one) is fetched again.
    (cache / "keras" / "models" / name).write_bytes(good[:7])
    (cache / "origin" / name).write_bytes(good)
    path = weights.imagenet(keras_resnet.SPECS["ResNet50"])
    assert path == str(cache / "keras" / "models" / name)
    assert (cache / "keras" / "models" / name).read_bytes() == good


def test_offline_download_error_says_where_to_put_the_file(cache):
    with pytest.raises(OSError, match=r"resnet101v2_weights_tf_dim_ordering_tf_kernels_notop\.h5.*Offline.*models"):
        keras_resnet.ResNet101V2(include_top=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="ResNet50", classes=10), r"include_top=True has 1000 classes; received classes=10"),
    (dict(model="ResNet18"), r"only for the keras.applications networks ResNet50, ResNet101, ResNet152, "
                             r"ResNet50V2, ResNet101V2, ResNet152V2 .* received it for ResNet18\. .*resnext50_32x4d"
                             r".*from_torchvision.*python -m keras_resnet.tools.convert"),
    (dict(model="ResNet50", layout="torchvision"), r"received it for Spec\(.*layout='torchvision'.*\)"),
    (dict(model="WRN28_10"), r"received it for WRN28_10"),
    (dict(model="ResNet50", input_shape=(224, 224, 1)), r"3 input channels \(RGB\); received 1"),
    (dict(model="ResNet152", classifier_activation="relu"), r"classifier_activation must be 'softmax' or None"),
])
def test_imagenet_errors(cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_resnet.build(weights="imagenet", **kwargs)


def test_preprocessing_matches_the_weights():
    assert [weights.preprocessing_mode(m) for m in ("ResNet50", "ResNet152V2", "ResNeXt50_32x4d")] == \
        ["caffe", "tf", "torch"]
    assert weights.preprocessing_mode("ResNet50", layout="torchvision") == "torch"
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(keras_resnet.ResNet101.preprocess_input(x.copy()),
                               keras.applications.resnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(keras_resnet.ResNet50V2.preprocess_input(x.copy()),
                               keras.applications.resnet_v2.preprocess_input(x.copy()))
    torchvision = (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  # transforms.Normalize
    np.testing.assert_allclose(keras_resnet.WideResNet50_2.preprocess_input(x.copy()), torchvision, atol=1e-6)


def test_frozen_backbone_keeps_bn_statistics_and_trains_the_head():
    """Keras 3 `trainable=False` semantics: a frozen backbone's BatchNorm runs in
    inference mode, so neither its weights nor its moving statistics change while
    the new head trains; `unfreeze` then trains the backbone from a stage on,
    BatchNorm still frozen."""
    backbone = keras_resnet.build(TINY, include_top=False, pooling="avg", input_shape=(16, 16, 3))
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(backbone(inputs)))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5, (16, 16, 16, 3)).astype("float32"), rng.integers(0, 3, 16)

    def fit():
        before = {v.path: v.numpy() for v in model.weights}
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        return {v.path for v in model.weights if not np.array_equal(before[v.path], v.numpy())}

    def layers(paths):
        return {p.split("/")[0] for p in paths}

    backbone.trainable = False
    assert fit() == {"head/kernel", "head/bias"}
    assert weights.unfreeze(backbone, "conv3") is backbone
    assert layers(fit()) == {"head", "conv3_block1_0_conv", "conv3_block1_1_conv", "conv3_block1_2_conv"}
    weights.unfreeze(backbone)
    changed = fit()
    assert {"conv1_conv/kernel", "conv2_block1_1_conv/kernel"} <= changed
    assert not [p for p in changed if "_bn/" in p]
    with pytest.raises(ValueError, match=r"no layer named 'conv9'.*\['conv1', 'conv2', 'conv3'\]"):
        weights.unfreeze(backbone, "conv9")
