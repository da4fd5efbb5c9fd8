"""Every bad input is a clear error: a ValueError in Python, one line and status 2 on the
command line, each naming the value it received. The tables are the user's side of
`keras_resnet.checks` and `keras_resnet.cli.parser`: add a row whenever a public argument or
option is added."""

import math
import os
import sys
import types

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import table
from keras_resnet.cli import main as cli
from keras_resnet.tools import benchmark
from keras_resnet.training import data, recipes
from keras_resnet.tuning import budget
from keras_resnet.tuning.hypermodel import BudgetHyperModel

NAN, INF = math.nan, math.inf
TINY = dict(blocks=(1, 1, 1), width=4, stem_width=4)


def case(call, shown, *args, **kwargs):
    """A bad call and the text of the received value its message must contain."""
    return pytest.param(call, args, kwargs, shown, id=f"{getattr(call, '__name__', call)}-{shown}"[:80])


# The Python API ----------------------------------------------------------------

API = []
# Spec's numeric fields: strings, None, NaN, infinity, booleans, zero, negatives, fractions.
for field, bad in {
    "width": ["8", None, NAN, INF, True, 0, -4, 2.5],
    "stem_width": ["8", None, 0, -1, 1.5, False],
    "groups": ["2", None, 0, -2, 1.5, True],
    "group_width": ["4", 0, -1, 2.5],
    "widen": ["2", None, NAN, INF, -INF, 0, -1, True, 0.001],
    "dropout": ["0.5", None, NAN, INF, -0.1, 1, 1.5, True],
    "shortcut_scale": ["1", None, NAN, INF, 0, -1],
}.items():
    for value in bad:
        API.append(case(keras_resnet.Spec, repr(value), (3, 3), "basic", **{field: value}))
for field, bad in {"block": ["plain", None, 3, ["basic"]], "stem": ["tiny", None, 0], "unit": ["z", None, 1],
                   "shortcut": ["D", None, "a"], "layout": ["timm", None, 2]}.items():
    for value in bad:
        API.append(case(keras_resnet.Spec, repr(value), (3, 3), **{field: value}))
for blocks in [(), "abc", (0, 1), (1, -1), (1.5,), (True,), None, (10**6,), (1, "2")]:
    API.append(case(keras_resnet.Spec, repr(blocks).strip("()").rstrip(","), blocks))
API += [
    case(keras_resnet.Spec.from_dict, "{}", {}),
    case(keras_resnet.Spec.from_dict, "'ResNet50'", "ResNet50"),
    case(keras_resnet.Spec.from_dict, "bogus", {"blocks": [1], "bogus": 1}),
    case(keras_resnet.Spec.from_dict, "-1", {"blocks": [1], "width": -1}),
]
# The builders: keras.applications arguments and Spec changes.
for kwargs, shown in [
    (dict(widen=INF), "inf"), (dict(widen=NAN), "nan"), (dict(widen=0.001), "0.001"), (dict(dropout=None), "None"),
    (dict(dropout="0.5"), "'0.5'"), (dict(width=0), "0"), (dict(unit="z"), "'z'"), (dict(bogus=1), "bogus"),
    (dict(classes=0), "0"), (dict(classes=-1), "-1"), (dict(classes="10"), "'10'"), (dict(classes=2.5), "2.5"),
    (dict(classes=True), "True"), (dict(classes=NAN), "nan"), (dict(classes=10**9), "1000000000"),
    (dict(input_shape=(32, 32, True)), "True"), (dict(input_shape=(32, 32)), "(32, 32)"),
    (dict(input_shape="abc"), "'abc'"), (dict(input_shape=(0, 32, 3)), "(0, 32, 3)"),
    (dict(input_shape=(32, 32, 0)), "(32, 32, 0)"), (dict(input_shape=(32.5, 32, 3)), "32.5"),
    (dict(input_shape=(32, 32, None)), "None"), (dict(input_shape=[32, 32, "3"]), "'3'"),
    (dict(input_shape=(32, 32, 3, 1)), "(32, 32, 3, 1)"), (dict(input_shape=(-32, 32, 3)), "-32"),
    (dict(input_tensor="abc"), "'abc'"), (dict(input_tensor=3), "3"), (dict(input_tensor=[1, 2]), "[1, 2]"),
    (dict(classifier_activation="bogus"), "'bogus'"), (dict(classifier_activation=3), "3"),
    (dict(dtype="int32"), "'int32'"), (dict(dtype="int8"), "'int8'"), (dict(dtype="bogus"), "'bogus'"),
    (dict(dtype=3), "3"), (dict(name=123), "123"), (dict(name=""), "''"), (dict(name=["a"]), "['a']"),
    (dict(pooling="mean"), "'mean'"), (dict(pooling=1), "1"), (dict(pooling=["avg"]), "['avg']"),
    (dict(include_top="yes"), "'yes'"), (dict(include_top=None), "None"), (dict(weights=123), "123"),
    (dict(weights="no/such/file.weights.h5"), "no/such/file.weights.h5"),
]:
    API.append(case(keras_resnet.ResNet20, shown, **kwargs))
