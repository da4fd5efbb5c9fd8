"""The refinements (issue 16): deep stem, ResNet-D shortcut, squeeze-and-excitation,
stochastic depth, zero-initialised residual branches. Fields of the same Spec, built by
the same block function and counted by the same interpreter; timm is the reference."""

import itertools
import sys
import types

import keras
import numpy as np
import pytest

import keras_resnet as kr

# REFERENCE.md s8: timm 1.0's trainable parameters (random weights, 1000 classes).
TIMM_PARAMS = {
    "ResNet50D": 25_576_264, "ResNet101D": 44_568_392, "ResNet152D": 60_212_040, "ResNet200D": 64_693_064,
    "SEResNet50": 28_088_024, "SEResNeXt50_32x4d": 27_559_896, "SEResNeXt101_32x4d": 48_955_416,
}
TIMM_NAMES = {"ResNet50D": "resnet50d", "ResNet101D": "resnet101d", "ResNet152D": "resnet152d",
              "ResNet200D": "resnet200d", "SEResNet50": "seresnet50", "SEResNeXt50_32x4d": "seresnext50_32x4d",
              "SEResNeXt101_32x4d": "seresnext101_32x4d", "ResNetRS50": "resnetrs50", "ResNetRS101": "resnetrs101"}
FLAGS = ("deep_stem", "avg_down", "se_ratio", "drop_path", "zero_init_last")
ON = dict(deep_stem=True, avg_down=True, se_ratio=0.25, drop_path=0.3, zero_init_last=True)
SMALL = kr.Spec((1, 2), "bottleneck", width=4, stem="cifar", stem_width=4, layout="torchvision")


def images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype("float32")


def test_new_rows_are_timm_rows():
    assert all(kr.weights.TIMM[arch] == row for row, arch in TIMM_NAMES.items())


@pytest.mark.parametrize("name", TIMM_PARAMS)
def test_reference_parameter_counts(name):
    assert kr.complexity(name).trainable_params == TIMM_PARAMS[name]


@pytest.fixture(scope="module")
def timm():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm", reason="timm cannot be imported")


@pytest.mark.parametrize("name", list(TIMM_NAMES))
def test_counts_and_macs_equal_timm(timm, name):
    """timm's model with random weights: trainable parameters, and MACs as torch's
    FLOP counter counts them (convs and the classifier, 2 FLOPs per MAC) at 224x224."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = timm.create_model(TIMM_NAMES[name], pretrained=False).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, 224, 224))
    c = kr.complexity(name)
    assert c.trainable_params == sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert c.macs * 2 == counter.get_total_flops()


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
    names = {layer.name for layer in model.layers}
    kinds = [type(layer).__name__ for layer in model.layers]
    assert ("conv1_3_conv" in names) == spec.deep_stem
    assert kinds.count("AveragePooling2D") == (1 if spec.avg_down else 0)  # one subsampling shortcut
    assert kinds.count("Multiply") == (3 if spec.se_ratio else 0)
    drops = [layer for layer in model.layers if layer.name.endswith("_drop_path")]
    assert [d.rate for d in drops] == pytest.approx([0.1, 0.2, 0.3] if spec.drop_path else [])
    assert all(d.noise_shape == (None, 1, 1, 1) for d in drops)
    for block in ("conv2_block1", "conv3_block1", "conv3_block2"):
        last = f"{block}_{2 if spec.block == 'basic' else 3}"
        zeroed = model.get_layer(f"{last}_bn").gamma if unit in "acd" else model.get_layer(f"{last}_conv").kernel
        assert np.all(keras.ops.convert_to_numpy(zeroed) == 0) == spec.zero_init_last, last
    out = model(images(2, 16), training=True)
    assert np.all(np.isfinite(out))
    x = images(2, 16)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))  # no drop in inference


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
    option_a = kr.build(SMALL.replace(avg_down=True, shortcut="A", block="basic"), include_top=False, input_shape=(8, 8, 3))
    inside = keras.Model(option_a.input, [option_a.get_layer("conv2_block1_out").output,
                                          option_a.get_layer("conv3_block1_0_pad").output])
    x, s = inside.predict(images(1, 8), verbose=0)
    averaged = x.reshape(1, 4, 2, 4, 2, -1).mean(axis=(2, 4))
    np.testing.assert_allclose(s[..., :x.shape[-1]], averaged, rtol=1e-6)


def test_squeeze_excite_widths_follow_timm():
    spec = kr.SPECS["SEResNet50"]
    assert [spec.se_width(spec.widths(i)[1]) for i in range(4)] == [16, 32, 64, 128]
    assert spec.replace(se_ratio=1 / 16).se_width(16) == 8  # at least 8
    assert spec.replace(se_ratio=0.25).se_width(100) == 24  # nearest multiple of 8
    model = kr.build(SMALL.replace(se_ratio=0.25, blocks=(1,)), include_top=False, input_shape=(8, 8, 3))
    reduce_, expand = model.get_layer("conv2_block1_se_reduce_conv"), model.get_layer("conv2_block1_se_expand_conv")
    assert reduce_.use_bias and expand.use_bias and (reduce_.filters, expand.filters) == (8, 16)


def test_drop_path_drops_whole_branches_and_rescales():
    layer = kr.build(SMALL.replace(drop_path=0.5, blocks=(1,)), input_shape=(8, 8, 3)).get_layer("conv2_block1_drop_path")
    y = keras.ops.convert_to_numpy(layer(np.ones((64, 2, 2, 3), "float32"), training=True))
    per_example = y.reshape(64, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(axis=1) == per_example.max(axis=1))  # all or nothing per example
    assert 0 < (per_example[:, 0] == 0).sum() < 64


def test_refined_model_round_trips_in_safe_mode(tmp_path):
    spec = kr.Spec((1, 1), width=4, stem_width=8, layout="torchvision", **ON, stem_pool="conv")
    model = kr.build(spec, input_shape=(32, 32, 3), classes=5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = images(2, 32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)
    assert kr.Spec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("fields,message", [
    (dict(se_ratio=0), r"`se_ratio` must be a positive number; received se_ratio=0"),
    (dict(se_ratio=-0.25), r"received se_ratio=-0.25"),
    (dict(se_ratio="16"), r"received se_ratio='16'"),
    (dict(drop_path=1.0), r"`drop_path` must be in \[0, 1\); received drop_path=1.0"),
    (dict(drop_path=-0.1), r"received drop_path=-0.1"),
    (dict(deep_stem=1), r"`deep_stem` must be True or False; received deep_stem=1"),
    (dict(avg_down="yes"), r"received avg_down='yes'"),
    (dict(zero_init_last=None), r"received zero_init_last=None"),
    (dict(stem_pool="avg"), r"`stem_pool` must be one of \['max', 'conv'\]; received stem_pool='avg'"),
    (dict(stem_pool="conv", stem="cifar"), r"stem_pool='conv'.*received stem='cifar'"),
    (dict(stem_pool="conv", unit="e"), r"stem_pool='conv'.*unit='e'"),
    (dict(deep_stem=True, stem_width=9), r"stem_width must be even; received stem_width=9"),
    (dict(shortcut="none", drop_path=0.1), r"shortcut='none'.*received drop_path=0.1"),
    (dict(shortcut="none", avg_down=True), r"received avg_down=True"),
    (dict(shortcut="none", zero_init_last=True), r"received zero_init_last=True"),
])
def test_invalid_refinements(fields, message):
    with pytest.raises(ValueError, match=message):
        kr.Spec(**{"blocks": (1, 1), **fields})
    with pytest.raises(ValueError, match=message):
        kr.build("ResNet18", **fields)
