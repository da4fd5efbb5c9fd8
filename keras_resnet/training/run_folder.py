"""The output folder of a command, shared by every command that trains.

A folder holds one run, named by its settings file (`run.json` of the training
command, `study.json` of the tuner). `claim` checks a folder before anything is
written to it: a new run needs an empty (or missing) folder, and a folder that
holds a run is continued only with that run's settings, so no result is ever
written over. Files are written atomically, so that an interrupted write never
loses them; tables are CSV files, written and read with `csv.DictWriter` and
`csv.DictReader`.
"""

import csv
import itertools
import json
import os


def claim(path, settings_file, settings, *, resume, what="run"):
    """Checks that the folder `path` may hold the run that `settings` describe.

    Args:
        path: the folder (`--output-dir`).
        settings_file: the name of the file that holds a run's settings there.
        settings: the run's settings (JSON-serialisable dict).
        resume: whether a run with the same settings there is continued;
            otherwise it is refused.
        what: what the folder holds, in messages ("run", "study").

    Returns:
        Whether a run is continued (`False`: the folder is new or empty; write
        the settings with `start`).

    Raises:
        ValueError: if the folder holds something else than this run.
    """
    file = os.path.join(path, settings_file)
    if not os.path.exists(file):
        if os.path.isdir(path) and os.listdir(path):
            raise ValueError(f"--output-dir {path!r} is not empty and holds no keras_resnet {what} (no "
                             f"{settings_file}); choose a new folder")
        return False
    if not resume:
        raise ValueError(f"--output-dir {path!r} already holds a {what}; pass --resume to continue it, "
                         f"or choose a new folder")
    saved, settings = read_json(file), json.loads(json.dumps(settings))  # as stored: tuples are lists
    differences = {k: (saved.get(k), settings.get(k)) for k in sorted(set(saved) | set(settings))
                   if saved.get(k) != settings.get(k)}
    if differences:
        listed = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in differences.items())
        raise ValueError(f"--output-dir {path!r} holds a different {what} ({listed}); continue it with its "
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
        if not (os.path.isdir(path) and os.listdir(path)):
            return taken[-1] if resume and taken else path
        taken.append(path)


def atomic_write(path, write):
    """Calls `write(file)` on a temporary file beside `path`, then renames it over
    `path`: a process killed mid-write leaves the old file whole, never half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        write(f)
    os.replace(tmp, path)


def write_json(path, obj):
    atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_csv(path, rows, columns):
    """Writes `rows` (dicts) under the header `columns`, atomically."""
    def write(f):
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)


def read_csv(path):
    """The rows of a CSV file as dicts of strings; `[]` if there is no file."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
