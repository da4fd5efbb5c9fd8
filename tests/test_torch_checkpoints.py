"""torchvision and timm checkpoints -> keras_resnet (`keras_resnet.torch_checkpoints`):
logit parity for every network of both libraries that the table shares, in eval mode
with random weights and BatchNorm statistics; checkpoint files read with weights_only;
`keras-resnet convert`; loading the converted file without PyTorch; clear errors for
checkpoints that do not fit, damaged files and misused arguments."""

import os
import sys
import types

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import torch_checkpoints
from keras_resnet.cli.main import main
from keras_resnet.weight_files import preprocessing_mode

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


@pytest.fixture(scope="module")
def timm():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return pytest.importorskip("timm", reason="timm cannot be imported")


def random_torchvision(tvm, arch, classes=7, seed=0):
    """torchvision's `arch` with random weights and random BatchNorm statistics,
    in eval mode, and its logits on a random batch (NCHW)."""
    return randomised(getattr(tvm, arch)(num_classes=classes), seed)


def random_timm(timm, arch, size=SIZE, seed=0):
    return randomised(timm.create_model(arch, pretrained=False, num_classes=7), seed, size)


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


def one_error_line(capsys):
    """The one line a command printed on stderr (asserting there is exactly one)."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


# torchvision -------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(torch_checkpoints.TORCHVISION))
def test_converted_logits_match_torchvision(tvm, arch):
    net, x, expected = random_torchvision(tvm, arch)
    model = torch_checkpoints.from_torchvision(net.state_dict(), arch, input_shape=(SIZE, SIZE, 3),
                                               classifier_activation=None)
    assert model.output_shape == (None, 7)  # classes from the checkpoint
    assert np.ptp(expected) > 0.1  # the logits differ, so a wrong conversion shows
    np.testing.assert_allclose(keras_logits(model, x), expected, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_converted_with_preprocessing_takes_raw_images(tvm):
    """`include_preprocessing=True` on a converted checkpoint is torchvision's normalisation, in the model: raw
    0-255 images give torchvision's logits on `Normalize(mean, std)(image / 255)`, through `from_torchvision` and
    through `load_torchvision` into a model built with it."""
    import torch

    net, x, _ = random_torchvision(tvm, "resnet18")
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        expected = net((torch.from_numpy(x).permute(0, 3, 1, 2) - mean) / std).numpy()
    model = torch_checkpoints.from_torchvision(net.state_dict(), "resnet18", input_shape=(SIZE, SIZE, 3),
                                               classifier_activation=None, include_preprocessing=True)
    built = keras_resnet.build("ResNet18", layout="torchvision", input_shape=(SIZE, SIZE, 3), classes=7,
                               classifier_activation=None, include_preprocessing=True)
    torch_checkpoints.load_torchvision(built, net.state_dict())
    for keras_model in (model, built):
        assert keras_model.get_layer("preprocess_torch")
        np.testing.assert_allclose(keras_logits(keras_model, 255 * x), expected, rtol=0, atol=1e-4)


def test_file_round_trip_without_torch(tvm, tmp_path, monkeypatch, capsys):
    """A .pth file converts (arch recognised), the Keras weights file it gives
    loads with `weights=<path>` while `import torch` fails, and the command line
    writes the same file, never over an existing one without --overwrite."""
    import torch

    net, x, expected = random_torchvision(tvm, "resnet18")
    pth = str(tmp_path / "resnet18.pth")
    torch.save(net.state_dict(), pth)
    model = torch_checkpoints.from_torchvision(pth, input_shape=(SIZE, SIZE, 3))
    assert model.name == "resnet18"
    model.save_weights(tmp_path / "a.weights.h5")

    out = tmp_path / "b.weights.h5"
    assert main(["convert", pth, str(out)]) == 0
    assert "keras_resnet.build('ResNet18', layout='torchvision', classes=7" in capsys.readouterr().out
    written = out.read_bytes()
    assert main(["convert", pth, str(out)]) == 2
    assert one_error_line(capsys) == f"keras-resnet convert: error: {str(out)!r} exists; pass --overwrite to replace it"
    assert out.read_bytes() == written
    assert main(["convert", pth, str(tmp_path / "whole.keras")]) == 0
    assert sorted(os.listdir(tmp_path)) == ["a.weights.h5", "b.weights.h5", "resnet18.pth", "whole.keras"]

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
        torch_checkpoints.from_torchvision(pth)
    capsys.readouterr()
    assert main(["convert", pth, str(tmp_path / "c.weights.h5")]) == 1  # no PyTorch: not a bad option
    assert "pip install torch" in one_error_line(capsys)


def test_no_top_and_wrapped_checkpoints(tvm):
    """Without the top the fc tensors are ignored; DataParallel's "module." and a
    training checkpoint's {"state_dict": ...} wrapper are accepted."""
    net, x, _ = random_torchvision(tvm, "resnet18")
    wrapped = {"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}
    model = torch_checkpoints.from_torchvision(wrapped, "resnet18", include_top=False, pooling="avg")
    import torch

    with torch.no_grad():
        features = torch.flatten(net.avgpool(torch.nn.Sequential(*list(net.children())[:-2])(
            torch.from_numpy(x).permute(0, 3, 1, 2))), 1).numpy()
    np.testing.assert_allclose(keras_logits(model, x), features, rtol=0, atol=1e-4)


def test_mismatches_name_the_tensor(tvm):
    state = {k: v.numpy() for k, v in tvm.resnet18().state_dict().items()}
    assert torch_checkpoints._guess_arch(state) == "resnet18"
    with pytest.raises(ValueError, match=r"no tensor 'layer1\.2\.conv1\.weight'.*looks like torchvision's resnet18"):
        torch_checkpoints.from_torchvision(state, "resnet34")
    wrong = {**state, "layer2.0.conv1.weight": np.zeros((128, 32, 3, 3), "float32")}
    with pytest.raises(ValueError, match=r"'layer2\.0\.conv1\.weight' has shape \(128, 32, 3, 3\), the model "
                                         r"needs \(128, 64, 3, 3\)"):
        torch_checkpoints.from_torchvision(wrong, "resnet18")
    extra = {**state, "layer4.1.se.fc1.weight": state["fc.weight"]}
    with pytest.raises(ValueError, match=r"no variable for tensor\(s\) 'layer4\.1\.se\.fc1\.weight'"):
        torch_checkpoints.from_torchvision(extra, "resnet18")
    missing = {k: v for k, v in state.items() if k != "layer2.0.downsample.1.running_var"}
    with pytest.raises(ValueError, match=r"no tensor 'layer2\.0\.downsample\.1\.running_var'"):
        torch_checkpoints.from_torchvision(missing)  # arch recognised, then the tensor is missing
    with pytest.raises(ValueError, match=r"`arch` must be one of \[.*'resnet18'.*received arch='resnet200'"):
        torch_checkpoints.from_torchvision(state, "resnet200")
    with pytest.raises(ValueError, match="none of torchvision's"):
        torch_checkpoints.from_torchvision({"conv1.weight": np.zeros((64, 3, 7, 7))})
    with pytest.raises(ValueError, match="do not pass `weights`"):
        torch_checkpoints.from_torchvision(state, "resnet18", weights="imagenet")


def test_keras_layout_has_no_torchvision_counterpart(tvm):
    state = tvm.resnet18(num_classes=7).state_dict()
    model = keras_resnet.build("ResNet18", classes=7)  # keras layout: convs with a bias
    with pytest.raises(ValueError, match=r"no tensor 'conv1\.bias'"):
        torch_checkpoints.load_torchvision(model, state)


# timm --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(torch_checkpoints.TIMM))
def test_converted_logits_match_timm(timm, arch, tmp_path):
    import torch

    # 40x40 reaches ResNet-D's average pools at odd sizes (5, 3): timm's ceil_mode pooling.
    size = 40 if arch.endswith("d") or arch.startswith("resnetrs") else SIZE
    net, x, expected = random_timm(timm, arch, size)
    torch.save(net.state_dict(), tmp_path / f"{arch}.pth")
    model = torch_checkpoints.from_timm(tmp_path / f"{arch}.pth", input_shape=(size, size, 3),
                                        classifier_activation=None)
    assert model.name == arch  # recognised from the tensors
    assert model.output_shape == (None, 7)
    assert np.ptp(expected) > 0.1
    np.testing.assert_allclose(keras_logits(model, x), expected, rtol=0, atol=1e-4)



# Dilated networks (Spec.output_stride) -----------------------------------------


def torch_levels(net, x):
    """The outputs of `net`'s layer1 ... layer4 (torchvision's and timm's stages) on `x` (NHWC), as P2 ... P5 (NHWC)."""
    import torch

    levels = {}
    hooks = [getattr(net, f"layer{i}").register_forward_hook(
        lambda module, args, out, level=f"P{i + 1}": levels.__setitem__(level, out.permute(0, 2, 3, 1).numpy()))
        for i in range(1, 5)]
    with torch.no_grad():
        net(torch.from_numpy(x).permute(0, 3, 1, 2))
    for hook in hooks:
        hook.remove()
    return levels


def assert_levels_match(model, expected, x, output_stride):
    ours = {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}
    assert list(ours) == list(expected) == ["P2", "P3", "P4", "P5"]
    assert ours["P5"].shape[1] == -(-x.shape[1] // output_stride)
    for level, value in expected.items():
        np.testing.assert_allclose(ours[level], value, rtol=0, atol=1e-4, err_msg=level)


@pytest.mark.parametrize("arch,dilate", [("resnet50", [False, True, True]),
                                         pytest.param("resnet50", [False, False, True], marks=pytest.mark.slow),
                                         ("resnext50_32x4d", [False, True, True])])
def test_dilated_torchvision_features_match(tvm, arch, dilate):
    """torchvision's `replace_stride_with_dilation` (its Bottleneck's grouped 3x3 included) is `output_stride`:
    every level within 1e-4 of torchvision's, from the same converted weights."""
    net, x, _ = randomised(getattr(tvm, arch)(num_classes=7, replace_stride_with_dilation=dilate))
    output_stride = 32 // 2 ** sum(dilate)
    model = keras_resnet.pyramid(torch_checkpoints.TORCHVISION[arch], layout="torchvision",
                                 output_stride=output_stride, input_shape=(SIZE, SIZE, 3))
    torch_checkpoints.load_torchvision(model, net.state_dict())
    assert_levels_match(model, torch_levels(net, x), x, output_stride)


@pytest.mark.parametrize("arch,output_stride", [("resnet18", 8), ("resnet50d", 16)])
def test_dilated_timm_features_match(timm, arch, output_stride):
    """timm's `output_stride`: its BasicBlock's two dilations, ResNet-D's stride-1 average pool (40x40: odd
    sizes, where its zero padding counts)."""
    net, x, _ = randomised(timm.create_model(arch, pretrained=False, num_classes=7, output_stride=output_stride),
                           size=40)
    model = keras_resnet.pyramid(torch_checkpoints.TIMM[arch], layout="torchvision", output_stride=output_stride,
                                 input_shape=(40, 40, 3))
    torch_checkpoints.load_torchvision(model, net.state_dict())
    assert_levels_match(model, torch_levels(net, x), x, output_stride)

def test_preprocessing_is_torch_mode_for_every_timm_model(timm):
    """timm's recorded mean and std are the ImageNet ones that preprocess_input's "torch" mode uses."""
    for arch, row in torch_checkpoints.TIMM.items():
        cfg = timm.models.get_pretrained_cfg(arch)
        assert preprocessing_mode(row, layout="torchvision") == "torch"
        np.testing.assert_allclose(cfg.mean, (0.485, 0.456, 0.406))
        np.testing.assert_allclose(cfg.std, (0.229, 0.224, 0.225))


def test_timm_command_line_and_mismatches(timm, tmp_path, capsys):
    import torch

    net, x, expected = random_timm(timm, "seresnet50")
    torch.save(net.state_dict(), tmp_path / "se.pth")
    out = tmp_path / "se.weights.h5"
    assert main(["convert", str(tmp_path / "se.pth"), str(out), "--source", "timm"]) == 0
    loaded = keras_resnet.build("SEResNet50", classes=7, input_shape=(SIZE, SIZE, 3), classifier_activation=None,
                                weights=out)
    np.testing.assert_allclose(keras_logits(loaded, x), expected, rtol=0, atol=1e-4)
    # seresnet50 is timm's, not torchvision's (the default --source): one line, status 2.
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "se.pth"), str(tmp_path / "x.weights.h5"), "--arch", "seresnet50"]) == 2
    assert "--arch seresnet50 is not one of torchvision's" in one_error_line(capsys)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"no tensor 'layer1\.0\.se\.fc2\.bias'.*looks like timm's seresnet50"):
        torch_checkpoints.from_timm({k: v for k, v in state.items() if k != "layer1.0.se.fc2.bias"}, "seresnet50")
    with pytest.raises(ValueError, match=r"no variable for tensor\(s\) 'layer1\.0\.se\.fc1\.bias'"):
        torch_checkpoints.from_timm(state, "resnet50")
    with pytest.raises(ValueError, match=r"`arch` must be one of \[.*'resnet50d'.*received arch='resnetv2_50'"):
        torch_checkpoints.from_timm(state, "resnetv2_50")


