"""The keras-tuner side of the study: the hypermodel, the tuners, and the trials as result rows."""

import itertools
import json
import math
import os
import socket
import statistics
import time

import keras
import keras_tuner

from keras_resnet.builder import build
from keras_resnet.checks import between, one_of, positive
from keras_resnet.cli.files import read_json, write_json
from keras_resnet.training import recipes
from keras_resnet.training.distribute import describe_machine
from keras_resnet.tuning.budget import plan_all


class EpochLog(keras.callbacks.Callback):
    """Every training epoch's wall-clock seconds and validation accuracy."""

    def on_train_begin(self, logs=None):
        self.seconds, self.val_accuracy = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.val_accuracy.append(float((logs or {}).get("val_accuracy", "nan")))


class BudgetHyperModel(keras_tuner.HyperModel):
    """Residual networks of a given depth whose width is solved for a parameter budget.

    Hyperparameters (all `Choice`): `budget`, `depth`, `cardinality`, `dropout`, as for
    `keras_resnet.tuning.budget.plan`, whose `spec` is built: the width is derived, never
    searched, in multiples of `multiple` channels. A trial trains under `recipe` (a name in
    `keras_resnet.training.recipes.RECIPES` or a `Recipe`, its dropout unused) laid out over
    `steps_per_epoch` x `epochs`, its layers computing in `precision` (a dtype policy; the
    classifier stays float32). `fit`
    reports keras-tuner's objective `val_accuracy`, `accuracy`, `test_accuracy` (given
    `test_data`) and the trial's `params`, `macs`, `budget_deviation`, `widen` (k), `epochs`,
    `seconds_per_epoch` and `train_seconds`, timed by the `EpochLog` among its callbacks (or its own).

    Raises:
        ValueError: before any training, for an empty or repeating list of values, a bad
            tolerance, epochs or steps, or a combination that cannot be met.
    """

    def __init__(self, budgets, depths, cardinalities=(1,), dropouts=(0.0,), *, input_shape=(32, 32, 3),
                 classes=10, steps_per_epoch, epochs, tolerance=0.1, recipe="wrn", jit_compile="auto",
                 multiple=1, precision="float32", name="budget_resnet"):
        super().__init__(name=name, tunable=True)
        for what, values in (("budgets", budgets), ("depths", depths), ("cardinalities", cardinalities),
                             ("dropouts", dropouts)):
            if not isinstance(values, (list, tuple)) or not values or len(set(values)) != len(values):
                raise ValueError(f"`{what}` must be a non-empty list without repeats; received {what}={values!r}")
        between("tolerance", tolerance, 0, 1)
        positive("steps_per_epoch", steps_per_epoch)
        positive("epochs", epochs)
        self.budgets, self.depths = [int(b) for b in budgets], list(depths)
        self.cardinalities, self.dropouts = list(cardinalities), [float(p) for p in dropouts]
        self.input_shape, self.classes = tuple(input_shape), classes
        self.tolerance, self.recipe = tolerance, recipes.get(recipe)
        self.steps_per_epoch, self.epochs, self.jit_compile = steps_per_epoch, epochs, jit_compile
        self.precision = precision
        self.plans = plan_all(self.budgets, self.depths, self.cardinalities, self.dropouts,
                              input_shape=self.input_shape, classes=classes, tolerance=tolerance, multiple=multiple)

    def plan(self, hp):
        """The `Plan` of a trial's hyperparameters."""
        key = (hp.Choice("budget", self.budgets), hp.Choice("depth", self.depths),
               hp.Choice("cardinality", self.cardinalities), hp.Choice("dropout", self.dropouts))
        return self.plans[key]

    def build(self, hp):
        p = self.plan(hp)
        model = build(p.spec, input_shape=self.input_shape, classes=self.classes, dtype=self.precision,
                      name=f"{'WRN' if p.block == 'basic' else 'PreActResNet'}-{p.depth}-{p.widen:g}")
        return self.recipe.compile(model, self.steps_per_epoch, self.epochs, jit_compile=self.jit_compile)

    def fit(self, hp, model, *args, test_data=None, epochs=1, callbacks=(), **kwargs):
        p = self.plan(hp)
        timer = next((c for c in callbacks if isinstance(c, EpochLog)), None)
        callbacks = list(callbacks) if timer else [*callbacks, timer := EpochLog()]
        history = model.fit(*args, epochs=epochs, callbacks=callbacks, **kwargs)
        # The median epoch after the first (which also traces the graph): a busy moment of a shared machine
        # does not move it.
        seconds = statistics.median(timer.seconds[1:] or timer.seconds)
        params = sum(math.prod(w.shape) for w in model.trainable_weights)
        metrics = {"val_accuracy": history.history["val_accuracy"][-1], "accuracy": history.history["accuracy"][-1],
                   "params": params, "budget_deviation": params / p.budget - 1, "macs": p.macs, "widen": p.widen,
                   "seconds_per_epoch": seconds, "train_seconds": sum(timer.seconds),
                   "epochs": epochs}  # the model's total epochs (Hyperband continues earlier trials)
        if test_data is not None:
            metrics["test_accuracy"] = model.evaluate(test_data, verbose=0, return_dict=True)["accuracy"]
        return {k: float(v) for k, v in metrics.items()}


