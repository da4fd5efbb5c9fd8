"""Training one network: build it, load its data, `model.fit` under its recipe, evaluate.

`train(config)` is what `keras-resnet train` runs and what every experiment runs per network and seed. It writes
`run.json`, `log.csv`, `tensorboard/`, `best.keras`, `last.keras`, `evaluation.json` and `curves.png` into
`config.output_dir` (docs/training.md), and `backup/` while the run is unfinished: a run killed at any moment
continues with `resume=True` from the last finished epoch (`checkpoints.Backup`), none lost or run twice.
"""

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time

import keras

from keras_resnet.builder import build
from keras_resnet.cli.figures import figure
from keras_resnet.cli.files import RunFolderError, read_csv, write_csv, write_json
from keras_resnet.cli.parser import CommandFailed
from keras_resnet.cli.run_folder import claim, release, start
from keras_resnet.training import data as data_lib
from keras_resnet.training.checkpoints import Backup, ModelCheckpoint, restore_point, set_aside_damaged
from keras_resnet.training.distribute import (accelerated, even_batches, initialize_processes, make_strategy,
                                              mixed_policy, process_count, worker_name)


class TrainingStopped(CommandFailed):
    """Training ended before its last epoch: the loss diverged (NaN or infinite)."""


@dataclasses.dataclass(frozen=True)
class Role:
    """What this process writes: the chief (or a process alone) the run's files; another worker of a distributed
    run (`worker`, its name) writes them into a scratch folder it removes, and keeps its own training backup."""

    output_dir: str
    worker: str | None = None

    @property
    def chief(self):
        return self.worker is None

    @property
    def backup_dir(self):
        return os.path.join(self.output_dir, "backup" if self.chief else f"backup-{self.worker}")


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What `prepare` gives `run`: the compiled model, its data and this process's role."""

    model: keras.Model
    data: data_lib.Data
    role: Role


def prepare(config):
    """Joins the processes of a distributed run, claims the output folder (the chief), loads the data and builds
    the compiled model, writing nothing but the run's settings.

    Raises:
        ValueError: for data that cannot be read, or an output folder that holds another run.
    """
    recipe = config.training_recipe
    several = initialize_processes(config.coordinator, config.num_processes, config.process_id)
    strategy = make_strategy(config.strategy)
    role = Role(config.output_dir, worker_name(strategy))
    resuming = _claim(config) if role.chief else config.resume
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_dtype_policy(mixed_policy())
    data = data_lib.load(config.dataset, config.batch_size, validation_split=config.validation_split, seed=config.seed,
                         data_dir=config.data_dir, pad_mode=recipe.pad_mode, subset=config.subset,
                         one_hot=recipe.one_hot, batch_transform=recipe.batch_transform(config.seed))
    if several:  # every process reads the same order (the same seed, or the one Keras shares) and keeps its part
        data = even_batches(data)
    with strategy.scope() if strategy else contextlib.nullcontext():
        # The recipe's Spec changes (dropout, zero_init_last, ...), then the user's --set on top.
        model = build(config.model, input_shape=data.input_shape, classes=data.num_classes,
                      classifier_activation=recipe.classifier_activation, **{**recipe.changes, **config.changes})
        # XLA trains convolutions slower than TensorFlow's own kernels on CPU (docs/benchmark.md).
        model = recipe.compile(model, config.steps_per_epoch or data.steps_per_epoch, config.epochs,
                               jit_compile="auto" if accelerated() else False)
    if role.chief and not resuming:
        start(config.output_dir, "run.json", config.identity())
    print(f"{'Resuming' if resuming else 'Training'} {config.model} on {data.description}; recipe "
          f"{config.recipe}: {recipe.paper}; {config.epochs} epochs of batch {config.batch_size} at peak "
          f"learning rate {recipe.learning_rate:g}; output in {config.output_dir}", flush=True)
    return Prepared(model, data, role)


def _claim(config):
    """Claims the output folder for this run; returns whether the run there is continued."""
    folder = config.output_dir
    if config.resume and not os.path.exists(os.path.join(folder, "run.json")):
        raise RunFolderError(f"--resume: --output-dir {folder!r} holds no run to continue (no run.json); "
                             f"drop --resume to start one there")
    if config.resume and os.path.exists(os.path.join(folder, "evaluation.json")):
        raise RunFolderError(f"The run in {folder!r} is finished (see evaluation.json); choose a new folder")
    return claim(folder, "run.json", config.identity(), resume=config.resume)


