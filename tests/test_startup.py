"""The command line's quiet start-up (keras_resnet._startup): TensorFlow's C++ log lines
are dropped, everything else written while Keras is imported is shown, and a failing
import shows all of it."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from keras_resnet import _startup

ROOT = pathlib.Path(__file__).resolve().parents[1]
C_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")

# What TensorFlow 2.21 writes to file descriptor 2 on import, on a machine without a GPU.
TENSORFLOW_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796594489.692806   11463 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796594489.693129   11463 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    "E0000 00:00:1796594490.100000   11463 cuda_executor.cc:1228] failed call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.",
]
OTHER_LINES = [
    "Epoch 1/10",
    "WARNING: the dataset is small",
    "Traceback (most recent call last):",
    "ImportError: cannot import name 'x'",
    "I0000 is not a time",
    "  I0000 00:00:1.0 indented, so not TensorFlow's",
]

# A stand-in for Keras: writes TensorFlow's lines and one of its own to file descriptor 2,
# then fails if FAKE_KERAS_FAILS is set.
FAKE_KERAS = f"""
import os
os.write(2, {("".join(line + chr(10) for line in TENSORFLOW_LINES) + "a line of Keras' own" + chr(10)).encode()!r})
if os.environ.get("FAKE_KERAS_FAILS"):
    raise ImportError("this Keras is broken")
"""


@pytest.mark.parametrize("line", TENSORFLOW_LINES)
def test_tensorflow_log_lines_are_recognised(line):
    assert _startup._LOG_LINE.match(line)


@pytest.mark.parametrize("line", OTHER_LINES)
def test_other_lines_are_kept(line):
    assert not _startup._LOG_LINE.match(line)


def test_the_command_line_is_recognised(monkeypatch):
    for argv, orig_argv, expected in [(["/usr/bin/keras-resnet", "show"], ["python", "/usr/bin/keras-resnet"], True),
                                      (["-m", "show"], ["python", "-m", "keras_resnet", "show"], True),
                                      (["-c"], ["python", "-c", "import keras_resnet"], False),
                                      (["train.py"], ["python", "train.py"], False)]:
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setattr(sys, "orig_argv", orig_argv)
        assert _startup.is_command_line() == expected, orig_argv


def _with_fake_keras(tmp_path, code, fails=False, env=()):
    """Runs `code` in a child whose `import keras` finds FAKE_KERAS."""
    (tmp_path / "keras").mkdir(exist_ok=True)
    (tmp_path / "keras" / "__init__.py").write_text(FAKE_KERAS)
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(PYTHONPATH=str(tmp_path), **dict(env), **({"FAKE_KERAS_FAILS": "1"} if fails else {}))
    return subprocess.run([sys.executable, *code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=environment)


QUIET_IMPORT = (f"import importlib.util, os\n"
                f"spec = importlib.util.spec_from_file_location('startup', {_startup.__file__!r})\n"
                f"startup = importlib.util.module_from_spec(spec)\n"
                f"spec.loader.exec_module(startup)\n"
                f"startup.quiet_import()\n"
                f"print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")


def test_quiet_import_drops_only_tensorflow_lines(tmp_path):
    result = _with_fake_keras(tmp_path, ["-c", QUIET_IMPORT])
    assert result.returncode == 0, result.stderr
    assert result.stderr == "a line of Keras' own\n"
    assert result.stdout == "3\n"  # TensorFlow's own log level, unless set


def test_quiet_import_keeps_the_log_level_that_is_set(tmp_path):
    result = _with_fake_keras(tmp_path, ["-c", QUIET_IMPORT], env={"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"


def test_a_failing_import_shows_everything(tmp_path):
    """`python -m keras_resnet` with a Keras that fails to import: every captured line, then the error."""
    result = _with_fake_keras(tmp_path, ["-m", "keras_resnet", "show", "--model", "ResNet20"], fails=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[:len(TENSORFLOW_LINES) + 1] == [*TENSORFLOW_LINES, "a line of Keras' own"]
    assert lines[-1] == "ImportError: this Keras is broken"


def test_the_command_line_prints_no_tensorflow_log_line():
    """TensorFlow itself, TF_CPP_MIN_LOG_LEVEL unset."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "keras_resnet", "show", "--model", "ResNet20", "--no-summary"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stderr
    assert "ResNet20: Spec(" in result.stdout
    noise = [line for line in result.stderr.splitlines() if C_LOG_LINE.match(line) or "absl::InitializeLog" in line]
    assert noise == []
