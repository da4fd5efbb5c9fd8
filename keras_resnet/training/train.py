"""The training command: train a residual network on a dataset and report how well it does.

    python -m keras_resnet.train --model ResNet20 --dataset digits --epochs 10 --batch-size 64

(or the `keras-resnet-train` console script). It builds `--model` with
`keras_resnet.build`, loads `--dataset` with `keras_resnet.data.load`, trains with
`model.fit` under the `--recipe` (`keras_resnet.recipes`), and writes to
`--output-dir`. The recipe decides the optimizer and loss, one-hot labels
(`recipe.one_hot`), the training batches' RandAugment and MixUp/CutMix
(`recipe.batch_transform`), the classifier's activation and its `Spec` changes.
Outputs:

    run.json          the run's settings (a folder holds one run)
    log.csv           loss, accuracy and learning rate per epoch
    tensorboard/      TensorBoard logs
    best.keras        the model of the best validation accuracy
    last.keras        the model after the latest epoch
    evaluation.json   test loss and accuracy of the last and the best model
    curves.png        learning curves
    backup/           the training state, while the run is unfinished

A run killed at any moment continues with `--resume` from the last finished
epoch (`checkpoints.Backup`): no finished epoch is lost or run twice. The folder
is locked while a command uses it, every file appears whole (a temporary name,
then a rename), and a damaged file is reported by name with what to do.
"""

import argparse
import ast
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

# Same as the library's other entry points: TensorFlow's C++ start-up chatter hides the progress bars.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_resnet.checks import ArgumentParser, between, command_error, positive, seed  # noqa: E402
from keras_resnet.models import build  # noqa: E402
from keras_resnet.spec import Spec, get_spec  # noqa: E402
from keras_resnet.training import data as data_lib  # noqa: E402
from keras_resnet.training import recipes as recipes_lib  # noqa: E402
from keras_resnet.training.checkpoints import Backup, ModelCheckpoint, restore_point, set_aside_damaged  # noqa: E402
from keras_resnet.training.distribute import (STRATEGIES, even_batches, initialize_processes,  # noqa: E402
                                              make_strategy, process_count, worker_name)
from keras_resnet.training.plots import figure  # noqa: E402
from keras_resnet.training.run_folder import (  # noqa: E402
    RunFolderError, check_folder, claim, numbered_folder, out_of_space, read_csv, release, start, write_csv,
    write_json)


class TrainingStopped(RuntimeError):
    """Training ended before its last epoch: the loss diverged (NaN or infinite)."""


# Settings that define a run: resuming with any of them changed would train another model.
IDENTITY = ("model", "changes", "dataset", "recipe", "epochs", "batch_size", "validation_split", "seed",
            "mixed_precision", "steps_per_epoch", "subset")


@dataclasses.dataclass
class Config:
    """What `train` does; the fields are the command's options."""

    model: str = "ResNet20"
    dataset: str = "digits"
    recipe: str = "he2015"
    epochs: int | None = None
    batch_size: int | None = None
    output_dir: str | None = None
    resume: bool = False
    mixed_precision: bool = False
    strategy: str = "auto"
    changes: dict = dataclasses.field(default_factory=dict)
    validation_split: float = 0.1
    seed: int | None = None
    data_dir: str | None = None
    subset: int | None = None
    steps_per_epoch: int | None = None
    verbose: int = 1
    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    def identity(self):
        """The settings that define the run, as stored in run.json."""
        return json.loads(json.dumps({k: getattr(self, k) for k in IDENTITY}))


# The output folder -------------------------------------------------------------


def _check_output_dir(config):
    """Refuses to write into a folder that holds something else than this run, or
    this run finished. Returns whether training continues a previous run."""
    if config.resume and not os.path.exists(os.path.join(config.output_dir, "run.json")):
        raise ValueError(f"--resume: --output-dir {config.output_dir!r} holds no run to continue (no run.json); "
                         f"drop --resume to start one there")
    if config.resume and os.path.exists(os.path.join(config.output_dir, "evaluation.json")):
        raise ValueError(f"The run in {config.output_dir!r} is finished (see evaluation.json); choose a new folder")
    return claim(config.output_dir, "run.json", config.identity(), resume=config.resume)


