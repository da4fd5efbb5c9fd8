"""The named builders (keras_resnet/models.py): keras.applications parity, every table row
built as counted, its defaults, the stage outputs, and `WideResNet`."""

import inspect
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet.transforms import with_stock_layers
from keras_resnet.weight_files import KERAS_WEIGHTS

# Layers with weights in keras.applications' models (with the top).
WEIGHTED_LAYERS = {"ResNet50": 107, "ResNet101": 209, "ResNet152": 311,
                   "ResNet50V2": 103, "ResNet101V2": 205, "ResNet152V2": 307}


def images(n, size, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, channels)).astype("float32")


def weighted(model):
    return [layer for layer in model.layers if layer.weights]


def _slow_unless(condition, values):
    return [v if condition(v) else pytest.param(v, marks=pytest.mark.slow) for v in values]


# ResNet50 and 50V2 without the top in the fast suite; 101 and 152 differ in block counts only.
@pytest.mark.parametrize("name", _slow_unless(lambda n: n.startswith("ResNet50"), WEIGHTED_LAYERS))
@pytest.mark.parametrize("include_top", _slow_unless(lambda top: not top, [True, False]))
def test_keras_applications_parity(name, include_top):
    size = 224 if include_top else 64
    ref = getattr(keras.applications, name)(weights=None, include_top=include_top, input_shape=(size, size, 3))
    ours = getattr(kr, name)(weights=None, include_top=include_top, input_shape=(size, size, 3))
    # Same layer names, kernel and bias shapes, in the same topological order.
    assert [layer.name for layer in weighted(ours)] == [layer.name for layer in weighted(ref)]
    assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
    named = {layer.name for layer in ref.layers if not layer.name.startswith(("input_layer", "max_pooling2d"))}
    assert named <= {layer.name for layer in ours.layers}  # keras leaves its subsampling pools unnamed
    for a, b in zip(weighted(ours), weighted(ref)):
        assert isinstance(a, type(b)) and type(a).__name__ == type(b).__name__, a.name  # weights files go by class name
        assert a.get_config().get("strides") == b.get_config().get("strides"), a.name
        assert a.get_config().get("epsilon") == b.get_config().get("epsilon"), a.name
    # Randomise keras.applications (BN statistics too), copy by layer name.
    rng = np.random.default_rng(1)
    ref.set_weights([rng.normal(0.0, 0.05, w.shape) + (1.0 if "variance" in w.path or "gamma" in w.path else 0.0)
                     for w in ref.weights])
    for layer in weighted(ref):
        ours.get_layer(layer.name).set_weights(layer.get_weights())
    x = images(2, size)
    expected = ref.predict(x, verbose=0)
    # On Keras' own layers: keras.applications' numbers. On ours (fused batch normalization sums in
    # another order): to float rounding, relative to the features' scale (~100 without the top).
    np.testing.assert_allclose(with_stock_layers(ours).predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-5 * max(1.0, np.abs(expected).max()), rtol=0)
    if include_top:
        assert ours.count_params() == ref.count_params()
        assert len(weighted(ours)) == WEIGHTED_LAYERS[name]


@pytest.mark.parametrize("name", _slow_unless(lambda n: n not in ("ResNet1202", "PreActResNet1001"), kr.SPECS))
def test_every_row_builds_as_counted(name):
    spec = kr.SPECS[name]
    model = getattr(kr, name)(weights=None)  # the row's builder
    c = kr.complexity(name)
    assert model.count_params() == c.params
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == c.trainable_params
    assert model.name == name.lower()
    assert model.output_shape == (None, spec.default_classes)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    # Stage outputs by their documented names: resolution halves per stage.
    size = spec.default_size // (4 if spec.stem == "imagenet" else 1)
    shapes = [model.get_layer(n).output.shape for n in spec.stage_outputs]
    expected = [(None, size // 2**i, size // 2**i, spec.widths(i)[1]) for i in range(len(spec.blocks))]
    if spec.slim:  # TF-slim: a stage ends with the next one's stride
        expected = [(None, s // 2, s // 2, c) for _, s, _, c in expected[:-1]] + expected[-1:]
    assert [tuple(s) for s in shapes] == expected


def test_every_row_has_one_builder_line_with_keras_applications_defaults():
    """`ResNet50 = _builder("ResNet50")`: a search for a name finds its builder. As in
    keras.applications, rows with published ImageNet weights load them by default."""
    source = pathlib.Path(kr.models.__file__).read_text()
    assert re.findall(r'^(\w+) = _builder\("(\w+)"\)$', source, re.M) == [(name, name) for name in kr.SPECS]
    for name, spec in kr.SPECS.items():
        defaults = {k: p.default for k, p in inspect.signature(getattr(kr, name)).parameters.items()}
        assert defaults["classes"] == spec.default_classes and defaults["name"] == name.lower()
        assert defaults["weights"] == ("imagenet" if name in KERAS_WEIGHTS else None), name


def test_default_input_shapes():
    assert kr.ResNet20().input_shape == (None, 32, 32, 3)
    assert kr.ResNet20(include_top=False).input_shape == (None, None, None, 3)
    assert kr.ResNet18().input_shape == (None, 224, 224, 3)


@pytest.mark.parametrize("name,expected", [
    ("ResNet18", [(16, 64), (8, 128), (4, 256), (2, 512)]),
    ("ResNet50V2", [(8, 256), (4, 512), (2, 1024), (2, 2048)]),  # TF-slim: the stride in a stage's last block
])
def test_multi_scale_features_in_one_line(name, expected):
    spec = kr.SPECS[name]
    m = getattr(kr, name)(weights=None, include_top=False, input_shape=(64, 64, 3))
    features = keras.Model(m.input, [m.get_layer(n).output for n in spec.stage_outputs])
    outs = features.predict(images(1, 64), verbose=0)
    assert [o.shape for o in outs] == [(1, size, size, channels) for size, channels in expected]


def test_wide_resnet_builder_with_dropout():
    model = kr.WideResNet(10, 2, dropout=0.3, classes=100)
    assert model.name == "wrn10_2" and model.output_shape == (None, 100)
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 3 and all(d.rate == 0.3 for d in drops)
    # Between the two convs of a block, after its BN-ReLU (Zagoruyko & Komodakis Fig. 1d).
    names = [layer.name for layer in model.layers]
    assert names.index("conv2_block1_1_relu") < names.index("conv2_block1_dropout") < names.index("conv2_block1_2_conv")
    assert model.count_params() == kr.complexity(kr.wide_resnet(10, 2, 0.3), classes=100).params
