"""The experiments (`keras-resnet experiment`): the verdict rule on constructed inputs,
every experiment end to end at smoke scale, resuming without repeating runs, and bad
input before any training."""

import csv
import json
import sys

import numpy as np
import pytest

from keras_resnet.cli import main as cli
from keras_resnet.cli.parser import ArgumentParser
from keras_resnet.experiments import command, definitions, report, statistics
from keras_resnet.experiments import run as run_lib
from keras_resnet.training.distribute import fastest_precision

# --- the statistics ------------------------------------------------------------


def test_known_difference_is_echoed():
    est = statistics.estimate([2.0, 2.5, 1.5, 2.2])
    assert est.verdict == "echoed" and est.mean == pytest.approx(2.05) and est.low > 0
    # Student's t with 3 degrees of freedom: 3.182 x sd / sqrt(4).
    assert est.high - est.mean == pytest.approx(3.1824 * np.std([2.0, 2.5, 1.5, 2.2], ddof=1) / 2, rel=1e-4)


def test_reversed_difference_is_contradicted():
    assert statistics.estimate([-2.0, -2.5, -1.5]).verdict == "contradicted"


def test_noise_is_not_resolved():
    rng = np.random.default_rng(0)
    assert statistics.estimate(rng.normal(0, 1, 5)).verdict == "not resolved"
    # A large mean with a huge spread over two seeds is not resolved either.
    assert statistics.estimate([5.0, -1.0]).verdict == "not resolved"


def test_one_seed_gives_no_verdict():
    with pytest.raises(ValueError, match="at least 2 seeds; received 1 value"):
        statistics.estimate([3.0])


@pytest.mark.parametrize("effect, seeds", [(0.2, 199), (0.5, 34), (0.8, 15), (1.0, 10), (3.0, 4)])
def test_seeds_to_resolve_is_the_paired_t_tests_power_calculation(effect, seeds):
    """Cohen's tables (G*Power, matched pairs, two-sided 5%, 80% power): effect size 0.5 needs 34 pairs."""
    est = statistics.Estimate(mean=-effect, low=-1.0, high=1.0, n=3, sd=1.0)
    assert statistics.seeds_to_resolve(est) == seeds
    assert statistics.power_note(est) == f"{seeds} (80% power)"


def test_power_notes_for_nil_and_resolved_effects():
    assert statistics.power_note(statistics.estimate([0.5, -0.5, 0.0])) == "none: the measured difference is 0"
    assert statistics.power_note(statistics.estimate([0.01, -0.5, 0.5])) == "over 1,000: as good as nil at this spread"
    assert statistics.power_note(statistics.estimate([2.0, 2.5, 1.5])) == "-"  # echoed: nothing to resolve


def test_contrast_pairs_by_seed():
    values = {"deep": {0: 10.0, 1: 12.0, 2: 9.0}, "shallow": {0: 8.0, 1: 11.0}}
    assert statistics.contrast(values, {"deep": 1, "shallow": -1}) == [2.0, 1.0]  # seed 2 has no pair


def test_the_report_counts_a_seed_finished_once_every_network_has_trained_with_it():
    e = definitions.get("degradation")
    row = dict(params=269434, macs=40256128, train_error=7.5, test_error=8.0, epoch_seconds=60.0)
    rows = [dict(row, network=n.label, seed=s) for s in (0, 1) for n in e.networks]
    rows.append(dict(row, network=e.networks[0].label, seed=2))  # seed 2 has begun, not finished
    settings = dict(dataset="fashion_mnist", subset=0, epochs=8, recipe="he2015", batch_size=128,
                    precision="mixed_bfloat16", seeds=[0, 1, 2])
    text = report.report(e, rows, settings, "keras-resnet experiment degradation")
    assert "seeds [0, 1, 2] (2 finished: 9 of 12 runs)." in text


