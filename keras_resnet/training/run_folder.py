"""Writing results so that an interrupted write never loses them."""

import json
import os


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
