"""Width against depth at fixed parameter budgets: a keras-tuner study.

Zagoruyko & Komodakis (Wide Residual Networks, arXiv:1605.07146, REFERENCE.md
section 5) found that, at an equal number of parameters, wider and shallower
residual networks are as accurate as deeper and thinner ones or more, and much
faster to train. This module lets a user test that on their own data and
hardware:

- `BudgetHyperModel` is a keras-tuner `HyperModel` whose hyperparameters are a
  parameter budget, a depth and (optionally) ResNeXt cardinality and dropout.
  The width is not searched: it is solved from the depth and the budget with
  the analytic `keras_resnet.complexity`, so every trial meets its budget and
  none is rejected for its size. Depths follow a family's rule: 6n+4 is a Wide
  ResNet (pre-activation basic blocks), 9n+2 a pre-activation bottleneck ResNet
  (the paper's "deep and thin" end, ResNet-164 and -1001). The two rules never
  share a depth (6n+4 is 1 mod 3, 9n+2 is 2 mod 3), so a depth names its block
  kind, and mixing both in `--depths` searches over block kinds.
- `make_tuner` builds a keras-tuner grid (the default: every depth at every
  budget), random, Bayesian or Hyperband tuner over it.
- `run_study` searches and writes `results.csv`, `results.png` and
  `report.md`, the last placing the measured ordering beside the paper's
  Tables 4 and 5.

`python -m keras_resnet.tune --help` is the command line; it runs alone, as
keras-tuner's distributed chief or worker (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), or, with `--workers N`, as a
chief and N workers on this machine.
"""

import argparse
import csv
import dataclasses
import functools
import ipaddress
import itertools
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings

import keras
import keras_tuner

from keras_resnet import recipes
from keras_resnet.files import atomic_write, write_json
from keras_resnet.models import build, complexity
from keras_resnet.spec import preact_resnet, wide_resnet

# Families and the width solver ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Family:
    """A depth rule and the network it gives at a first-stage 3x3 width.

    Attributes:
        block: `"basic"` or `"bottleneck"`.
        name: the family's name in reports.
        per_block, offset: depth = per_block * n + offset, n blocks per stage.
        make: `make(depth, channels, groups, dropout) -> Spec`; `channels` is the
            first stage's width (16 in both papers' networks).
        aligned: whether `channels` must be a multiple of the cardinality (a
            basic block groups both convs; a bottleneck block's grouped 3x3 takes
            the nearest multiple itself).
    """

    block: str
    name: str
    per_block: int
    offset: int
    make: callable
    aligned: bool

    def matches(self, depth):
        return depth > self.offset and (depth - self.offset) % self.per_block == 0

    def examples(self):
        return ", ".join(str(self.per_block * n + self.offset) for n in range(1, 6))


FAMILIES = (
    # WRN-d-k: every width scales with k = channels / 16 (fractional k allowed).
    Family("basic", "WRN", 6, 4,
           lambda depth, c, groups, dropout: wide_resnet(depth, c / 16, dropout).replace(groups=groups), True),
    # He 2016 pre-activation bottleneck ResNet: base width 16 (outputs 64/128/256)
    # scales to `channels` (outputs 4x), as k does for WRN; with cardinality C the
    # 3x3 has C groups of round(channels / C) (ResNeXt's C x d).
    Family("bottleneck", "pre-activation ResNet", 9, 2,
           lambda depth, c, groups, dropout: preact_resnet(depth).replace(
               width=c, groups=groups, group_width=max(1, round(c / groups)), dropout=dropout), False),
)
BASE_WIDTH = 16  # the first stage's width at k = 1 in both families


def family(depth):
    """The `Family` whose depth rule `depth` follows; ValueError otherwise."""
    if isinstance(depth, int) and not isinstance(depth, bool):
        for f in FAMILIES:
            if f.matches(depth):
                return f
    rules = "; ".join(f"{f.per_block}n+{f.offset} for {f.name} ({f.block} blocks: {f.examples()}, ...)"
                      for f in FAMILIES)
    raise ValueError(f"A depth must be {rules}; received depth={depth!r}")