for kwargs, shown in [(dict(input_shape=(16, 16, 3)), "(16, 16, 3)"), (dict(classes=10**9), "1000000000"),
                      (dict(input_shape=(224, 224, 3), classes=0), "0"), (dict(widen=-2), "-2")]:
    API.append(case(keras_resnet.ResNet50, shown, weights=None, **kwargs))
for args, shown in [((10, 0.01), "0.01"), ((10**6, 1), "1000000"), ((27, 1), "27"), ((10, "a"), "'a'"),
                    ((10, NAN), "nan"), ((10, INF), "inf"), ((10, 0), "0"), ((10, -1), "-1"), ((True, 1), "True"),
                    (("16", 1), "'16'"), ((None, 1), "None"), ((16, 1, 1.0), "1.0"), ((16, 1, -0.1), "-0.1")]:
    API.append(case(keras_resnet.WideResNet, shown, *args))
for call, args, shown in [
    (table.cifar_resnet, (21,), "21"), (table.cifar_resnet, ("20",), "'20'"), (table.cifar_resnet, (-4,), "-4"),
    (table.cifar_resnet, (2,), "2"), (table.cifar_resnet, (20.0,), "20.0"), (table.preact_resnet, (100,), "100"),
    (table.preact_resnet, (None,), "None"), (table.resnext29, (0, 64), "0"), (table.resnext29, (8, "64"), "'64'"),
    (table.wide_resnet, (28, 10, NAN), "nan"), (keras_resnet.get_spec, ("Nope",), "'Nope'"),
    (keras_resnet.get_spec, (3,), "3"), (keras_resnet.get_spec, (None,), "None"),
    (keras_resnet.build, ("ResNet21",), "'ResNet21'"), (keras_resnet.build, (["ResNet20"],), "['ResNet20']"),
]:
    API.append(case(call, shown, *args))
for kwargs, shown in [(dict(classes=0), "0"), (dict(input_shape=(32, 32, "3")), "'3'"), (dict(pooling="x"), "'x'"),
                      (dict(widen=NAN), "nan"), (dict(blocks=(0,)), "0"), (dict(input_shape=(0, 0, 3)), "(0, 0, 3)")]:
    API.append(case(keras_resnet.complexity, shown, "ResNet20", **kwargs))
# Recipes, data, the tuner's solver and hypermodel.
for value in [["he2015"], "adam", None, 3, {"name": "wrn"}]:
    API.append(case(recipes.get, repr(value), value))
for kwargs, shown in [
    (dict(batch_size=0), "0"), (dict(batch_size="8"), "'8'"), (dict(batch_size=None), "None"), (dict(batch_size=NAN), "nan"),
    (dict(batch_size=-8), "-8"), (dict(batch_size=8.5), "8.5"), (dict(validation_split=1), "1"),
    (dict(validation_split=-0.1), "-0.1"), (dict(validation_split=NAN), "nan"), (dict(validation_split="0.1"), "'0.1'"),
    (dict(test_split=0), "0"), (dict(test_split=1), "1"), (dict(test_split=None), "None"), (dict(pad_mode="wrap"), "'wrap'"),
    (dict(image_size=0), "0"), (dict(subset=0), "0"), (dict(subset=-5), "-5"), (dict(subset="100"), "'100'"),
    (dict(seed=-1), "-1"), (dict(seed=2**32), "4294967296"), (dict(seed="1"), "'1'"), (dict(seed=1.5), "1.5"),
    (dict(dataset="nope"), "'nope'"), (dict(dataset="cifar-10"), "'cifar-10'"), (dict(dataset=3), "3"),
]:
    API.append(case(data.load, shown, **{"dataset": "digits", **kwargs}))
