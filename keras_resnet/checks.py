"""Argument checks shared by the library and its commands, so that one kind of mistake
always reads the same way, e.g. "`batch_size` must be a positive integer; received
batch_size=0", and every command reports it the same way (`command_error`)."""

import sys


def positive(field, value, kind=int):
    """Returns `value` if it is a positive integer (`kind=int`) or a positive number
    (`kind=(int, float)`); raises ValueError naming `field` otherwise. Booleans are neither."""
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a positive integer" if kind is int else "a positive number"
        raise ValueError(f"`{field}` must be {what}; received {field}={value!r}")
    return value


def one_of(field, value, allowed):
    """Returns `value` if it is one of `allowed`; raises ValueError naming `field` otherwise."""
    if value not in allowed:
        raise ValueError(f"`{field}` must be one of {list(allowed)}; received {field}={value!r}")
    return value


def command_error(prog, error, status=2):
    """Reports a command's bad option the way argparse reports its own: one line,
    `prog: error: message`, on stderr. Returns `status` (argparse's 2) for `main` to return."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status