class BudgetError(ValueError):
    """A depth cannot meet a budget within the tolerance."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """One network of the study: a budget, a depth, and the width that meets it.

    Attributes:
        budget: the parameter budget (trainable parameters).
        depth: the family's depth (WRN-`depth`, pre-activation ResNet-`depth`).
        cardinality: groups of every 3x3 conv (ResNeXt's C); 1 is a plain ResNet.
        dropout: dropout rate inside each block.
        channels: the solved first-stage width (WRN: of its 3x3 convs; bottleneck:
            its base width, outputs 4x), 16 at k = 1.
        spec: the `keras_resnet.Spec` built for the trial.
        params: its trainable parameters (analytic, equal to the built model's).
        macs: its multiply-accumulates for one input image.
    """

    budget: int
    depth: int
    cardinality: int
    dropout: float
    channels: int
    spec: object
    params: int
    macs: int

    @property
    def block(self):
        return family(self.depth).block

    @property
    def width(self):
        """The widening factor k (WRN's; 1 is the paper's thin network)."""
        return self.channels / BASE_WIDTH

    @property
    def deviation(self):
        """Relative distance of `params` from the budget (+0.02 is 2% over)."""
        return self.params / self.budget - 1


@functools.lru_cache(maxsize=None)
def plan(budget, depth, cardinality=1, dropout=0.0, *, input_shape=(32, 32, 3), classes=10, tolerance=0.1):
    """Solves the width that brings a depth to a parameter budget.

    Parameters grow with the square of the width, so the whole-channel width
    nearest the budget is found by bisection on the analytic count (channels
    come in multiples of `cardinality` where the family requires it).

    Args:
        budget: trainable parameters to aim at, a positive integer.
        depth: a depth of one of `FAMILIES` (6n+4 WRN, 9n+2 pre-activation).
        cardinality: groups per 3x3 conv.
        dropout: dropout rate inside each block.
        input_shape: the data's image shape (for MACs).
        classes: classifier width.
        tolerance: the largest allowed |params / budget - 1|.

    Returns:
        A `Plan`.

    Raises:
        BudgetError: if no width brings `depth` within `tolerance` of `budget`.
        ValueError: for an invalid budget, depth or cardinality.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ValueError(f"A budget must be a positive integer number of parameters; received budget={budget!r}")
    fam = family(depth)

    step = cardinality if fam.aligned else 1

    def at(multiple):
        spec = fam.make(depth, multiple * step, cardinality, dropout)
        return spec, complexity(spec, input_shape=input_shape, classes=classes)

    lo, hi = 1, 1  # bracket: params(lo) < budget <= params(hi), in steps of whole channels
    while at(hi)[1].trainable_params < budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if at(mid)[1].trainable_params < budget else (lo, mid)
    candidates = [at(m) + (m,) for m in {lo, hi}]
    spec, counts, multiple = min(candidates, key=lambda c: abs(c[1].trainable_params - budget))
    result = Plan(budget, depth, cardinality, dropout, multiple * step, spec, counts.trainable_params, counts.macs)
    if abs(result.deviation) > tolerance:
        raise BudgetError(
            f"{fam.name}-{depth} (cardinality {cardinality}) cannot meet a budget of {budget:,} parameters within "
            f"{tolerance:.0%}: the nearest whole-channel width ({result.channels} channels, k={result.width:g}) has "
            f"{result.params:,} ({result.deviation:+.1%})."
        )
    return result


def plan_all(budgets, depths, cardinalities=(1,), dropouts=(0.0,), **kwargs):
    """Plans every combination, so that a budget no depth can meet fails before training.

    Args:
        budgets, depths, cardinalities, dropouts: the study's values.
        **kwargs: `input_shape`, `classes`, `tolerance`, as for `plan`.

    Returns:
        A dict from (budget, depth, cardinality, dropout) to `Plan`.

    Raises:
        ValueError: naming every budget and depth that cannot be met, and the
            depths that can meet each such budget.
    """
    plans, errors = {}, []
    for budget in budgets:
        failed = []
        for depth, cardinality, dropout in itertools.product(depths, cardinalities, dropouts):
            try:
                plans[budget, depth, cardinality, dropout] = plan(budget, depth, cardinality, dropout, **kwargs)
            except BudgetError as e:
                failed.append((depth, str(e)))
        if failed:
            met = sorted({d for d in depths} - {d for d, _ in failed})
            head = (f"No depth in {list(depths)} can meet the budget {budget:,}" if not met else
                    f"The budget {budget:,} is met by depths {met} but not by {sorted({d for d, _ in failed})}")
            errors.append(head + ":\n  " + "\n  ".join(msg for _, msg in failed))
    if errors:
        raise ValueError("\n".join(errors) + "\nChange --budgets or --depths, or loosen --tolerance.")
    return plans


def parse_count(text):
    """`"0.6M"` -> 600000, `"36k"` -> 36000, `"1200"` -> 1200 (k, M, G suffixes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgG]?)\s*", str(text))
    if not match:
        raise ValueError(f"A parameter count must be a number with an optional k, M or G suffix (e.g. 0.6M, 36k); "
                         f"received {text!r}")
    value = float(match[1]) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match[2].lower()]
    if round(value) <= 0:
        raise ValueError(f"A parameter count must be positive; received {text!r}")
    return round(value)


def format_count(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


# The hypermodel ---------------------------------------------------------------


class _EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every training epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class BudgetHyperModel(keras_tuner.HyperModel):
    """Residual networks of a given depth whose width is solved for a parameter budget.

    Hyperparameters (all `Choice`): `budget`, `depth`, `cardinality`, `dropout`.
    The network is `keras_resnet.build(plan(...).spec)`: the width is derived,
    never searched. It trains under a `keras_resnet.recipes` recipe (Wide
    ResNet's by default) laid out over the study's epochs. `fit` reports, as
    metrics, the trial's realised `params`, `macs`, `budget_deviation`, `width`
    (k), `epochs`, `seconds_per_epoch`, `train_seconds`, `accuracy`,
    `val_accuracy` and, given `test_data`, `test_accuracy`.

    Args:
        budgets: parameter budgets (trainable parameters).
        depths: depths of `FAMILIES` (6n+4 WRN and/or 9n+2 pre-activation ResNet).
        cardinalities: ResNeXt cardinalities (groups per 3x3 conv) to try.
        dropouts: dropout rates to try.
        input_shape: image shape of the data.
        classes: number of classes.
        tolerance: largest allowed |params / budget - 1|.
        recipe: a name in `keras_resnet.recipes.RECIPES` or a `Recipe`: optimizer,
            schedule and weight decay (its dropout is not used: `dropouts` is).
        steps_per_epoch, epochs: the length of a trial's training, over which
            the recipe's learning-rate schedule is laid out.
        jit_compile: as for `keras.Model.compile`.

    Raises:
        ValueError: before any training, if some combination cannot be met.

    Example:
        >>> data = keras_resnet.data.load("cifar10")
        >>> hypermodel = BudgetHyperModel([600_000, 2_200_000], [16, 40], input_shape=data.input_shape,
        ...                               classes=data.num_classes, steps_per_epoch=data.steps_per_epoch, epochs=10)
        >>> tuner = make_tuner("grid", hypermodel, "runs/study")
        >>> tuner.search(data.train, validation_data=data.validation, epochs=10, test_data=data.test)
    """

    def __init__(self, budgets, depths, cardinalities=(1,), dropouts=(0.0,), *, input_shape=(32, 32, 3),
                 classes=10, steps_per_epoch, epochs, tolerance=0.1, recipe="wrn", jit_compile="auto",
                 name="budget_resnet"):
        super().__init__(name=name, tunable=True)
        for what, values in (("budgets", budgets), ("depths", depths), ("cardinalities", cardinalities),
                             ("dropouts", dropouts)):
            if not values or len(set(values)) != len(values):
                raise ValueError(f"`{what}` must be a non-empty list without repeats; received {what}={values!r}")
        if not 0 < tolerance < 1:
            raise ValueError(f"`tolerance` must be in (0, 1); received tolerance={tolerance!r}")
        self.budgets, self.depths = [int(b) for b in budgets], list(depths)
        self.cardinalities, self.dropouts = list(cardinalities), [float(p) for p in dropouts]
        self.input_shape, self.classes = tuple(input_shape), classes
        self.tolerance, self.recipe = tolerance, recipes.get(recipe)
        self.steps_per_epoch, self.epochs, self.jit_compile = steps_per_epoch, epochs, jit_compile
        self.plans = plan_all(self.budgets, self.depths, self.cardinalities, self.dropouts,
                              input_shape=self.input_shape, classes=classes, tolerance=tolerance)

    def plan(self, hp):
        """The `Plan` of a trial's hyperparameters."""
        key = (hp.Choice("budget", self.budgets), hp.Choice("depth", self.depths),
               hp.Choice("cardinality", self.cardinalities), hp.Choice("dropout", self.dropouts))
        return self.plans[key]

    def build(self, hp):
        p = self.plan(hp)
        model = build(p.spec, input_shape=self.input_shape, classes=self.classes,
                      name=f"{'WRN' if p.block == 'basic' else 'PreActResNet'}-{p.depth}-{p.width:g}")
        return self.recipe.compile(model, self.steps_per_epoch, self.epochs, jit_compile=self.jit_compile)

    def fit(self, hp, model, *args, test_data=None, epochs=1, callbacks=(), **kwargs):
        p = self.plan(hp)
        timer = _EpochTimer()
        history = model.fit(*args, epochs=epochs, callbacks=[*callbacks, timer], **kwargs)
        seconds = timer.seconds[1:] or timer.seconds  # the first epoch also traces the graph
        metrics = {
            "val_accuracy": history.history["val_accuracy"][-1],
            "accuracy": history.history["accuracy"][-1],
            "params": sum(math.prod(w.shape) for w in model.trainable_weights),
            "macs": p.macs,
            "width": p.width,
            "seconds_per_epoch": sum(seconds) / len(seconds),
            "train_seconds": sum(timer.seconds),
            "epochs": epochs,  # the model's total (Hyperband continues earlier trials)
        }
        metrics["budget_deviation"] = metrics["params"] / p.budget - 1
        if test_data is not None:
            metrics["test_accuracy"] = model.evaluate(test_data, verbose=0, return_dict=True)["accuracy"]
        return {k: float(v) for k, v in metrics.items()}


# Tuners -----------------------------------------------------------------------

OBJECTIVE = keras_tuner.Objective("val_accuracy", "max")
TUNERS = ("grid", "random", "bayesian", "hyperband")


class _GridOracle(keras_tuner.oracles.GridSearchOracle):
    """keras-tuner's grid, walked from its saved state.

    The stock oracle keeps its walk through the grid in memory only, so a
    reloaded search fails (keras-tuner 1.4.8: a `KeyError` in `populate_space`
    once the interrupted trial is retried; keras-team/keras-tuner#1055). This one takes
    the first combination (in the order of the `Choice` values) that no trial
    has started, which the oracle's saved `tried_so_far` knows, so a resumed
    search runs exactly the combinations left.
    """

    def populate_space(self, trial_id):
        space = self.get_space().space
        for values in itertools.product(*(hp.values for hp in space)):
            candidate = {hp.name: value for hp, value in zip(space, values)}
            if not self._duplicate(candidate):
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": candidate}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}


class _Recording:
    """Records which tuner (worker) ran each trial, next to keras-tuner's trial.json."""

    def run_trial(self, trial, *args, **kwargs):
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), "worker.json"),
                    {"tuner_id": self.tuner_id, "host": socket.gethostname()})
        return super().run_trial(trial, *args, **kwargs)

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        # keras-tuner imports tensorboard here even without a TensorBoard
        # callback, and recent TensorFlow no longer installs it.
        if any(type(c).__name__ == "TensorBoard" for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)