def run(config, prepared):
    """Trains and evaluates; returns the evaluation written to `evaluation.json`."""
    model, data, role = prepared.model, prepared.data, prepared.role
    folder = config.output_dir if role.chief else tempfile.mkdtemp(prefix=f"keras_resnet_{role.worker}_")
    chief_backup = Role(config.output_dir).backup_dir
    if not role.chief and process_count() > 1 and os.path.isdir(chief_backup):
        # The processes of a multi-process JAX run hold one model: all restore the chief's state (on a shared disk).
        shutil.copytree(chief_backup, role.backup_dir, dirs_exist_ok=True)
    done, weights = restore_point(role.backup_dir)
    _forget_unsaved_epochs(folder, done, check=role.chief)
    start_time = time.time()
    try:
        model.fit(data.train, validation_data=data.validation, epochs=config.epochs, initial_epoch=done,
                  steps_per_epoch=config.steps_per_epoch, verbose=config.verbose, shuffle=False,  # data.train shuffles
                  callbacks=_callbacks(config, folder, role.backup_dir, data.validation is not None, weights))
        best = _evaluate_best(config, data, role)
    finally:
        if not role.chief:
            shutil.rmtree(folder, ignore_errors=True)
    rows = read_log(config.output_dir) if role.chief else []
    if model.stop_training or (role.chief and len(rows) < config.epochs):
        raise TrainingStopped(f"training stopped with {len(rows)} of {config.epochs} epochs logged: the loss became "
                              f"NaN or infinite (keras.callbacks.TerminateOnNaN). The finished epochs are kept in "
                              f"{config.output_dir}. A smaller --batch-size (the learning rate follows it) or a "
                              f"recipe with a warm-up (he2015_warmup) trains more gently")
    result = {"model": config.model, "dataset": data.name, "recipe": config.recipe, "epochs": config.epochs,
              "train_seconds_this_session": round(time.time() - start_time, 1), "params": model.count_params(),
              "input_shape": list(data.input_shape), "classes": data.num_classes,
              **_evaluate(model, data.test, config.verbose), **({"best": best} if best else {})}
    if role.chief:
        plot_curves(rows, os.path.join(folder, "curves.png"), f"{config.model} on {data.name}")
        write_json(os.path.join(folder, "evaluation.json"), result)
    # The backup outlives fit() so that a run killed before this point ends without retraining.
    shutil.rmtree(role.backup_dir, ignore_errors=True)
    if role.chief:
        release(config.output_dir)
    print(f"Test accuracy: {result['test_accuracy']:.4f} ({data.test_size} test images)", flush=True)
    return result


def train(config):
    """Trains as `keras-resnet train` does; returns the evaluation. See `prepare` for errors."""
    return run(config, prepare(config))


def _evaluate(model, dataset, verbose):
    loss, accuracy = model.evaluate(dataset, verbose=verbose)
    return {"test_loss": float(loss), "test_accuracy": float(accuracy)}


def _evaluate_best(config, data, role):
    """The evaluation of the best model, or `None`. In a multi-process JAX run every process
    takes part in every evaluation, so each loads the chief's best model (on a shared file system)."""
    best_path = os.path.join(config.output_dir, "best.keras")
    if not os.path.exists(best_path) or not (role.chief or process_count() > 1):
        return None
    return _evaluate(keras.saving.load_model(best_path), data.test, config.verbose)


class _LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate at the end of the epoch to the logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _callbacks(config, folder, backup_dir, validation, restored_weights):
    monitor = "val_accuracy" if validation else "accuracy"
    # From the chief's log on every process: the processes of a multi-process run save the best model together.
    best_so_far = max((row[monitor] for row in read_log(config.output_dir) if monitor in row), default=None)
    if set_aside_damaged(os.path.join(folder, "best.keras"), "the best model is now chosen among the epochs "
                                                             "from here on"):
        best_so_far = None
    return [keras.callbacks.TerminateOnNaN(), _LearningRateLogger(),
            keras.callbacks.CSVLogger(os.path.join(folder, "log.csv"), append=True),
            keras.callbacks.TensorBoard(os.path.join(folder, "tensorboard")),
            # A resumed run keeps the best model of its earlier epochs unless it beats it.
            ModelCheckpoint(os.path.join(folder, "best.keras"), monitor=monitor, mode="max", save_best_only=True,
                            initial_value_threshold=best_so_far),
            ModelCheckpoint(os.path.join(folder, "last.keras")),
            Backup(backup_dir, restored_weights)]  # last: an epoch is done once everything above has recorded it


def read_log(folder):
    """The rows of `log.csv` as dicts of numbers."""
    return [{k: float(v) for k, v in row.items()} for row in read_csv(os.path.join(folder, "log.csv"))]


def _forget_unsaved_epochs(folder, done, check=True):
    """Drops log rows of epochs after the backup's `done` epochs (logged, or half logged, but not backed up: they
    are trained again). With `check`, the log must then hold epochs 0 to done - 1."""
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
