"""The width-against-depth study (keras_resnet.tuning): solver, hypermodel, search,
outputs, distributed run and resume. Runs use budgets of 20k-40k parameters, one
epoch of two batches of the offline digits, and no XLA compilation."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import keras_tuner
import pytest

from keras_resnet.tuning import command, hypermodel, report
from keras_resnet.tuning.budget import family, parse_count, plan, plan_all

TOLERANCE = 0.15
# The grid: 2 budgets x 2 depths = 4 trials.
TINY = ["--budgets", "20k,40k", "--depths", "10,16", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "32",
        "--tolerance", str(TOLERANCE), "--jit-compile", "off", "--verbose", "0"]
GRID = [(20000, 10), (20000, 16), (40000, 10), (40000, 16)]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
    ENV.pop(name, None)


def _rows(output_dir):
    with open(os.path.join(output_dir, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _assert_complete(rows, grid):
    """Every (budget, depth) of the grid exactly once, every network within tolerance."""
    assert sorted((int(r["budget"]), int(r["depth"])) for r in rows) == grid
    for r in rows:
        p = plan(int(r["budget"]), int(r["depth"]), input_shape=(32, 32, 1), classes=10, tolerance=TOLERANCE)
        assert int(r["params"]) == p.params  # the built model has the analytic count
        assert abs(int(r["params"]) / int(r["budget"]) - 1) <= TOLERANCE
        assert float(r["widen"]) == p.widen and int(r["macs"]) == p.macs
        assert 0 <= float(r["test_accuracy"]) <= 1 and float(r["seconds_per_epoch"]) > 0


def _status(trial_file):
    """A trial's status, or None while keras-tuner has not (completely) written it."""
    try:
        with open(trial_file) as f:
            return json.load(f)["status"]
    except (OSError, ValueError):
        return None


def _run(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "keras_resnet.tuning", *args], env=ENV, start_new_session=True,
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


def test_hypermodel_rejects_bad_options():
    with pytest.raises(ValueError, match="without repeats"):
        hypermodel.BudgetHyperModel([20_000, 20_000], [10], steps_per_epoch=1, epochs=1)
    with pytest.raises(ValueError, match="tolerance"):
        hypermodel.BudgetHyperModel([20_000], [10], steps_per_epoch=1, epochs=1, tolerance=2)
    with pytest.raises(ValueError, match="tuner"):
        hypermodel.make_tuner("annealing", None, "unused")


# The report's logic on known numbers --------------------------------------------------


def _row(budget, depth, acc, sec, train_acc, k=1.0):
    return {"budget": budget, "depth": depth, "widen": k, "test_accuracy": acc, "val_accuracy": acc,
            "seconds_per_epoch": sec, "train_accuracy": train_acc}


def test_conclusions_echo_a_wrn_like_result():
    rows = [_row(1e6, 16, 0.95, 1.0, 0.99, 2), _row(1e6, 40, 0.94, 2.5, 0.99, 1),
            _row(4e6, 16, 0.96, 3.0, 1.0, 4), _row(4e6, 40, 0.955, 7.0, 1.0, 2)]
    verdicts = {claim.split()[0]: (verdict, notes) for claim, _, verdict, notes in report.conclusions(rows)}
    assert verdicts["Widening"][0] == "yes" and verdicts["At"][0] == "yes" and verdicts["Wide,"][0] == "yes"
    assert "1M: depth 16 (k=2) 95.00% vs depth 40 (k=1) 94.00%" in verdicts["At"][1]
    assert "(2.50x)" in verdicts["Wide,"][1][0]
    rows[0]["test_accuracy"] = 0.90  # the shallow network loses at 1M
    assert dict((c.split()[0], v) for c, _, v, _ in report.conclusions(rows))["At"] == "partly (1 of 2)"
    assert report.conclusions(rows[:1])[1][2] == "not testable"


# The command: end to end, errors, distributed, resume ---------------------------------


@pytest.mark.parametrize("args, message", [
    (["--budgets", "100"], "No depth in"),
    (["--depths", "30"], "6n+4"),
    (["--budgets", "lots"], "parameter count"),
    (["--tuner", "annealing"], "invalid choice"),
    (["--frobnicate"], "unrecognized arguments"),
    (["--epochs", "0"], "`--epochs` must be a positive integer; received --epochs=0"),
    (["--workers", "2", "--oracle-ip", "localhost"], "--oracle-ip must be an IP address"),
])
def test_command_errors_before_training(tmp_path, capsys, exit_status, args, message):
    out = tmp_path / "study"
    assert exit_status(command.main, [*TINY, *args, "--output-dir", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing trained, nothing written


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
        from keras_resnet.training import run_folder
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
    assert ": error: A tuner process exited with status 2; stopping the search" in log


@pytest.mark.slow
def test_grid_search_end_to_end_resumes_after_a_kill(tmp_path):
    out = str(tmp_path / "study")
    process = _run([*TINY, "--output-dir", out])
    first = os.path.join(out, "tuner", "trial_0", "trial.json")
    try:
        deadline = time.monotonic() + 200
        while _status(first) != "COMPLETED":
            assert process.poll() is None and time.monotonic() < deadline, "the first trial did not finish"
            time.sleep(0.2)
        time.sleep(1)  # into the second trial's training, past keras-tuner's (non-atomic) bookkeeping writes
    finally:
        _stop(process)  # killed without warning, as by a lost machine
    finished = json.load(open(first))
    assert not os.path.exists(os.path.join(out, "results.csv"))

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
    assert json.load(open(first))["metrics"] == finished["metrics"]  # trial 0 was not run again

    with open(os.path.join(out, "results.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    report = open(os.path.join(out, "report.md")).read()
    for text in ("Table 4", "Table 5", "WRN-40-4 8.9M 4.97/22.89", "| budget | this run, best first",
                 "Widening helps at every depth.", "**"):
        assert text in report
    assert f"{100 * float(rows[0]['test_accuracy']):.2f}%" in report

    # The same study again: nothing to do, nothing lost.
    assert command.main([*TINY, "--output-dir", out]) == 0
    assert _rows(out) == rows
    # A different study in the same folder is refused before any training.
    assert command.main([TINY[0], "20k", *TINY[2:], "--output-dir", out]) == 2
    assert _rows(out) == rows