PROJECT = "tuner"  # keras-tuner's project folder inside the study's folder
OBJECTIVE = keras_tuner.Objective("val_accuracy", "max")
TUNERS = ("grid", "random", "bayesian", "hyperband")


class _GridOracle(keras_tuner.oracles.GridSearchOracle):
    """keras-tuner's grid, walked from its saved state: the stock oracle keeps its walk in memory
    only, so a reloaded search fails (keras-team/keras-tuner#1055). This one takes the first
    combination that no trial has started (the saved `tried_so_far`), so a resumed search runs
    exactly the combinations left."""

    def populate_space(self, trial_id):
        space = self.get_space().space
        for values in itertools.product(*(hp.values for hp in space)):
            candidate = {hp.name: value for hp, value in zip(space, values)}
            if not self._duplicate(candidate):
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": candidate}
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}


class _Seeded:
    """Trains a trial once per seed of `seeds` (keras-tuner's executions, averaged for the oracle),
    each on `load(seed)`'s data with `keras.utils.set_random_seed(seed)`, and keeps every seed's
    result in the trial's folder (`seedK.json`), so that an interrupted trial resumes at its first
    unfinished seed. Records which tuner (worker) ran the trial (`worker.json`), and calls
    `after_trial()`, where set, when a trial ends."""

    seeds = (0,)
    after_trial = None

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.after_trial:
            self.after_trial()

    def run_trial(self, trial, load, **kwargs):
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), "worker.json"),
                   {"tuner_id": self.tuner_id, "host": socket.gethostname()})
        self._seeds_left = iter(self.seeds)  # keras-tuner runs one execution per seed, in order
        return super().run_trial(trial, load, **kwargs)

    def _build_and_fit_model(self, trial, load, *, callbacks=(), **kwargs):
        seed = next(self._seeds_left)
        path = os.path.join(self.get_trial_dir(trial.trial_id), f"seed{seed}.json")
        if not os.path.exists(path):
            data, log = load(seed), EpochLog()
            keras.utils.set_random_seed(seed)
            metrics = super()._build_and_fit_model(trial, data.train, validation_data=data.validation,
                                                   test_data=data.test, callbacks=[*callbacks, log], **kwargs)
            write_json(path, {"seed": seed, "metrics": metrics, "epoch_seconds": log.seconds,
                              "val_accuracy": log.val_accuracy, "machine": describe_machine()})
        return read_json(path, f"delete {path} to train seed {seed} of this trial again")["metrics"]

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        # keras-tuner imports tensorboard here even without a TensorBoard callback.
        if any(type(c).__name__ == "TensorBoard" for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)


