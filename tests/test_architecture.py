"""The architecture (keras_resnet/architecture.py) as Keras layers (keras_resnet/keras_ops.py):
the unit orders and shortcut options of He et al. 2015 and 2016, the two layouts, and the
refinements (deep stem, ResNet-D shortcut, squeeze-and-excitation, stochastic depth,
zero-initialised branches) with timm as the reference; every built network has the
parameters that `complexity` counts for it."""

import itertools
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet as kr

SMALL = kr.Spec((1, 2), "basic", width=4, stem="cifar", stem_width=4, layout="torchvision")
FLAGS = ("deep_stem", "avg_down", "se_ratio", "drop_path", "zero_init_last")
ON = dict(deep_stem=True, avg_down=True, se_ratio=0.25, drop_path=0.3, zero_init_last=True)


def images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype("float32")


def names(model):
    return {layer.name for layer in model.layers}


# He 2015 and 2016: unit orders and shortcut options ---------------------------------


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
    assert ("post_relu" in names(model)) == (unit in "de")
    assert np.isfinite(keras.ops.convert_to_numpy(model(images(2, 16), training=True))).all()


def test_unit_orders_follow_he2016_fig4():
    def order(unit):
        m = kr.build(SMALL.replace(blocks=(1,), unit=unit), input_shape=(8, 8, 3))
        inside = [layer.name.removeprefix("conv2_block1_") for layer in m.layers if layer.name.startswith("conv2_block1_")]
        return [n for n in inside if not n.startswith("0_")]
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


@pytest.fixture
def channels_first():
    keras.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format("channels_last")


