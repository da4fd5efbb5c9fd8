"""The width-against-depth study (keras_resnet.tuning, `keras-resnet tune`): solver,
hypermodel, report, search, outputs, distributed run and resume. Runs use budgets of
20k-40k parameters in whole channels, one epoch of two batches of the offline digits, two
seeds, and no XLA compilation."""

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import keras
import keras_tuner
import pytest

from keras_resnet.cli import main as cli
from keras_resnet.training.distribute import describe_machine, fastest_precision
from keras_resnet.tuning import command, hypermodel, report
from keras_resnet.tuning.budget import family, parse_count, plan, plan_all

TOLERANCE = 0.15
# The grid: 2 budgets x 2 depths = 4 trials, each with seeds 0 and 1.
TINY = ["--budgets", "20k,40k", "--depths", "10,16", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "32",
        "--tolerance", str(TOLERANCE), "--channel-multiple", "1", "--seeds", "2", "--jit-compile", "off",
        "--verbose", "0"]
GRID = [(20000, 10), (20000, 16), (40000, 10), (40000, 16)]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
ADDRESS = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}  # a distributed tuner's oracle
for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
    ENV.pop(name, None)


def _rows(output_dir):
    with open(os.path.join(output_dir, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _assert_complete(rows, grid):
    """Every (budget, depth) of the grid exactly once with each seed, every network within tolerance."""
    assert sorted((int(r["budget"]), int(r["depth"]), int(r["seed"])) for r in rows) == [
        (b, d, seed) for b, d in grid for seed in (0, 1)]
    for r in rows:
        p = plan(int(r["budget"]), int(r["depth"]), input_shape=(32, 32, 1), classes=10, tolerance=TOLERANCE)
        assert int(r["params"]) == p.params  # the built model has the analytic count
        assert abs(int(r["params"]) / int(r["budget"]) - 1) <= TOLERANCE
        assert float(r["widen"]) == p.widen and int(r["macs"]) == p.macs
        assert 0 <= float(r["test_error"]) <= 100 and float(r["seconds_per_epoch"]) > 0
        assert r["machine"] == describe_machine()


def _status(trial_file):
    """A trial's status, or None while keras-tuner has not (completely) written it."""
    try:
        with open(trial_file) as f:
            return json.load(f)["status"]
    except (OSError, ValueError):
        return None


def _run(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "keras_resnet", "tune", *args], env=ENV, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _stop(process):
    """Stops a command and everything it started (its own session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# The width solver -----------------------------------------------------------------


@pytest.mark.parametrize("budget, depth, k", [(563_930, 40, 1), (2_243_546, 40, 2), (8_949_210, 40, 4),
                                              (10_961_370, 16, 8), (36_479_194, 28, 10)])
def test_solver_finds_the_papers_widths(budget, depth, k):
    p = plan(budget, depth, tolerance=0.01)
    assert (p.widen, p.params, p.block) == (k, budget, "basic")


def test_solver_thin_end_is_preact_resnet():
    p = plan(1_703_258, 164, tolerance=0.01)  # He 2016's ResNet-164: k = 1
    assert (p.channels, p.params, p.block, p.spec.unit) == (16, 1_703_258, "bottleneck", "e")


def test_every_planned_network_is_within_tolerance():
    plans = plan_all([2_200_000, 8_900_000], [10, 16, 22, 28, 40, 164], [1, 2, 4], [0.0], tolerance=0.1)
    plans.update(plan_all([600_000], [10, 16, 22, 28, 40, 164], tolerance=0.1))
    assert len(plans) == 2 * 6 * 3 + 6
    for (budget, depth, cardinality, _), p in plans.items():
        assert abs(p.params / budget - 1) <= 0.1
        assert p.spec.groups == cardinality and p.spec.inner_width % cardinality == 0
    # Fractional widening factors, monotone in depth at a fixed budget.
    widens = [plans[2_200_000, d, 1, 0.0].widen for d in (10, 16, 22, 28, 40)]
    assert widens == sorted(widens, reverse=True) and any(k != int(k) for k in widens)


def test_aligned_widths_are_multiples_and_meet_the_study_budgets():
    """With `multiple=8` every width is a multiple of 8 (and of the cardinality of a basic block), the
    count is the built network's, and the study's budgets hold within 20% at depths 10, 16 and 40."""
    import keras_resnet

    for budget in (150_000, 600_000):
        for depth in (10, 16, 40):
            p = plan(budget, depth, input_shape=(32, 32, 1), tolerance=0.2, multiple=8)
            assert p.channels % 8 == 0 and all(w % 8 == 0 for s in range(3) for w in p.spec.widths(s))
            assert abs(p.deviation) <= 0.2
            assert p.params == keras_resnet.complexity(p.spec, input_shape=(32, 32, 1)).trainable_params
    assert plan(600_000, 16, cardinality=16, multiple=8, tolerance=0.2).channels % 16 == 0  # lcm(8, groups)
    assert (plan(150_000, 16, input_shape=(32, 32, 1)).channels, plan(150_000, 40, input_shape=(32, 32, 1)).channels) \
        == (15, 8)  # whole channels: the nearest to the budget, whatever their alignment
    with pytest.raises(ValueError, match=r"nearest width in multiples of 8 channel\(s\) \(8 channels, k=0.5\)"):
        plan(100_000, 40, multiple=8)
    with pytest.raises(ValueError, match="`multiple` must be a positive integer; received multiple=0"):
        plan(100_000, 40, multiple=0)


@pytest.mark.parametrize("flags, precision", [("fpu sse avx512f avx512_bf16", "mixed_bfloat16"),
                                               ("fpu sse amx_bf16 amx_tile", "mixed_bfloat16"),
                                               ("fpu sse avx2 fma", "float32"), ("", "float32")])
def test_the_fastest_precision_of_a_cpu(flags, precision):
    assert fastest_precision(f"processor\t: 0\nflags\t\t: {flags}\n") == precision


def test_reports_name_the_machine(monkeypatch):
    from keras_resnet.training import distribute

    monkeypatch.setattr(distribute, "_cpuinfo", lambda: "processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t: fpu\n")
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["gpu:0", "cpu:0"])
    here = f"Some CPU 9000, {os.cpu_count()} CPUs, gpu:0"
    assert distribute.describe_machine() == here
    # Result rows name the machine each trained on; a report names every one (this one for no rows).
    assert distribute.describe_machines([]) == f"Machine: {here}"
    assert distribute.describe_machines([{"machine": "A"}, {"machine": "A"}]) == "Machine: A"
    assert distribute.describe_machines([{"machine": "B"}, {"machine": "A"}, {"machine": "B"}, {"machine": ""}]) == (
        "Machines: B (2 runs); A (1 run); not recorded (1 run)")


def test_hypermodel_precision_reaches_every_layer_but_the_classifier_and_part_block_norms():
    hm = hypermodel.BudgetHyperModel([45_000], [16], input_shape=(32, 32, 1), steps_per_epoch=1, epochs=1,
                                     tolerance=0.2, multiple=8, precision="mixed_bfloat16")
    model = hm.build(keras_tuner.HyperParameters())
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    assert model.get_layer("conv2_block1_1_conv").filters == 8  # 45k parameters at depth 16: 8/16/32 channels
    # The batch norms on 8 channels and their ReLUs compute in float32 (tests/test_builder.py), and the classifier.
    float32 = {name for name, policy in policies.items() if policy == "float32"}
    assert float32 == {"predictions"} | {layer.name for layer in model.layers if isinstance(
        layer, (keras.layers.BatchNormalization, keras.layers.Activation)) and layer.input.shape[-1] == 8}
    assert set(policies.values()) == {"float32", "mixed_bfloat16"}
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16" and model.output.dtype == "float32"


def test_budget_no_depth_can_meet_is_an_error():
    with pytest.raises(ValueError, match=r"No depth in \[10, 16\] can meet the budget 100"):
        plan_all([100], [10, 16])
    with pytest.raises(ValueError, match=r"met by depths \[10\] but not by \[1001\]"):
        plan_all([600_000], [10, 1001])


@pytest.mark.parametrize("text, value", [("0.6M", 600_000), ("36k", 36_000), ("1200", 1200), ("1.5G", 1_500_000_000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1.2T", "-5k", "0"])
def test_parse_count_rejects(text):
    with pytest.raises(ValueError, match="parameter count"):
        parse_count(text)


def test_depth_rules():
    assert family(40).name == "WRN" and family(1001).block == "bottleneck"
    with pytest.raises(ValueError, match=r"6n\+4 for WRN .*9n\+2 for Pre-activation ResNet.*received depth=30"):
        family(30)


# The hypermodel ----------------------------------------------------------------------


def test_hypermodel_space_defaults_and_build():
    hm = hypermodel.BudgetHyperModel([20_000, 40_000], [10, 11], [1, 2], [0.0, 0.3], input_shape=(16, 16, 3), classes=5,
                               steps_per_epoch=10, epochs=2, tolerance=0.25)
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    assert [(h.name, list(h.values)) for h in hp.space] == [
        ("budget", [20_000, 40_000]), ("depth", [10, 11]), ("cardinality", [1, 2]), ("dropout", [0.0, 0.3])]
    assert hp.values == {"budget": 20_000, "depth": 10, "cardinality": 1, "dropout": 0.0}  # the first values
    trainable = sum(keras.ops.size(w) for w in model.trainable_weights)
    assert trainable == hm.plans[20_000, 10, 1, 0.0].params and model.output_shape == (None, 5)
    assert model.name == "WRN-10-0.5"  # 8 channels: k = 8/16
    # Trained under Wide ResNet's recipe: Nesterov SGD, weight decay 5e-4 as L2(2.5e-4) on kernels.
    assert model.optimizer.nesterov and model.get_layer("conv1_conv").kernel_regularizer.l2 == 2.5e-4

    hp.values.update(budget=40_000, depth=11, cardinality=2, dropout=0.3)  # thin bottleneck end, grouped
    model = hm.build(hp)
    p = hm.plans[40_000, 11, 2, 0.3]
    assert sum(keras.ops.size(w) for w in model.trainable_weights) == p.params
    assert p.block == "bottleneck" and model.get_layer("conv2_block1_2_conv").groups == 2
    assert model.get_layer("conv2_block1_dropout").rate == 0.3


@pytest.mark.parametrize("kwargs, message", [
    (dict(budgets=[20_000, 20_000]), r"`budgets` must be a non-empty list without repeats; received "
                                     r"budgets=\[20000, 20000\]"),
    (dict(tolerance=2), r"`tolerance` must be in \[0, 1\); received tolerance=2"),
    (dict(epochs=0), "`epochs` must be a positive integer; received epochs=0"),
    (dict(epochs=-2), "`epochs` must be a positive integer; received epochs=-2"),
    (dict(steps_per_epoch=0), "`steps_per_epoch` must be a positive integer; received steps_per_epoch=0"),
    (dict(steps_per_epoch=1.5), "`steps_per_epoch` must be a positive integer; received steps_per_epoch=1.5"),
])
def test_hypermodel_rejects_bad_options(kwargs, message):
    options = {**dict(budgets=[20_000], depths=[10], steps_per_epoch=1, epochs=1), **kwargs}
    with pytest.raises(ValueError, match=message):
        hypermodel.BudgetHyperModel(**options)


def test_make_tuner_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match=r"`tuner` must be one of \['grid', 'random', 'bayesian', 'hyperband'\]; "
                                         r"received tuner='annealing'"):
        hypermodel.make_tuner("annealing", None, "unused")


# The report's logic on known numbers --------------------------------------------------


def _row(budget, depth, error, sec, train_error, k=1.0, test=True, seed=0, curve=None):
    """A result row; `curve` is the validation error after each epoch of `sec` seconds."""
    curve = curve or [error]
    return {"budget": budget, "depth": depth, "seed": seed, "widen": k, "params": int(budget),
            "test_error": error if test else "", "val_error": error, "seconds_per_epoch": sec,
            "train_error": train_error, "epoch_seconds": json.dumps([sec] * len(curve)), "val_curve": json.dumps(curve)}


def _orderings(rows):
    """The conclusions by short name, in the report's order."""
    return dict(zip(("widening", "accuracy", "speed", "sooner", "gap"), report.conclusions(rows)))


def test_conclusions_keep_the_papers_ordering_on_a_wrn_like_result():
    rows = [_row(1e6, 16, 5.0, 1.0, 1.0, 2), _row(1e6, 40, 6.0, 2.5, 1.0, 1),
            _row(4e6, 16, 4.0, 3.0, 0.0, 4), _row(4e6, 40, 4.5, 7.0, 0.0, 2)]
    found = _orderings(rows)
    assert {name: c.ordering for name, c in found.items()} == {"widening": "all", "accuracy": "all", "speed": "all",
                                                               "sooner": "all", "gap": "all"}
    assert ("1M: depth 16 (k=2, 1,000,000 params) vs depth 40 (k=1, 1,000,000 params): 5.00% vs 6.00%"
            in found["accuracy"].notes)
    assert found["widening"].notes == ["depth 16: k=2 5.00% -> k=4 4.00%", "depth 40: k=1 6.00% -> k=2 4.50%"]
    rows[0]["test_error"] = 10.0  # the shallow network loses at 1M
    found = _orderings(rows)
    assert (found["accuracy"].ordering, found["widening"].ordering) == ("1 of 2", "all")
    assert [c.difference for c in found["accuracy"].comparisons] == [-4.0, 0.5]  # positive: the paper's ordering
    rows[2]["test_error"] = rows[3]["test_error"] = 11.0  # wider no longer helps at either depth
    assert _orderings(rows)["widening"].ordering == "none"


def test_conclusions_need_two_networks_to_compare():
    one = _orderings([_row(1e6, 16, 5.0, 1.0, 1.0)])
    assert {c.ordering for c in one.values()} == {"not testable"}
    assert one["widening"].notes == ["needs a depth at two or more budgets"]
    assert one["sooner"].notes == ["needs two or more depths at one budget, with validation curves"]


def _seeds(deep_minus_shallow, *, seconds=(1.0, 2.0)):
    """WRN-16 and WRN-40 at 1M over seeds 0..n-1: the deep network's error exceeds the shallow one's
    by the given differences, and it takes `seconds[1]` per epoch against `seconds[0]`."""
    rows = []
    for seed, difference in enumerate(deep_minus_shallow):
        shallow = 5.0 + 0.3 * seed
        rows += [_row(1e6, 16, shallow, seconds[0], 1.0, 2, seed=seed, curve=[20.0, 8.0, shallow]),
                 _row(1e6, 40, shallow + difference, seconds[1], 1.0, 1, seed=seed,
                      curve=[30.0, 9.0, shallow + difference])]
    return rows


def test_verdicts_come_from_the_interval_over_seeds():
    """The same per-seed differences give the experiments' estimate, verdict and power."""
    from keras_resnet.experiments.statistics import estimate

    found = _orderings(_seeds([1.0, 1.2, 0.8, 1.1, 0.9]))
    (accuracy,) = found["accuracy"].comparisons
    assert accuracy.differences == pytest.approx({0: 1.0, 1: 1.2, 2: 0.8, 3: 1.1, 4: 0.9})
    expected = estimate([1.0, 1.2, 0.8, 1.1, 0.9])
    assert dataclasses.astuple(accuracy.estimate) == pytest.approx(dataclasses.astuple(expected))
    assert accuracy.estimate.verdict == "echoed"
    assert found["speed"].comparisons[0].estimate.verdict == "echoed"  # 2 s against 1 s every seed
    # Time to the validation error both reach (the deep network's best): the shallow one gets there
    # after its third epoch (3 s), the deep one after its third (6 s).
    assert found["sooner"].comparisons[0].differences == {seed: 6.0 - 3.0 for seed in range(5)}
    assert _orderings(_seeds([2.0, -1.0, 1.5]))["accuracy"].comparisons[0].estimate.verdict == "not resolved"
    assert _orderings(_seeds([-1.0, -1.2, -0.9]))["accuracy"].comparisons[0].estimate.verdict == "contradicted"
    assert _orderings(_seeds([1.0]))["accuracy"].comparisons[0].estimate is None  # one seed: no interval


def test_reaching_a_set_error_takes_the_error_both_networks_reach():
    slow = {0: ([1.0, 2.0, 3.0], [30.0, 9.0, 6.0]), 1: ([1.0, 2.0], [30.0, 7.0])}
    fast = {0: ([1.0, 2.0, 3.0], [20.0, 8.0, 5.0]), 1: ([1.0, 2.0], [6.5, 6.0])}
    # seed 0: both reach 6.0 (the slow one's best), the fast one after 3 s (5.0), the slow one after 3 s;
    # seed 1: both reach 7.0, the fast one after 1 s, the slow one after 2 s.
    assert report.seconds_to_reach(slow, fast) == ({0: 3.0, 1: 2.0}, {0: 3.0, 1: 1.0})


def test_the_report_gives_verdicts_power_and_orderings():
    rows = _seeds([2.0, -1.0, 1.5])
    for r in rows:
        r.update(trial_id="0", block="basic", cardinality=1, dropout=0.0, channels=16, budget_deviation=0.0,
                 macs=10**8, epochs=3, train_seconds=3.0, machine="Some CPU, 2 CPUs")
    study = {"budgets": [1_000_000], "depths": [16, 40], "dataset": "fashion_mnist", "subset": None, "epochs": 3,
             "recipe": "wrn", "tuner": "grid", "seeds": 3, "tolerance": 0.1, "channel_multiple": 8,
             "batch_size": 128, "precision": "mixed_bfloat16", "seed": None}
    text = report.report(rows, study, "runs/study")
    assert ("Command: `keras-resnet tune --budgets 1000000 --depths 16,40 --dataset fashion_mnist --epochs 3 "
            "--recipe wrn --tuner grid --seeds 3 --tolerance 0.1 --channel-multiple 8 --batch-size 128 "
            "--precision mixed_bfloat16 --output-dir runs/study`") in text
    assert "in multiples of 8 channel(s) (tolerance 10%)" in text and "in mixed_bfloat16, `grid` tuner, seeds [0, 1, 2]" in text
    assert "\nMachine: Some CPU, 2 CPUs; " in text
    assert "errors are test errors (%)" in text and "accuracy" not in text.replace("reach a set accuracy", "")
    # The 1M comparison: differences +2.0, -1.0, +1.5 over seeds 0-2, sd 1.61, t(0.975, 2) = 4.30.
    assert "| +0.83 [-3.16, +4.83] (3) | **not resolved** | 32 (80% power) |" in text
    assert "| 1M | depth 16 (k=2, 5.30%) < depth 40 (k=1, 6.13%) |" in text  # ordering of the means
    assert "| At an equal parameter count a wider, shallower network is as good as a deeper, thinner one or better. " \
           "| all |" in text
    assert "| 1M | basic | 16 | 2 (16) | 1,000,000 (+0.0%) | 100M | 3 | 1.0 (1.0-1.0) |" in text
    assert ("the worst of the 6 runs at 7.10% test error (depth 40 at 1M, seed 2); the best network's mean at each "
            "budget: 5.30% at 1M.") in text


# The command: end to end, errors, distributed, resume ---------------------------------


def _one_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keras-resnet tune: error: "), err
    return lines[0]


@pytest.mark.parametrize("args, message", [
    (["--budgets", "100"], "No depth in"),
    (["--depths", "30"], "6n+4"),
    (["--budgets", "lots"], "parameter count"),
    (["--tuner", "annealing"], "invalid choice"),
    (["--frobnicate"], "unrecognized arguments"),
    (["--epochs", "0"], "`--epochs` must be a positive integer; received --epochs=0"),
    (["--steps-per-epoch", "-1"], "`--steps-per-epoch` must be a positive integer; received --steps-per-epoch=-1"),
    (["--recipe", "wnr"], "'wnr'"),
    (["--workers", "2", "--oracle-ip", "localhost"], "--oracle-ip must be an IP address"),
    (["--timeout", "5"], "received --timeout=5.0 without --workers"),
    (["--seeds", "1"], "--seeds must be at least 2: one run gives no confidence interval, so no verdict; "
                       "received --seeds=1"),
    (["--seeds", "0"], "`--seeds` must be a positive integer; received --seeds=0"),
])
def test_command_errors_before_training(tmp_path, capsys, exit_status, args, message):
    out = tmp_path / "study"
    assert exit_status(cli.main, ["tune", *TINY, *args, "--output-dir", str(out)]) == 2
    assert message in _one_line(capsys)
    assert not out.exists()  # nothing trained, nothing written


@pytest.mark.parametrize("role", ["alone", "launcher", "worker"])
def test_an_output_dir_under_a_file_is_one_line_in_every_role(tmp_path, capsys, monkeypatch, role):
    """A launcher checks the folder before it starts a process, and a distributed worker,
    which leaves the claim to its chief, checks it before it loads anything."""
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: pytest.fail(f"a process was started: {args}"))
    (tmp_path / "file").write_text("")
    out = str(tmp_path / "file" / "study")
    extra = ["--workers", "1"] if role == "launcher" else []
    for name, value in ({"KERASTUNER_TUNER_ID": "tuner0", **ADDRESS} if role == "worker" else {}).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["tune", *TINY, *extra, "--output-dir", out]) == 2
    assert f"received --output-dir={out!r}, but {str(tmp_path / 'file')!r} is a file" in _one_line(capsys)


