"""The commands' parser, their shared options, and the one-line error path: a bad option reads as
argparse's own (`keras-resnet train: error: ...`, status 2, `UsageError`); a failure that is not the
user's option, such as a full disk, is one line with status 1 (`CommandFailed`).
"""

import argparse
import contextlib
import errno
import sys

from keras_resnet.checks import positive


class UsageError(ValueError):
    """A bad option or input: reported in one line, exit status 2."""


class CommandFailed(RuntimeError):
    """A command that could not finish (its message says what is kept and what to do): status 1."""


def command_error(prog, error, status=2):
    """Prints `prog: error: message` on one line to stderr; returns `status` for `main` to return."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors read as the commands' own: one line, status 2, no usage block."""

    def error(self, message):
        sys.exit(command_error(self.prog, f"{message} (see {self.prog} --help)"))


@contextlib.contextmanager
def bad_options():
    """Inside, a ValueError is the user's bad option or input: one line, status 2."""
    try:
        yield
    except UsageError:
        raise
    except ValueError as e:
        raise UsageError(str(e)) from e


@contextlib.contextmanager
def full_disk_ends(folder, resume):
    """Inside, a full disk (or quota) while writing into `folder` ends the command in one
    line ending with `resume` (how to continue), status 1; any other OSError propagates."""
    try:
        yield
    except OSError as e:
        full = getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(  # h5py says it in words only
            text in str(e) for text in ("No space left on device", "Disk quota exceeded"))
        if not full:
            raise
        raise CommandFailed(f"no space left on the disk of {folder} (while writing "
                            f"{getattr(e, 'filename', None) or 'a file'}); every file written so far is "
                            f"whole: free some space, then {resume}") from e


def check_positive(args, *names):
    """Checks that each option `names` (attribute names of `args`) is unset or a positive integer."""
    for name in names:
        if getattr(args, name) is not None:
            positive(f"--{name.replace('_', '-')}", getattr(args, name))


def number_list(parse):
    """An argparse type: comma-separated values, each read by `parse` (ValueError: a usage error)."""
    def parse_list(text):
        try:
            return [parse(v) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse_list


# Options several commands share


def data_options(p, dataset="digits"):
    """--dataset, --data-dir, --subset (`keras_resnet.training.data.load`)."""
    from keras_resnet.training.data import DATASETS

    p.add_argument("--dataset", default=dataset,
                   help=f"one of {', '.join(DATASETS)} or a folder of class sub-folders (default {dataset})")
    p.add_argument("--data-dir", help="for fashion_mnist, the folder of its four files (default: Debian's, then "
                                      "Keras' cache, else a download); for tensorflow-datasets sets, the folder of the "
                                      "set or its downloaded files, or where to download them (default: tfds' own)")
    p.add_argument("--subset", type=int, help="train on this many examples: a fixed, class-balanced part of the "
                                              "training split, for small machines")


def training_options(p, recipe, epochs=None, batch_size=None):
    """--recipe, --epochs, --batch-size (`keras_resnet.training.recipes`)."""
    from keras_resnet.training.recipes import RECIPES

    p.add_argument("--recipe", default=recipe, help=f"one of {', '.join(RECIPES)} (default {recipe})")
    recipes = "the recipe's"
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs; the recipe's schedule is laid "
                   f"out over them (default: {recipes if epochs is None else epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help="global batch size; the learning rate follows "
                   f"it by the linear scaling rule (default: {recipes if batch_size is None else batch_size})")


def output_option(p, default, what="run", shown=None):
    """--output-dir, whose help shows `shown` (or `default`) as the default."""
    p.add_argument("--output-dir", default=default, help=f"the folder of the {what} (default: {shown or default})")
