"""Every tutorial runs end to end at smoke scale (mock data, two steps, tiny networks)."""

import pathlib
import runpy
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("[0-9]*.py"))


def test_there_are_five_tutorials():
    assert [p.name[:2] for p in TUTORIALS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path), "--smoke"])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "error" in out or "accuracy" in out
    if path.stem == "03_degradation":
        assert (tmp_path / "degradation.png").stat().st_size > 10_000
        assert all(f"{kind}-{depth}" in out for kind in ("plain", "ResNet") for depth in (20, 56))