def make_tuner(kind, hypermodel, directory, *, epochs=1, max_trials=None, executions_per_trial=1, seed=None):
    """A keras-tuner tuner over `hypermodel`, saved under `directory/tuner`.

    Args:
        kind: `"grid"` (every combination, exactly once), `"random"`,
            `"bayesian"` or `"hyperband"`.
        hypermodel: a `BudgetHyperModel`.
        directory: the study's output directory. An existing search there is
            resumed, never overwritten.
        epochs: training epochs per trial (Hyperband's `max_epochs`).
        max_trials: trials of the random and Bayesian searches (and a cap on
            the grid); default: the number of grid points.
        executions_per_trial: trainings averaged per trial.
        seed: random seed of the oracle.

    Returns:
        A `keras_tuner.Tuner`.
    """
    if kind not in TUNERS:
        raise ValueError(f"`tuner` must be one of {list(TUNERS)}; received tuner={kind!r}")
    max_trials = max_trials or len(hypermodel.plans)
    common = dict(hypermodel=hypermodel, directory=directory, project_name="tuner", overwrite=False,
                  executions_per_trial=executions_per_trial)
    if kind == "grid":
        base = keras_tuner.Tuner
        common["oracle"] = _GridOracle(objective=OBJECTIVE, max_trials=max_trials, seed=seed)
    elif kind == "hyperband":
        base = keras_tuner.Hyperband
        common.update(objective=OBJECTIVE, max_epochs=epochs, seed=seed)
    else:
        base = keras_tuner.RandomSearch if kind == "random" else keras_tuner.BayesianOptimization
        common.update(objective=OBJECTIVE, max_trials=max_trials, seed=seed)
    return type(f"Budget{base.__name__}", (_Recording, base), {})(**common)