def _normalize_config(config):
    """Validates names early, before any data is read or file written."""
    spec = get_spec(config.model)
    if config.changes:
        spec.replace(**config.changes)  # raises on an unknown field or value
    recipe = recipes_lib.get(config.recipe)
    if config.dataset not in data_lib.DATASETS and not os.path.isdir(config.dataset):
        raise ValueError(data_lib.unknown_dataset(config.dataset))
    config.epochs = recipe.epochs if config.epochs is None else config.epochs
    config.batch_size = recipe.batch_size if config.batch_size is None else config.batch_size
    for name in ("epochs", "batch_size", "steps_per_epoch", "subset"):
        if getattr(config, name) is not None:
            positive(f"--{name.replace('_', '-')}", getattr(config, name))
    recipe = recipe.at_batch_size(config.batch_size)  # the linear scaling rule
    seed("--seed", config.seed)
    between("--validation-split", config.validation_split, 0, 1)
    if config.output_dir is None:
        dataset = os.path.basename(os.path.normpath(config.dataset))
        config.output_dir = numbered_folder(os.path.join("runs", f"{config.model}-{dataset}-{config.recipe}"),
                                            config.resume)
    check_folder(config.output_dir)
    return recipe


# Training --------------------------------------------------------------------


def _build_model(config, recipe, data):
    # The recipe's Spec changes (dropout, zero_init_last, ...), then the user's --set on top.
    model = build(config.model, input_shape=data.input_shape, classes=data.num_classes,
                  classifier_activation=None if config.mixed_precision else recipe.classifier_activation,
                  **{**recipe.model_changes, **config.changes})
    if config.mixed_precision:  # softmax (sigmoid for BCE) in float32, as Keras' mixed-precision guide advises
        outputs = keras.layers.Activation(recipe.classifier_activation, dtype="float32",
                                          name="probabilities")(model.output)
        model = keras.Model(model.input, outputs, name=model.name)
    # XLA trains convolutions ~3x slower than TensorFlow's own kernels on CPU;
    # Keras' "auto" already resolves to False there, and this says so.
    return recipe.compile(model, config.steps_per_epoch or data.steps_per_epoch, config.epochs,
                          jit_compile="auto" if _accelerated() else False)


def _accelerated():
    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


