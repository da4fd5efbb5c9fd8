"""`keras-resnet <command>`: one command line for everything the package runs.

    keras-resnet train --model ResNet20 --epochs 10     # also: python -m keras_resnet train ...

A command is a module with a docstring (its help), `arguments(parser)` and `run(args)`, which returns
its exit status or raises `UsageError` (status 2) or `CommandFailed` (status 1), printed here in one
line. Only the command that runs is imported, so `keras-resnet show` never loads tf.data or keras-tuner.
"""

import importlib
import sys

from keras_resnet.checks import did_you_mean
from keras_resnet.cli.parser import ArgumentParser, CommandFailed, UsageError, command_error

PROG = "keras-resnet"
COMMANDS = {  # name: (module, one line of help)
    "train": ("keras_resnet.training.command", "train a network of the table on a dataset"),
    "tune": ("keras_resnet.tuning.command", "the keras-tuner study of width against depth at fixed parameter budgets"),
    "experiment": ("keras_resnet.experiments.command", "measure one of the papers' claims over several seeds"),
    "benchmark": ("keras_resnet.tools.benchmark", "training and inference throughput beside references"),
    "convert": ("keras_resnet.tools.convert", "convert a torchvision or timm checkpoint to Keras"),
    "show": ("keras_resnet.tools.show", "a network's size, cost and a forward pass; or the whole table"),
    "repeat": ("keras_resnet.tools.repeat", "run a command several times and print its accuracy distribution"),
}


def usage():
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return (f"usage: {PROG} <command> [options]   (or python -m keras_resnet <command> ...)\n\n"
            f"commands:\n{listing}\n\n{PROG} <command> --help shows a command's options.")


def parser(name):
    """The parser of command `name`, with its options, and the command's module."""
    module = importlib.import_module(COMMANDS[name][0])
    p = ArgumentParser(prog=f"{PROG} {name}", description=module.__doc__.split("\n\n")[0])
    module.arguments(p)
    return p, module


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, *rest = argv
    if name not in COMMANDS:
        return command_error(PROG, f"unknown command {name!r}.{did_you_mean(name, COMMANDS)} "
                                   f"Commands: {', '.join(COMMANDS)}")
    p, module = parser(name)
    args = p.parse_args(rest)
    try:
        return module.run(args) or 0
    except UsageError as e:
        return command_error(p.prog, e, status=2)
    except CommandFailed as e:
        return command_error(p.prog, e, status=1)