# Results ------------------------------------------------------------------------

COLUMNS = ("trial_id", "worker", "budget", "block", "depth", "cardinality", "dropout", "width", "channels",
           "params", "budget_deviation", "macs", "epochs", "seconds_per_epoch", "train_seconds", "train_accuracy",
           "val_accuracy", "test_accuracy")


def collect(tuner, hypermodel):
    """One row per completed trial (keys `COLUMNS`), ordered by budget, depth, trial."""
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        hp = trial.hyperparameters
        p = hypermodel.plans[hp["budget"], hp["depth"], hp["cardinality"], hp["dropout"]]
        def metric(name, digits=5):
            return round(float(trial.metrics.get_last_value(name)), digits)

        worker_file = os.path.join(tuner.get_trial_dir(trial.trial_id), "worker.json")
        worker = _read_json(worker_file).get("tuner_id", "") if os.path.exists(worker_file) else ""
        rows.append({
            "trial_id": trial.trial_id, "worker": worker, "budget": p.budget, "block": p.block, "depth": p.depth,
            "cardinality": p.cardinality, "dropout": p.dropout, "width": round(p.width, 4), "channels": p.channels,
            "params": int(metric("params")), "budget_deviation": metric("budget_deviation"),
            "macs": int(metric("macs")), "epochs": int(metric("epochs")),
            "seconds_per_epoch": metric("seconds_per_epoch", 4), "train_seconds": metric("train_seconds", 3),
            "train_accuracy": metric("accuracy"), "val_accuracy": metric("val_accuracy"),
            "test_accuracy": metric("test_accuracy") if trial.metrics.exists("test_accuracy") else "",
        })
    return sorted(rows, key=lambda r: (r["budget"], r["depth"], r["trial_id"]))


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_csv(rows, path):
    def write(f):
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)


def _accuracy(row):
    return row["test_accuracy"] if row["test_accuracy"] != "" else row["val_accuracy"]


def _cells(rows):
    """Mean accuracy, seconds per epoch, train-test gap and width per (budget, depth),
    of the longest-trained runs (Hyperband also trains networks briefly)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["budget"], r["depth"]), []).append(r)
    groups = {key: [r for r in rs if r.get("epochs", 0) == max(q.get("epochs", 0) for q in rs)]
              for key, rs in groups.items()}
    mean = lambda rs, f: sum(f(r) for r in rs) / len(rs)  # noqa: E731
    return {key: {"acc": mean(rs, _accuracy), "sec": mean(rs, lambda r: r["seconds_per_epoch"]),
                  "gap": mean(rs, lambda r: r["train_accuracy"] - _accuracy(r)), "k": mean(rs, lambda r: r["width"]),
                  "n": len(rs)}
            for key, rs in groups.items()}


def plot(rows, path):
    """Accuracy against depth at each budget, and accuracy against training time."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    cells = _cells(rows)
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for budget in sorted({b for b, _ in cells}):
        depths = sorted(d for b, d in cells if b == budget)
        label = f"{format_count(budget)} params"
        line, = left.plot(depths, [cells[budget, d]["acc"] for d in depths], "o-", label=label)
        budget_rows = [r for r in rows if r["budget"] == budget]
        right.scatter([r["train_seconds"] for r in budget_rows], [_accuracy(r) for r in budget_rows],
                      color=line.get_color(), label=label)
        for r in budget_rows:
            right.annotate(str(r["depth"]), (r["train_seconds"], _accuracy(r)), fontsize=7,
                           textcoords="offset points", xytext=(3, 3))
    metric = "test" if all(r["test_accuracy"] != "" for r in rows) else "validation"
    left.set(xlabel="depth (width solved for the budget)", ylabel=f"{metric} accuracy",
             title="Accuracy against depth at fixed budgets")
    right.set(xlabel="training time (s)", ylabel=f"{metric} accuracy", title="Accuracy against training time")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot.close(fig)


