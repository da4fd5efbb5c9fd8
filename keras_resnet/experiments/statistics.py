"""Verdicts on a paper's claim from repeated runs: a mean difference, its 95% confidence interval,
and the rule (`RULE`) that turns them into a word.

A claim is a contrast, a weighted sum of one metric over networks positive in the paper's direction.
Every seed trains every network (the same data order and augmentation), so the contrast is paired
by seed and the interval is Student's t over the seeds: mean +- t(0.975, n - 1) * sd / sqrt(n).
One run gives no interval, so no verdict. Where the interval contains 0, `seeds_to_resolve` says how
many seeds would resolve the measured effect at the measured spread.
"""

import dataclasses
import math

ECHOED, CONTRADICTED, NOT_RESOLVED = "echoed", "contradicted", "not resolved"
RULE = ("95% confidence interval of the mean per-seed difference (Student's t over seeds, paired by seed): "
        "**echoed** when the whole interval lies in the paper's direction, **contradicted** when it lies in "
        "the opposite direction, **not resolved** when it contains 0.")
MIN_SEEDS = 2
MEASURED = "measured difference, mean [95% CI] (seeds)"  # the reports' column names
SEEDS_TO_RESOLVE = "seeds to resolve it"
POWER, MAX_SEEDS = 0.8, 1000


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean difference over seeds, its 95% confidence interval and the seeds' standard deviation."""

    mean: float
    low: float
    high: float
    n: int
    sd: float = 0.0

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
    return Estimate(mean, mean - half, mean + half, n, sd)


def _power(n, effect):
    """The probability that a two-sided paired t-test at the 5% level over `n` seeds rejects 0 when the true
    mean difference is `effect` standard deviations (the noncentral t distribution)."""
    from scipy import stats

    t, shift = stats.t.ppf(0.975, n - 1), effect * math.sqrt(n)
    return float(stats.nct.sf(t, n - 1, shift) + stats.nct.cdf(-t, n - 1, shift))


def seeds_to_resolve(est, power=POWER):
    """The fewest seeds with which the interval would exclude 0 with probability `power`, were the true
    difference the measured mean and its spread the measured one (a paired t-test's power calculation).

    Returns None when the measured mean is 0 and `MAX_SEEDS + 1` beyond `MAX_SEEDS`: at this spread the
    effect is as good as nil.
    """
    if est.mean == 0:
        return None
    if est.sd == 0 or _power(MIN_SEEDS, abs(est.mean) / est.sd) >= power:
        return MIN_SEEDS
    effect, low, high = abs(est.mean) / est.sd, MIN_SEEDS, MAX_SEEDS + 1
    if _power(MAX_SEEDS, effect) < power:
        return high
    while high - low > 1:  # the power grows with the seeds: power(low) < target <= power(high)
        mid = (low + high) // 2
        low, high = (mid, high) if _power(mid, effect) < power else (low, mid)
    return high


def power_note(est):
    """`seeds_to_resolve` in words, for a report's table."""
    if est.verdict != NOT_RESOLVED:
        return "-"
    n = seeds_to_resolve(est)
    if n is None:
        return "none: the measured difference is 0"
    if n > MAX_SEEDS:
        return f"over {MAX_SEEDS:,}: as good as nil at this spread"
    return f"{n} ({POWER:.0%} power)"


def contrast(values, weights):
    """Per-seed contrasts: `values[label][seed]` weighted by `weights[label]`, over the seeds every
    weighted label has."""
    seeds = set.intersection(*(set(values.get(label, {})) for label in weights))
    return [sum(w * values[label][seed] for label, w in weights.items()) for seed in sorted(seeds)]


def spread(values, digits=2):
    """Values in a report's words: mean (min-max); "-" for none."""
    values = [float(v) for v in values]
    if not values:
        return "-"
    return f"{sum(values) / len(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def measured(est):
    """An `Estimate` (or None: fewer than `MIN_SEEDS`) in a report's words."""
    return f"{est.mean:+.2f} [{est.low:+.2f}, {est.high:+.2f}] ({est.n})" if est else "pending: fewer than 2 seeds"