def test_an_unwritable_output_dir_is_one_line(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root writes anyway: a folder that refuses a new entry as this one would
        real_mkdtemp = tempfile.mkdtemp

        def refused(*args, dir=None, **kwargs):
            if str(dir) == str(folder):
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkdtemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", refused)
    out = str(folder / "study")
    try:
        assert cli.main(["tune", *TINY, "--output-dir", out]) == 2
    finally:
        folder.chmod(0o700)
    assert f"received --output-dir={out!r} ({str(folder)!r} is not writable: Permission denied)" in _one_line(capsys)
    assert os.listdir(folder) == []


@pytest.mark.parametrize("variables, role", [
    ({}, "alone"), ({"KERASTUNER_TUNER_ID": "chief", **ADDRESS}, "chief"),
    ({"KERASTUNER_TUNER_ID": "tuner1", **ADDRESS}, "worker"), ({"KERASTUNER_TUNER_ID": "tuner1"}, None),
])
def test_distributed_role(monkeypatch, variables, role):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    if role is None:
        with pytest.raises(ValueError, match=r"missing \['KERASTUNER_ORACLE_IP', 'KERASTUNER_ORACLE_PORT'\]"):
            command.distributed_role()
    else:
        assert command.distributed_role() == role


def test_the_launchers_processes_run_the_same_study():
    """`--workers` starts `keras-resnet tune` with every option of its own but the launcher's."""
    p, _ = cli.parser("tune")
    args = p.parse_args([*TINY, "--dropouts", "0,0.3", "--workers", "2", "--timeout", "9", "--output-dir", "x y"])
    child = p.parse_args(command.child_argv(args))
    assert vars(child) == {**vars(args), "workers": 0, "timeout": None}
    assert not any(a.startswith(("--workers", "--timeout", "--oracle-ip")) for a in command.child_argv(args))


@pytest.mark.slow
def test_distributed_chief_and_two_workers(tmp_path):
    out = str(tmp_path / "study")
    three = [TINY[0], "20k,30k,40k", TINY[2], "10", *TINY[4:]]  # 3 trials
    process = _run(["--workers", "2", "--timeout", "240", *three, "--output-dir", out])
    try:
        log, _ = process.communicate(timeout=280)
    finally:
        _stop(process)
    assert process.returncode == 0, log[-3000:]
    assert "without encryption or authentication" in log
    rows = _rows(out)
    _assert_complete(rows, [(20000, 10), (30000, 10), (40000, 10)])
    assert {r["worker"] for r in rows} == {"tuner0", "tuner1"}  # both workers ran trials
    assert os.path.exists(os.path.join(out, "tuner", "chief.json"))


@pytest.mark.slow
def test_a_second_launcher_into_a_busy_folder_says_so_in_lines(tmp_path):
    """Another process holds the study: its chief refuses in one line naming that process, and
    the launcher stops its worker and says so in one line, exit status 1, no traceback."""
    out = tmp_path / "study"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from keras_resnet.cli import run_folder
        run_folder.claim({str(out)!r}, "study.json", {{"a": 1}}, resume=False, what="study")
        print("locked", flush=True)
        import time; time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        process = _run(["--workers", "1", "--timeout", "200", *TINY, "--output-dir", str(out)])
        try:
            log, _ = process.communicate(timeout=240)
        finally:
            _stop(process)
    finally:
        holder.kill()
        holder.wait()
    assert process.returncode == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert f"is in use by process {holder.pid}" in log
    assert "keras-resnet tune: error: A tuner process exited with status 2; stopping the search" in log


@pytest.mark.slow
def test_grid_search_end_to_end_resumes_after_a_kill(tmp_path):
    out = str(tmp_path / "study")
    process = _run([*TINY, "--output-dir", out])
    first = os.path.join(out, "tuner", "trial_0", "trial.json")
    seed0, seed1 = (os.path.join(out, "tuner", "trial_0", f"seed{k}.json") for k in (0, 1))
    try:
        deadline = time.monotonic() + 200
        while not os.path.exists(seed0):
            assert process.poll() is None and time.monotonic() < deadline, "the first seed did not finish"
            time.sleep(0.05)
    finally:
        _stop(process)  # killed without warning between seeds, as by a lost machine
    assert not os.path.exists(seed1) and _status(first) != "COMPLETED"
    finished = open(seed0).read()
    assert not os.path.exists(os.path.join(out, "results.csv"))
    # The interrupted trial's finished seed is a result already.
    args = cli.parser("tune")[0].parse_args([*TINY, "--output-dir", out, "--precision", "float32"])
    _, hm = command._search(args)
    tuner = hypermodel.make_tuner("grid", hm, out, seeds=(0, 1))
    tuner.oracle.reload()  # keras-tuner reloads a search whose first trial has ended; this one has not
    assert [(r["trial_id"], r["seed"]) for r in hypermodel.collect(tuner, hm)] == [("0", 0)]

    process = _run([*TINY, "--output-dir", out])
    try:
        log, _ = process.communicate(timeout=200)
    finally:
        _stop(process)
    assert process.returncode == 0, log[-3000:]
    rows = _rows(out)
    _assert_complete(rows, GRID)
    assert sorted(os.listdir(os.path.join(out, "tuner"))) == [
        "oracle.json", "trial_0", "trial_1", "trial_2", "trial_3", "tuner0.json"]
    assert open(seed0).read() == finished  # its first seed was not trained again

    with open(os.path.join(out, "results.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    report = open(os.path.join(out, "report.md")).read()
    for text in ("Table 4", "Table 5", "WRN-40-4 8.9M 4.97/22.89", "| budget | this study, lowest mean error first",
                 "### Widening helps at every depth.", "seeds [0, 1] of 2", "] (2) | **",
                 "same ordering as the paper (means over seeds)"):
        assert text in report
    first = [float(r["test_error"]) for r in rows if (r["budget"], r["depth"]) == (rows[0]["budget"], rows[0]["depth"])]
    assert f"{sum(first) / 2:.2f} ({min(first):.2f}-{max(first):.2f})" in report
    # --precision auto (the default) is resolved once and recorded: bfloat16 on a CPU that has it.
    precision = json.load(open(os.path.join(out, "study.json")))["precision"]
    assert precision == fastest_precision() and f"in {precision}, `grid` tuner" in report

    # The same study again: nothing to do, nothing lost.
    assert cli.main(["tune", *TINY, "--output-dir", out]) == 0
    assert _rows(out) == rows
    # A different study in the same folder is refused before any training.
    assert cli.main(["tune", TINY[0], "20k", *TINY[2:], "--output-dir", out]) == 2
    assert _rows(out) == rows