for args, kwargs, shown in [
    ((0, 16), {}, "0"), ((-5, 16), {}, "-5"), (("1k", 16), {}, "'1k'"), ((10**12, 16), {}, "1000000000000"),
    ((NAN, 16), {}, "nan"), ((600_000, 12), {}, "12"), ((600_000, "16"), {}, "'16'"), ((600_000, 16, 0), {}, "0"),
    ((600_000, 16, 1, 1.0), {}, "1.0"), ((600_000, 16), dict(input_shape=[32, 32, "3"]), "'3'"),
    ((600_000, 16), dict(input_shape=(32, 32)), "(32, 32)"), ((600_000, 16), dict(input_shape=(32, 32, 0)), "0"),
    ((600_000, 16), dict(classes=0), "0"), ((600_000, 16), dict(tolerance=1.5), "1.5"),
    ((600_000, 16), dict(tolerance=NAN), "nan"),
]:
    API.append(case(budget.plan, shown, *args, **kwargs))
for text in ["abc", "-5", "0", "1e6", "", "5x", None]:
    API.append(case(budget.parse_count, repr(text), text))
for args, kwargs, shown in [((600_000, [16]), {}, "600000"), (([600_000], 16), {}, "16"), (([], [16]), {}, "[]"),
                            (([1, 1], [16]), {}, "[1, 1]"), (([600_000], [16]), dict(tolerance=0), "0"),
                            (([600_000], [16]), dict(tolerance=1), "1"), (([600_000], [16], [1], "0.1"), {}, "'0.1'")]:
    API.append(case(BudgetHyperModel, shown, *args, steps_per_epoch=1, epochs=1, **kwargs))
for value in ["notamodel", None, 3]:
    API.append(case(keras_resnet.unfreeze, repr(value), value))


@pytest.mark.parametrize("call, args, kwargs, shown", API)
def test_api_bad_input(call, args, kwargs, shown):
    with pytest.raises(ValueError) as e:
        call(*args, **kwargs)
    assert shown in str(e.value), str(e.value)


