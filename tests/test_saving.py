"""Saved models are plain Keras models: a `.keras` file of any network of the table (and
of a plain and a fully refined one) loads in safe mode with the same outputs, also where
keras_resnet cannot be imported; where keras_resnet is imported it loads with the fast
kernels (keras_resnet/layers.py). Its JSON config and weights files round-trip too."""

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
from keras_resnet.transforms import STOCK_LAYERS, with_stock_layers

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


NETWORKS = {
    **{name: tiny(name) for name in kr.SPECS},
    "plain": tiny("ResNet20").replace(shortcut="none"),
    "refined": kr.Spec((1, 1), width=4, stem_width=8, layout="torchvision", deep_stem=True, stem_pool="conv",
                       avg_down=True, se_ratio=0.25, drop_path=0.3, zero_init_last=True, dropout=0.1),
}


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


@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_round_trips(name, tmp_path):
    spec = NETWORKS[name]
    model = randomized(kr.build(spec, input_shape=(32, 32, 3), name=name.lower()))
    y = model.predict_on_batch(X)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)
    np.testing.assert_array_equal(loaded.predict_on_batch(X), y)
    rebuilt = keras.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict_on_batch(X), y)
    model.save_weights(tmp_path / "w.weights.h5")
    again = kr.build(spec, input_shape=(32, 32, 3), weights=tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict_on_batch(X), y)


def test_every_network_loads_where_keras_resnet_is_not_installed(tmp_path):
    """v1, v2, ResNeXt (grouped), Wide ResNet, CIFAR option A and B, the refinements, a
    plain network: each saved here, loaded in a child that cannot import keras_resnet."""
    expected = {}
    for name, spec in NETWORKS.items():
        model = randomized(kr.build(spec, input_shape=(32, 32, 3), name=name.lower()))
        model.save(tmp_path / f"{name}.keras")
        # The child runs Keras' own layers: the same numbers as ours on Keras' layers, to the bit.
        expected[name] = with_stock_layers(model).predict_on_batch(X)
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
    assert sorted(p.name for p in tmp_path.glob("*.out.npy")) == sorted(f"{name}.out.npy" for name in NETWORKS)
    for name, y in expected.items():
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.out.npy"), y, err_msg=name)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fast kernels are TensorFlow's")
def test_loaded_with_keras_resnet_imported_runs_the_fast_kernels(tmp_path, monkeypatch):
    model = kr.build(tiny("ResNeXt50_32x4d"), input_shape=(32, 32, 3))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    fast = [layer for layer in loaded.layers if type(layer) in STOCK_LAYERS]
    assert {type(layer) for layer in fast} == set(STOCK_LAYERS)
    assert [layer.name for layer in fast] == [layer.name for layer in model.layers if type(layer) in STOCK_LAYERS]
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
