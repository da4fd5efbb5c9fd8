"""Verdicts on a paper's claim from repeated runs: a mean difference, its 95%
confidence interval, and the rule that turns them into a word.

Pure: numbers in, numbers and words out (scipy for the t quantile).

A claim is a *contrast*: a weighted sum of one metric over networks, e.g.
`{"plain-56": +1, "plain-20": -1}` on training error, oriented so that the
paper's direction is positive ("plain-56 has the higher training error").
Every seed trains every network, so the contrast is computed per seed (a
paired design: the same seed gives every network the same data order and
augmentation) and the interval is Student's t over the seeds:

    mean +- t(0.975, n - 1) * sd / sqrt(n)

The rule, stated in every report:
- **echoed**: the whole interval lies in the paper's direction (lower bound > 0);
- **contradicted**: the whole interval lies in the opposite direction (upper bound < 0);
- **not resolved**: the interval contains 0.
It needs at least two seeds: one run gives no interval, so no verdict.
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
        if self.low > 0:
            return ECHOED
        if self.high < 0:
            return CONTRADICTED
        return NOT_RESOLVED


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
    """Per-seed contrasts: `values[label][seed]` weighted by `weights[label]`, over
    the seeds every weighted label has."""
    seeds = set.intersection(*(set(values.get(label, {})) for label in weights))
    return [sum(w * values[label][seed] for label, w in weights.items()) for seed in sorted(seeds)]