# Wide ResNet, Table 4: (depth, k, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE4 = (
    (40, 1, 0.6, 6.85, 30.89), (40, 2, 2.2, 5.33, 26.04), (40, 4, 8.9, 4.97, 22.89), (40, 8, 35.7, 4.66, None),
    (28, 10, 36.5, 4.17, 20.50), (28, 12, 52.5, 4.33, 20.43), (22, 8, 17.2, 4.38, 21.22), (22, 10, 26.8, 4.44, 20.75),
    (16, 8, 11.0, 4.81, 22.07), (16, 10, 17.1, 4.56, 21.59),
)
# Table 5: (network, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE5 = (("pre-act ResNet-1001", 10.2, 4.92, 22.71), ("WRN-40-4", 8.9, 4.53, 21.18),
                ("WRN-16-8", 11.0, 4.27, 20.43), ("WRN-28-10", 36.5, 4.00, 19.25))


def _paper_pairs():
    """Table 4's networks of near-equal size (within 25%), each as (deeper, shallower)."""
    rows = sorted(PAPER_TABLE4, key=lambda r: r[2])
    return [(max(a, b), min(a, b)) for a, b in itertools.combinations(rows, 2)
            if a[0] != b[0] and max(a[2], b[2]) / min(a[2], b[2]) <= 1.25]


def _verdict(results):
    if not results:
        return "not testable"
    return "yes" if all(results) else "no" if not any(results) else f"partly ({sum(results)} of {len(results)})"


def conclusions(rows):
    """The paper's conclusions, each as (claim, paper evidence, verdict, this run's numbers)."""
    cells = _cells(rows)
    budgets = sorted({b for b, _ in cells})
    depths = sorted({d for _, d in cells})
    pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    out = []

    # 1. Widening helps at every depth (Table 4, each depth down its widths).
    tests, notes = [], []
    for d in depths:
        bs = [b for b in budgets if (b, d) in cells]
        if len(bs) > 1:
            accs = [cells[b, d]["acc"] for b in bs]
            tests.append(all(y >= x for x, y in zip(accs, accs[1:])))
            steps = (f"k={cells[b, d]['k']:.3g} {pct(cells[b, d]['acc'])}" for b in bs)
            notes.append(f"depth {d}: " + " -> ".join(steps))
    out.append(("Widening helps at every depth.", "Table 4: at depth 40, k=1/2/4/8 give 6.85/5.33/4.97/4.66% "
                "CIFAR-10 error.", _verdict(tests), notes or ["needs a depth at two or more budgets"]))

    # 2 and 3. At equal parameters wide-and-shallow is as good or better, and faster.
    acc_tests, speed_tests, acc_notes, speed_notes, gap_tests, gap_notes = [], [], [], [], [], []
    for b in budgets:
        ds = [d for d in depths if (b, d) in cells]
        if len(ds) < 2:
            continue
        shallow, deep = cells[b, ds[0]], cells[b, ds[-1]]
        acc_tests.append(shallow["acc"] >= deep["acc"])
        acc_notes.append(f"{format_count(b)}: depth {ds[0]} (k={shallow['k']:.3g}) {pct(shallow['acc'])} vs depth "
                         f"{ds[-1]} (k={deep['k']:.3g}) {pct(deep['acc'])}")
        speed_tests.append(deep["sec"] > shallow["sec"])
        speed_notes.append(f"{format_count(b)}: depth {ds[-1]} takes {deep['sec']:.3g} s/epoch, depth {ds[0]} "
                           f"{shallow['sec']:.3g} s/epoch ({deep['sec'] / shallow['sec']:.2f}x)")
        gap_tests.append(deep["gap"] >= shallow["gap"])
        gap_notes.append(f"{format_count(b)}: train-minus-test accuracy gap {pct(deep['gap'])} at depth {ds[-1]} vs "
                         f"{pct(shallow['gap'])} at depth {ds[0]}")
    need = ["needs two or more depths at one budget"]
    paper = "; ".join(f"WRN-{s[0]}-{s[1]} ({s[2]}M) {s[3]}% vs WRN-{d[0]}-{d[1]} ({d[2]}M) {d[3]}%"
                      for d, s in _paper_pairs())
    out.append(("At an equal parameter count a wider, shallower network is as good as a deeper, thinner one or "
                "better.", f"Table 4 near-equal sizes (CIFAR-10 error): {paper}. Table 5: WRN-40-4 (8.9M) 4.53% vs "
                "pre-act ResNet-1001 (10.2M) 4.92%.", _verdict(acc_tests), acc_notes or need))
    out.append(("Wide, shallow networks are much faster to train.", "Table 5: WRN-40-4 trains 8x faster than "
                "pre-act ResNet-1001 at a similar accuracy.", _verdict(speed_tests), speed_notes or need))
    out.append(("Very deep thin networks give no extra regularisation.", "Section 3: the thin ResNet-1001 does "
                "not overfit less than WRN-40-4; dropout, not depth, regularises.", _verdict(gap_tests),
                gap_notes or need))
    return out