def test_the_report_names_every_machine_a_resumed_experiment_trained_on():
    e = definitions.get("degradation")
    row = dict(params=269434, macs=40256128, train_error=7.5, test_error=8.0, epoch_seconds=60.0)
    rows = [dict(row, network=n.label, seed=s, machine="Xeon, 2 CPUs") for s in (0, 1) for n in e.networks]
    settings = dict(dataset="fashion_mnist", subset=0, epochs=8, recipe="he2015", batch_size=128,
                    precision="mixed_bfloat16", seeds=[0, 1, 2])
    one = report.report(e, rows, settings, "keras-resnet experiment degradation")
    assert "\nMachine: Xeon, 2 CPUs.\n" in one
    rows += [dict(row, network=n.label, seed=2, machine="EPYC, 2 CPUs") for n in e.networks[:3]]
    rows.append(dict(row, network=e.networks[3].label, seed=2))  # a row written before the column
    text = report.report(e, rows, settings, "keras-resnet experiment degradation")
    assert "\nMachines: Xeon, 2 CPUs (8 runs); EPYC, 2 CPUs (3 runs); not recorded (1 run).\n" in text


# --- the experiments as data ---------------------------------------------------


def test_every_claim_weighs_networks_of_its_experiment():
    for e in definitions.EXPERIMENTS.values():
        labels = {n.label for n in e.networks}
        assert len(labels) == len(e.networks)
        for claim in e.claims:
            assert set(claim.weights) <= labels and sum(claim.weights.values()) == 0
            assert claim.metric in report.METRICS and claim.paper


def test_the_networks_are_the_papers():
    degradation = definitions.get("degradation")
    assert degradation.network("plain-56").spec.shortcut == "none"
    assert degradation.network("plain-56").spec.depth == 56 and degradation.network("ResNet-20").spec.shortcut == "A"
    units = [n.spec.unit for n in definitions.get("unit_orders").networks]
    assert units == list("abcde")
    assert definitions.get("shortcut_scale").network("ResNet-56 x0.5").spec.shortcut_scale == 0.5
    # Width against depth is the tuner's study, not a second implementation.
    assert sorted(definitions.EXPERIMENTS) == ["degradation", "shortcut_scale", "unit_orders"]


def test_the_regime_defaults_to_every_image_at_batch_128_in_the_fastest_precision(monkeypatch):
    s = run_lib.settings(definitions.get("degradation"))
    assert (s["subset"], s["batch_size"], s["epochs"], s["seeds"]) == (None, 128, 8, [0, 1, 2, 3, 4])
    assert s["precision"] == ("float32" if fastest_precision() == "float32" else "mixed_bfloat16")
    assert run_lib.settings(definitions.get("degradation"), precision="float32")["precision"] == "float32"
    assert run_lib.settings(definitions.get("degradation"), precision="mixed")["precision"] == "mixed_bfloat16"
    monkeypatch.setattr(run_lib, "fastest_precision", lambda: "float32")  # a CPU without bfloat16 instructions
    assert run_lib.settings(definitions.get("degradation"))["precision"] == "float32"


