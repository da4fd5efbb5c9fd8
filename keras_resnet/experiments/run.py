"""Running an experiment: every network with every seed, through the training command's
own code (`keras_resnet.training.train`), one resumable run folder each, a result row
(`keras_resnet.experiments.report.COLUMNS`) per run."""

import json
import os
import re
import time

import keras

from keras_resnet.checks import one_of, positive
from keras_resnet.cli.files import read_json, write_json
from keras_resnet.cli.run_folder import claim, start
from keras_resnet.complexity import complexity
from keras_resnet.experiments.statistics import MIN_SEEDS
from keras_resnet.training import data as data_lib
from keras_resnet.training import recipes as recipes_lib
from keras_resnet.training.config import Config
from keras_resnet.training.distribute import describe_machine, fastest_precision, mixed_policy
from keras_resnet.training.train import read_log, train

PRECISIONS = ("auto", "float32", "mixed")
SETTINGS_FILE = "experiment.json"
ROW_FILE = "row.json"  # a finished run's row, kept in its folder


def settings(experiment, *, dataset="fashion_mnist", seeds=5, epochs=None, subset=None, batch_size=None,
             recipe=None, data_dir=None, precision="auto"):
    """The experiment's settings with its defaults filled in, checked before any training (a
    ValueError for fewer than two seeds, a non-positive count, an unknown dataset, recipe or precision).

    `seeds` is a number N (seeds 0 to N - 1) or a list of seeds; `subset=None` takes the
    experiment's default, `0` every training image. `precision` is `"float32"`, `"mixed"` (Keras'
    mixed policy of the device: bfloat16 on a CPU, float16 on a GPU) or `"auto"`: mixed where the
    machine computes faster so (`keras_resnet.training.distribute.fastest_precision`); the settings
    hold the resolved policy's name.
    """
    given = seeds
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        positive("seeds", seeds)
        seeds = list(range(seeds))
    seeds = list(seeds)
    if len(seeds) < MIN_SEEDS or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must give at least {MIN_SEEDS} different seeds (one run gives no confidence "
                         f"interval, so no verdict); received seeds={given!r}")
    defaults = experiment.defaults
    s = dict(experiment=experiment.name, dataset=dataset, seeds=seeds,
             epochs=defaults.get("epochs") if epochs is None else epochs,
             subset=defaults.get("subset") if subset is None else (subset or None),  # 0: every image
             recipe=recipe or defaults.get("recipe", "he2015"), data_dir=data_dir)
    recipe_obj = recipes_lib.get(s["recipe"])
    s["batch_size"] = defaults.get("batch_size", recipe_obj.batch_size) if batch_size is None else batch_size
    for field in ("epochs", "batch_size"):
        positive(field, s[field])
    one_of("precision", precision, PRECISIONS)
    s["precision"] = {"float32": "float32", "mixed": mixed_policy()}.get(precision) or fastest_precision()
    if subset:
        positive("subset", subset)
    data_lib.check_dataset(dataset)
    return s


def _slug(label):
    return re.sub(r"[^A-Za-z0-9.]+", "_", label).strip("_")


def _error(accuracy):
    return round(100 * (1 - accuracy), 3)


def _row(experiment, network, s, seed, folder, evaluation, wall_seconds, epochs_this_session):
    log = read_log(folder)
    counts = complexity(network.spec, input_shape=evaluation["input_shape"], classes=evaluation["classes"])
    fit_seconds = evaluation.get("train_seconds_this_session")
    return {
        "experiment": experiment.name, "network": network.label, "model": network.model,
        "changes": json.dumps(network.changes, sort_keys=True), "seed": seed, "dataset": s["dataset"],
        "subset": s["subset"], "epochs": s["epochs"], "recipe": s["recipe"],
        "train_error": _error(log[-1]["accuracy"]),
        "val_error": _error(log[-1]["val_accuracy"]) if "val_accuracy" in log[-1] else "",
        "test_error": _error(evaluation["test_accuracy"]),
        "params": counts.trainable_params, "macs": counts.macs,
        # Only a run trained in one go times its epochs; a resumed one leaves the cell empty.
        "epoch_seconds": round(fit_seconds / epochs_this_session, 2)
        if fit_seconds and epochs_this_session == s["epochs"] else "",
        "wall_seconds": round(wall_seconds, 1), "machine": describe_machine(),
        "train_curve": json.dumps([_error(r["accuracy"]) for r in log]),
        "val_curve": json.dumps([_error(r["val_accuracy"]) for r in log if "val_accuracy" in r]),
    }


def _train(experiment, network, s, seed, folder, verbose):
    """Trains one network with one seed into `folder` (continuing an interrupted run there); its row."""
    started = os.path.exists(os.path.join(folder, "run.json"))
    before = len(read_log(folder)) if started else 0
    config = Config.checked(model=network.model, changes=dict(network.changes), dataset=s["dataset"],
                            recipe=s["recipe"], epochs=s["epochs"], batch_size=s["batch_size"], output_dir=folder,
                            resume=started, seed=seed, data_dir=s["data_dir"], subset=s["subset"], verbose=verbose,
                            mixed_precision=s["precision"] != "float32")
    begin = time.time()
    evaluation = train(config)
    keras.utils.clear_session(free_memory=True)
    return _row(experiment, network, s, seed, folder, evaluation, time.time() - begin, len(read_log(folder)) - before)


def run(experiment, output_dir, s, *, verbose=0, on_row=None):
    """Claims `output_dir` for the experiment of settings `s` (a ValueError if it holds anything
    else), trains what is not trained yet, and returns every run's row.

    Seed by seed, every network, so that each finished seed already gives paired comparisons. A
    run's folder is `output_dir/runs/NETWORK/seedK`; a finished run is read back, an interrupted
    one continues from its last finished epoch. `on_row(rows)` is called after each run trained here.
    """
    if not claim(output_dir, SETTINGS_FILE, s, resume=True, what="experiment"):
        start(output_dir, SETTINGS_FILE, s)
    rows = []
    for seed in s["seeds"]:
        for network in experiment.networks:
            folder = os.path.join(output_dir, "runs", _slug(network.label), f"seed{seed}")
            row_file = os.path.join(folder, ROW_FILE)
            if os.path.exists(row_file):
                rows.append(read_json(row_file, f"delete {folder} to train that run again"))
                continue
            row = _train(experiment, network, s, seed, folder, verbose)
            write_json(row_file, row)
            rows.append(row)
            if on_row:
                on_row(rows)
    return rows