def make_tuner(kind, hypermodel, directory, *, epochs=1, max_trials=None, seeds=(0,), seed=None):
    """A keras-tuner tuner over a `BudgetHyperModel`, saved under `directory/tuner` (an existing
    search there resumes, never overwritten). Its `search(load, epochs=...)` takes `load(seed)`, the
    data of a seed (what `keras_resnet.training.data.load` returns).

    Args:
        kind: `"grid"` (every combination, exactly once), `"random"`, `"bayesian"` or `"hyperband"`.
        epochs: training epochs per trial (Hyperband's `max_epochs`).
        max_trials: trials of the random and Bayesian searches (and a cap on the grid);
            default: the number of grid points.
        seeds: the seeds every trial trains with, one execution each (averaged for the oracle).
        seed: random seed of the oracle.
    """
    one_of("tuner", kind, TUNERS)
    max_trials = max_trials or len(hypermodel.plans)
    common = dict(hypermodel=hypermodel, directory=directory, project_name=PROJECT, overwrite=False,
                  executions_per_trial=len(seeds))
    if kind == "grid":
        base = keras_tuner.Tuner
        common["oracle"] = _GridOracle(objective=OBJECTIVE, max_trials=max_trials, seed=seed)
    elif kind == "hyperband":
        base = keras_tuner.Hyperband
        common.update(objective=OBJECTIVE, max_epochs=epochs, seed=seed)
    else:
        base = keras_tuner.RandomSearch if kind == "random" else keras_tuner.BayesianOptimization
        common.update(objective=OBJECTIVE, max_trials=max_trials, seed=seed)
    return type(f"Budget{base.__name__}", (_Seeded, base), {"seeds": tuple(seeds)})(**common)


def collect(tuner, hypermodel):
    """One row per finished seed of every completed or running (or interrupted) trial (keys
    `report.COLUMNS`), ordered by budget, depth, trial and seed."""
    rows = [row for trial in tuner.oracle.trials.values() if trial.status in ("COMPLETED", "RUNNING")
            for row in _rows(tuner, hypermodel, trial)]
    return sorted(rows, key=lambda r: (r["budget"], r["depth"], r["trial_id"], r["seed"]))


def _error(accuracy):
    """An accuracy (a fraction) as an error in percent."""
    return round(100 * (1 - float(accuracy)), 3)


def _rows(tuner, hypermodel, trial):
    hp = trial.hyperparameters
    p = hypermodel.plans[hp["budget"], hp["depth"], hp["cardinality"], hp["dropout"]]
    folder = tuner.get_trial_dir(trial.trial_id)
    worker_file = os.path.join(folder, "worker.json")
    worker = read_json(worker_file).get("tuner_id", "") if os.path.exists(worker_file) else ""
    for seed in tuner.seeds:
        path = os.path.join(folder, f"seed{seed}.json")
        if not os.path.exists(path):
            continue
        record = read_json(path, f"delete {path} to train seed {seed} of this trial again")
        m = record["metrics"]
        yield {
            "trial_id": trial.trial_id, "worker": worker, "seed": seed, "budget": p.budget, "block": p.block,
            "depth": p.depth, "cardinality": p.cardinality, "dropout": p.dropout, "widen": round(p.widen, 4),
            "channels": p.channels, "params": int(m["params"]), "budget_deviation": round(m["budget_deviation"], 5),
            "macs": int(m["macs"]), "epochs": int(m["epochs"]),
            "seconds_per_epoch": round(statistics.median(record["epoch_seconds"][1:] or record["epoch_seconds"]), 4),
            "train_seconds": round(m["train_seconds"], 3), "train_error": _error(m["accuracy"]),
            "val_error": _error(m["val_accuracy"]), "test_error": _error(m["test_accuracy"]) if "test_accuracy" in m
            else "", "epoch_seconds": json.dumps([round(t, 3) for t in record["epoch_seconds"]]),
            "val_curve": json.dumps([_error(a) for a in record["val_accuracy"]]),
            "machine": record.get("machine", ""),  # absent from records written before the column
        }
