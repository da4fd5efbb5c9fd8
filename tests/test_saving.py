"""Saved models are plain Keras models (issue 15): a `.keras` file from any table row
loads where keras_resnet cannot be imported, in safe mode, with the same outputs;
where keras_resnet is imported it loads with the fast kernels; files of the previous
release, which named keras_resnet's classes, still load."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet import layers as kr_layers
from keras_resnet import models

X = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")

# Prepended to a child's code: importing keras_resnet fails, as where it is not installed.
BLOCK_KERAS_RESNET = """
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "keras_resnet":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, NotInstalled())
"""


def tiny(name):
    """Every family at toy size (one block per stage, narrow), dropout and groups kept."""
    spec = kr.SPECS[name]
    small = dict(blocks=(1,) * len(spec.blocks), width=4, stem_width=4)
    if spec.groups > 1:
        small.update(groups=2, group_width=2)
    return spec.replace(**small)


def randomized(model, seed=0):
    """`model` with random weights and BatchNorm statistics, so that outputs tell layers apart."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(0, 0.3, w.shape)
                       for w in model.weights])
    return model


def layer_classes(path):
    """(module, class_name, registered_name) of every layer a `.keras` file names."""
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    return {(layer["module"], layer["class_name"], layer["registered_name"]) for layer in config["config"]["layers"]}


def run_child(code, *args):
    result = subprocess.run([sys.executable, "-c", BLOCK_KERAS_RESNET + code, *map(str, args)], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_row_loads_where_keras_resnet_is_not_installed(tmp_path):
    """v1, v2, ResNeXt (grouped), Wide ResNet (dropout), CIFAR option A and B: every
    table row saved here, loaded in a child that cannot import keras_resnet."""
    expected = {}
    for name in kr.SPECS:
        model = randomized(kr.build(tiny(name), input_shape=(32, 32, 3), name=name.lower()))
        model.save(tmp_path / f"{name}.keras")
        # The child runs Keras' own layers: the same numbers as ours on Keras' layers, to the bit.
        expected[name] = kr_layers.with_stock_layers(model).predict_on_batch(X)
        np.testing.assert_allclose(model.predict_on_batch(X), expected[name], rtol=1e-4, atol=1e-4)
        for module, class_name, registered_name in layer_classes(tmp_path / f"{name}.keras"):
            assert module == "keras.layers" and registered_name in (None, class_name), (name, class_name)
    np.save(tmp_path / "x.npy", X)
    run_child("""
import glob, os, numpy as np, keras
folder = sys.argv[1]
x = np.load(os.path.join(folder, "x.npy"))
for path in glob.glob(os.path.join(folder, "*.keras")):
    model = keras.saving.load_model(path, safe_mode=True)
    assert all(type(layer).__module__.startswith("keras.src.") for layer in model.layers), path
    np.save(path[:-len(".keras")] + ".out.npy", model.predict_on_batch(x))
assert not any(name.startswith("keras_resnet") for name in sys.modules)
""", tmp_path)
    for name, y in expected.items():
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.out.npy"), y, err_msg=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fast kernels are TensorFlow's")
def test_loaded_with_keras_resnet_imported_runs_the_fast_kernels(tmp_path, monkeypatch):
    model = kr.build(tiny("ResNeXt50_32x4d"), input_shape=(32, 32, 3))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    fast = [layer for layer in loaded.layers if type(layer) in kr_layers.STOCK_LAYERS]
    assert {type(layer) for layer in fast} == set(kr_layers.STOCK_LAYERS)
    assert [layer.name for layer in fast] == [layer.name for layer in model.layers if type(layer) in kr_layers.STOCK_LAYERS]
    calls = []
    for kernel in ("_tf_grouped_conv", "_tf_fused_batch_norm"):
        original = getattr(kr_layers, kernel)
        monkeypatch.setattr(kr_layers, kernel, lambda *a, k=kernel, f=original: calls.append(k) or f(*a))
    np.testing.assert_allclose(loaded.predict_on_batch(X), model.predict_on_batch(X), rtol=1e-6, atol=1e-6)
    assert {"_tf_grouped_conv", "_tf_fused_batch_norm"} <= set(calls)


def test_keras_own_saved_layers_stay_keras_layers(tmp_path):
    """Only keras_resnet's models load as its layers: Keras writes no registered name for its own."""
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, groups=1)(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]


def old_release_file(path, spec):
    """A `.keras` file as the previous release saved it: its own `ZeroPadChannels`, and
    Conv2D and BatchNormalization registered as `keras_resnet>Conv2D`, ..."""

    def pad_channels(self, x, n, name):
        return kr_layers.ZeroPadChannels(n, name=name, dtype=self.dtype)(x)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models._Layers, "pad_channels", pad_channels)
        model = randomized(kr.build(spec, input_shape=(32, 32, 3)))
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["registered_name"] in ("Conv2D", "BatchNormalization"):
            layer.update(module="keras_resnet.layers", registered_name=f"keras_resnet>{layer['class_name']}")
    files["config.json"] = json.dumps(config)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return model


def test_files_of_the_previous_release_still_load(tmp_path):
    spec = tiny("ResNet20").replace(groups=2, group_width=2, block="bottleneck")  # option A, grouped convs
    old = old_release_file(tmp_path / "old.keras", spec)
    assert ("keras_resnet.layers", "ZeroPadChannels", "keras_resnet>ZeroPadChannels") in layer_classes(tmp_path / "old.keras")
    assert ("keras_resnet.layers", "Conv2D", "keras_resnet>Conv2D") in layer_classes(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras", safe_mode=True)
    assert {type(layer) for layer in loaded.layers} >= {kr_layers.Conv2D, kr_layers.BatchNormalization}
    np.testing.assert_array_equal(loaded.predict_on_batch(X), old.predict_on_batch(X))
    # Its weights file loads into today's model (no ZeroPadChannels, the same weights).
    old.save_weights(tmp_path / "old.weights.h5")
    new = kr.build(spec, input_shape=(32, 32, 3), weights=tmp_path / "old.weights.h5")
    np.testing.assert_array_equal(new.predict_on_batch(X), old.predict_on_batch(X))
