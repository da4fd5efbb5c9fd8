"""Feature pyramids (`keras_resnet.pyramid`, `feature_info`, `Spec.features`) and smaller output strides
(`Spec.output_stride`): every level's shape, channels and stride as the spec says, on networks of every block
kind, unit order, layout and refinement; parameters unchanged and MACs as `complexity` counts them at every output
stride; torchvision's dilation schedule; clear errors. Parity with torchvision's and timm's dilated networks:
tests/test_torch_checkpoints.py."""

import math

import keras
import numpy as np
import pytest

import keras_resnet as kr

TINY = dict(width=4, stem_width=8)
# Two or three stages of one or two blocks: every block kind, unit order, layout (TF-slim's included, with a stage
# of one block) and refinement, and both stems.
NETWORKS = {
    "basic-a-keras": kr.Spec((1, 2, 1, 2), "basic", **TINY),
    "bottleneck-a-keras": kr.Spec((2, 1, 2, 1), **TINY),  # keras.applications v1: the stride on the 1x1
    "bottleneck-b-torchvision-C": kr.Spec((1, 2, 1, 1), unit="b", shortcut="C", layout="torchvision", **TINY),
    "basic-c-A": kr.Spec((1, 1, 2, 1), "basic", width=8, stem_width=8, unit="c", shortcut="A", layout="torchvision"),
    "basic-d-plain": kr.Spec((1, 1, 1, 2), "basic", unit="d", shortcut="none", **TINY),
    "slim-e": kr.Spec((1, 2, 1, 2), unit="e", **TINY),  # TF-slim: the stride in a stage's last block
    "slim-e-basic-dropout": kr.Spec((2, 2, 1, 1), "basic", unit="e", dropout=0.1, **TINY),
    "resnext": kr.Spec((1, 2, 1, 1), width=8, groups=4, group_width=2, layout="torchvision", stem_width=8),
    "resnet-d-se": kr.Spec((1, 1, 2, 1), deep_stem=True, avg_down=True, se_ratio=0.25, layout="torchvision", **TINY),
    "resnet-rs": kr.Spec((1, 2, 1, 1), deep_stem=True, stem_pool="conv", avg_down=True, se_ratio=0.25,
                         drop_path=0.1, zero_init_last=True, layout="torchvision", **TINY),
    "resnet-d-A-preact": kr.Spec((1, 2, 1, 1), "basic", width=8, stem_width=8, unit="e", shortcut="A",
                                 avg_down=True, layout="torchvision"),
    "cifar": kr.cifar_resnet(8),
    "cifar-slim-one-block": kr.Spec((1, 1, 2), unit="e", stem="cifar", **TINY),
    "cifar-wrn-deep-stem": kr.Spec((1, 1, 1), "basic", widen=2, unit="e", stem="cifar", deep_stem=True,
                                   layout="torchvision", **TINY),
}


