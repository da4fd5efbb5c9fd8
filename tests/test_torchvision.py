"""torchvision checkpoints -> keras_resnet: logit parity for all ten networks,
clear errors for checkpoints that do not fit, the command line, loading the
converted file without PyTorch."""

import sys
import types

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import weights
from keras_resnet.tools import convert

SIZE = 64  # small inputs keep the 101-layer networks fast; the weights do not depend on it


@pytest.fixture(scope="module")
def tvm():
    """torchvision.models, importable next to the CPU build of torch.

    torchvision's PyPI wheels are CUDA builds whose C++ operators fail to load
    here; the pure-Python model classes need none of them, so the module that
    registers them is replaced by an empty one before the import.
    """
    pytest.importorskip("torch", reason="PyTorch is not installed")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("torchvision.models", reason="torchvision cannot be imported")


def random_torchvision(tvm, arch, classes=7, seed=0):
    """torchvision's `arch` with random weights and random BatchNorm statistics,
    in eval mode, and its logits on a random batch (NCHW)."""
    return randomised(getattr(tvm, arch)(num_classes=classes), seed)


def randomised(net, seed=0, size=SIZE):
    """`net` (torchvision's or timm's ResNet) with random BatchNorm parameters and
    statistics, in eval mode; returns it, a random batch (NHWC) and its logits."""
    import torch

    g = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.uniform_(-0.5, 0.5, generator=g)
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: the statistics of one batch
        for block in net.modules():
            # A small last BN per block (as trained ResNets have) keeps the residual
            # stream from growing with depth, which would make float32 itself the
            # limit of the comparison.
            last = getattr(block, "bn3", None) or getattr(block, "bn2", None)
            if last is not None:
                last.weight.uniform_(0.0, 0.3, generator=g)
                last.bias.uniform_(-0.1, 0.1, generator=g)
        net.train()(torch.rand(4, 3, size, size, generator=g))
        for m in bns:  # then move the statistics away from that batch's
            m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.2, 0.2, generator=g) * m.running_var.sqrt())
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.5, 2.0, generator=g))
        x = torch.rand(2, 3, size, size, generator=g)
        logits = net.eval()(x).numpy()
    return net, x.permute(0, 2, 3, 1).numpy(), logits


def keras_logits(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("arch", list(weights.TORCHVISION))
def test_converted_logits_match_torchvision(tvm, arch):
    net, x, expected = random_torchvision(tvm, arch)
    model = weights.from_torchvision(net.state_dict(), arch, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    assert model.output_shape == (None, 7)  # classes from the checkpoint
    assert np.ptp(expected) > 0.1  # the logits differ, so a wrong conversion shows
    np.testing.assert_allclose(keras_logits(model, x), expected, rtol=0, atol=1e-4)


def test_file_round_trip_without_torch(tvm, tmp_path, monkeypatch, capsys):
    """A .pth file converts (arch recognised), the Keras weights file it gives
    loads with `weights=<path>` while `import torch` fails, and the command line
    writes the same file."""
    import torch

    net, x, expected = random_torchvision(tvm, "resnet18")
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    model = weights.from_torchvision(tmp_path / "resnet18.pth", input_shape=(SIZE, SIZE, 3))
    assert model.name == "resnet18"
    model.save_weights(tmp_path / "a.weights.h5")

    out = tmp_path / "b.weights.h5"
    assert convert.main([str(tmp_path / "resnet18.pth"), str(out)]) == 0
    written = out.read_bytes()
    capsys.readouterr()
    assert convert.main([str(tmp_path / "resnet18.pth"), str(out)]) == 2  # never overwrites without --overwrite
    assert capsys.readouterr().err == f"keras-resnet-convert: error: {str(out)!r} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == written
    assert convert.main([str(tmp_path / "resnet18.pth"), str(tmp_path / "whole.keras")]) == 0

    monkeypatch.setitem(sys.modules, "torch", None)
    for path in (tmp_path / "a.weights.h5", out):
        loaded = keras_resnet.build("ResNet18", layout="torchvision", classes=7, input_shape=(SIZE, SIZE, 3),
                                    classifier_activation=None, weights=path)
        np.testing.assert_allclose(keras_logits(loaded, x), expected, rtol=0, atol=1e-4)
    whole = keras.saving.load_model(tmp_path / "whole.keras")  # 224x224 input, softmax: same weights
    assert [v.path for v in whole.weights] == [v.path for v in loaded.weights]
    for a, b in zip(whole.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ImportError, match="pip install torch"):
        weights.from_torchvision(tmp_path / "resnet18.pth")


def test_no_top_and_wrapped_checkpoints(tvm):
    """Without the top the fc tensors are ignored; DataParallel's "module." and a
    training checkpoint's {"state_dict": ...} wrapper are accepted."""
    net, x, _ = random_torchvision(tvm, "resnet18")
    wrapped = {"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}
    model = weights.from_torchvision(wrapped, "resnet18", include_top=False, pooling="avg")
    import torch

    with torch.no_grad():
        features = torch.flatten(net.avgpool(torch.nn.Sequential(*list(net.children())[:-2])(
            torch.from_numpy(x).permute(0, 3, 1, 2))), 1).numpy()
    np.testing.assert_allclose(keras_logits(model, x), features, rtol=0, atol=1e-4)


def test_mismatches_name_the_tensor(tvm):
    state = {k: v.numpy() for k, v in tvm.resnet18().state_dict().items()}
    assert weights._guess_arch(state) == "resnet18"
    with pytest.raises(ValueError, match=r"no tensor 'layer1\.2\.conv1\.weight'.*looks like torchvision's resnet18"):
        weights.from_torchvision(state, "resnet34")
    wrong = {**state, "layer2.0.conv1.weight": np.zeros((128, 32, 3, 3), "float32")}
    with pytest.raises(ValueError, match=r"'layer2\.0\.conv1\.weight' has shape \(128, 32, 3, 3\), the model "
                                         r"needs \(128, 64, 3, 3\)"):
        weights.from_torchvision(wrong, "resnet18")
    extra = {**state, "layer4.1.se.fc1.weight": state["fc.weight"]}
    with pytest.raises(ValueError, match=r"no variable for tensor\(s\) 'layer4\.1\.se\.fc1\.weight'"):
        weights.from_torchvision(extra, "resnet18")
    missing = {k: v for k, v in state.items() if k != "layer2.0.downsample.1.running_var"}
    with pytest.raises(ValueError, match=r"no tensor 'layer2\.0\.downsample\.1\.running_var'"):
        weights.from_torchvision(missing)  # arch recognised, then the tensor is missing
    with pytest.raises(ValueError, match=r"`arch` must be one of \[.*'resnet18'.*received arch='resnet200'"):
        weights.from_torchvision(state, "resnet200")
    with pytest.raises(ValueError, match="none of torchvision's"):
        weights.from_torchvision({"conv1.weight": np.zeros((64, 3, 7, 7))})
    with pytest.raises(ValueError, match="state dict"):
        weights.from_torchvision([1, 2, 3], "resnet18")
    with pytest.raises(ValueError, match="No checkpoint file at 'missing.pth'"):
        weights.from_torchvision("missing.pth")
    with pytest.raises(ValueError, match="do not pass `weights`"):
        weights.from_torchvision(state, "resnet18", weights="imagenet")


def test_keras_layout_has_no_torchvision_counterpart(tvm):
    state = tvm.resnet18(num_classes=7).state_dict()
    model = keras_resnet.build("ResNet18", classes=7)  # keras layout: convs with a bias
    with pytest.raises(ValueError, match=r"no tensor 'conv1\.bias'"):
        weights.load_torchvision(model, state)