# Files given as weights, image folders, state dicts ---------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    model = keras_resnet.build("ResNet20", **TINY)
    model.save_weights(root / "tiny.weights.h5")
    keras_resnet.build("ResNet20", classes=3, **TINY).save(root / "other.keras")
    whole = (root / "tiny.weights.h5").read_bytes()
    (root / "truncated.weights.h5").write_bytes(whole[: len(whole) // 2])
    (root / "empty.weights.h5").write_bytes(b"")
    (root / "notes.weights.h5").write_text("not weights")
    (root / "notes.txt").write_text("not weights")
    (root / "folder").mkdir()
    (root / "cut.keras").write_bytes((root / "other.keras").read_bytes()[:300])
    return root


@pytest.mark.parametrize("name", ["folder", "notes.txt", "notes.weights.h5", "empty.weights.h5",
                                  "truncated.weights.h5", "other.keras", "cut.keras", "missing.weights.h5"])
def test_bad_weights_file_names_the_path(files, name):
    with pytest.raises(ValueError) as e:
        keras_resnet.build("ResNet20", weights=str(files / name), **TINY)
    assert str(files / name) in str(e.value)


def _image_folder(root, images):
    for cls, name, content in images:
        (root / cls).mkdir(parents=True, exist_ok=True)
        (root / cls / name).write_bytes(content)
    return root


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")  # a PNG's first bytes


@pytest.mark.parametrize("images, shown", [
    ([("a", "x.png", PNG)], "1 image"),
    ([("a", "x.png", PNG), ("b", "y.jpg", b"")], "y.jpg"),
    ([("a", "x.png", PNG), ("b", "y.jpg", b"hello, not a jpeg"), ("b", "z.png", PNG)], "y.jpg"),
    ([("a", "x.txt", b"text")], "No images"),
])
def test_bad_image_folder(tmp_path, images, shown):
    folder = _image_folder(tmp_path / "images", images)
    with pytest.raises(ValueError) as e:
        data.load(str(folder), batch_size=2)
    assert shown in str(e.value), str(e.value)


@pytest.fixture(scope="module")
def state_dict():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    # As in test_torch_checkpoints.py: the CUDA wheel's C++ operators cannot load; the model classes need none.
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    torch_model = pytest.importorskip("torchvision.models").resnet18(weights=None)
    return {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}


@pytest.mark.parametrize("tensor, shape", [("layer1.0.conv2.weight", (64, 0, 3, 3)),
                                           ("conv1.weight", (64, 3, 5, 5)), ("fc.weight", (10,)),
                                           ("layer4.1.bn2.running_var", (3,))])
def test_torchvision_state_dict_of_wrong_shapes(state_dict, tensor, shape):
    state = {**state_dict, tensor: np.zeros(shape, np.float32)}
    with pytest.raises(ValueError) as e:
        keras_resnet.from_torchvision(state, None if tensor.startswith("layer1") else "resnet18")
    message = str(e.value)
    assert tensor in message or "none of torchvision's" in message, message


# The commands ---------------------------------------------------------------------


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    return str(path)


COMMANDS = []
for argv, shown in [
    (["--epochs", "0"], "0"), (["--epochs", "-1"], "-1"), (["--epochs", "two"], "'two'"), (["--batch-size", "0"], "0"),
    (["--batch-size", "-8"], "-8"), (["--steps-per-epoch", "0"], "0"), (["--subset", "0"], "0"), (["--seed", "-1"], "-1"),
    (["--seed", "4294967296"], "4294967296"), (["--seed", "x"], "'x'"), (["--validation-split", "1"], "1.0"),
    (["--validation-split", "nan"], "nan"), (["--validation-split", "-0.5"], "-0.5"), (["--model", "Nope"], "'Nope'"),
    (["--dataset", "nope"], "'nope'"), (["--recipe", "nope"], "'nope'"), (["--set", "unit=z"], "'z'"),
    (["--set", "width=0"], "0"), (["--set", "widen=nan"], "nan"), (["--set", "dropout=2"], "2"),
    (["--set", "depth=3"], "'depth=3'"), (["--set", "blocks=(0,)"], "0"), (["--strategy", "horovod"], "'horovod'"),
    (["--verbose", "5"], "5"), (["--output-dir", "{file}/run"], "{file}"), (["--output-dir", "/proc/run"], "/proc/run"),
    (["--resume", "--output-dir", "{tmp}/none"], "{tmp}/none"),
]:
    COMMANDS.append(pytest.param("train", argv, shown, id=f"train-{' '.join(argv)}"))
for argv, shown in [
    (["--epochs", "0"], "0"), (["--batch-size", "0"], "0"), (["--budgets", "abc"], "'abc'"), (["--budgets", "20G"], "20000000000"),
    (["--budgets", "-5"], "'-5'"), (["--depths", "12"], "12"), (["--depths", "x"], "'x'"), (["--cardinalities", "0"], "0"),
    (["--dropouts", "1.5"], "1.5"), (["--tolerance", "0"], "0"), (["--tolerance", "nan"], "nan"),
    (["--workers", "-1"], "-1"), (["--timeout", "5"], "5"), (["--workers", "1", "--timeout", "-5"], "-5"),
    (["--oracle-ip", "localhost:1"], "'localhost:1'"), (["--seed", "-1"], "-1"), (["--max-trials", "0"], "0"),
    (["--seeds", "0"], "0"), (["--seeds", "1"], "--seeds=1"), (["--subset", "0"], "0"), (["--steps-per-epoch", "0"], "0"),
    (["--tuner", "x"], "'x'"), (["--recipe", "x"], "'x'"), (["--output-dir", "{file}"], "{file}"),
    (["--output-dir", "/proc/study"], "/proc/study"),
]:
    COMMANDS.append(pytest.param("tune", argv, shown, id=f"tune-{' '.join(argv)}"))
for argv, shown in [
    (["--models", "Nope"], "'Nope'"), (["--models", "ResNet50:timm"], "'timm'"), (["--size", "-5"], "-5"),
    (["--size", "0"], "0"), (["--size", "8"], "(8, 8, 3)"), (["--batch", "0"], "0"), (["--steps", "0"], "0"),
    (["--rounds", "0"], "0"), (["--build-repeats", "0"], "0"), (["--baseline", "X"], "'X'"),
    (["--peak-gflops", "-1"], "-1"), (["--peak-gflops", "nan"], "nan"), (["--modes", "x"], "'x'"),
    (["--precisions", "x"], "'x'"), (["--build-time", "Nope"], "'Nope'"), (["--size", "x"], "'x'"),
]:
    COMMANDS.append(pytest.param("benchmark", argv, shown, id=f"benchmark-{' '.join(argv)}"))
for argv, shown in [
    (["--input-size", "0"], "0"), (["--input-size", "-5"], "-5"), (["--input-size", "8", "--model", "ResNet50"], "8"),
    (["--channels", "0"], "0"), (["--classes", "0"], "0"), (["--classes", "1000000000"], "1000000000"),
    (["--batch-size", "0"], "0"), (["--model", "Nope"], "'Nope'"), (["--channels", "x"], "'x'"),
]:
    COMMANDS.append(pytest.param("show", argv, shown, id=f"show-{' '.join(argv)}"))
for argv, shown in [
    (["{file}", "out.txt"], "'out.txt'"), (["{file}", "{tmp}"], "{tmp}"), (["{tmp}/missing.pth", "o.keras"], "missing.pth"),
    (["{file}", "o.keras", "--arch", "x"], "'x'"), (["{file}"], "output"),
]:
    COMMANDS.append(pytest.param("convert", argv, shown, id=f"convert-{' '.join(argv)}"))
for argv, shown in [
    (["nope"], "'nope'"), (["degradation", "--seeds", "1"], "1"), (["degradation", "--seeds", "0"], "0"),
    (["degradation", "--epochs", "0"], "0"), (["degradation", "--subset", "-1"], "-1"),
    (["degradation", "--batch-size", "0"], "0"), (["degradation", "--dataset", "nope"], "'nope'"),
    (["degradation", "--output-dir", "{file}"], "{file}"), (["degradation", "--verbose", "9"], "9"),
]:
    COMMANDS.append(pytest.param("experiment", argv, shown, id=f"experiment-{' '.join(argv)}"))
for argv, shown in [
    (["--runs", "0", "--", "true"], "0"), (["--runs", "-2", "--", "true"], "-2"), (["--threshold", "2", "--", "true"], "2"),
    (["--threshold", "nan", "--", "true"], "nan"), ([], "no command"),
    (["--output", "{file}/x.csv", "--", "true"], "{file}/x.csv"), (["--", "nosuchprog"], "'nosuchprog'"),
]:
    COMMANDS.append(pytest.param("repeat", argv, shown, id=f"repeat-{' '.join(argv)}"))


@pytest.mark.parametrize("command, argv, shown", COMMANDS)
def test_command_bad_option(command, argv, shown, a_file, tmp_path, capsys, exit_status, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a command might write lands in the repository
    def reached(*args, **kwargs):  # a "bad" option that is in fact good must not start a long run
        raise AssertionError(f"{argv} was accepted: it reached training or measuring")

    for owner, name in ((keras.Model, "fit"), (benchmark, "measure"), (benchmark, "build_times")):
        monkeypatch.setattr(owner, name, reached)
    fill = lambda text: text.replace("{file}", a_file).replace("{tmp}", str(tmp_path))
    assert exit_status(cli.main, [command, *(fill(a) for a in argv)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"keras-resnet {command}: error: "), err
    assert fill(shown) in lines[0], lines[0]
    assert not list((tmp_path / "runs").glob("**/*")), "a refused command wrote into runs/"


def test_numpy_integers_are_good_values():
    assert keras_resnet.build("ResNet20", input_shape=(32, 32, np.int64(3)), **TINY).output_shape == (None, 10)
