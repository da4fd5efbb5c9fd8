"""Parameters and multiply-accumulates from the spec alone (keras_resnet/complexity.py),
against the numbers that keras.applications, torchvision, timm and the papers publish.

Nothing here builds a model; tests/test_models.py checks that every built row has the
parameters counted here."""

import sys
import types

import pytest

import keras_resnet as kr
from keras_resnet.torch_checkpoints import TIMM

# keras.applications' count_params(), with the top (1000 classes) and without.
KERAS_COUNTS = {
    "ResNet50": (25_636_712, 23_587_712),
    "ResNet101": (44_707_176, 42_658_176),
    "ResNet152": (60_419_944, 58_370_944),
    "ResNet50V2": (25_613_800, 23_564_800),
    "ResNet101V2": (44_675_560, 42_626_560),
    "ResNet152V2": (60_380_648, 58_331_648),
}

# torchvision's published num_params and GMACs of its weights (the v1.5 layout).
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

# The papers' CIFAR networks, 10 classes: exact trainable parameters, which the papers give
# rounded (ResNet-110 1.7M, He et al. 2015 Table 6; WRN-28-10 36.5M, Zagoruyko & Komodakis 2016).
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

# timm 1.0's trainable parameters of the refinement rows (random weights, 1000 classes).
TIMM_PARAMS = {
    "ResNet50D": 25_576_264, "ResNet101D": 44_568_392, "ResNet152D": 60_212_040, "ResNet200D": 64_693_064,
    "SEResNet50": 28_088_024, "SEResNeXt50_32x4d": 27_559_896, "SEResNeXt101_32x4d": 48_955_416,
}
TIMM_NAMES = {"ResNet50D": "resnet50d", "ResNet101D": "resnet101d", "ResNet152D": "resnet152d",
              "ResNet200D": "resnet200d", "SEResNet50": "seresnet50", "SEResNeXt50_32x4d": "seresnext50_32x4d",
              "SEResNeXt101_32x4d": "seresnext101_32x4d", "ResNetRS50": "resnetrs50", "ResNetRS101": "resnetrs101"}


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
    # The paper: 1.8, 3.6, 3.8, 7.6, 11.3 GFLOPs (multiply-adds), the stride on the first 1x1.
    paper = {"ResNet18": 1.8, "ResNet34": 3.6, "ResNet50": 3.8, "ResNet101": 7.6, "ResNet152": 11.3}
    derived = [round(kr.complexity(n).macs / 1e9, 3) for n in paper]
    assert derived == [1.814, 3.664, 3.858, 7.570, 11.282]
    assert all(abs(d - gmacs) < 0.1 for d, gmacs in zip(derived, paper.values()))


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_counts(name):
    assert kr.complexity(name).trainable_params == CIFAR[name]


@pytest.mark.parametrize("depth,widen", WRN)
def test_wide_resnet_counts(depth, widen):
    assert kr.complexity(kr.wide_resnet(depth, widen)).trainable_params == WRN[depth, widen]


def test_wide_resnet_rule_of_thumb():
    # n blocks per stage of two 3x3 convs, 16k, 32k and 64k wide: 18 * 256 * 21 n k^2
    # parameters, with n ~ d / 6 about 16128 d k^2.
    c = kr.complexity(kr.wide_resnet(28, 10)).trainable_params
    assert abs(c / (16128 * 28 * 100) - 1) < 0.2


@pytest.mark.parametrize("name", TIMM_PARAMS)
def test_timm_counts(name):
    assert kr.complexity(name).trainable_params == TIMM_PARAMS[name]


def test_refinement_rows_are_timm_rows():
    assert {row: TIMM[arch] for row, arch in TIMM_NAMES.items()} == {row: row for row in TIMM_NAMES}


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


def test_variable_size_has_no_macs():
    c = kr.complexity("ResNet50", input_shape=(None, None, 3), include_top=False)
    assert c.macs is None and c.params == KERAS_COUNTS["ResNet50"][1]


def test_macs_scale_with_resolution():
    small = kr.complexity("ResNet20", input_shape=(32, 32, 3)).macs
    large = kr.complexity("ResNet20", input_shape=(64, 64, 3)).macs
    dense = 64 * 10
    assert large - dense == 4 * (small - dense)


def test_arguments_change_the_count():
    assert kr.complexity("ResNet20", classes=100).params - kr.complexity("ResNet20").params == 90 * 65
    assert kr.complexity("ResNet20", input_shape=(32, 32, 1)).params == kr.complexity("ResNet20").params - 2 * 9 * 16
    pooled = kr.complexity("ResNet20", include_top=False, pooling="max")
    assert pooled.params == kr.complexity("ResNet20").params - 650 and pooled.macs == kr.complexity("ResNet20").macs - 640
    assert kr.complexity("ResNet56", shortcut="B").params > kr.complexity("ResNet56").params  # B projects


def test_unknown_changes_name_the_allowed_fields():
    with pytest.raises(ValueError, match=r"Unknown arguments \['depth'\].*Spec fields \['blocks', 'block'"):
        kr.complexity("ResNet20", depth=3)
