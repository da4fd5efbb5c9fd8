"""Smoke tests of `python -m keras_resnet.tools.benchmark` and `choose_jit_compile`:
tiny sizes and one step, so that the code cannot rot. Speed itself is measured
by running the benchmark (docs/benchmark.md), never by tests."""

import numpy as np
import pytest

import keras_resnet
from keras_resnet.tools import benchmark

@pytest.mark.slow
def test_run_compares_stock_layers_and_precisions(tiny_resnext):
    lines = []
    results = benchmark.run([("tiny", tiny_resnext), "ResNet20"], size=16, batch_size=2, modes=("train",),
                            precisions=("float32", "mixed_bfloat16"), steps=1, rounds=1, baseline="ResNet20", peak=1e9,
                            matmul_size=64, out=lines.append)
    assert [(r["model"], r["precision"], r["mode"]) for r in results] == [
        (m, p, "train") for p in ("float32", "mixed_bfloat16") for m in ("tiny", "ResNet20")]
    for r in results:
        assert set(r["speeds"]) == {"ours", "stock"}
        assert all(v > 0 for v in r["speeds"].values())
    assert lines[0].startswith("float32 64x64 matmul: ") and lines[0].endswith("% of peak)")
    assert lines[2].startswith("| model | precision | mode | img/s | GFLOP/s | % peak | % matmul |")
    tiny_bf16 = next(line for line in lines if line.startswith("| tiny | mixed_bfloat16 | train"))
    assert tiny_bf16.split(" | ")[6].endswith("%")  # % matmul
    assert tiny_bf16.count("x |") == 3  # vs stock, vs float32, vs baseline


@pytest.mark.slow
def test_cli_with_keras_applications_torchvision_and_build_time(capsys):
    benchmark.main(["--models", "ResNet50", "--size", "32", "--batch", "1", "--steps", "1", "--rounds", "1",
                    "--modes", "infer", "--build-time", "ResNet50", "--build-repeats", "1", "--peak-gflops", "100",
                    "--references", "keras", "stock", "torch", "folded"])
    out = capsys.readouterr().out
    assert "peak 100 GFLOP/s" in out and "Build ResNet50: keras_resnet" in out
    row = next(line for line in out.splitlines() if line.startswith("| ResNet50 |"))
    ratios = row.split(" | ")[7:10]  # vs keras.applications, vs stock, vs torchvision
    assert ratios[0].endswith("x") and ratios[1].endswith("x")
    assert ratios[2].endswith("x") == (benchmark._import_torchvision() is not None)
    folded = row.split(" | ")[11:13]  # BN folded: vs unfolded, vs keras.applications
    assert all(ratio.strip(" |").endswith("x") for ratio in folded) and "ResNet50 BN folded into convs float32 infer" in out


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"`modes` must be among \['train', 'infer'\]; received modes=\['fit'\]"):
        benchmark.run(["ResNet20"], modes=("fit",))
    with pytest.raises(ValueError, match="`baseline` must be one of the models"):
        benchmark.run(["ResNet20"], baseline="ResNet50")
    with pytest.raises(ValueError, match="keras.applications has no 'ResNet20'"):
        benchmark.build_times("ResNet20")


def test_choose_jit_compile_measures_and_leaves_the_model_alone(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    before = [w.copy() for w in model.get_weights()]
    choice, speeds = benchmark.choose_jit_compile(model, batch_size=2, steps=1)
    assert set(speeds) == {False, True} and all(v > 0 for v in speeds.values())
    assert choice == (speeds[True] > speeds[False])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    with pytest.raises(ValueError, match="choose_jit_compile needs a fixed input size"):
        benchmark.choose_jit_compile(keras_resnet.build(tiny_resnext, include_top=False, pooling="avg"))


def test_matmul_flops_is_plausible():
    assert 1e6 < benchmark.matmul_flops(128, repeats=1) < 1e14


CPUINFO = "processor\t: 0\ncpu MHz\t\t: 2500.000\nflags\t\t: fpu sse2 avx2 fma avx512f\n\n"


def test_detect_peak_counts_cores_clock_and_vector_width():
    assert benchmark.detect_peak(CPUINFO, cpus=2) == 2 * 2500e6 * 64  # AVX-512
    assert benchmark.detect_peak(CPUINFO.replace(" avx512f", ""), cpus=2) == 2 * 2500e6 * 32  # AVX2 + FMA
    assert benchmark.detect_peak(CPUINFO.replace(" fma avx512f", ""), cpus=1) == 2500e6 * 16
    assert benchmark.detect_peak(CPUINFO.replace("cpu MHz", "bogomips"), cpus=2) is None  # no clock: unknown
    with open("/proc/cpuinfo") as f:
        here = f.read()
    peak = benchmark.detect_peak()
    assert (peak is None) == ("cpu MHz" not in here)
    if peak is not None:
        assert 1e9 < peak < 1e14


def test_torchvision_names_of_the_rows():
    assert benchmark.TORCHVISION_NAMES["WideResNet50_2"] == "wide_resnet50_2"
    assert benchmark.TORCHVISION_NAMES["ResNeXt50_32x4d"] == "resnext50_32x4d"
