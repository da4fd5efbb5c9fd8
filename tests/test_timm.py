"""timm checkpoints -> keras_resnet (`weights.from_timm`): logit parity for every timm
model the table shares, in eval mode with random weights and BatchNorm statistics,
saved to a file and read with weights_only; the command line; preprocessing."""

import sys
import types

import numpy as np
import pytest
from test_torchvision import SIZE, keras_logits, randomised

import keras_resnet
from keras_resnet import weights
from keras_resnet.tools import convert


@pytest.fixture(scope="module")
def timm():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm", reason="timm cannot be imported")


def random_timm(timm, arch, size=SIZE, seed=0):
    return randomised(timm.create_model(arch, pretrained=False, num_classes=7), seed, size)


@pytest.mark.parametrize("arch", list(weights.TIMM))
def test_converted_logits_match_timm(timm, arch, tmp_path):
    import torch

    # 40x40 reaches ResNet-D's average pools at odd sizes (5, 3): timm's ceil_mode pooling.
    size = 40 if arch.endswith("d") or arch.startswith("resnetrs") else SIZE
    net, x, expected = random_timm(timm, arch, size)
    torch.save(net.state_dict(), tmp_path / f"{arch}.pth")
    model = weights.from_timm(tmp_path / f"{arch}.pth", input_shape=(size, size, 3), classifier_activation=None)
    assert model.name == arch  # recognised from the tensors
    assert model.output_shape == (None, 7)
    assert np.ptp(expected) > 0.1
    np.testing.assert_allclose(keras_logits(model, x), expected, rtol=0, atol=1e-4)


def test_preprocessing_is_torch_mode_for_every_timm_model(timm):
    """timm's recorded mean and std are the ImageNet ones that preprocess_input's "torch" mode uses."""
    for arch, row in weights.TIMM.items():
        cfg = timm.models.get_pretrained_cfg(arch)
        assert weights.preprocessing_mode(row, layout="torchvision") == "torch"
        np.testing.assert_allclose(cfg.mean, (0.485, 0.456, 0.406))
        np.testing.assert_allclose(cfg.std, (0.229, 0.224, 0.225))


def test_command_line_and_mismatches(timm, tmp_path, capsys):
    import torch

    net, x, expected = random_timm(timm, "seresnet50")
    torch.save(net.state_dict(), tmp_path / "se.pth")
    out = tmp_path / "se.weights.h5"
    convert.main([str(tmp_path / "se.pth"), str(out), "--source", "timm"])
    loaded = keras_resnet.build("SEResNet50", classes=7, input_shape=(SIZE, SIZE, 3), classifier_activation=None,
                                weights=out)
    np.testing.assert_allclose(keras_logits(loaded, x), expected, rtol=0, atol=1e-4)
    # seresnet50 is timm's, not torchvision's (the default --source): one line, status 2.
    capsys.readouterr()
    assert convert.main([str(tmp_path / "se.pth"), str(tmp_path / "x.weights.h5"), "--arch", "seresnet50"]) == 2
    assert "--arch seresnet50 is not one of torchvision's" in capsys.readouterr().err
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"no tensor 'layer1\.0\.se\.fc2\.bias'.*looks like timm's seresnet50"):
        weights.from_timm({k: v for k, v in state.items() if k != "layer1.0.se.fc2.bias"}, "seresnet50")
    with pytest.raises(ValueError, match=r"no variable for tensor\(s\) 'layer1\.0\.se\.fc1\.bias'"):
        weights.from_timm(state, "resnet50")
    with pytest.raises(ValueError, match=r"`arch` must be one of \[.*'resnet50d'.*received arch='resnetv2_50'"):
        weights.from_timm(state, "resnetv2_50")