class _LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate at the end of the epoch to the logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _callbacks(config, folder, backup_dir, validation, restored_weights):
    monitor = "val_accuracy" if validation else "accuracy"
    # From the chief's log on every process: saving the best model is a step that all processes
    # of a multi-process run take together, so they must agree on when to take it.
    best_so_far = max((row[monitor] for row in read_log(config.output_dir) if monitor in row), default=None)
    if set_aside_damaged(os.path.join(folder, "best.keras"), "the best model is now chosen among the epochs "
                                                             "from here on"):
        best_so_far = None
    return [
        keras.callbacks.TerminateOnNaN(),
        _LearningRateLogger(),
        keras.callbacks.CSVLogger(os.path.join(folder, "log.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(folder, "tensorboard")),
        # A resumed run keeps the best model of its earlier epochs unless it beats it.
        ModelCheckpoint(os.path.join(folder, "best.keras"), monitor=monitor, mode="max",
                        save_best_only=True, initial_value_threshold=best_so_far),
        ModelCheckpoint(os.path.join(folder, "last.keras")),
        # Last, so that an epoch counts as done only once everything above has recorded it.
        Backup(backup_dir, restored_weights),
    ]


def read_log(folder):
    """The rows of `log.csv` as dicts of numbers."""
    return [{k: float(v) for k, v in row.items()} for row in read_csv(os.path.join(folder, "log.csv"))]


def backed_up_epochs(backup_dir):
    """How many epochs the backup in `backup_dir` holds (`checkpoints.restore_point`)."""
    return restore_point(backup_dir)[0]


def _forget_unsaved_epochs(folder, done, check=True):
    """Drops log rows of epochs after the backup's `done` epochs: a run killed after
    logging an epoch (or half a row of it) but before backing it up trains that epoch
    again, and logs it once. With `check`, the log must then hold epochs 0 to done - 1."""
    path = os.path.join(folder, "log.csv")
    rows = read_csv(path, partial_last=True)
    kept = [row for row in rows if row["epoch"].isdigit() and int(row["epoch"]) < done]
    if check and [int(row["epoch"]) for row in kept] != list(range(done)):
        raise RunFolderError(f"{path} does not list epochs 0 to {done - 1}, which the backup holds; restore it, or "
                             f"move the folder's backup aside and --resume again to train from the first epoch")
    if not rows and os.path.exists(path):  # killed in the first epoch: no header yet, or half of it
        os.remove(path)
    elif rows:  # rewritten whole, without the rows after the backup and any half row
        write_csv(path, kept, columns=list(rows[0]))


def plot_curves(rows, path, title):
    """Training and validation loss and error per epoch, as a PNG."""
    epochs = [r["epoch"] + 1 for r in rows]
    with figure(path, 2, (10, 4)) as (loss_ax, error_ax):
        for prefix, style in (("", "-"), ("val_", "--")):
            label = "validation" if prefix else "training"
            if rows and f"{prefix}loss" in rows[0]:
                loss_ax.plot(epochs, [r[f"{prefix}loss"] for r in rows], style, label=label)
                error_ax.plot(epochs, [100 * (1 - r[f"{prefix}accuracy"]) for r in rows], style, label=label)
        # Log scale: the first epochs' validation loss of a freshly initialised BatchNorm net can be huge.
        loss_ax.set(xlabel="epoch", ylabel="loss (incl. weight decay)", title=title, yscale="log")
        error_ax.set(xlabel="epoch", ylabel="error (%)", title=title)


def _evaluate(model, dataset, verbose):
    loss, accuracy = model.evaluate(dataset, verbose=verbose)
    return {"test_loss": float(loss), "test_accuracy": float(accuracy)}


def prepare(config):
    """Checks `config`, loads the data and builds the model, writing nothing
    but the run's settings. Returns what `run` needs.

    Raises:
        ValueError: for an unknown model, dataset, recipe or strategy, bad
            options, or an output folder that holds another run.
    """
    recipe = _normalize_config(config)
    several = initialize_processes(config.coordinator, config.num_processes, config.process_id)
    strategy = make_strategy(config.strategy)
    worker = worker_name(strategy)
    resuming = _check_output_dir(config) if worker is None else config.resume
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_float16" if _accelerated() else "mixed_bfloat16")
    # One-hot labels for the recipes' losses; their RandAugment and MixUp/CutMix on training batches.
    data = data_lib.load(config.dataset, config.batch_size, validation_split=config.validation_split,
                         seed=config.seed, data_dir=config.data_dir, pad_mode=recipe.pad_mode,
                         subset=config.subset, one_hot=recipe.one_hot,
                         batch_transform=recipe.batch_transform(config.seed))
    if several:  # every process reads the same order (the same seed, or the one Keras shares) and keeps its part
        data = even_batches(data)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = _build_model(config, recipe, data)
    if worker is None and not resuming:
        start(config.output_dir, "run.json", config.identity())
    print(f"{'Resuming' if resuming else 'Training'} {config.model} on {data.description}; recipe "
          f"{config.recipe}: {recipe.paper}; {config.epochs} epochs of batch {config.batch_size} at peak "
          f"learning rate {recipe.learning_rate:g}; "
          f"output in {config.output_dir}", flush=True)
    return model, data, worker


def run(config, model, data, worker=None):
    """Trains and evaluates; returns the evaluation written to `evaluation.json`."""
    # Only the chief writes the run's files; other workers write theirs to a scratch folder.
    folder = config.output_dir if worker is None else tempfile.mkdtemp(prefix=f"keras_resnet_{worker}_")
    backup_dir = os.path.join(config.output_dir, "backup" if worker is None else f"backup-{worker}")
    chief_backup = os.path.join(config.output_dir, "backup")
    if worker is not None and process_count() > 1 and os.path.isdir(chief_backup):
        # The processes of a multi-process JAX run hold one model, so they must restore the same
        # state: the chief's (on a file system they share). Each still writes its own backup, as
        # saving is a step that every process takes.
        shutil.copytree(chief_backup, backup_dir, dirs_exist_ok=True)
    done, weights = restore_point(backup_dir)
    _forget_unsaved_epochs(folder, done, check=worker is None)
    start = time.time()
    best_path = os.path.join(config.output_dir, "best.keras")  # the chief's, on every process
    try:
        model.fit(data.train, validation_data=data.validation, epochs=config.epochs, initial_epoch=done,
                  steps_per_epoch=config.steps_per_epoch, verbose=config.verbose, shuffle=False,  # data.train shuffles
                  callbacks=_callbacks(config, folder, backup_dir, data.validation is not None, weights))
        # In a multi-process JAX run every process takes part in every evaluation, so each loads
        # the chief's best model (from the file system they share).
        best = (keras.saving.load_model(best_path) if os.path.exists(best_path)
                and (worker is None or process_count() > 1) else None)
        best_evaluation = None if best is None else _evaluate(best, data.test, config.verbose)
    finally:
        if worker is not None:
            shutil.rmtree(folder, ignore_errors=True)
    rows = read_log(config.output_dir) if worker is None else []
    if model.stop_training or (worker is None and len(rows) < config.epochs):
        raise TrainingStopped(
            f"training stopped with {len(rows)} of {config.epochs} epochs logged: the loss became NaN or infinite "
            f"(keras.callbacks.TerminateOnNaN). The finished epochs are kept in {config.output_dir}. A smaller "
            f"--batch-size (the learning rate follows it) or a recipe with a warm-up (he2015_warmup) trains more gently")

    result = {"model": config.model, "dataset": data.name, "recipe": config.recipe, "epochs": config.epochs,
              "train_seconds_this_session": round(time.time() - start, 1), "params": model.count_params(),
              "input_shape": list(data.input_shape), "classes": data.num_classes,
              **_evaluate(model, data.test, config.verbose)}
    if worker is None:
        if best_evaluation:
            result["best"] = best_evaluation
        plot_curves(rows, os.path.join(folder, "curves.png"), f"{config.model} on {data.name}")
        write_json(os.path.join(folder, "evaluation.json"), result)
    # The backup outlives fit() so that a run killed before this point ends without retraining.
    shutil.rmtree(backup_dir, ignore_errors=True)
    if worker is None:
        release(config.output_dir)
    print(f"Test accuracy: {result['test_accuracy']:.4f} ({data.test_size} test images)", flush=True)
    return result


def train(config):
    """Trains as the command does; returns the evaluation. See `prepare` for errors."""
    return run(config, *prepare(config))


# The command line ------------------------------------------------------------


def _spec_change(text):
    field, sep, value = text.partition("=")
    fields = [f.name for f in dataclasses.fields(Spec)]
    if not sep or field not in fields:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of {fields}; received {text!r}")
    try:
        return field, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return field, value  # a bare word: a string such as unit=e


def parser():
    p = ArgumentParser(prog="keras-resnet-train", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=Config.model, help="a keras_resnet.SPECS name, e.g. ResNet56, WRN28_10")
    p.add_argument("--set", dest="changes", action="append", type=_spec_change, default=[], metavar="FIELD=VALUE",
                   help="override a Spec field, e.g. --set shortcut=none (plain net), --set unit=e")
    p.add_argument("--dataset", default=Config.dataset,
                   help=f"one of {', '.join(data_lib.DATASETS)} or a folder of class sub-folders")
    p.add_argument("--recipe", default=Config.recipe, help=f"one of {', '.join(recipes_lib.RECIPES)}")
    p.add_argument("--epochs", type=int, help="default: the recipe's; the schedule scales with it")
    p.add_argument("--batch-size", type=int, help="global batch size; default: the recipe's. The learning rate "
                   "follows it by the linear scaling rule (Recipe.at_batch_size)")
    p.add_argument("--output-dir", help="default: runs/MODEL-DATASET-RECIPE")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --output-dir")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute on GPUs, bfloat16 on CPUs/TPUs; float32 weights")
    p.add_argument("--strategy", default=Config.strategy, choices=STRATEGIES,
                   help="auto: multi_worker_mirrored when TF_CONFIG is set, mirrored on several GPUs, "
                        "data_parallel on several JAX devices")
    p.add_argument("--validation-split", type=float, default=Config.validation_split)
    p.add_argument("--seed", type=int, help="for a reproducible run")
    p.add_argument("--data-dir", help="tensorflow-datasets' data folder; for fashion_mnist, the folder of its four "
                                      "files (default: Debian's, then Keras' cache, else a download)")
    p.add_argument("--subset", type=int, help="train on this many examples: a fixed, class-balanced part of the "
                                              "training split, for small machines")
    p.add_argument("--steps-per-epoch", type=int, help="cap on steps per epoch, for quick trials")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="1: progress bars, 2: a line per epoch")
    cluster = p.add_argument_group("several processes or hosts, JAX backend (keras.distribution.initialize; default: "
                                   "KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES, _PROCESS_ID)")
    cluster.add_argument("--coordinator", help="HOST:PORT of process 0, the same on every process")
    cluster.add_argument("--num-processes", type=int, help="how many processes train together")
    cluster.add_argument("--process-id", type=int, help="this process's index; process 0 writes the run's files")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    config = Config(**{**vars(args), "changes": dict(args.changes)})
    try:
        prepared = prepare(config)
    except ValueError as e:
        return command_error(p.prog, e)
    try:
        run(config, *prepared)
    except RunFolderError as e:  # a damaged file of the run, found when training starts
        return command_error(p.prog, e)
    except TrainingStopped as e:
        return command_error(p.prog, e, status=1)
    except OSError as e:
        return out_of_space(p.prog, e, config.output_dir, "run the same command with --resume to continue from "
                                                          "the last finished epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
