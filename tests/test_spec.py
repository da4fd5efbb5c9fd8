"""The `Spec` record (keras_resnet/spec.py): its checks, derived values and plain-dict form.

Nothing here builds a model."""

import dataclasses

import pytest

import keras_resnet as kr


@pytest.mark.parametrize("fields,message", [
    (dict(width=0), r"`width` must be a positive integer; received width=0"),
    (dict(width=-8), r"received width=-8"),
    (dict(widen=0), r"`widen` must be a positive number; received widen=0"),
    (dict(groups=0), r"received groups=0"),
    (dict(group_width=0), r"`group_width` must be a positive integer; received group_width=0"),
    (dict(stem_width=0), r"received stem_width=0"),
    (dict(blocks=()), r"non-empty tuple.*received blocks=\(\)"),
    (dict(blocks=(2, 0)), r"received blocks=\(2, 0\)"),
    (dict(blocks=(1000, 1001)), r"at most 2000 blocks in all .*\(2001 blocks\)"),
    (dict(block="triple"), r"`block` must be one of \['basic', 'bottleneck'\]; received block='triple'"),
    (dict(unit="f"), r"`unit` must be one of \['a', 'b', 'c', 'd', 'e'\]"),
    (dict(shortcut="D"), r"`shortcut` must be one of \['A', 'B', 'C', 'none'\]; received shortcut='D'"),
    (dict(stem="mnist"), r"`stem` must be one of"),
    (dict(layout="timm"), r"`layout` must be one of \['keras', 'torchvision'\]"),
    (dict(dropout=1.0), r"`dropout` must be in \[0, 1\); received dropout=1.0"),
    (dict(shortcut_scale=0), r"`shortcut_scale` must be a positive number; received shortcut_scale=0"),
    (dict(shortcut_scale="0.5"), r"received shortcut_scale='0.5'"),
    (dict(shortcut="none", shortcut_scale=0.5), r"no shortcut to scale; received shortcut_scale=0.5"),
    (dict(widen=0.001), r"rounds to 0 channels.*received widen=0.001"),
    (dict(groups=3), r"must be divisible by groups; received groups=3"),
    (dict(block="basic", groups=2, width=64, stem_width=3), r"stem_width must be divisible by groups"),
    # The refinements
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
def test_invalid_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        kr.Spec(**{"blocks": (1, 1), **fields})


def test_a_list_of_blocks_becomes_a_tuple():
    assert kr.Spec([2, 2]).blocks == (2, 2) and kr.Spec([2, 2]) == kr.Spec((2, 2))


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        kr.SPECS["ResNet50"].width = 32


def test_spec_round_trips_through_a_plain_dict():
    for spec in kr.SPECS.values():
        d = spec.to_dict()
        assert all(isinstance(v, (int, float, str, list, type(None))) for v in d.values())
        assert kr.Spec.from_dict(d) == spec


@pytest.mark.parametrize("d,message", [
    ([3, 3, 3], r"needs a dict with at least `blocks`.*received \[3, 3, 3\]"),
    ({"width": 16}, r"needs a dict with at least `blocks`"),
    ({"blocks": [1], "depth": 20}, r"Unknown Spec fields \['depth'\]; allowed: \['blocks', 'block'"),
])
def test_from_dict_names_what_is_wrong(d, message):
    with pytest.raises(ValueError, match=message):
        kr.Spec.from_dict(d)


def test_widths_per_stage():
    bottleneck = kr.SPECS["ResNet50"]
    assert [bottleneck.widths(i) for i in range(4)] == [(64, 256), (128, 512), (256, 1024), (512, 2048)]
    resnext = kr.SPECS["ResNeXt50_32x4d"]  # C x d = 32 x 4 in the first stage
    assert resnext.widths(0) == (128, 256) and resnext.widths(3) == (1024, 2048)
    assert kr.SPECS["WideResNet50_2"].widths(0) == (128, 256)  # widen acts on the 3x3 only
    fractional = kr.wide_resnet(16, 2.5)
    assert fractional.widths(0) == (40, 40) and fractional.widths(2) == (160, 160)


def test_squeeze_excite_widths_follow_timm():
    spec = kr.SPECS["SEResNet50"]
    assert [spec.se_width(spec.widths(i)[1]) for i in range(4)] == [16, 32, 64, 128]
    assert spec.replace(se_ratio=1 / 16).se_width(16) == 8  # at least 8
    assert spec.replace(se_ratio=0.25).se_width(100) == 24  # nearest multiple of 8


def test_the_layouts_differ_where_documented():
    v1, v15, v2 = kr.SPECS["ResNet50"], kr.SPECS["ResNet50"].replace(layout="torchvision"), kr.SPECS["ResNet50V2"]
    assert (v1.strided_conv, v15.strided_conv, v2.strided_conv) == (0, 1, 1)  # Caffe's 1x1, v1.5's and v2's 3x3
    assert (v1.bn_epsilon, v15.bn_epsilon, v1.bn_momentum, v15.bn_momentum) == (1.001e-5, 1e-5, 0.99, 0.9)
    assert (v1.conv_bias(normalized=True), v15.conv_bias(normalized=True)) == (True, False)
    assert (v2.conv_bias(normalized=True), v2.conv_bias(normalized=False)) == (False, True)
    assert (v1.slim, v2.slim, v2.replace(layout="torchvision").slim) == (False, True, False)
    assert v1.kernel_initializer == "glorot_uniform"
    assert v15.kernel_initializer["config"] == {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}


def test_stage_outputs_and_sizes():
    assert kr.SPECS["ResNet50"].stage_outputs == ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
                                                  "conv5_block3_out")
    assert kr.SPECS["ResNet50V2"].stage_outputs[-1] == "post_relu"  # the final activation ends the last stage
    assert (kr.SPECS["ResNet50"].min_size, kr.SPECS["ResNet20"].min_size) == (32, 4)
    assert (kr.SPECS["ResNet50"].default_size, kr.SPECS["ResNet20"].default_size) == (224, 32)
    assert (kr.SPECS["ResNet50"].default_classes, kr.SPECS["ResNet20"].default_classes) == (1000, 10)