def report(rows, study):
    """The markdown report: the measured ordering beside Wide ResNet Tables 4 and 5."""
    cells = _cells(rows)
    budgets = sorted({b for b, _ in cells})
    metric = "test" if all(r["test_accuracy"] != "" for r in rows) else "validation"
    lines = [
        "# Width against depth at fixed parameter budgets", "",
        f"Dataset `{study['dataset']}`, {study['epochs']} epoch(s) per trial, `{study['tuner']}` tuner, "
        f"{len(rows)} completed trial(s), {study['executions_per_trial']} execution(s) per trial. The width of "
        f"every network was solved from its depth and budget (tolerance {study['tolerance']:.0%}); accuracies "
        f"are {metric} accuracies, averaged where a budget and depth ran more than once.", "",
        "## Trials", "",
        "| budget | block | depth | k | params (vs budget) | MACs | epochs | s/epoch | val acc | test acc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{100 * r['test_accuracy']:.2f}%" if r["test_accuracy"] != "" else "-"
        lines.append(f"| {format_count(r['budget'])} | {r['block']} | {r['depth']} | {r['width']:.3g} | "
                     f"{r['params']:,} ({100 * r['budget_deviation']:+.1f}%) | {format_count(r['macs'])} | "
                     f"{r['epochs']} | "
                     f"{r['seconds_per_epoch']:.3g} | {100 * r['val_accuracy']:.2f}% | {test} |")
    lines += ["", "## Measured ordering beside Wide ResNet Table 4", "",
              "| budget | this run, best first | Table 4 within 25% of the budget, best first (CIFAR-10 error) |",
              "|---|---|---|"]
    for b in budgets:
        ds = sorted((d for bb, d in cells if bb == b), key=lambda d: -cells[b, d]["acc"])
        ours = " > ".join(f"depth {d} (k={cells[b, d]['k']:.3g}, {100 * cells[b, d]['acc']:.2f}%)" for d in ds)
        near = sorted((r for r in PAPER_TABLE4 if max(r[2] * 1e6, b) / min(r[2] * 1e6, b) <= 1.25), key=lambda r: r[3])
        theirs = " > ".join(f"WRN-{r[0]}-{r[1]} ({r[2]}M, {r[3]}%)" for r in near) or "none"
        lines.append(f"| {format_count(b)} | {ours} | {theirs} |")
    lines += ["", "Table 4 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(
        f"WRN-{d}-{k} {p}M {c10}/{'-' if c100 is None else c100}" for d, k, p, c10, c100 in PAPER_TABLE4) + ".", "",
        "## Beside Table 5", "",
        "Table 5 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(f"{n} {p}M {a}/{c}" for n, p, a, c in PAPER_TABLE5)
        + "; WRN-40-4 trains 8x faster than ResNet-1001.", ""]
    by_block = {}
    for r in rows:
        by_block.setdefault((r["budget"], r["block"]), []).append(r)
    compared = False
    for b in budgets:
        if (b, "basic") in by_block and (b, "bottleneck") in by_block:
            wide = max(by_block[b, "basic"], key=_accuracy)
            thin = max(by_block[b, "bottleneck"], key=_accuracy)
            lines.append(f"- {format_count(b)}: best WRN-{wide['depth']} (k={wide['width']:.3g}) "
                         f"{100 * _accuracy(wide):.2f}% at {wide['seconds_per_epoch']:.3g} s/epoch vs best pre-act "
                         f"ResNet-{thin['depth']} (k={thin['width']:.3g}) {100 * _accuracy(thin):.2f}% at "
                         f"{thin['seconds_per_epoch']:.3g} s/epoch "
                         f"({thin['seconds_per_epoch'] / wide['seconds_per_epoch']:.2f}x the time per epoch).")
            compared = True
    if not compared:
        lines.append("- This run has no budget with both a WRN (6n+4) and a pre-activation bottleneck (9n+2) depth; "
                     "add one, e.g. `--depths 16,40,164`, to set the thin end beside WRN as Table 5 does.")
    lines += ["", "## The paper's conclusions in this run", "", "| conclusion | paper | echoed? | this run |",
              "|---|---|---|---|"]
    for claim, paper, verdict, notes in conclusions(rows):
        lines.append(f"| {claim} | {paper} | **{verdict}** | {'; '.join(notes)} |")
    lines += ["", "A verdict compares single runs; with few epochs or one execution per trial, differences of a "
              "fraction of a percent are noise (use `--executions-per-trial`).", ""]
    return "\n".join(lines)