# Files and arguments that are not checkpoints -----------------------------------


@pytest.fixture
def bad_files(tmp_path):
    """Files that are no state dict: random bytes, a checkpoint cut in half, an empty
    file, a whole pickled module (refused by weights_only=True) and a list of tensors."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(7, 512)}, tmp_path / "state.pth")
    data = (tmp_path / "state.pth").read_bytes()
    (tmp_path / "random.pth").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    return tmp_path


@pytest.mark.parametrize("name", ["random.pth", "truncated.pth", "empty.pth", "module.pth"])
def test_a_damaged_file_is_one_error_naming_it(bad_files, name, capsys):
    path = str(bad_files / name)
    for convert in (torch_checkpoints.from_torchvision, torch_checkpoints.from_timm):
        with pytest.raises(ValueError, match=f"Cannot read '{path}' as a PyTorch checkpoint .*damaged"):
            convert(path)
    assert main(["convert", path, str(bad_files / "out.weights.h5")]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"keras-resnet convert: error: Cannot read '{path}' as a PyTorch checkpoint"), line
    assert not (bad_files / "out.weights.h5").exists()


def test_not_a_state_dict_names_what_was_received(bad_files):
    path = str(bad_files / "list.pth")
    with pytest.raises(ValueError, match=f"Expected a state dict .*; received a list in '{path}'"):
        torch_checkpoints.from_torchvision(path)
    with pytest.raises(ValueError, match=r"Expected a state dict .*; received a list$"):
        torch_checkpoints.from_torchvision([1, 2, 3], "resnet18")
    with pytest.raises(ValueError, match="received a dict with names that are not strings"):
        torch_checkpoints.from_torchvision({0: np.zeros(3)}, "resnet18")
    with pytest.raises(ValueError, match=r"No checkpoint file at 'missing\.pth'$"):
        torch_checkpoints.from_torchvision("missing.pth")
    # An architecture where the file belongs (the arguments swapped).
    with pytest.raises(ValueError, match=r"No checkpoint file at 'resnet50' \('resnet50' names torchvision's "
                                         r"architecture, not a checkpoint file\)"):
        torch_checkpoints.from_torchvision("resnet50", "weights.pth")


def test_load_torchvision_needs_a_model():
    state = {"conv1.weight": np.zeros((64, 3, 7, 7), "float32")}
    for model in ("resnet50", None, state):
        with pytest.raises(ValueError, match=r"load_torchvision expects `model`, a keras\.Model built with "
                                             r"layout='torchvision'.*received model=.*keras_resnet\.from_torchvision"):
            torch_checkpoints.load_torchvision(model, state)
    with pytest.raises(ValueError, match=r"received model='resnet50' \(a str\)"):
        torch_checkpoints.load_torchvision("resnet50", state)
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="Layer 'dense' has no torchvision counterpart"):
        torch_checkpoints.load_torchvision(dense, state)