def keras_macs(model):
    """Multiply-accumulates of a built model, from its convs' and dense layers' shapes."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, fan_in, filters = layer.kernel.shape
            macs += math.prod(layer.output.shape[1:3]) * kh * kw * fan_in * filters
        elif isinstance(layer, keras.layers.Dense):
            macs += math.prod(layer.kernel.shape)
    return macs


def check_pyramid(spec, output_stride, size):
    """Builds `spec`'s pyramid at `output_stride` on `size`x`size` inputs and checks it against the spec."""
    info = kr.feature_info(spec, output_stride=output_stride)
    model = kr.pyramid(spec, output_stride=output_stride, input_shape=(size, size, 3))
    assert list(model.output) == list(info) == [f"P{int(math.log2(spec.stem_stride)) + i}"
                                                for i in range(len(spec.blocks))]
    for level, feature in info.items():
        side = -(-size // feature.stride)
        assert tuple(model.output[level].shape) == (None, side, side, feature.channels), level
        assert model.get_layer(feature.layer).output is model.output[level]
    assert feature.stride == (output_stride or spec.reduction)
    shape = (size, size, 3)
    counted = kr.complexity(spec, input_shape=shape, include_top=False, output_stride=output_stride)
    assert model.count_params() == counted.params == kr.complexity(spec, input_shape=shape, include_top=False).params
    assert keras_macs(model) == counted.macs
    return counted.macs


@pytest.mark.parametrize("name", list(NETWORKS))
def test_pyramids_at_every_output_stride_are_as_the_spec_says(name):
    spec = NETWORKS[name]
    macs = [check_pyramid(spec, s, 64 if spec.stem == "imagenet" else 16) for s in spec.output_strides]
    assert macs == sorted(macs) and len(set(macs)) == 3  # larger feature maps, more work


def _slow_unless(fast, names):
    return [n if fast(n) else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("name", _slow_unless(lambda n: n in ("ResNet50", "ResNet50V2", "ResNet20"), kr.SPECS))
def test_every_row_gives_its_pyramid_at_every_output_stride(name):
    spec = kr.SPECS[name]
    assert len(spec.output_strides) == 3
    for output_stride in spec.output_strides:
        check_pyramid(spec, output_stride, 64 if spec.stem == "imagenet" else 32)


def test_feature_info_follows_keras_hub_names_and_timm_strides():
    assert {k: (f.channels, f.stride, f.layer) for k, f in kr.feature_info("ResNet50", output_stride=16).items()} == {
        "P2": (256, 4, "conv2_block3_out"), "P3": (512, 8, "conv3_block4_out"),
        "P4": (1024, 16, "conv4_block6_out"), "P5": (2048, 16, "conv5_block3_out")}
    # TF-slim's layout halves in a stage's last block: the level is the block before it.
    assert [f.layer for f in kr.feature_info("ResNet50V2").values()] == [
        "conv2_block2_out", "conv3_block3_out", "conv4_block5_out", "post_relu"]
    assert [(f.level, f.stride) for f in kr.feature_info("ResNet20", output_stride=2).values()] == [
        ("P0", 1), ("P1", 2), ("P2", 2)]
    assert kr.feature_info(kr.SPECS["ResNet50"]) == kr.SPECS["ResNet50"].features
    assert (kr.SPECS["ResNet50"].output_strides, kr.SPECS["ResNet20"].output_strides) == ((32, 16, 8), (4, 2, 1))
    assert kr.Spec((1, 1), stem="cifar").output_strides == (2, 1) and kr.Spec((2,)).output_strides == (4,)


def test_dilations_grow_as_torchvision_replace_stride_with_dilation():
    """torchvision's `_make_layer(dilate=True)`: the stage's first block keeps the previous dilation in its 3x3,
    the others have the new one; the stage keeps its resolution."""
    model = kr.build("ResNet50", layout="torchvision", include_top=False, input_shape=(64, 64, 3), output_stride=8)
    rates = {stage: [model.get_layer(f"conv{stage}_block{b}_2_conv").dilation_rate[0] for b in range(1, n + 1)]
             for stage, n in zip((2, 3, 4, 5), (3, 4, 6, 3))}
    assert rates == {2: [1, 1, 1], 3: [1, 1, 1, 1], 4: [1, 2, 2, 2, 2, 2], 5: [2, 4, 4]}
    assert all(model.get_layer(f"conv{s}_block1_{i}_conv").strides == (1, 1) for s in (4, 5) for i in (1, 2, 0))
    basic = kr.build("ResNet18", include_top=False, input_shape=(64, 64, 3), output_stride=16)  # timm's BasicBlock
    rates = [basic.get_layer(f"conv5_block{b}_{i}_conv").dilation_rate[0] for b in (1, 2) for i in (1, 2)]
    assert rates == [1, 2, 2, 2]
    slim = kr.build("ResNet50V2", include_top=False, input_shape=(64, 64, 3), output_stride=16)  # TF-slim's rate
    assert [slim.get_layer(f"conv{s}_block{b}_2_conv").dilation_rate[0] for s, b in ((4, 5), (4, 6), (5, 1))] == [
        1, 1, 2]
    assert slim.get_layer("conv5_block1_2_pad").padding == ((2, 2), (2, 2))  # explicit pads grow with the rate


def test_a_pyramid_runs_and_selects_levels():
    model = kr.pyramid("ResNet20", ["P2", "P0", "P2"], output_stride=2)
    out = model.predict(np.random.default_rng(0).random((2, 32, 32, 3), "float32"), verbose=0)
    assert {k: v.shape for k, v in out.items()} == {"P2": (2, 16, 16, 64), "P0": (2, 32, 32, 16)}
    assert kr.pyramid("ResNet20", "P1", name="backbone").name == "backbone"


@pytest.mark.parametrize("kwargs,message", [
    (dict(levels=["P3", "P6"]), r"`levels` must be None or some of \['P2', 'P3', 'P4', 'P5'\]; received "
                                r"levels=\['P3', 'P6'\] \('P6' is not a level of this network\)"),
    (dict(levels=[]), r"`levels` must be None or some of .*; received levels=\[\]"),
    (dict(levels=3), r"received levels=3"),
    (dict(include_top=True), r"`include_top` must be False or left out; received include_top=True"),
    (dict(pooling="avg"), r"`pooling` must be None or left out; received pooling='avg'"),
    (dict(output_stride=4), r"`output_stride` must be None or one of \[32, 16, 8\] for this stem and 4 stages; "
                            r"received output_stride=4"),
    (dict(output_stride=12), r"received output_stride=12"),
    (dict(output_stride=16.0), r"received output_stride=16.0"),
])
def test_bad_requests_name_the_value_and_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kr.pyramid("ResNet50", **kwargs)


def test_bad_output_strides_in_the_spec_and_the_builders():
    with pytest.raises(ValueError, match=r"one of \[4, 2, 1\] for this stem and 3 stages; received output_stride=8"):
        kr.ResNet20(output_stride=8)
    with pytest.raises(ValueError, match=r"received output_stride=True"):
        kr.Spec((1, 1, 1), stem="cifar", output_stride=True)
    with pytest.raises(ValueError, match=r"received output_stride=12"):
        kr.complexity("ResNet50", output_stride=12)
    assert kr.Spec.from_dict(kr.SPECS["ResNet50"].replace(output_stride=8).to_dict()).output_stride == 8
