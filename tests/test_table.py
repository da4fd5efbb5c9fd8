"""The spec table and its families (keras_resnet/table.py): rows as the papers define them,
depth rules, and looking a row up by name. Nothing here builds a model."""

import re

import pytest

import keras_resnet as kr


def test_depths_follow_the_papers():
    depth = {name: spec.depth for name, spec in kr.SPECS.items()}
    assert [depth[n] for n in ("ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet200")] == \
        [18, 34, 50, 101, 152, 200]
    assert [depth[n] for n in ("ResNet20", "ResNet32", "ResNet44", "ResNet56", "ResNet110", "ResNet1202")] == \
        [20, 32, 44, 56, 110, 1202]
    assert (depth["PreActResNet164"], depth["PreActResNet1001"], depth["ResNeXt29_8x64d"]) == (164, 1001, 29)
    # WRN's 6n+4 also counts the two projection convs: WRN-28 has 26 on the main path.
    assert kr.wide_resnet(28, 10).depth == depth["WRN28_10"] == 26


def test_families_make_the_cifar_rows():
    assert kr.SPECS["ResNet56"] == kr.cifar_resnet(56) and kr.SPECS["ResNet56"].blocks == (9, 9, 9)
    assert kr.SPECS["PreActResNet164"] == kr.preact_resnet(164) and kr.SPECS["PreActResNet164"].blocks == (18, 18, 18)
    assert kr.SPECS["WRN28_10"] == kr.wide_resnet(28, 10) and kr.SPECS["WRN28_10"].blocks == (4, 4, 4)
    assert kr.SPECS["ResNeXt29_16x64d"] == kr.resnext29(16, 64)
    assert kr.wide_resnet(16, 8, dropout=0.3).dropout == 0.3
    assert kr.cifar_resnet(20, shortcut="B", unit="e").replace(shortcut="A", unit="a") == kr.SPECS["ResNet20"]


@pytest.mark.parametrize("family,bad,rule", [
    (kr.cifar_resnet, 21, "6n+2"), (kr.cifar_resnet, 2, "6n+2"), (kr.cifar_resnet, 20.0, "6n+2"),
    (kr.preact_resnet, 165, "9n+2"), (lambda d: kr.wide_resnet(d, 4), 27, "6n+4"),
    (lambda d: kr.wide_resnet(d, 4), 4, "6n+4"),
])
def test_depth_outside_family_rule(family, bad, rule):
    with pytest.raises(ValueError, match=rf"{re.escape(rule)} with n >= 1 \(.*\).*received depth={bad}"):
        family(bad)


def test_depth_beyond_the_block_limit():
    with pytest.raises(ValueError, match=r"CIFAR ResNet depth must be at most 3998 .*received depth=4004"):
        kr.cifar_resnet(6 * 667 + 2)
    assert sum(kr.cifar_resnet(3998).blocks) == 1998


def test_family_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`widen` must be a positive number; received widen=0"):
        kr.wide_resnet(16, 0)
    with pytest.raises(ValueError, match=r"received cardinality=0"):
        kr.resnext29(0, 64)
    with pytest.raises(ValueError, match=r"received group_width=-4"):
        kr.resnext29(8, -4)


def test_get_spec_by_name_or_spec():
    assert kr.get_spec("ResNet50") is kr.SPECS["ResNet50"]
    spec = kr.Spec((1, 1))
    assert kr.get_spec(spec) is spec


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown model 'ResNet51'\. Did you mean .*'ResNet50'.*Known models: ResNet18"):
        kr.get_spec("ResNet51")
    with pytest.raises(ValueError, match=r"Did you mean 'ResNet50V2'"):
        kr.build("resnet50v2")
    with pytest.raises(ValueError, match=r"Unknown model \['ResNet50'\].*or pass a keras_resnet.Spec"):
        kr.get_spec(["ResNet50"])
