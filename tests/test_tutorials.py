"""Every tutorial runs end to end at smoke scale (mock data, two steps, tiny networks)
and prints its results in the form its text describes."""

import pathlib
import re
import runpy
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("[0-9]*.py"))
ERROR = r"(\d{1,2}|100)\.\d\d"  # a percentage
# The lines each tutorial's results must contain (regular expressions, whole lines).
RESULTS = {
    "01_quickstart": [rf"ResNet-20 CIFAR-10 test error: {ERROR}% \(He 2015: 8\.75% after 182 epochs\)",
                      r"ResNet50V2 tf_flowers test accuracy: (0\.\d{3}|1\.000)"],
    "02_cifar10_he2015": [rf"ResNet20 +[\d,]+ +{ERROR} +8\.75", rf"ResNet110 +[\d,]+ +{ERROR} +6\.43"],
    "03_degradation": [rf"{kind}-{depth} +final training error +{ERROR}%  validation error +{ERROR}%"
                       for kind in ("plain", "ResNet") for depth in (20, 56)] + [r"Wrote degradation\.png"],
    "04_unit_orders": [rf"\(a\) +{ERROR} +6\.61", rf"\(e\) +{ERROR} +6\.37"],
    "05_wide_and_resnext": [rf"WRN28_10 +[\d,]+ params +{ERROR} \(paper 3\.89\)",
                            rf"ResNeXt29_8x64d +[\d,]+ params +{ERROR} \(paper 3\.65\)"],
}
SLOW = ("01_quickstart", "03_degradation", "05_wide_and_resnext")  # over 20 s each, even at smoke scale


def test_there_are_five_tutorials():
    assert [p.stem for p in TUTORIALS] == list(RESULTS)


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in TUTORIALS],
                         ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path), "--smoke"])
    runpy.run_path(str(path), run_name="__main__")
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    for pattern in RESULTS[path.stem]:
        assert any(re.fullmatch(pattern, line) for line in lines), f"no line matches {pattern!r}"
    if path.stem == "03_degradation":
        assert (tmp_path / "degradation.png").stat().st_size > 10_000
