"""The spec table, its families and the analytic complexity, against published numbers.

Nothing here builds a model: `complexity` counts from the spec alone.
"""

import dataclasses
import inspect
import pathlib
import re

import pytest

import keras_resnet as kr

# REFERENCE.md s3: keras.applications count_params() with top (1000) and without.
KERAS_COUNTS = {
    "ResNet50": (25_636_712, 23_587_712),
    "ResNet101": (44_707_176, 42_658_176),
    "ResNet152": (60_419_944, 58_370_944),
    "ResNet50V2": (25_613_800, 23_564_800),
    "ResNet101V2": (44_675_560, 42_626_560),
    "ResNet152V2": (60_380_648, 58_331_648),
}

# REFERENCE.md s4: torchvision num_params and GMACs (v1.5 layout).
TORCHVISION = {
    "ResNet18": (11_689_512, 1.814),
    "ResNet34": (21_797_672, 3.664),
    "ResNet50": (25_557_032, 4.089),
    "ResNet101": (44_549_160, 7.801),
    "ResNet152": (60_192_808, 11.514),
    "ResNeXt50_32x4d": (25_028_904, 4.230),
    "ResNeXt101_32x8d": (88_791_336, 16.414),
    "ResNeXt101_64x4d": (83_455_272, 15.46),
    "WideResNet50_2": (68_883_240, 11.398),
    "WideResNet101_2": (126_886_696, 22.753),
}

# REFERENCE.md s5: exact trainable parameters, 10 classes.
CIFAR = {
    "ResNet20": 269_722, "ResNet32": 464_154, "ResNet44": 658_586, "ResNet56": 853_018,
    "ResNet110": 1_727_962, "ResNet1202": 19_421_274,
    "PreActResNet164": 1_703_258, "PreActResNet1001": 10_327_706,
    "ResNeXt29_8x64d": 34_426_698, "ResNeXt29_16x64d": 68_155_210,
}
WRN = {
    (16, 4): 2_748_890, (16, 8): 10_961_370, (16, 10): 17_116_634, (22, 8): 17_158_106,
    (22, 10): 26_797_914, (28, 10): 36_479_194, (28, 12): 52_517_850, (40, 1): 563_930,
    (40, 2): 2_243_546, (40, 4): 8_949_210, (40, 8): 35_748_314, (40, 10): 55_841_754, (52, 1): 758_362,
}


@pytest.mark.parametrize("name", KERAS_COUNTS)
def test_keras_applications_counts(name):
    top, notop = KERAS_COUNTS[name]
    assert kr.complexity(name).params == top
    assert kr.complexity(name, include_top=False).params == notop


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_counts_and_macs(name):
    params, gmacs = TORCHVISION[name]
    c = kr.complexity(name, layout="torchvision")
    assert c.trainable_params == params
    decimals = len(str(gmacs).split(".")[1])  # to the precision published
    assert round(c.macs / 1e9, decimals) == gmacs


def test_he2015_table1_macs():
    # Paper: 1.8, 3.6, 3.8, 7.6, 11.3 GFLOPs (multiply-adds), stride on the first 1x1.
    paper = {"ResNet18": 1.8, "ResNet34": 3.6, "ResNet50": 3.8, "ResNet101": 7.6, "ResNet152": 11.3}
    for name, gmacs in paper.items():
        assert abs(kr.complexity(name).macs / 1e9 - gmacs) < 0.1, name
    # Derived, REFERENCE.md s2: 1.814 / 3.664 / 3.858 / 7.570 / 11.282.
    derived = [round(kr.complexity(n).macs / 1e9, 3) for n in paper]
    assert derived == [1.814, 3.664, 3.858, 7.570, 11.282]


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_counts(name):
    assert kr.complexity(name).trainable_params == CIFAR[name]


@pytest.mark.parametrize("depth,widen", WRN)
def test_wide_resnet_counts(depth, widen):
    assert kr.complexity(kr.wide_resnet(depth, widen)).trainable_params == WRN[depth, widen]


def test_wide_resnet_rule_of_thumb():
    # REFERENCE.md s5: params ~ 16128 d k^2 for wide networks.
    c = kr.complexity(kr.wide_resnet(28, 10)).trainable_params
    assert abs(c / (16128 * 28 * 100) - 1) < 0.2


def test_every_row_has_one_greppable_builder_line_with_its_defaults():
    source = pathlib.Path(kr.models.__file__).read_text()
    assert re.findall(r'^(\w+) = _builder\("(\w+)"\)$', source, re.M) == [(name, name) for name in kr.SPECS]
    for name, spec in kr.SPECS.items():
        defaults = {k: p.default for k, p in inspect.signature(getattr(kr, name)).parameters.items()}
        assert (defaults["classes"], defaults["name"]) == (spec.default_classes, name.lower())


