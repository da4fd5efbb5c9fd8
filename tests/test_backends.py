"""The subset of tests that runs under every Keras backend.

CI runs this file under KERAS_BACKEND=tensorflow (the main suite), jax and torch
(`.ci/backends`): every kind of block builds, runs forward and backward, trains a
step and round-trips through `model.save` in safe mode. Under TensorFlow, it also
checks that weights saved under one backend load under the others (run in
subprocesses) with identical outputs.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet

SPECS = {  # and "resnext", the `tiny_resnext` fixture
    "v1": keras_resnet.Spec((1, 1), "bottleneck", width=4, stem="cifar", stem_width=8),  # keras layout: biases
    "v2": keras_resnet.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4, unit="e"),
    "option_a": keras_resnet.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4, shortcut="A"),
    "wide_dropout": keras_resnet.wide_resnet(10, 1, dropout=0.3).replace(blocks=(1, 1)),
    "imagenet_stem": keras_resnet.Spec((1, 1), "basic", width=4, stem_width=4),
    # The refinements' layers: average pools, SE (Multiply, sigmoid), drop path (Dropout with noise_shape).
    "refined": keras_resnet.Spec((1, 1), width=4, stem_width=8, deep_stem=True, stem_pool="conv", avg_down=True,
                                 se_ratio=0.25, drop_path=0.2, layout="torchvision"),
}
MOVED = ("v1", "option_a", "resnext", "refined")  # biases, the custom layers: moved between backends
SHAPE = (16, 16, 3)
X = np.random.default_rng(0).uniform(-1, 1, (2, *SHAPE)).astype("float32")
Y = np.array([1, 3])


@pytest.fixture(scope="module")
def specs(tiny_resnext):
    return {**SPECS, "resnext": tiny_resnext}


def _build(spec, **kwargs):
    return keras_resnet.build(spec, input_shape=SHAPE, classes=10, **kwargs)


def _trained(spec, seed):
    """A tiny model after one SGD step, so that BatchNorm statistics are not their defaults."""
    keras.utils.set_random_seed(seed)
    model = _build(spec)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.train_on_batch(X, Y)
    return model


@pytest.mark.parametrize("kind", [*SPECS, "resnext"])
def test_build_forward_train_save_load(specs, kind, tmp_path):
    keras.utils.set_random_seed(1)
    model = _build(specs[kind], classifier_activation=None)
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    before = [keras.ops.convert_to_numpy(w) for w in kernels]
    y = keras.ops.convert_to_numpy(model(X, training=False))
    assert y.shape == (2, 10) and np.isfinite(y).all()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.train_on_batch(X, Y)
    assert np.isfinite(loss)
    # Gradients reached every convolution and the classifier.
    assert all(not np.array_equal(a, keras.ops.convert_to_numpy(w)) for a, w in zip(before, kernels, strict=True))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(X), model.predict_on_batch(X), rtol=1e-5, atol=1e-6)


def test_named_builders_build_everywhere():
    model = keras_resnet.ResNet20(classes=5)
    assert model.output.shape == (None, 5) and model.count_params() == keras_resnet.complexity("ResNet20", classes=5).params


# Weights across backends -----------------------------------------------------------

_WORKER = """
import json
import sys
import numpy as np
import keras
import keras_resnet
sys.path.insert(0, {tests!r})
from test_backends import X, _build, _trained
for kind, fields in json.loads({specs!r}).items():
    spec = keras_resnet.Spec.from_dict(fields)
    model = _build(spec)
    model.load_weights({tmp!r} + f"/tensorflow_{{kind}}.weights.h5")
    np.save({tmp!r} + f"/loaded_{{kind}}.npy", model.predict_on_batch(X))
    model = _trained(spec, seed=7)
    model.save_weights({tmp!r} + f"/{{keras.backend.backend()}}_{{kind}}.weights.h5")
    np.save({tmp!r} + f"/{{keras.backend.backend()}}_{{kind}}.npy", model.predict_on_batch(X))
"""


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="run once, from the TensorFlow suite")
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_weights_move_between_backends(specs, backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    ours = {kind: _trained(specs[kind], seed=3) for kind in MOVED}
    for kind, model in ours.items():
        model.save_weights(tmp_path / f"tensorflow_{kind}.weights.h5")
    moved = json.dumps({kind: specs[kind].to_dict() for kind in MOVED})
    worker = _WORKER.format(tests=os.path.dirname(__file__), tmp=str(tmp_path), specs=moved)
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=600)
    for kind, model in ours.items():
        # TensorFlow -> backend
        np.testing.assert_allclose(np.load(tmp_path / f"loaded_{kind}.npy"), model.predict_on_batch(X),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{kind}: tensorflow -> {backend}")
        # backend -> TensorFlow
        model.load_weights(tmp_path / f"{backend}_{kind}.weights.h5")
        np.testing.assert_allclose(model.predict_on_batch(X), np.load(tmp_path / f"{backend}_{kind}.npy"),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{kind}: {backend} -> tensorflow")
