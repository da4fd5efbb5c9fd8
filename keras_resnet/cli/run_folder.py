"""The output folder of a command: one run, study or experiment per folder, locked while in use.

A folder holds one run, named by its settings file (`run.json`, `study.json`, `experiment.json`); a run
is continued only with its own settings, so no result is ever written over. A claimed folder is locked
(`fcntl.flock` on `.lock`) while the process lives, so that a second command into it stops with an error.
"""

import fcntl
import itertools
import json
import os
import tempfile

from keras_resnet.cli.files import RunFolderError, read_json, write_json

LOCK = ".lock"
PROBE = ".keras-resnet-probe-"  # the folder `check_folder` makes and removes
_locks = {}  # folder (real path) -> the open lock file, held until the process ends


def check_folder(path, option="--output-dir"):
    """Returns `path` if this process can write in that folder, or create it; RunFolderError otherwise. Tried
    for real (a folder made and removed): permissions miss a read-only file system, /proc or a full quota."""
    existing = path
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    existing = existing or "."
    if not os.path.isdir(existing):
        raise RunFolderError(f"{option} must be a folder; received {option}={path!r}, but {existing!r} is a file")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=PROBE, dir=existing))
    except OSError as e:
        raise RunFolderError(f"{option} must be a folder you can write to; received {option}={path!r} "
                             f"({existing!r} is not writable: {e.strerror})") from None
    return path


def lock(path):
    """Creates the folder `path` if needed and locks it while this process lives; RunFolderError if taken."""
    key = os.path.realpath(path)
    if key in _locks:
        return
    os.makedirs(path, exist_ok=True)
    f = open(os.path.join(path, LOCK), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise RunFolderError(f"--output-dir {path!r} is in use by {holder}; wait for it to end, or choose "
                             f"another folder") from None
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()}")
    f.flush()
    _locks[key] = f


def release(path):
    """Unlocks the folder `path` of a finished run and removes its lock file."""
    f = _locks.pop(os.path.realpath(path), None)
    if f is not None:
        os.remove(os.path.join(path, LOCK))
        f.close()


def contents(path):
    """What the folder `path` holds, less its lock file and `check_folder`'s probe; `[]` if none."""
    if not os.path.isdir(path):
        return []
    return [name for name in os.listdir(path) if name != LOCK and not name.startswith(PROBE)]


def claim(path, settings_file, settings, *, resume, what="run", ignored=()):
    """Checks that the folder `path` (`--output-dir`) may hold the run that `settings` (a JSON-serialisable
    dict, kept in `settings_file` there) describe, and locks it; returns whether a run is continued (`False`:
    a new or empty folder, whose settings `start` writes). A run with the same settings is continued with
    `resume`, else refused; anything else there is a RunFolderError naming the `what` ("run", "study").
    `ignored`: names other processes of the same run may write before the settings (the tuner's workers
    create keras-tuner's project folder, possibly before the chief claims the folder)."""
    check_folder(path)
    _judge(path, settings_file, settings, resume, what, ignored)  # before the lock creates the folder
    lock(path)
    return _judge(path, settings_file, settings, resume, what, ignored)  # again: it may have changed meanwhile


def _judge(path, settings_file, settings, resume, what, ignored=()):
    file = os.path.join(path, settings_file)
    if not os.path.exists(file):
        if set(contents(path)) - set(ignored):
            raise RunFolderError(f"--output-dir {path!r} is not empty and holds no keras_resnet {what} (no "
                                 f"{settings_file}); choose a new folder")
        return False
    if not resume:
        raise RunFolderError(f"--output-dir {path!r} already holds a {what}; pass --resume to continue it, "
                             f"or choose a new folder")
    saved = read_json(file, f"restore it, or move the folder aside and start the {what} again")
    if not isinstance(saved, dict):
        raise RunFolderError(f"{file} holds no {what} settings (a JSON object); restore it, or move the folder "
                             f"aside and start the {what} again")
    settings = json.loads(json.dumps(settings))  # as stored: tuples are lists
    listed = ", ".join(f"{k}: {saved.get(k)!r} there, {settings.get(k)!r} now"
                       for k in sorted(set(saved) | set(settings)) if saved.get(k) != settings.get(k))
    if listed:
        raise RunFolderError(f"--output-dir {path!r} holds a different {what} ({listed}); continue it with its "
                             f"own settings or choose a new folder")
    return True


def start(path, settings_file, settings):
    """Creates the folder of a new run and writes its settings."""
    os.makedirs(path, exist_ok=True)
    write_json(os.path.join(path, settings_file), settings)


def numbered_folder(base, resume):
    """`base`, `base-2`, `base-3`, ...: the first free one for a new run, so that the
    same command twice keeps both runs; with `resume`, the latest one."""
    taken = []
    for path in (base if k == 1 else f"{base}-{k}" for k in itertools.count(1)):
        if not contents(path):
            return taken[-1] if resume and taken else path
        taken.append(path)
