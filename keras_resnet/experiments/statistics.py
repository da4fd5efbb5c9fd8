"""Verdicts on a paper's claim from repeated runs: a mean difference, its 95% confidence interval,
and the rule (`RULE`) that turns them into a word.

A claim is a contrast, a weighted sum of one metric over networks positive in the paper's direction.
Every seed trains every network (the same data order and augmentation), so the contrast is paired
by seed and the interval is Student's t over the seeds: mean +- t(0.975, n - 1) * sd / sqrt(n).
One run gives no interval, so no verdict.
"""

import dataclasses
import math

ECHOED, CONTRADICTED, NOT_RESOLVED = "echoed", "contradicted", "not resolved"
RULE = ("95% confidence interval of the mean per-seed difference (Student's t over seeds, paired by seed): "
        "**echoed** when the whole interval lies in the paper's direction, **contradicted** when it lies in "
        "the opposite direction, **not resolved** when it contains 0.")
MIN_SEEDS = 2


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean difference over seeds and its 95% confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def verdict(self):
        return ECHOED if self.low > 0 else CONTRADICTED if self.high < 0 else NOT_RESOLVED


def t_quantile(n):
    """The 97.5% quantile of Student's t with `n - 1` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1))


def estimate(differences):
    """The `Estimate` of a list of per-seed differences (at least `MIN_SEEDS`)."""
    values = [float(d) for d in differences]
    n = len(values)
    if n < MIN_SEEDS:
        raise ValueError(f"A verdict needs at least {MIN_SEEDS} seeds; received {n} value(s)")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"Differences must be finite numbers; received {values}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def contrast(values, weights):
    """Per-seed contrasts: `values[label][seed]` weighted by `weights[label]`, over the seeds every
    weighted label has."""
    seeds = set.intersection(*(set(values.get(label, {})) for label in weights))
    return [sum(w * values[label][seed] for label, w in weights.items()) for seed in sorted(seeds)]