def write_outputs(rows, output_dir, study):
    """Writes `results.csv`, `results.png` and `report.md` under `output_dir`."""
    write_csv(rows, os.path.join(output_dir, "results.csv"))
    if rows:
        plot(rows, os.path.join(output_dir, "results.png"))
    atomic_write(os.path.join(output_dir, "report.md"), lambda f: f.write(report(rows, study)))


# The study ------------------------------------------------------------------------


def distributed_role():
    """`"chief"`, `"worker"` or `None` (not distributed), from keras-tuner's variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ and "KERASTUNER_TUNER_ID" not in os.environ:
        return None
    missing = [v for v in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
               if not os.environ.get(v)]
    if missing:
        raise ValueError(f"Distributed tuning needs KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
                         f"KERASTUNER_ORACLE_PORT; missing {missing}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def _warn_insecure(ip, port):
    if ipaddress.ip_address(socket.gethostbyname(ip)).is_loopback:
        who = "any process on this machine"
    else:
        who = "anyone who can reach this address (keep it on a private network)"
    warnings.warn(f"The keras-tuner oracle serves gRPC on {ip}:{port} without encryption or authentication: "
                  f"{who} can read the search and submit results.", stacklevel=2)


def open_study(output_dir, study):
    """Claims `output_dir` for `study`, or checks that it already holds this study.

    Raises:
        ValueError: if it holds a different study (its results are never overwritten).
    """
    study_file = os.path.join(output_dir, "study.json")
    if os.path.exists(study_file):
        saved = _read_json(study_file)
        if saved != study:
            changed = {k: (saved.get(k), study.get(k)) for k in sorted(set(saved) | set(study))
                       if saved.get(k) != study.get(k)}
            raise ValueError(f"{output_dir!r} holds a different study (setting: (saved, requested) = {changed}); "
                             f"resume it with its own settings or choose another --output-dir.")
    elif distributed_role() != "worker":  # the chief (or a lone tuner) writes it
        os.makedirs(output_dir, exist_ok=True)
        write_json(study_file, study)


def run_study(data, hypermodel, output_dir, study, *, tuner="grid", epochs=1, max_trials=None,
              executions_per_trial=1, seed=None, verbose=0):
    """Runs (or resumes) a search and writes its outputs.

    Args:
        data: an object with `train`, `validation` and `test` tf.data datasets
            (as `keras_resnet.data.load` returns).
        hypermodel: a `BudgetHyperModel`.
        output_dir: where the search (`tuner/`), `study.json` and the outputs go.
        study: the study's settings (JSON-serialisable dict, with at least
            `dataset`, `tuner`, `epochs`, `executions_per_trial`, `tolerance`).
            A directory holding a different study is refused, so no result is
            overwritten; the same study resumes where it stopped.
        tuner, epochs, max_trials, executions_per_trial, seed: as for `make_tuner`.
        verbose: Keras `fit` verbosity.

    Returns:
        The rows of `results.csv` (empty on a distributed worker, whose chief
        writes them).
    """
    open_study(output_dir, study)
    role = distributed_role()
    if role == "chief":
        _warn_insecure(os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"])
    t = make_tuner(tuner, hypermodel, output_dir, epochs=epochs, max_trials=max_trials,
                   executions_per_trial=executions_per_trial, seed=seed)
    t.search(data.train, validation_data=data.validation, test_data=data.test, epochs=epochs, verbose=verbose)
    if role == "worker":
        return []
    rows = collect(t, hypermodel)
    write_outputs(rows, output_dir, study)
    return rows


def _free_port(ip):
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def launch(argv, workers, ip="127.0.0.1", port=None, timeout=None):
    """Runs this command as a keras-tuner chief and `workers` workers on this machine.

    Args:
        argv: the command's arguments, without `--workers`.
        workers: number of worker processes.
        ip, port: where the chief's oracle listens (default loopback, a free port).
        timeout: seconds before the whole search is stopped, or `None`.

    Returns:
        The chief's exit status. Every process is stopped on any error.
    """
    port = port or _free_port(ip)  # the chief warns that it listens without authentication
    # A terminated launcher must still stop its tuners (the `finally` below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = [sys.executable, "-m", "keras_resnet.tune", *argv]
    env = {**os.environ, "KERASTUNER_ORACLE_IP": ip, "KERASTUNER_ORACLE_PORT": str(port)}
    processes = []
    try:
        for tuner_id in ["chief", *(f"tuner{i}" for i in range(workers))]:
            processes.append(subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": tuner_id}))
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed:
                raise RuntimeError(f"A tuner process exited with status {failed[0].returncode}; stopping the search "
                                   f"(finished trials are kept and resume).")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"The distributed search did not finish in {timeout} s; stopped it "
                                   f"(finished trials are kept and resume).")
            time.sleep(0.5)
        return max(p.returncode for p in processes)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# Command line -------------------------------------------------------------------


def _list(parse):
    def parse_list(text):
        try:
            return [parse(v) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse_list


def _depth(text):
    try:
        depth = int(text)
    except ValueError:
        raise ValueError(f"A depth must be an integer; received {text!r}") from None
    family(depth)
    return depth


def parser():
    p = argparse.ArgumentParser(
        prog="python -m keras_resnet.tune",
        description="Width against depth at fixed parameter budgets (Wide ResNet, Zagoruyko & Komodakis 2016): "
                    "a keras-tuner search in which every network's width is solved from its depth and budget.")
    p.add_argument("--budgets", type=_list(parse_count), default=[600_000, 2_200_000, 8_900_000],
                   help="parameter budgets, e.g. 0.6M,2.2M,8.9M (the default: WRN-40-1/2/4 of Table 4)")
    p.add_argument("--depths", type=_list(_depth), default=[16, 22, 28, 40],
                   help="depths: 6n+4 for WRN (basic blocks), 9n+2 for pre-activation bottleneck ResNets "
                        "(the deep-and-thin end, e.g. 164); default 16,22,28,40 (Table 4)")
    p.add_argument("--cardinalities", type=_list(int), default=[1], help="ResNeXt cardinalities to try (default 1)")
    p.add_argument("--dropouts", type=_list(float), default=[0.0], help="dropout rates to try (default 0)")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="largest allowed |params/budget - 1| (default 0.1; widths are whole channels)")
    p.add_argument("--dataset", default="digits", help="a dataset of keras_resnet.data.load (default: digits, offline)")
    p.add_argument("--data-dir", default=None, help="where the dataset's files are (see keras-resnet-train --help)")
    p.add_argument("--subset", type=int, default=None, help="a fixed, class-balanced number of training examples")
    p.add_argument("--recipe", choices=tuple(recipes.RECIPES), default="wrn",
                   help="training recipe of keras_resnet.recipes, scaled to --epochs (default: Wide ResNet's)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (Hyperband: the most epochs)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="limit each epoch to this many batches")
    p.add_argument("--tuner", choices=TUNERS, default="grid")
    p.add_argument("--max-trials", type=int, default=None, help="random/Bayesian trials (default: the grid's size)")
    p.add_argument("--executions-per-trial", type=int, default=1, help="trainings averaged per trial")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output-dir", default="runs/tune", help="results and the resumable search (default runs/tune)")
    p.add_argument("--workers", type=int, default=0,
                   help="start a keras-tuner chief and this many workers on this machine")
    p.add_argument("--oracle-ip", default="127.0.0.1",
                   help="address the chief's oracle listens on with --workers (default loopback)")
    p.add_argument("--timeout", type=float, default=None,
                   help="with --workers: stop every tuner after this many seconds (finished trials resume)")
    p.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA compilation of each trial's model (default auto; off saves compile time on tiny runs)")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    return p


def _check(args):
    for name in ("epochs", "batch_size", "executions_per_trial"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; received {getattr(args, name)}")
    for name in ("max_trials", "steps_per_epoch", "subset"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; received {getattr(args, name)}")
    if args.workers < 0:
        raise ValueError(f"--workers must be 0 or more; received {args.workers}")
    if args.workers and distributed_role():
        raise ValueError("--workers starts its own chief and workers; unset KERASTUNER_TUNER_ID, "
                         "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, or drop --workers")
    try:
        ipaddress.ip_address(args.oracle_ip)
    except ValueError:
        raise ValueError(f"--oracle-ip must be an IP address; received {args.oracle_ip!r}") from None


def _without_workers(argv):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--workers", "--oracle-ip", "--timeout"):
            skip = True
        elif not a.startswith(("--workers=", "--oracle-ip=", "--timeout=")):
            out.append(a)
    return out


def main(argv=None):
    """The command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    args = p.parse_args(argv)
    try:
        _check(args)
        if args.workers:
            return launch(_without_workers(argv), args.workers, args.oracle_ip, timeout=args.timeout)
        from keras_resnet import data as data_module

        recipe = recipes.get(args.recipe)
        data = data_module.load(args.dataset, args.batch_size, seed=args.seed, pad_mode=recipe.pad_mode,
                                data_dir=args.data_dir, subset=args.subset)
        steps = data.steps_per_epoch
        if args.steps_per_epoch and args.steps_per_epoch < steps:
            steps = args.steps_per_epoch
            data = dataclasses.replace(data, train=data.train.take(steps))
        hypermodel = BudgetHyperModel(args.budgets, args.depths, args.cardinalities, args.dropouts,
                                      input_shape=data.input_shape, classes=data.num_classes,
                                      tolerance=args.tolerance, recipe=recipe, steps_per_epoch=steps,
                                      epochs=args.epochs,
                                      jit_compile={"on": True, "off": False}.get(args.jit_compile, "auto"))
        study = {k: getattr(args, k) for k in ("budgets", "depths", "cardinalities", "dropouts", "tolerance",
                                               "dataset", "subset", "recipe", "batch_size", "epochs", "steps_per_epoch",
                                               "tuner", "max_trials", "executions_per_trial", "seed")}
        open_study(args.output_dir, study)
    except ValueError as e:
        p.error(str(e))
    rows = run_study(data, hypermodel, args.output_dir, study, tuner=args.tuner, epochs=args.epochs,
                     max_trials=args.max_trials, executions_per_trial=args.executions_per_trial, seed=args.seed,
                     verbose=args.verbose)
    if distributed_role() != "worker":
        print(f"{len(rows)} trial(s): {os.path.join(args.output_dir, 'results.csv')}, results.png, report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
