"""Smoke tests of `keras-resnet benchmark`, its Python API (`measure`, `time_steps`,
`choose_jit_compile`) and its references: tiny sizes and one step, so that the code
cannot rot, and every bad argument refused before anything is measured. Speed itself
is measured by running the benchmark (docs/benchmark.md), never by tests."""

import time

import numpy as np
import pytest

import keras_resnet
from keras_resnet.cli.main import main
from keras_resnet.tools import benchmark, references


@pytest.mark.slow
def test_measure_compares_stock_layers_and_precisions(tiny_resnext):
    lines = []
    results = benchmark.measure([("tiny", tiny_resnext), "ResNet20"], size=16, batch_size=2, modes=("train",),
                                precisions=("float32", "mixed_bfloat16"), steps=1, rounds=1, baseline="ResNet20",
                                peak=1e9, matmul_size=64, out=lines.append)
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
def test_command_with_keras_applications_torchvision_and_build_time(capsys):
    assert main(["benchmark", "--models", "ResNet50", "--size", "32", "--batch", "1", "--steps", "1", "--rounds",
                 "1", "--modes", "infer", "--build-time", "ResNet50", "--build-repeats", "1", "--peak-gflops", "100",
                 "--references", "keras", "stock", "torch", "folded"]) == 0
    out = capsys.readouterr().out
    assert "peak 100 GFLOP/s" in out and "Build ResNet50: keras_resnet" in out
    row = next(line for line in out.splitlines() if line.startswith("| ResNet50 |"))
    ratios = row.split(" | ")[7:10]  # vs keras.applications, vs stock, vs torchvision
    assert ratios[0].endswith("x") and ratios[1].endswith("x")
    assert ratios[2].endswith("x") == (references.import_torchvision() is not None)
    folded = row.split(" | ")[11:13]  # BN folded: vs unfolded, vs keras.applications
    assert all(ratio.strip(" |").endswith("x") for ratio in folded)
    assert "ResNet50 BN folded into convs float32 infer" in out


