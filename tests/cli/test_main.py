"""The command line: `keras-resnet <command>` and `python -m keras_resnet <command>` run every
command, and a bad option is one line of stderr, `keras-resnet NAME: error: message`, with exit
status 2, as argparse reports its own."""

import pathlib
import re

import pytest

from keras_resnet.cli import main as cli

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "`--epochs` must be a positive integer; received --epochs=0"),
    (["train", "--model", "ResNet51"], "Unknown model 'ResNet51'. Did you mean"),
    (["tune", "--epochs", "0"], "`--epochs` must be a positive integer"),
    # plan_all's message lists every depth that misses the budget, one per line: joined into one.
    (["tune", "--budgets", "100", "--depths", "10,16"],
     "No depth in [10, 16] can meet the budget 100: WRN-10 (cardinality 1) cannot meet"),
    (["experiment", "degradation", "--seeds", "1"], "`seeds` must give at least 2 different seeds"),
    (["benchmark", "--size", "0"], "`--size` must be a positive integer"),
    (["benchmark", "--models", "ResNet51"], "Unknown model 'ResNet51'"),
    (["benchmark", "--build-time", "ResNet20"], "keras.applications has no 'ResNet20'"),
    (["convert", "resnet18.pth", "resnet18.h5"], "the output must end in .weights.h5"),
    (["convert", "missing.pth", "out.weights.h5"], "No checkpoint file at 'missing.pth'"),
    (["show", "--model", "ResNet51"], "Unknown model 'ResNet51'"),
    (["repeat", "--runs", "0", "--", "true"], "`--runs` must be a positive integer"),
])
def test_a_bad_option_is_one_line_and_status_2(argv, message, tmp_path, monkeypatch, capsys, exit_status):
    monkeypatch.chdir(tmp_path)
    assert exit_status(cli.main, argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"keras-resnet {argv[0]}: error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err and "Traceback" not in captured.err
    assert not captured.out and not list(tmp_path.iterdir())  # nothing measured, trained or written


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_argparse_errors_also_exit_2(name, exit_status, capsys):
    argv = {"convert": ["a.pth", "b.weights.h5"], "experiment": ["degradation"]}.get(name, [])
    assert exit_status(cli.main, [name, *argv, "--frobnicate"]) == 2
    assert f"keras-resnet {name}: error: unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help(name, exit_status, capsys):
    assert exit_status(cli.main, [name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: keras-resnet {name} ") and "--help" in out


def test_an_unknown_command_names_the_close_one(capsys):
    assert cli.main(["tarin"]) == 2
    err = capsys.readouterr().err
    assert err == ("keras-resnet: error: unknown command 'tarin'. Did you mean 'train'? Commands: "
                   "train, tune, experiment, benchmark, convert, show, repeat\n")


def test_no_command_lists_them(capsys):
    assert cli.main([]) == 2 and cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, help_) in cli.COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(help_)}$", out, re.MULTILINE)


def test_console_script_is_the_dispatcher():
    scripts = dict(re.findall(r'"([\w-]+) = ([\w.:]+)"', (ROOT / "setup.py").read_text()))
    assert scripts == {"keras-resnet": "keras_resnet.cli.main:main"}
