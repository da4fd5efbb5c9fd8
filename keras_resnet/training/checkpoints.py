"""Checkpoints of a training run that appear whole or not at all, and the backup it resumes from.

Keras' `ModelCheckpoint` and `BackupAndRestore` write in place (a kill mid-write leaves half a file); here every
file is written through `keras_resnet.cli.files.atomic`, and a damaged one is reported by name with what to do.
"""

import os
import zipfile

import keras

from keras_resnet.cli.files import RunFolderError, atomic, read_json, warn, write_json

METADATA = "training_metadata.json"  # what the backup holds: its epoch, weights file and size


def _start_over(backup_dir):
    return f"move {backup_dir} aside and --resume again to train this run from its first epoch"


class ModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' `ModelCheckpoint` (a fixed `filepath`) whose file is saved under a temporary name, then renamed."""

    def _save_model(self, epoch, batch, logs):
        final = self.filepath
        try:  # with save_best_only, only an improvement writes the file
            with atomic(final) as self.filepath:
                super()._save_model(epoch, batch, logs)
        finally:
            self.filepath = final


def is_whole_model(path):
    """Whether `path` is a readable `.keras` archive (a zip file whose entries check)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None and "config.json" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def set_aside_damaged(path, consequence):
    """If `path` exists and is no whole `.keras` file, renames it to `path.damaged`, says so
    (with `consequence`) and returns True."""
    if not os.path.exists(path) or is_whole_model(path):
        return False
    os.replace(path, f"{path}.damaged")
    warn(f"{path} is damaged (not a whole .keras file); moved it to {path}.damaged; {consequence}")
    return True


def restore_point(backup_dir):
    """The epoch and weights file a run resumes from: `(0, None)` when there is no backup.

    The latest backup is used when whole, else the previous one with a warning (the epoch after it is
    trained again; `train._forget_unsaved_epochs` drops its log row first).

    Raises:
        RunFolderError: naming what is damaged and what to do, when no whole backup is left.
    """
    path = os.path.join(backup_dir, METADATA)
    if not os.path.exists(path):
        return 0, None
    metadata = read_json(path, f"restore it, or {_start_over(backup_dir)}")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("epoch"), int) or "weights" not in metadata:
        raise RunFolderError(f"{path} is damaged (no epoch number or weights file); {_start_over(backup_dir)}")
    damaged = []
    for point in filter(None, (metadata, metadata.get("previous"))):
        weights = os.path.join(backup_dir, point["weights"])
        size = os.path.getsize(weights) if os.path.exists(weights) else None
        if size == point["bytes"]:
            if damaged:
                warn(f"the backup of epoch {metadata['epoch']} is damaged ({damaged[0]}); resuming from the whole "
                     f"backup of epoch {point['epoch']}, so epoch {point['epoch'] + 1} is trained again (its log "
                     f"row is replaced)")
            return point["epoch"], weights
        damaged.append(f"{weights}: " + ("missing" if size is None else f"{size} bytes of {point['bytes']}"))
    raise RunFolderError(f"No whole backup to resume from ({'; '.join(damaged)}); {_start_over(backup_dir)}")


class Backup(keras.callbacks.Callback):
    """The training state (weights and optimizer) at the end of every epoch, for `--resume`.

    Each epoch's weights go to `epoch-N.weights.h5`, then `METADATA` names them with their size, and the
    previous epoch's, kept as a fallback. Put it last among the callbacks: an epoch counts as done once
    everything before it has recorded it. `weights`: the file to restore when training starts (`restore_point`).
    """

    def __init__(self, backup_dir, weights=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.weights = weights

    def on_train_begin(self, logs=None):
        if self.weights is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(self.weights)
        except Exception as e:  # h5py's and Keras' errors name neither the run nor a remedy
            raise RunFolderError(f"{self.weights} cannot be loaded ({type(e).__name__}: {e}); "
                                 f"{_start_over(self.backup_dir)}") from None

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        path = os.path.join(self.backup_dir, METADATA)
        previous = read_json(path) if os.path.exists(path) else None
        previous = previous if isinstance(previous, dict) and "weights" in previous else None
        name = f"epoch-{epoch + 1}.weights.h5"
        weights = os.path.join(self.backup_dir, name)
        with atomic(weights) as partial:
            self.model.save_weights(partial, overwrite=True)
        point = {"epoch": epoch + 1, "weights": name, "bytes": os.path.getsize(weights)}
        if previous:
            point["previous"] = {k: previous[k] for k in ("epoch", "weights", "bytes")}
        write_json(path, point)
        keep = {name, METADATA, previous["weights"] if previous else None}
        for old in os.listdir(self.backup_dir):
            if old not in keep:
                os.remove(os.path.join(self.backup_dir, old))