# --- bad input, before any training ----------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["degredation"], "Unknown experiment 'degredation'. Did you mean 'degradation'?"),
    (["degradation", "--seeds", "1"], "at least 2 different seeds"),
    (["degradation", "--seeds", "0"], "`seeds` must be a positive integer; received seeds=0"),
    (["degradation", "--epochs", "0"], "received epochs=0"),
    (["degradation", "--subset", "-3"], "received subset=-3"),
    (["degradation", "--dataset", "fashion-mnist"], "Did you mean 'fashion_mnist'?"),
    (["width_depth"], "Unknown experiment 'width_depth'."),
    (["degradation", "--output-dir", "{file}/out"], "received --output-dir='{file}/out', but '{file}' is a file"),
])
def test_bad_input_is_one_line_before_any_training(argv, message, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv, message = [a.format(file=tmp_path / "file") for a in argv], message.format(file=tmp_path / "file")
    out = tmp_path / "out"
    if "--output-dir" not in argv:
        argv += ["--output-dir", str(out)]
    assert cli.main(["experiment", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-resnet experiment: error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


def test_an_unknown_precision_is_refused(tmp_path, capsys, exit_status):
    assert exit_status(cli.main, ["experiment", "degradation", "--precision", "half",
                                  "--output-dir", str(tmp_path / "out")]) == 2
    assert "argument --precision: invalid choice: 'half' (choose from 'auto', 'float32', 'mixed')" in \
        capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- end to end, at smoke scale --------------------------------------------------


def _smoke(name, tmp_path, extra=()):
    out = tmp_path / name
    argv = ["experiment", name, "--dataset", "digits", "--seeds", "2", "--epochs", "1", "--subset", "200",
            "--batch-size", "50", "--output-dir", str(out), *extra]
    return out, argv


@pytest.mark.slow
# degradation and unit_orders run end to end as tutorials 03 and 04 (tests/test_tutorials.py).
@pytest.mark.parametrize("name", ["shortcut_scale"])
def test_each_experiment_writes_all_its_outputs(name, tmp_path, capsys):
    out, argv = _smoke(name, tmp_path)
    assert cli.main(argv) == 0
    e = definitions.get(name)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(e.networks) and set(rows[0]) == set(report.COLUMNS)
    assert {r["seed"] for r in rows} == {"0", "1"}
    for r in rows:
        assert 0 <= float(r["test_error"]) <= 100 and int(r["params"]) > 0 and len(json.loads(r["train_curve"])) == 1
    text = (out / "report.md").read_text()
    assert (f"Command: `keras-resnet experiment {name} --dataset digits --seeds 2 --epochs 1 --subset 200 "
            f"--batch-size 50 --precision {'float32' if fastest_precision() == 'float32' else 'mixed'} "
            f"--output-dir {out}`") in text
    printed = capsys.readouterr().out
    for claim, est in report.verdicts(e, rows):  # every claim has two seeds, so a verdict
        assert est.verdict in ("echoed", "contradicted", "not resolved")
        assert f"| {claim.statement} | {report.METRICS[claim.metric]} | {est.mean:+.2f} " in text
        assert f" | {statistics.power_note(est)} | {claim.paper} |" in text
        assert f"{est.verdict:>13}: {claim.statement} ({est.mean:+.2f} [" in printed
    assert (out / f"{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_resume_repeats_no_finished_run(tmp_path, monkeypatch):
    out, argv = _smoke("degradation", tmp_path)
    trained = []
    real_train = run_lib.train

    def interrupted(config):
        if len(trained) == 3:  # killed while training the fourth run
            raise KeyboardInterrupt
        trained.append(config.output_dir)
        return real_train(config)

    monkeypatch.setattr(run_lib, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(argv)
    assert len(list((out / "runs").glob("*/seed*/row.json"))) == 3
    monkeypatch.setattr(run_lib, "train", lambda config: trained.append(config.output_dir) or real_train(config))
    assert cli.main(argv) == 0
    assert len(trained) == 8 and len(set(trained)) == 8  # every run trained exactly once
    # Other settings in the same folder are refused.
    assert cli.main([*argv[:-2], "--epochs", "2", "--output-dir", str(out)]) == 2


def test_tutorials_take_the_commands_options(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["03_degradation.py", "--batch-size", "16", "--smoke"])
    args = command.tutorial_arguments("degradation")
    assert (args.experiment, args.output_dir, args.batch_size) == ("degradation", "degradation", 16)
    assert {k: getattr(args, k) for k in command.SMOKE} == command.SMOKE
    def options(tutorial=None):
        p = ArgumentParser()
        command.arguments(p, tutorial)
        return {a.dest for a in p._actions}

    assert options("degradation") == options() - {"experiment"} | {"smoke"}
    monkeypatch.setattr(sys, "argv", ["03_degradation.py"])
    args = command.tutorial_arguments("degradation")
    assert (args.dataset, args.seeds, args.epochs, args.subset) == ("fashion_mnist", 5, None, None)
