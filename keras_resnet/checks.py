"""Argument checks shared by the library and its commands, so that one kind of mistake
always reads the same way, e.g. "`batch_size` must be a positive integer; received
batch_size=0", and an unknown name always comes with the closest known ones (`did_you_mean`)."""

import difflib
import math
import numbers


def is_number(value, kind=int):
    """Whether `value` is an integer (`kind=int`, numpy's included) or a finite real
    number (`kind=(int, float)`). Booleans, strings, None, NaN and infinity are not."""
    wanted = numbers.Integral if kind is int else numbers.Real
    return (isinstance(value, wanted) and not isinstance(value, bool)
            and (isinstance(value, numbers.Integral) or math.isfinite(value)))


def positive(field, value, kind=int, limit=None):
    """Returns `value` if it is a positive number of `kind` (as `is_number`), at most `limit` if given;
    raises ValueError naming `field` otherwise."""
    if not is_number(value, kind) or value <= 0 or (limit is not None and value > limit):
        what = "a positive integer" if kind is int else "a positive number"
        bound = f" of at most {limit:,}" if limit is not None else ""
        raise ValueError(f"`{field}` must be {what}{bound}; received {field}={value!r}")
    return value


def seed(field, value):
    """Returns `value` if it is None or a random seed (an integer in [0, 2**32)); ValueError otherwise."""
    if value is not None and not (is_number(value) and 0 <= value < 2**32):
        raise ValueError(f"`{field}` must be an integer from 0 to 2**32 - 1; received {field}={value!r}")
    return value


def between(field, value, low, high, *, high_open=True):
    """Returns `value` if it is a finite number in [low, high) (`high_open`) or [low, high]; ValueError otherwise."""
    if not is_number(value, (int, float)) or not (low <= value < high if high_open else low <= value <= high):
        interval = f"[{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"`{field}` must be in {interval}; received {field}={value!r}")
    return value


def text(field, value, allow_none=False):
    """Returns `value` if it is a non-empty string (or None with `allow_none`); ValueError otherwise."""
    if not ((isinstance(value, str) and value) or (allow_none and value is None)):
        what = "a non-empty string" + (" or None" if allow_none else "")
        raise ValueError(f"`{field}` must be {what}; received {field}={value!r}")
    return value


def one_of(field, value, allowed):
    """Returns `value` if it is one of `allowed`; raises ValueError naming `field` otherwise."""
    try:
        known = value in allowed
    except TypeError:  # an unhashable value (a list, a dict) is none of them
        known = False
    if not known:
        raise ValueError(f"`{field}` must be one of {list(allowed)}; received {field}={value!r}")
    return value


def did_you_mean(name, known, cutoff=0.6):
    """The hint `" Did you mean 'X' or 'Y'?"` naming the entries of `known` closest to `name`
    (case-insensitive; an exact match but for case comes first), or `""` if none is close."""
    by_lower = {str(k).lower(): k for k in known}
    key = str(name).lower()
    close = [by_lower[k] for k in difflib.get_close_matches(key, list(by_lower), n=3, cutoff=cutoff)]
    if key in by_lower:
        close = [by_lower[key]]
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