def test_depths_follow_the_papers():
    assert [kr.SPECS[n].depth for n in ("ResNet18", "ResNet50", "ResNet152", "ResNet200")] == [18, 50, 152, 200]
    assert [kr.SPECS[n].depth for n in ("ResNet20", "ResNet110", "ResNet1202")] == [20, 110, 1202]
    assert kr.SPECS["PreActResNet1001"].depth == 1001
    assert kr.SPECS["ResNeXt29_8x64d"].depth == 29
    # WRN's 6n+4 also counts the two projection convs: WRN-28 has 26 on the main path.
    assert kr.wide_resnet(28, 10).depth == 26


def test_spec_round_trips_through_a_plain_dict():
    for spec in kr.SPECS.values():
        d = spec.to_dict()
        assert all(isinstance(v, (int, float, str, list, type(None))) for v in d.values())
        assert kr.Spec.from_dict(d) == spec


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        kr.SPECS["ResNet50"].width = 32


@pytest.mark.parametrize("family,bad,rule", [
    (kr.cifar_resnet, 21, "6n+2"), (kr.cifar_resnet, 2, "6n+2"), (kr.preact_resnet, 165, "9n+2"),
    (lambda d: kr.wide_resnet(d, 4), 27, "6n+4"), (lambda d: kr.wide_resnet(d, 4), 4, "6n+4"),
])
def test_depth_outside_family_rule(family, bad, rule):
    with pytest.raises(ValueError, match=rf"{re.escape(rule)}.*received depth={bad}"):
        family(bad)


@pytest.mark.parametrize("fields,message", [
    (dict(width=0), r"`width` must be a positive integer; received width=0"),
    (dict(width=-8), r"received width=-8"),
    (dict(widen=0), r"`widen` must be a positive number; received widen=0"),
    (dict(groups=0), r"received groups=0"),
    (dict(stem_width=0), r"received stem_width=0"),
    (dict(blocks=()), r"non-empty tuple.*received blocks=\(\)"),
    (dict(blocks=(2, 0)), r"received blocks=\(2, 0\)"),
    (dict(block="triple"), r"`block` must be one of \['basic', 'bottleneck'\]; received block='triple'"),
    (dict(unit="f"), r"`unit` must be one of \['a', 'b', 'c', 'd', 'e'\]"),
    (dict(shortcut="D"), r"`shortcut` must be one of \['A', 'B', 'C', 'none'\]; received shortcut='D'"),
    (dict(stem="mnist"), r"`stem` must be one of"),
    (dict(layout="timm"), r"`layout` must be one of \['keras', 'torchvision'\]"),
    (dict(dropout=1.0), r"`dropout` must be in \[0, 1\); received dropout=1.0"),
    (dict(shortcut_scale=0), r"`shortcut_scale` must be a positive number; received shortcut_scale=0"),
    (dict(shortcut_scale="0.5"), r"received shortcut_scale='0.5'"),
    (dict(shortcut="none", shortcut_scale=0.5), r"no shortcut to scale; received shortcut_scale=0.5"),
    (dict(groups=3), r"must be divisible by groups; received groups=3"),
    (dict(block="basic", groups=2, width=64, stem_width=3), r"stem_width must be divisible by groups"),
])
def test_invalid_spec_fields(fields, message):
    with pytest.raises(ValueError, match=message):
        kr.Spec(**{"blocks": (1, 1), **fields})


def test_wide_resnet_widen_must_be_positive():
    with pytest.raises(ValueError, match=r"`widen` must be a positive number; received widen=0"):
        kr.wide_resnet(16, 0)
    with pytest.raises(ValueError, match=r"received cardinality=0"):
        kr.resnext29(0, 64)


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown model 'ResNet51'\. Did you mean .*'ResNet50'.*Known models: ResNet18"):
        kr.get_spec("ResNet51")
    with pytest.raises(ValueError, match=r"Did you mean 'ResNet50V2'"):
        kr.build("resnet50v2")


def test_unknown_override_names_the_allowed_fields():
    with pytest.raises(ValueError, match=r"Unknown arguments \['depth'\].*Spec fields \['blocks', 'block'"):
        kr.complexity("ResNet20", depth=3)


def test_fractional_widen_rounds_the_width():
    spec = kr.wide_resnet(16, 2.5)
    assert spec.widths(0) == (40, 40) and spec.widths(2) == (160, 160)


def test_complexity_of_variable_size_has_no_macs():
    c = kr.complexity("ResNet50", input_shape=(None, None, 3), include_top=False)
    assert c.macs is None and c.params == KERAS_COUNTS["ResNet50"][1]


def test_macs_scale_with_resolution():
    small = kr.complexity("ResNet20", input_shape=(32, 32, 3)).macs
    large = kr.complexity("ResNet20", input_shape=(64, 64, 3)).macs
    dense = 64 * 10
    assert large - dense == 4 * (small - dense)
