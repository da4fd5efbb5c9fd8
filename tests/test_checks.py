"""The argument checks that the library and the commands share (keras_resnet/checks.py):
what each accepts, and the one message each gives for what it does not."""

import math

import numpy as np
import pytest

from keras_resnet.checks import between, did_you_mean, is_number, one_of, positive, seed, text


def test_is_number():
    assert all(is_number(v) for v in (0, -3, np.int64(7)))
    assert not any(is_number(v) for v in (True, 1.0, "1", None, np.float32(1)))
    assert all(is_number(v, (int, float)) for v in (0, 0.5, -2.5, np.float32(1), np.int8(3)))
    assert not any(is_number(v, (int, float)) for v in (False, math.nan, math.inf, -math.inf, "0.5", None))


def test_positive():
    assert positive("n", 3) == 3 and positive("rate", 0.5, (int, float)) == 0.5 and positive("n", 10, limit=10) == 10
    for value in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ValueError, match=rf"^`n` must be a positive integer; received n={value!r}$"):
            positive("n", value)
    with pytest.raises(ValueError, match=r"^`rate` must be a positive number; received rate=nan$"):
        positive("rate", math.nan, (int, float))
    with pytest.raises(ValueError, match=r"^`n` must be a positive integer of at most 1,000; received n=1001$"):
        positive("n", 1001, limit=1000)


def test_between():
    assert between("p", 0, 0, 1) == 0 and between("p", 1, 0, 1, high_open=False) == 1
    with pytest.raises(ValueError, match=r"^`p` must be in \[0, 1\); received p=1$"):
        between("p", 1, 0, 1)
    with pytest.raises(ValueError, match=r"^`p` must be in \[0, 1\]; received p=-0.1$"):
        between("p", -0.1, 0, 1, high_open=False)
    with pytest.raises(ValueError, match=r"received p='0.5'"):
        between("p", "0.5", 0, 1)


def test_seed():
    assert seed("seed", None) is None and seed("seed", 0) == 0 and seed("seed", 2**32 - 1) == 2**32 - 1
    for value in (-1, 2**32, 1.0, True):
        with pytest.raises(ValueError, match=rf"^`seed` must be an integer from 0 to 2\*\*32 - 1; received seed={value!r}$"):
            seed("seed", value)


def test_text():
    assert text("name", "x") == "x" and text("name", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^`name` must be a non-empty string; received name=''$"):
        text("name", "")
    with pytest.raises(ValueError, match=r"^`name` must be a non-empty string or None; received name=3$"):
        text("name", 3, allow_none=True)


def test_one_of():
    assert one_of("mode", "a", ("a", "b")) == "a" and one_of("pooling", None, (None, "avg")) is None
    with pytest.raises(ValueError, match=r"^`mode` must be one of \['a', 'b'\]; received mode='c'$"):
        one_of("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"received mode=\['a'\]$"):  # unhashable
        one_of("mode", ["a"], {"a": 1})


def test_did_you_mean():
    models = ["ResNet50", "ResNet50V2", "ResNet101", "WRN28_10"]
    assert did_you_mean("resnet50v2", models) == " Did you mean 'ResNet50V2'?"  # the same but for case, alone
    assert did_you_mean("ResNet51", models) == " Did you mean 'ResNet50' or 'ResNet101' or 'ResNet50V2'?"  # closest first
    assert did_you_mean("transformer", models) == ""
