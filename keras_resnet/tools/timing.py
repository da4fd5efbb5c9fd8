"""Timing step functions on a shared, noisy machine: interleaved, after a warm-up, by the median call."""

import statistics
import time

import numpy as np

from keras_resnet.checks import positive


def random_batch(input_shape, batch_size, classes, seed=0):
    """A fixed batch to time steps on: images uniform in [-1, 1], integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch_size, *input_shape)).astype("float32")
    return x, rng.integers(0, classes, batch_size)


def time_steps(steps, batch_size, n, rounds, warmup=1):
    """Images/s of each step function (dict label -> function of one batch of `batch_size` images):
    `warmup` untimed calls each (the first traces and compiles), then `rounds` rounds of `n` timed
    calls each, the candidates interleaved; the median call counts, which a few slow calls (another
    process, a garbage collection) do not move. Returns dict label -> images/s."""
    for field, value in (("batch_size", batch_size), ("n", n), ("rounds", rounds), ("warmup", warmup)):
        positive(field, value)
    for step in steps.values():
        for _ in range(warmup):
            step()
    seconds = {label: [] for label in steps}
    for _ in range(rounds):
        for label, step in steps.items():
            for _ in range(n):
                start = time.perf_counter()
                step()
                seconds[label].append(time.perf_counter() - start)
    return {label: batch_size / statistics.median(times) for label, times in seconds.items()}