def test_bad_arguments_are_refused_before_measuring(monkeypatch):
    def measured(*args, **kwargs):
        raise AssertionError("a bad argument reached the measurement")

    for name in ("matmul_flops", "build", "time_steps"):
        monkeypatch.setattr(benchmark, name, measured)
    for kwargs, message in [
        (dict(modes=("fit",)),
         r"`modes` must be a list of values among \['train', 'infer'\]; received modes=\['fit'\]"),
        (dict(modes="train"), r"received modes='train'"),
        (dict(precisions=("float64",)), r"`precisions` must be .*received precisions=\['float64'\]"),
        (dict(references=("jax",)), r"`references` must be .*'folded'\]; received references=\['jax'\]"),
        (dict(baseline="ResNet50"), "`baseline` must be one of the models"),
        (dict(steps=0), r"`steps` must be a positive integer; received steps=0"),
        (dict(rounds=-1), r"`rounds` must be a positive integer; received rounds=-1"),
        (dict(batch_size=0), r"`batch_size` must be a positive integer; received batch_size=0"),
        (dict(size=0), r"`size` must be a positive integer; received size=0"),
        (dict(steps=1.5), r"received steps=1\.5"),
        (dict(peak=-1.0), r"`peak` must be a positive number; received peak=-1\.0"),
        (dict(matmul_size=-1), r"`matmul_size` must be a positive integer, or 0 to skip; received matmul_size=-1"),
        (dict(size=8, models=["ResNet50"]), r"\(8, 8, 3\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            benchmark.measure(**{"models": ["ResNet20"], **kwargs})
    with pytest.raises(ValueError, match="keras.applications has no 'ResNet20'"):
        benchmark.build_times("ResNet20")
    with pytest.raises(ValueError, match=r"`repeats` must be a positive integer; received repeats=0"):
        benchmark.build_times("ResNet50", repeats=0)


@pytest.mark.parametrize("argv, shown", [
    (["--steps", "0"], "`--steps` must be a positive integer; received --steps=0"),
    (["--rounds", "0"], "`--rounds` must be a positive integer; received --rounds=0"),
    (["--batch", "-2"], "`--batch` must be a positive integer; received --batch=-2"),
    (["--size", "0"], "`--size` must be a positive integer; received --size=0"),
    (["--build-repeats", "0"], "`--build-repeats` must be a positive integer; received --build-repeats=0"),
    (["--peak-gflops", "nan"], "`--peak-gflops` must be a positive number; received --peak-gflops=nan"),
    (["--models", "ResNet51"], "Unknown model 'ResNet51'"),
    (["--models", "ResNet20", "--baseline", "ResNet50"], "--baseline must be one of --models ['ResNet20']; "
                                                         "received 'ResNet50'"),
    (["--build-time", "ResNet20"], "keras.applications has no 'ResNet20'"),
])
def test_a_bad_option_is_one_line_before_anything_is_measured(argv, shown, monkeypatch, capsys):
    def measured(*args, **kwargs):
        raise AssertionError(f"{argv} reached the measurement")

    for name in ("measure", "build_times", "detect_peak"):
        monkeypatch.setattr(benchmark, name, measured)
    assert main(["benchmark", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("keras-resnet benchmark: error: ") and captured.err.count("\n") == 1, captured.err
    assert shown in captured.err and not captured.out


def test_time_steps_never_times_the_warm_up_call():
    """The first call (tracing, compilation) is never timed: a step whose first call is slow
    measures as fast as its later calls. No steps, rounds or batch is an error, never 0 img/s."""
    calls = []

    def step():
        calls.append(None)
        if len(calls) == 1:
            time.sleep(0.5)

    speeds = benchmark.time_steps({"step": step}, batch_size=4, n=2, rounds=2)
    assert len(calls) == 1 + 2 * 2 and speeds["step"] > 4 * 2 / 0.5
    for kwargs, field in ((dict(n=0), "n"), (dict(rounds=0), "rounds"), (dict(batch_size=0), "batch_size"),
                          (dict(warmup=0), "warmup")):
        with pytest.raises(ValueError, match=f"`{field}` must be a positive integer; received {field}=0"):
            benchmark.time_steps({"step": step}, **{"batch_size": 4, "n": 1, "rounds": 1, **kwargs})
    assert len(calls) == 5  # refused before any call


def test_time_steps_counts_the_median_call():
    """One call in ten slowed down (another process, a garbage collection) does not move the result."""
    calls = []

    def step():
        calls.append(None)
        time.sleep(0.3 if len(calls) % 10 == 5 else 0.01)

    speeds = benchmark.time_steps({"step": step}, batch_size=1, n=10, rounds=1)
    assert 50 < speeds["step"] <= 100  # about 1 / 0.01 s, whatever the one call of 0.3 s


@pytest.mark.slow
def test_study_mode_times_the_study_networks_in_every_configuration(capsys):
    assert main(["benchmark", "--study", "--budgets", "45k", "--depths", "16", "--steps", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| budget"))
    assert header.split(" | ")[2:4] == ["channels x1 (params)", "channels x8 (params)"]
    assert "f32 b32 x1 | f32 b128 x1 | f32 XLA b128 x1 | bf16 b128 x1 | f32 b128 x8 | bf16 XLA b128 x8 | bf16 b128 x8" \
        in header
    row = next(line for line in out.splitlines() if line.startswith("| 45k | 16 |"))
    assert "8/16/32 (45k, -0%)" in row and row.count("x)") == 7 and "(1.00x)" in row
    assert "One epoch of every network (60,000 images each):" in out
    assert "- bf16 b128 x8 over f32 b128 x8: 45k/16 " in out


def test_study_mode_gives_what_mixed_precision_alone_gains_against_its_float32_twin():
    from keras_resnet.tools import study_speed

    speed = {"f32 b128 x1": 100, "bf16 b128 x1": 130, "f32 b128 x8": 200, "bf16 b128 x8": 300,
             "bf16 XLA b128 x8": 50, "f32 b32 x1": 80, "f32 XLA b128 x1": 90}
    results = {(b, 10, c): (None, speed[c.label] * (1 + (b == 600_000))) for b in (150_000, 600_000)
               for c in study_speed.CONFIGURATIONS}
    lines = []
    study_speed._print_precision_ratios(results, [150_000, 600_000], [10], study_speed.CONFIGURATIONS, lines.append)
    # The XLA bfloat16 configuration has no float32 twin (no float32 XLA run on x8 channels): no line.
    assert lines[2:] == ["- bf16 b128 x1 over f32 b128 x1: 150k/10 1.30x, 600k/10 1.30x",
                         "- bf16 b128 x8 over f32 b128 x8: 150k/10 1.50x, 600k/10 1.50x"]


def test_study_mode_refuses_a_budget_a_depth_cannot_meet(capsys):
    assert main(["benchmark", "--study", "--budgets", "20k", "--depths", "10,16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "met by depths [10] but not by [16]" in err and "multiples of 8" in err


def test_choose_jit_compile_measures_and_leaves_the_model_alone(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3))
    before = [w.copy() for w in model.get_weights()]
    choice, speeds = benchmark.choose_jit_compile(model, batch_size=2, steps=1)
    assert set(speeds) == {False, True} and all(v > 0 for v in speeds.values())
    assert choice == (speeds[True] > speeds[False])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    with pytest.raises(ValueError, match="choose_jit_compile needs a fixed input size"):
        benchmark.choose_jit_compile(keras_resnet.build(tiny_resnext, include_top=False, pooling="avg"))
    with pytest.raises(ValueError, match=r"`steps` must be a positive integer; received steps=0"):
        benchmark.choose_jit_compile(model, steps=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer; received batch_size=-1"):
        benchmark.choose_jit_compile(model, batch_size=-1)


def test_matmul_flops_is_plausible():
    assert 1e6 < benchmark.matmul_flops(128, repeats=1) < 1e14
    with pytest.raises(ValueError, match=r"`n` must be a positive integer; received n=0"):
        benchmark.matmul_flops(0)
    with pytest.raises(ValueError, match=r"`repeats` must be a positive integer; received repeats=0"):
        benchmark.matmul_flops(64, repeats=0)


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
    assert references.TORCHVISION_NAMES["WideResNet50_2"] == "wide_resnet50_2"
    assert references.TORCHVISION_NAMES["ResNeXt50_32x4d"] == "resnext50_32x4d"
