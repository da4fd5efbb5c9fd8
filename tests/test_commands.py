"""Every command: its module paths (canonical and the old aliases), its console script,
and one way of reporting a bad option: `prog: error: message` on one line of stderr,
exit status 2, as argparse reports its own."""

import importlib
import pathlib
import re
import runpy
import sys

import pytest

from keras_resnet import __main__ as summary
from keras_resnet.tools import benchmark, convert
from keras_resnet.training import train
from keras_resnet.tuning import command

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("main, argv, prog, message", [
    (train.main, ["--epochs", "0"], "keras-resnet-train", "`--epochs` must be a positive integer; received --epochs=0"),
    (train.main, ["--model", "ResNet51"], "keras-resnet-train", "Unknown model 'ResNet51'. Did you mean"),
    (command.main, ["--epochs", "0"], "keras-resnet-tune", "`--epochs` must be a positive integer"),
    # plan_all's message lists every depth that misses the budget, one per line: joined into one.
    (command.main, ["--budgets", "100", "--depths", "10,16"], "keras-resnet-tune",
     "No depth in [10, 16] can meet the budget 100: WRN-10 (cardinality 1) cannot meet"),
    (benchmark.main, ["--size", "0"], "keras-resnet-benchmark", "`--size` must be a positive integer"),
    (benchmark.main, ["--models", "ResNet51"], "keras-resnet-benchmark", "Unknown model 'ResNet51'"),
    (benchmark.main, ["--models", "ResNet20", "--baseline", "ResNet50"], "keras-resnet-benchmark",
     "--baseline must be one of --models ['ResNet20']; received 'ResNet50'"),
    (benchmark.main, ["--build-time", "ResNet20"], "keras-resnet-benchmark", "keras.applications has no 'ResNet20'"),
    (convert.main, ["resnet18.pth", "resnet18.h5"], "keras-resnet-convert", "the output must end in .weights.h5"),
    (convert.main, ["missing.pth", "out.weights.h5"], "keras-resnet-convert", "No checkpoint file at 'missing.pth'"),
    (summary.main, ["--model", "ResNet51"], "python -m keras_resnet", "Unknown model 'ResNet51'"),
])
def test_a_bad_option_is_one_line_and_status_2(main, argv, prog, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{prog}: error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err and "Traceback" not in captured.err
    assert not captured.out and not list(tmp_path.iterdir())  # nothing measured, trained or written


@pytest.mark.parametrize("main, prog, argv", [
    (train.main, "keras-resnet-train", []), (command.main, "keras-resnet-tune", []),
    (benchmark.main, "keras-resnet-benchmark", []), (convert.main, "keras-resnet-convert", ["a.pth", "b.weights.h5"]),
])
def test_argparse_errors_also_exit_2(main, prog, argv, exit_status, capsys):
    assert exit_status(main, [*argv, "--frobnicate"]) == 2
    assert f"{prog}: error: unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize("module, prog", [
    ("keras_resnet.training", "keras-resnet-train"), ("keras_resnet.train", "keras-resnet-train"),
    ("keras_resnet.tuning", "keras-resnet-tune"), ("keras_resnet.tune", "keras-resnet-tune"),
    ("keras_resnet.tools.benchmark", "keras-resnet-benchmark"), ("keras_resnet.benchmark", "keras-resnet-benchmark"),
    ("keras_resnet.tools.convert", "keras-resnet-convert"), ("keras_resnet.convert", "keras-resnet-convert"),
])
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # runpy, on a module imported above
def test_python_m_runs_the_command_at_its_new_and_old_path(module, prog, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")


def test_console_scripts_name_each_command():
    scripts = dict(re.findall(r'"([\w-]+) = ([\w.:]+)"', (ROOT / "setup.py").read_text()))
    assert scripts == {"keras-resnet-train": "keras_resnet.training.train:main",
                       "keras-resnet-tune": "keras_resnet.tuning.command:main",
                       "keras-resnet-benchmark": "keras_resnet.tools.benchmark:main",
                       "keras-resnet-convert": "keras_resnet.tools.convert:main"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name))
