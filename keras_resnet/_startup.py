"""A quiet start-up for the command line: no TensorFlow C++ log lines before the first epoch.

Importing TensorFlow writes INFO lines from C++ (oneDNN, "Could not find cuda drivers", CPU features) to file
descriptor 2 before its logging reads `TF_CPP_MIN_LOG_LEVEL`. When this process is the `keras-resnet` command,
Keras is imported here with descriptor 2 captured, and every captured line that is not such a log line is written
back. A program that imports keras_resnet as a library keeps TensorFlow's output as it is.
"""

import contextlib
import os
import re
import sys
import tempfile

# absl/TSL log lines ("I0000 00:00:... port.cc:153] ..."), their preamble and continuation.
_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:|WARNING: All log messages before absl::InitializeLog|"
                       r"To enable the following instructions:)")


def is_command_line():
    """Whether this process is `keras-resnet ...` or `python -m keras_resnet ...`."""
    return os.path.basename(sys.argv[0]) == "keras-resnet" or sys.orig_argv[1:3] == ["-m", "keras_resnet"]


@contextlib.contextmanager
def _captured_stderr():
    """Captures what is written to file descriptor 2; yields a list that receives it as text."""
    sys.stderr.flush()
    saved = os.dup(2)
    captured = []
    with tempfile.TemporaryFile("w+b") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            captured.append(f.read().decode(errors="replace"))


def quiet_import():
    """Imports Keras (and its backend) without TensorFlow's C++ start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    failed = True
    try:
        with _captured_stderr() as captured:
            import keras  # noqa: F401

            failed = False
    finally:
        lines = captured[0].splitlines(keepends=True)
        sys.stderr.write("".join(line for line in lines if failed or not _LOG_LINE.match(line)))


if is_command_line() and "keras" not in sys.modules:
    quiet_import()
