"""The output folder of a command, shared by every command that trains.

A folder holds one run, named by its settings file (`run.json` of the training
command, `study.json` of the tuner). `claim` checks a folder before anything is
written to it: a new run needs an empty (or missing) folder, and a folder that
holds a run is continued only with that run's settings, so no result is ever
written over. A claimed folder is locked (`fcntl.flock` on its `.lock` file) for
the life of the process, so that a second command into it stops with a clear
error instead of writing beside the first. Files are written atomically (a
temporary name, then `os.replace`), so that an interrupted write never loses
them; a file damaged anyway (a full disk, a copy cut short) is reported by name,
with what to do, never as a traceback. Tables are CSV files, written and read
with `csv.DictWriter` and `csv.DictReader`.
"""

import csv
import errno
import fcntl
import itertools
import json
import os
import sys

from keras_resnet.checks import command_error

LOCK = ".lock"
_locks = {}  # folder (real path) -> the open lock file, held until the process ends


class RunFolderError(ValueError):
    """A run folder that cannot be used as it is: the message names the file and what to do."""


def out_of_space(prog, error, folder, resume):
    """For a command's `except OSError`: a full disk (or quota) while writing into `folder`
    is reported in one line ending with `resume` (how to continue), and gives exit status 1;
    any other error is raised again."""
    if getattr(error, "errno", None) not in (errno.ENOSPC, errno.EDQUOT) and \
            "No space left on device" not in str(error) and "Disk quota exceeded" not in str(error):
        raise error
    return command_error(prog, f"no space left on the disk of {folder} (while writing "
                               f"{getattr(error, 'filename', None) or 'a file'}); every file written so far is "
                               f"whole: free some space, then {resume}", status=1)


def warn(message):
    """Says on stderr what a command did about a damaged file, in one line."""
    print(f"{os.path.basename(sys.argv[0]) or 'keras_resnet'}: warning: {message}", file=sys.stderr, flush=True)


def check_folder(path, option="--output-dir"):
    """Raises ValueError unless `path` is a folder this process can write, or can create."""
    existing = path
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    existing = existing or "."
    if not os.path.isdir(existing):
        raise RunFolderError(f"{option} must be a folder; received {option}={path!r}, but {existing!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunFolderError(f"{option} must be a folder you can write to; received {option}={path!r} "
                              f"({existing!r} is not writable)")
    return path


def lock(path):
    """Creates the folder `path` if needed and locks it for the life of this process.

    Raises:
        ValueError: if another process holds it.
    """
    check_folder(path)
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
    """What the folder `path` holds, less its lock file; `[]` if there is no folder."""
    return [name for name in os.listdir(path) if name != LOCK] if os.path.isdir(path) else []


def claim(path, settings_file, settings, *, resume, what="run", ignored=()):
    """Checks that the folder `path` may hold the run that `settings` describe.

    Args:
        path: the folder (`--output-dir`).
        settings_file: the name of the file that holds a run's settings there.
        settings: the run's settings (JSON-serialisable dict).
        resume: whether a run with the same settings there is continued;
            otherwise it is refused.
        what: what the folder holds, in messages ("run", "study").
        ignored: names in the folder that do not make it hold something else:
            what other processes of the same run may write before the settings
            (the tuner's distributed workers create keras-tuner's project folder,
            possibly before the chief has claimed the folder).

    Returns:
        Whether a run is continued (`False`: the folder is new or empty; write
        the settings with `start`).

    Raises:
        ValueError: if the folder holds something else than this run, is a
            file, cannot be written, or is in use by another process.
    """
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
    differences = {k: (saved.get(k), settings.get(k)) for k in sorted(set(saved) | set(settings))
                   if saved.get(k) != settings.get(k)}
    if differences:
        listed = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differences.items())
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


def atomic_write(path, write, binary=False):
    """Calls `write(file)` on a temporary file beside `path` (text, or bytes if `binary`),
    then renames it over `path`: a process killed mid-write leaves the old file whole,
    never half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # a failed write (a full disk) leaves nothing behind
            os.remove(tmp)


def write_json(path, obj):
    atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True))


def read_json(path, advice="restore it from a copy, or delete it"):
    """The JSON file `path`; ValueError naming it, with `advice`, if it is damaged."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
        raise RunFolderError(f"{path} is damaged (not JSON: {e}; cut short by a crash or a full disk?); "
                              f"{advice}") from None


def write_csv(path, rows, columns):
    """Writes `rows` (dicts) under the header `columns`, atomically."""
    def write(f):
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)


def read_csv(path, partial_last=False):
    """The rows of a CSV file as dicts of strings; `[]` if there is no file.

    A row with missing or extra fields (a write cut short) is a ValueError naming
    the file and line, except the last row with `partial_last`, which is dropped.
    """
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        if None in row or None in row.values():
            if partial_last and i == len(rows) - 1:
                return rows[:-1]
            raise RunFolderError(f"{path} is damaged: line {i + 2} does not have the fields of its header "
                                  f"(cut short by a crash or a full disk?); repair or delete that line")
    return rows
