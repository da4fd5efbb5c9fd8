"""Building: keras.applications parity, every table row, variants, serialization, errors."""

import subprocess
import sys

import numpy as np
import pytest

import keras
import keras_resnet as kr
from keras_resnet.layers import with_stock_layers

# REFERENCE.md s3: layers with weights in keras.applications (with top).
WEIGHTED_LAYERS = {"ResNet50": 107, "ResNet101": 209, "ResNet152": 311,
                   "ResNet50V2": 103, "ResNet101V2": 205, "ResNet152V2": 307}


def tiny(spec, **changes):
    """The same family at toy size: one block per stage, narrow, few groups."""
    small = dict(blocks=(1,) * len(spec.blocks), width=4, stem_width=4)
    if spec.groups > 1:
        small.update(groups=2, group_width=2)
    return spec.replace(**{**small, **changes})


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
    assert len({layer.name for layer in model.layers}) == len(model.layers)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    # Stage outputs by their documented names: resolution halves per stage.
    size = spec.default_size // (4 if spec.stem == "imagenet" else 1)
    shapes = [model.get_layer(n).output.shape for n in spec.stage_outputs]
    expected = [(None, size // 2**i, size // 2**i, spec.widths(i)[1]) for i in range(len(spec.blocks))]
    if spec.slim:  # TF-slim: a stage ends with the next one's stride
        expected = [(None, s // 2, s // 2, c) for _, s, _, c in expected[:-1]] + expected[-1:]
    assert [tuple(s) for s in shapes] == expected


def test_stage_resolutions_v1_and_v2():
    for name, sizes in [("ResNet50", [56, 28, 14, 7]), ("ResNet50V2", [28, 14, 7, 7])]:
        model = kr.build(name, include_top=False, input_shape=(224, 224, 3))
        assert [model.get_layer(n).output.shape[1] for n in kr.SPECS[name].stage_outputs] == sizes


def test_multi_scale_feature_extractor_in_one_line():
    spec = kr.SPECS["ResNet18"]
    m = kr.ResNet18(include_top=False, input_shape=(64, 64, 3))
    features = keras.Model(m.input, [m.get_layer(n).output for n in spec.stage_outputs])
    outs = features.predict(images(1, 64), verbose=0)
    assert [o.shape for o in outs] == [(1, 16, 16, 64), (1, 8, 8, 128), (1, 4, 4, 256), (1, 2, 2, 512)]


@pytest.mark.parametrize("name", kr.SPECS)
def test_every_family_round_trips(name, tmp_path):
    spec = tiny(kr.SPECS[name], dropout=0.1 if kr.SPECS[name].dropout else 0.0)
    model = kr.build(spec, input_shape=(32, 32, 3), name=name.lower())
    x = images(2, 32)
    y = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), y)
    rebuilt = keras.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), y)
    model.save_weights(tmp_path / "w.weights.h5")
    again = kr.build(spec, input_shape=(32, 32, 3), weights=tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), y)


SMALL = kr.Spec((1, 2), "basic", width=4, stem="cifar", stem_width=4, layout="torchvision")


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
@pytest.mark.parametrize("shortcut", ["A", "B", "C", "none"])
@pytest.mark.parametrize("unit", "abcde")
def test_units_and_shortcuts(unit, shortcut, block):
    spec = SMALL.replace(unit=unit, shortcut=shortcut, block=block)
    model = kr.build(spec, input_shape=(16, 16, 3))
    assert model.count_params() == kr.complexity(spec, input_shape=(16, 16, 3)).params
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Add") == (0 if shortcut == "none" else 3)
    projections = [layer.name for layer in model.layers if layer.name.endswith("_0_conv")]
    assert len(projections) == {"C": 3, "none": 0, "A": 0}.get(shortcut, 1 if block == "basic" else 2)
    assert any(layer.name.endswith("_0_pad") for layer in model.layers) == (shortcut == "A")  # zero channels
    assert ("post_relu" in {layer.name for layer in model.layers}) == (unit in "de")
    out = model(images(2, 16), training=True)
    assert out.shape == (2, 10) and np.all(np.isfinite(out))


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("unit", "ae")
def test_shortcut_scale_multiplies_every_shortcut(unit, shortcut):
    """He 2016 s3.1: h(x) = 0.5 x. Same parameters; the sum is branch + 0.5 x shortcut."""
    spec = SMALL.replace(unit=unit, shortcut=shortcut)
    scaled = kr.build(spec.replace(shortcut_scale=0.5), input_shape=(16, 16, 3))
    plain = kr.build(spec, input_shape=(16, 16, 3))
    assert scaled.count_params() == plain.count_params() == kr.complexity(spec.replace(shortcut_scale=0.5),
                                                                          input_shape=(16, 16, 3)).params
    assert kr.complexity(spec.replace(shortcut_scale=0.5), input_shape=(16, 16, 3)).macs == kr.complexity(
        spec, input_shape=(16, 16, 3)).macs
    scales = [layer for layer in scaled.layers if layer.name.endswith("_0_scale")]
    assert len(scales) == 3 and all(isinstance(layer, keras.layers.Rescaling) for layer in scales)
    block = "conv3_block1"
    add = scaled.get_layer(f"{block}_add" if unit == "a" else f"{block}_out")
    parts = keras.Model(scaled.input, [scaled.get_layer(f"{block}_0_scale").input, add.input[1], add.output])
    shortcut, branch, total = parts.predict(images(2, 16), verbose=0)
    np.testing.assert_allclose(total, branch + 0.5 * shortcut, rtol=1e-5, atol=1e-5)
    assert kr.build(spec.replace(shortcut_scale=0.5), input_shape=(16, 16, 3)).get_layer(
        f"{block}_0_scale").get_config()["scale"] == 0.5


