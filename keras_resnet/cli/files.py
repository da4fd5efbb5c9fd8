"""Files that appear whole or not at all (`atomic`, the one writer), and the commands' JSON and CSV files.

A process killed, or a disk filled, mid-write leaves the previous file whole; a file damaged anyway
(a copy cut short) is reported by name, with what to do (`RunFolderError`), never as a traceback.
"""

import contextlib
import csv
import json
import os
import sys

from keras_resnet.cli.parser import UsageError


class RunFolderError(UsageError):
    """A run folder that cannot be used as it is: the message names the file and what to do."""


def warn(message):
    """Says on stderr what a command did about a damaged file, in one line."""
    print(f"{os.path.basename(sys.argv[0]) or 'keras_resnet'}: warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def atomic(path):
    """Yields a temporary path beside `path`, with the same suffix (which Keras checks); once the block has
    written it, syncs it to disk and renames it over `path`. If the block fails, `path` is left as it was."""
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".partial-{os.getpid()}-{name}")
    try:
        yield partial
        if os.path.exists(partial):
            with open(partial, "rb") as f:
                os.fsync(f.fileno())
            os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_text(path, text):
    with atomic(path) as partial, open(partial, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def read_json(path, advice="restore it from a copy, or delete it"):
    """The JSON file `path`; RunFolderError naming it, with `advice`, if it is damaged."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RunFolderError(f"{path} is damaged (not JSON: {e}; cut short by a crash or a full disk?); "
                             f"{advice}") from None


def write_csv(path, rows, columns):
    """Writes `rows` (dicts) under the header `columns`, atomically."""
    with atomic(path) as partial, open(partial, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path, partial_last=False):
    """The rows of a CSV file as dicts of strings; `[]` if there is no file. A row with missing or extra
    fields (a write cut short) is a RunFolderError naming the file and line, except the last row with
    `partial_last`, which is dropped."""
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