def test_channels_first_computes_what_channels_last_does(channels_first):
    """Option A from 3 to 8 channels repeats the zeros and cuts them to 5, on the channel
    axis of either data format; the same weights give the same outputs."""
    spec = kr.Spec((1, 1), "basic", width=8, stem="cifar", stem_width=3, shortcut="A", layout="torchvision")
    first = kr.build(spec, input_shape=(3, 8, 8))
    keras.config.set_image_data_format("channels_last")
    last = kr.build(spec, input_shape=(8, 8, 3))
    assert first.count_params() == last.count_params() == kr.complexity(spec, input_shape=(8, 8, 3)).params
    first.set_weights(last.get_weights())
    x = images(2, 8)
    pad = keras.Model(last.input, [last.get_layer("conv1_relu").output, last.get_layer("conv2_block1_0_pad").output])
    block_in, padded = pad.predict(x, verbose=0)
    assert padded.shape == (2, 8, 8, 8)
    np.testing.assert_array_equal(padded[..., :3], block_in)
    np.testing.assert_array_equal(padded[..., 3:], 0)
    np.testing.assert_allclose(first.predict(x.transpose(0, 3, 1, 2), verbose=0), last.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_option_a_trains_in_every_layout():
    # TensorFlow 2.21's oneDNN remapper crashes the process (SIGSEGV) training a
    # pre-activation keras-layout network with option A when the zero channels come from
    # a pad op fused into conv + bias + add; run in a child so that a crash fails the test.
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


def test_plain_network_has_no_shortcut():
    plain = kr.ResNet56(shortcut="none")
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert plain.count_params() == kr.ResNet56().count_params()  # option A adds no parameters


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("unit", "ae")
def test_shortcut_scale_multiplies_every_shortcut(unit, shortcut):
    """He 2016 s3.1: h(x) = 0.5 x. Same parameters and MACs; the sum is branch + 0.5 x shortcut."""
    spec = SMALL.replace(unit=unit, shortcut=shortcut)
    scaled = kr.build(spec.replace(shortcut_scale=0.5), input_shape=(16, 16, 3))
    assert kr.complexity(spec.replace(shortcut_scale=0.5), input_shape=(16, 16, 3)) == \
        kr.complexity(spec, input_shape=(16, 16, 3))
    assert scaled.count_params() == kr.build(spec, input_shape=(16, 16, 3)).count_params()
    scales = [layer for layer in scaled.layers if layer.name.endswith("_0_scale")]
    assert len(scales) == 3 and all(isinstance(layer, keras.layers.Rescaling) and layer.scale == 0.5 for layer in scales)
    block = "conv3_block1"
    add = scaled.get_layer(f"{block}_add" if unit == "a" else f"{block}_out")
    parts = keras.Model(scaled.input, [scaled.get_layer(f"{block}_0_scale").input, add.input[1], add.output])
    shortcut, branch, total = parts.predict(images(2, 16), verbose=0)
    np.testing.assert_allclose(total, branch + 0.5 * shortcut, rtol=1e-5, atol=1e-5)


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


# The refinements ---------------------------------------------------------------------


def _combinations():
    for values in itertools.product((False, True), repeat=len(FLAGS)):
        for unit in "abcde":
            yield pytest.param({f: ON[f] for f, v in zip(FLAGS, values) if v}, unit,
                               id=f"{unit}-" + "+".join(f for f, v in zip(FLAGS, values) if v))


@pytest.mark.parametrize("fields,unit", list(_combinations()))
def test_every_combination_builds_as_counted(fields, unit):
    """Each subset of the refinements with each unit order, alternating the block kind
    and the shortcut option (A, B, C): layers as the fields say, counted exactly."""
    index = sum(1 << i for i, f in enumerate(FLAGS) if f in fields) + "abcde".index(unit)
    spec = SMALL.replace(unit=unit, block=("basic", "bottleneck")[index % 2], shortcut="BAC"[index % 3], **fields)
    model = kr.build(spec, input_shape=(16, 16, 3))
    c = kr.complexity(spec, input_shape=(16, 16, 3))
    assert model.count_params() == c.params
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == c.trainable_params
    kinds = [type(layer).__name__ for layer in model.layers]
    assert ("conv1_3_conv" in names(model)) == spec.deep_stem
    assert kinds.count("AveragePooling2D") == (1 if spec.avg_down else 0)  # one subsampling shortcut
    assert kinds.count("Multiply") == (3 if spec.se_ratio else 0)
    drops = [layer for layer in model.layers if layer.name.endswith("_drop_path")]
    assert [d.rate for d in drops] == pytest.approx([0.1, 0.2, 0.3] if spec.drop_path else [])
    assert all(d.noise_shape == (None, 1, 1, 1) for d in drops)
    for block in ("conv2_block1", "conv3_block1", "conv3_block2"):
        last = f"{block}_{2 if spec.block == 'basic' else 3}"
        zeroed = model.get_layer(f"{last}_bn").gamma if unit in "acd" else model.get_layer(f"{last}_conv").kernel
        assert np.all(keras.ops.convert_to_numpy(zeroed) == 0) == spec.zero_init_last, last
    assert np.isfinite(keras.ops.convert_to_numpy(model(images(2, 16), training=True))).all()
    x = images(2, 16)
    inference = [keras.ops.convert_to_numpy(model(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(*inference)  # no drop in inference


def test_imagenet_stems():
    """The deep stem strides its first conv (explicitly padded, as torch) and ResNet-RS's
    conv replaces the max-pool: both reach the same 1/4 resolution."""
    for fields, pool in [({}, "MaxPooling2D"), (dict(deep_stem=True), "MaxPooling2D"),
                         (dict(deep_stem=True, stem_pool="conv"), "Conv2D")]:
        spec = kr.Spec((1, 1), "basic", width=4, stem_width=8, layout="torchvision", **fields)
        model = kr.build(spec, include_top=False, input_shape=(32, 32, 3))
        assert model.get_layer("conv2_block1_out").output.shape == (None, 8, 8, 4)
        assert type(model.get_layer("pool1_pool" if pool == "MaxPooling2D" else "pool1_conv")).__name__ == pool
        assert model.count_params() == kr.complexity(spec, include_top=False, input_shape=(32, 32, 3)).params
    model = kr.build(kr.SPECS["ResNet50D"].replace(blocks=(1, 1)), include_top=False, input_shape=(32, 32, 3))
    assert [model.get_layer(f"conv1_{i}_conv").filters for i in (1, 2, 3)] == [32, 32, 64]
    assert model.get_layer("conv1_1_conv").strides == (2, 2) and model.get_layer("conv1_1_pad").padding == ((1, 1), (1, 1))


def test_avg_down_shortcut_averages_then_projects():
    model = kr.build(SMALL.replace(avg_down=True), include_top=False, input_shape=(8, 8, 3))
    pool = model.get_layer("conv3_block1_0_pool")
    assert isinstance(pool, keras.layers.AveragePooling2D) and pool.pool_size == (2, 2) and pool.strides == (2, 2)
    assert model.get_layer("conv3_block1_0_conv").strides == (1, 1)
    option_a = kr.build(SMALL.replace(avg_down=True, shortcut="A"), include_top=False, input_shape=(8, 8, 3))
    inside = keras.Model(option_a.input, [option_a.get_layer("conv2_block1_out").output,
                                          option_a.get_layer("conv3_block1_0_pad").output])
    x, s = inside.predict(images(1, 8), verbose=0)
    averaged = x.reshape(1, 4, 2, 4, 2, -1).mean(axis=(2, 4))
    np.testing.assert_allclose(s[..., :x.shape[-1]], averaged, rtol=1e-6)


def test_squeeze_excite_convs():
    model = kr.build(SMALL.replace(se_ratio=0.25, blocks=(1,), block="bottleneck"), include_top=False,
                     input_shape=(8, 8, 3))
    reduce_, expand = model.get_layer("conv2_block1_se_reduce_conv"), model.get_layer("conv2_block1_se_expand_conv")
    assert reduce_.use_bias and expand.use_bias and (reduce_.filters, expand.filters) == (8, 16)


def test_drop_path_drops_whole_branches_and_rescales():
    layer = kr.build(SMALL.replace(drop_path=0.5, blocks=(1,)), input_shape=(8, 8, 3)).get_layer("conv2_block1_drop_path")
    y = keras.ops.convert_to_numpy(layer(np.ones((64, 2, 2, 3), "float32"), training=True))
    per_example = y.reshape(64, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(axis=1) == per_example.max(axis=1))  # all or nothing per example
    assert 0 < (per_example[:, 0] == 0).sum() < 64
