"""The README stays true: its model table is the one `complexity` computes, and CI runs its test command."""

import pathlib
import subprocess

from keras_resnet.tools.show import table

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_model_table_is_current():
    assert table() in README, "regenerate with: keras-resnet show --table"


def test_ci_runs_the_readme_test_command():
    lines = README.splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith("<!-- test-command"))
    command = lines[marker + 2]
    assert "pytest" in command and command.startswith("python3 -m venv")
    extracted = subprocess.run(["awk", '/<!-- test-command/ {getline; getline; print; exit}', "README.md"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == command
    assert "README.md" in (ROOT / ".ci" / "run").read_text()