def test_unit_orders_follow_he2016_fig4():
    def order(unit):
        m = kr.build(SMALL.replace(blocks=(1,), unit=unit), input_shape=(8, 8, 3))
        names = [layer.name.removeprefix("conv2_block1_") for layer in m.layers if layer.name.startswith("conv2_block1_")]
        return [n for n in names if not n.startswith("0_")]
    assert order("a") == ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "add", "out"]
    assert order("b") == ["1_conv", "1_bn", "1_relu", "2_conv", "add", "add_bn", "out"]
    assert order("c") == ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "out"]
    assert order("d") == ["preact_relu", "1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "out"]
    assert order("e") == ["preact_bn", "preact_relu", "1_conv", "1_bn", "1_relu", "2_conv", "out"]


def test_option_a_shortcut_is_subsample_and_zero_pad():
    spec = kr.Spec((1, 1), "basic", width=2, stem="cifar", stem_width=2, shortcut="A", layout="torchvision")
    model = kr.build(spec, include_top=False, input_shape=(4, 4, 3))
    block_in = model.get_layer("conv2_block1_out").output
    shortcut = keras.Model(model.input, [block_in, model.get_layer("conv3_block1_0_pad").output])
    x, s = shortcut.predict(images(1, 4), verbose=0)
    np.testing.assert_array_equal(s[..., :2], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(s[..., 2:], 0)
    assert kr.complexity(spec, include_top=False).params == model.count_params()


def test_torchvision_layout():
    model = kr.ResNet50(weights=None, layout="torchvision", include_top=False, input_shape=(64, 64, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert not any(layer.use_bias for layer in convs)
    assert {layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {1e-5}
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)  # v1.5: stride on the 3x3
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    keras_v1 = kr.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert keras_v1.get_layer("conv3_block1_1_conv").strides == (2, 2)  # Caffe: stride on the 1x1
    assert model.get_layer("conv3_block1_2_pad").padding == ((1, 1), (1, 1))  # symmetric, as torch


def test_wide_resnet_builder_with_dropout():
    model = kr.WideResNet(10, 2, dropout=0.3, classes=100)
    assert model.name == "wrn10_2" and model.output_shape == (None, 100)
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert len(drops) == 3 and all(d.rate == 0.3 for d in drops)
    # Between the two convs of a block, after its BN-ReLU (Zagoruyko & Komodakis Fig. 1d).
    names = [layer.name for layer in model.layers]
    assert names.index("conv2_block1_1_relu") < names.index("conv2_block1_dropout") < names.index("conv2_block1_2_conv")
    assert model.count_params() == kr.complexity(kr.wide_resnet(10, 2, 0.3), classes=100).params


@pytest.mark.parametrize("shape", [(None, None, 3), (48, 80, 1), (40, 40, 4), (None, 64, 3)])
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_any_input_size_without_top(shape, pooling):
    model = kr.ResNet18(include_top=False, pooling=pooling, input_shape=shape)
    h, w = 64 if shape[0] is None else shape[0], 96 if shape[1] is None else shape[1]
    x = np.random.default_rng(0).uniform(size=(1, h, w, shape[2])).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == ((1, 512) if pooling else (1, -(-h // 32), -(-w // 32), 512))
    if pooling:
        assert model.layers[-1].name == f"{pooling}_pool"


def test_input_tensor_and_defaults():
    tensor = keras.Input((40, 40, 3))
    model = kr.ResNet20(input_tensor=tensor, classes=7)
    assert model.input_shape == (None, 40, 40, 3) and model.output_shape == (None, 7)
    assert kr.ResNet20().input_shape == (None, 32, 32, 3)
    assert kr.ResNet20(include_top=False).input_shape == (None, None, None, 3)
    assert kr.ResNet18().input_shape == (None, 224, 224, 3)
    logits = kr.ResNet20(classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"


@pytest.mark.parametrize("layout", ["keras", "torchvision"])
def test_every_conv_draws_its_own_initial_kernel(layout):
    """Convs of the same shape start with different kernels (an unseeded initializer shared
    by several layers would draw the same one for each), with the layout's scale."""
    model = kr.build("ResNet20", layout=layout)
    kernels = [np.asarray(layer.kernel) for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.kernel.shape == (3, 3, 16, 16)]
    assert len(kernels) == 6 and all(not np.allclose(a, b) for i, a in enumerate(kernels) for b in kernels[i + 1:])
    if layout == "torchvision":  # kaiming_normal_(mode="fan_out"): std sqrt(2 / (3 * 3 * 16))
        np.testing.assert_allclose(np.std(kernels), np.sqrt(2 / 144), rtol=0.05)


def test_plain_network_saves_and_loads(tmp_path):
    model = kr.build(SMALL.replace(shortcut="none"), input_shape=(16, 16, 3))
    model.save(tmp_path / "plain.keras")
    loaded = keras.saving.load_model(tmp_path / "plain.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(images(2, 16), verbose=0), model.predict(images(2, 16), verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_plain_network_by_override():
    plain = kr.ResNet56(shortcut="none")
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert plain.count_params() == kr.ResNet56().count_params()  # option A adds no parameters


def test_preprocess_is_keras():
    x = images(1, 8) * 255
    np.testing.assert_allclose(kr.preprocess_input(x.copy()), keras.applications.resnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(kr.preprocess_input(x.copy(), mode="tf"), keras.applications.resnet_v2.preprocess_input(x.copy()))


@pytest.mark.parametrize("kwargs,message", [
    (dict(pooling="mean", include_top=False), r"`pooling` must be one of \[None, 'avg', 'max'\]; received pooling='mean'"),
    (dict(classes=0), r"`classes` must be a positive integer; received classes=0"),
    (dict(classes=-3), r"received classes=-3"),
    (dict(input_shape=(32, 32)), r"`input_shape` must have rank 3, \(height, width, channels\); received input_shape=\(32, 32\)"),
    (dict(input_shape=(32, 32, 3, 1)), r"rank 3.*received input_shape=\(32, 32, 3, 1\)"),
    (dict(input_shape=(32, 32, None), include_top=False), r"positive integers.*received input_shape=\(32, 32, None\)"),
    (dict(input_shape=(2, 32, 3)), r"at least 4x4 .*received input_shape=\(2, 32, 3\)"),
    (dict(input_shape=(None, None, 3)), r"`include_top=True` needs a fixed input size; received input_shape=\(None, None, 3\)"),
    (dict(weights="no/such/file.weights.h5"), r"`weights` must be None, 'imagenet' or the path of an existing weights file; received weights='no/such/file.weights.h5'"),
    (dict(blocks=(3, 3, 0)), r"received blocks=\(3, 3, 0\)"),
    (dict(depth=20), r"Unknown arguments \['depth'\]"),
])
def test_build_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kr.build("ResNet20", **kwargs)


def test_imagenet_input_too_small():
    with pytest.raises(ValueError, match=r"at least 32x32 .*received input_shape=\(16, 16, 3\)"):
        kr.ResNet50(weights=None, include_top=False, input_shape=(16, 16, 3))


def test_weights_that_do_not_fit_name_the_layer(tmp_path):
    spec = tiny(kr.SPECS["ResNet20"])
    kr.build(spec, input_shape=(16, 16, 3)).save_weights(tmp_path / "w.weights.h5")
    wider = spec.replace(width=8)
    with pytest.raises(ValueError, match=r"does not fit model 'resnet': layer 'conv2_block1_1_conv' expects weights "
                                         r"of shapes \[\(3, 3, 4, 8\)\], the file has \[\(3, 3, 4, 4\)\]"):
        kr.build(wider, input_shape=(16, 16, 3), weights=tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"layer 'conv5_block1_1_conv' expects .* the file has \[\]"):
        kr.build(spec.replace(blocks=(1, 1, 1, 1)), input_shape=(16, 16, 3), weights=tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"the file has weights for \d+ more layers than the model"):
        kr.build(spec.replace(blocks=(1, 1)), input_shape=(16, 16, 3), weights=tmp_path / "w.weights.h5")


def test_keras_applications_weights_file_loads(tmp_path):
    ref = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    ref.set_weights([np.random.default_rng(2).normal(size=w.shape) * 0.05 + 1.0 * ("variance" in w.path) for w in ref.weights])
    ref.save_weights(tmp_path / "v2.weights.h5")
    ours = kr.ResNet50V2(include_top=False, input_shape=(64, 64, 3), weights=tmp_path / "v2.weights.h5")
    x = images(1, 64)
    np.testing.assert_allclose(ours.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match=r"does not fit model 'resnet50'"):
        kr.ResNet50(include_top=False, weights=tmp_path / "v2.weights.h5")


def test_option_a_trains_in_every_layout():
    # TensorFlow 2.21's oneDNN remapper crashed the process (SIGSEGV) training a
    # pre-activation keras-layout net with option A when the zero channels came from
    # a pad op fused into conv + bias + add; run in a child so a crash fails the test.
    code = (
        "import numpy as np, keras_resnet as kr\n"
        "for layout in ('keras', 'torchvision'):\n"
        "    spec = kr.Spec((1, 1), 'basic', width=4, stem='cifar', stem_width=4, unit='e', shortcut='A', layout=layout)\n"
        "    m = kr.build(spec, input_shape=(16, 16, 3))\n"
        "    m.compile('sgd', 'sparse_categorical_crossentropy')\n"
        "    assert np.isfinite(m.train_on_batch(np.ones((4, 16, 16, 3), 'float32'), np.zeros(4)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
