"""Every tutorial runs end to end at smoke scale (mock data, two steps, tiny networks)
and prints its results in the form its text describes."""

import pathlib
import re
import runpy
import sys

import keras
import pytest

from keras_resnet.experiments import definitions

TUTORIALS = sorted((pathlib.Path(__file__).parents[2] / "tutorials").glob("[0-9]*.py"))
ERROR = r"(\d{1,2}|100)\.\d\d"  # a percentage
DIFFERENCE = r"[+-]\d+\.\d\d"
VERDICT = rf"(echoed|contradicted|not resolved): {{}} \({DIFFERENCE} \[{DIFFERENCE}, {DIFFERENCE}\]\)"
LOSS = r"loss \d+\.\d{3}"
RELOADS = r"\.keras reloads in safe mode, max difference 0\.0e\+00"
# The lines each tutorial's results must contain (regular expressions, whole lines).
RESULTS = {
    "01_quickstart": [rf"ResNet-20 CIFAR-10 test error: {ERROR}% \(He 2015: 8\.75% after 182 epochs\)",
                      r"ResNet50V2 tf_flowers test accuracy: (0\.\d{3}|1\.000)"],
    "02_cifar10_he2015": [rf"ResNet20 +[\d,]+ +{ERROR} +8\.75", rf"ResNet110 +[\d,]+ +{ERROR} +6\.43"],
    # The experiments' verdict lines (keras_resnet.experiments.report.summary), one per claim.
    "03_degradation": [VERDICT.format(re.escape(c.statement)) for c in definitions.get("degradation").claims]
    + [r"Wrote degradation/report\.md and degradation/degradation\.png"],
    "04_unit_orders": [VERDICT.format(re.escape(c.statement)) for c in definitions.get("unit_orders").claims]
    + [r"Wrote unit_orders/report\.md and unit_orders/unit_orders\.png"],
    "05_wide_and_resnext": [rf"WRN28_10 +[\d,]+ params +{ERROR} \(paper 3\.89\)",
                            rf"ResNeXt29_8x64d +[\d,]+ params +{ERROR} \(paper 3\.65\)"],
    # The two heads train (a finite loss) and their saved models reload with the same outputs.
    "06_backbones": [rf"DeepLabV3\+ [\d,]+ params, logits \(64, 64, 21\): {LOSS}; deeplab_v3_plus{RELOADS}",
                     rf"RetinaNet [\d,]+ params, 774 anchors on P3-P7: {LOSS}; retinanet{RELOADS}"],
}
# Over 20 s each, even at smoke scale.
SLOW = ("01_quickstart", "03_degradation", "04_unit_orders", "05_wide_and_resnext", "06_backbones")


def test_there_are_six_tutorials():
    assert [p.stem for p in TUTORIALS] == list(RESULTS)


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in TUTORIALS],
                         ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path, monkeypatch, capsys):
    run(path, tmp_path, monkeypatch, capsys, "--smoke")
    for name in ("degradation", "unit_orders"):
        if path.stem.endswith(name):
            assert (tmp_path / name / f"{name}.png").stat().st_size > 10_000
            runs = 2 * len(definitions.get(name).networks)
            assert (tmp_path / name / "results.csv").read_text().count("\n") == 1 + runs


@pytest.mark.slow
def test_backbones_tutorial_runs_channels_first(tmp_path, monkeypatch, capsys):
    """DeepLabV3+ and RetinaNet built, trained, saved and reloaded channels first (TensorFlow's CPU kernels here
    take NCHW through oneDNN)."""
    try:
        run(TUTORIALS[-1], tmp_path, monkeypatch, capsys, "--smoke", "--channels-first")
    finally:
        keras.config.set_image_data_format("channels_last")


def run(path, folder, monkeypatch, capsys, *argv):
    """Runs the tutorial at `path` in `folder` with `argv`; checks the lines of its results."""
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    runpy.run_path(str(path), run_name="__main__")
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    for pattern in RESULTS[path.stem]:
        assert any(re.fullmatch(pattern, line) for line in lines), f"no line matches {pattern!r}"
