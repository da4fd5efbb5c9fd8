"""The width, in whole channels or multiples of some, that brings a depth to a parameter budget, counted with
`keras_resnet.complexity` from the spec alone (no model built, no keras-tuner imported)."""

import dataclasses
import functools
import itertools
import math
import re

from keras_resnet.checks import between, is_number, positive
from keras_resnet.complexity import MAX_PARAMS, complexity
from keras_resnet.table import PREACT_RESNET, WRN, preact_resnet, wide_resnet

# 6n+4 is 1 mod 3 and 9n+2 is 2 mod 3: a depth names its family and block kind.
FAMILIES = (WRN, PREACT_RESNET)
BASE_WIDTH = 16  # the first stage's width at k = 1 in both families


def family(depth):
    """The `keras_resnet.table.DepthRule` of `FAMILIES` that `depth` follows; ValueError otherwise."""
    for f in FAMILIES:
        if f.matches(depth):
            return f
    rules = "; ".join(f"{f} for {f.name} ({f.block} blocks: {f.examples()}, ...)" for f in FAMILIES)
    raise ValueError(f"A depth must be {rules}; received depth={depth!r}")


def network(depth, channels, cardinality=1, dropout=0.0):
    """The study's network of a depth at a first-stage width of `channels` (16 at k = 1).

    WRN-d-k scales every width by k = channels / 16 (fractional k allowed); He 2016's
    pre-activation bottleneck ResNet scales its base width 16 (outputs 4x) to `channels`.
    With cardinality C the 3x3 has C groups of round(channels / C) (ResNeXt's C x d).
    """
    if family(depth) is WRN:
        return wide_resnet(depth, channels / BASE_WIDTH, dropout).replace(groups=cardinality)
    return preact_resnet(depth).replace(width=channels, groups=cardinality,
                                        group_width=max(1, round(channels / cardinality)), dropout=dropout)


class BudgetError(ValueError):
    """A depth cannot meet a budget within the tolerance."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """One network of the study: a budget, a depth, and the width that meets it.

    Attributes:
        cardinality: groups of every 3x3 conv (ResNeXt's C); 1 is a plain ResNet.
        channels: the solved first-stage width (bottleneck: its base width), 16 at k = 1.
        spec: the `keras_resnet.Spec` built for the trial.
        params, macs: its trainable parameters (analytic, equal to the built model's) and
            multiply-accumulates for one input image.
    """

    budget: int
    depth: int
    cardinality: int
    dropout: float
    channels: int
    spec: object
    params: int
    macs: int

    @property
    def block(self):
        return family(self.depth).block

    @property
    def widen(self):
        """The widening factor k (WRN's; 1 is the paper's thin network)."""
        return self.channels / BASE_WIDTH

    @property
    def deviation(self):
        """Relative distance of `params` from the budget (+0.02 is 2% over)."""
        return self.params / self.budget - 1


def plan(budget, depth, cardinality=1, dropout=0.0, *, input_shape=(32, 32, 3), classes=10, tolerance=0.1,
         multiple=1):
    """Solves the width that brings a depth to a parameter budget.

    Parameters grow with the square of the width, so the width nearest the budget, in multiples
    of `multiple` channels (8 aligns them with the CPU's vector kernels, as timm's `make_divisible`
    does), is found by bisection on the analytic count. `depth` is one of `FAMILIES`' (6n+4 WRN,
    9n+2 pre-activation); `tolerance` is the largest allowed |params / budget - 1|.

    Returns:
        A `Plan`.

    Raises:
        BudgetError: if no width brings `depth` within `tolerance` of `budget`.
        ValueError: for an invalid argument.
    """
    positive("budget", budget, limit=MAX_PARAMS)
    family(depth)
    positive("cardinality", cardinality)
    between("dropout", dropout, 0, 1)
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(is_number(d) and d > 0 for d in input_shape)):
        raise ValueError(f"`input_shape` must be (height, width, channels) of positive integers; received "
                         f"input_shape={input_shape!r}")
    positive("classes", classes)
    between("tolerance", tolerance, 0, 1)
    positive("multiple", multiple)
    return _plan(budget, depth, cardinality, dropout, tuple(input_shape), classes, tolerance, multiple)


@functools.lru_cache(maxsize=None)
def _plan(budget, depth, cardinality, dropout, input_shape, classes, tolerance, multiple):
    fam = family(depth)
    # A basic block groups both of its convs, so its width must be a multiple of the
    # cardinality; a bottleneck block's grouped 3x3 takes the nearest multiple itself.
    step = math.lcm(multiple, cardinality if fam.block == "basic" else 1)

    def at(multiple):
        spec = network(depth, multiple * step, cardinality, dropout)
        return spec, complexity(spec, input_shape=input_shape, classes=classes)

    lo, hi = 1, 1  # bracket: params(lo) < budget <= params(hi), in multiples of `step`
    while at(hi)[1].trainable_params < budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if at(mid)[1].trainable_params < budget else (lo, mid)
    candidates = [at(m) + (m,) for m in {lo, hi}]
    spec, counts, steps = min(candidates, key=lambda c: abs(c[1].trainable_params - budget))
    result = Plan(budget, depth, cardinality, dropout, steps * step, spec, counts.trainable_params, counts.macs)
    if abs(result.deviation) > tolerance:
        raise BudgetError(f"{fam.name}-{depth} (cardinality {cardinality}) cannot meet a budget of {budget:,} "
                          f"parameters within {tolerance:.0%}: the nearest width in multiples of {step} channel(s) "
                          f"({result.channels} channels, k={result.widen:g}) has {result.params:,} "
                          f"({result.deviation:+.1%}).")
    return result


def plan_all(budgets, depths, cardinalities=(1,), dropouts=(0.0,), **kwargs):
    """`{(budget, depth, cardinality, dropout): Plan}` of every combination (`kwargs` as for
    `plan`), so that a budget no depth can meet fails before training, with a ValueError
    naming every budget and depth that cannot be met and the depths that can."""
    plans, errors = {}, []
    for budget in budgets:
        failed = []
        for depth, cardinality, dropout in itertools.product(depths, cardinalities, dropouts):
            try:
                plans[budget, depth, cardinality, dropout] = plan(budget, depth, cardinality, dropout, **kwargs)
            except BudgetError as e:
                failed.append((depth, str(e)))
        if failed:
            met = sorted(set(depths) - {d for d, _ in failed})
            head = (f"No depth in {list(depths)} can meet the budget {budget:,}" if not met else
                    f"The budget {budget:,} is met by depths {met} but not by {sorted({d for d, _ in failed})}")
            errors.append(head + ":\n  " + "\n  ".join(msg for _, msg in failed))
    if errors:
        raise ValueError("\n".join(errors) + "\nChange --budgets or --depths, or loosen --tolerance.")
    return plans


def parse_count(text):
    """`"0.6M"` -> 600000, `"36k"` -> 36000, `"1200"` -> 1200 (k, M, G suffixes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgG]?)\s*", str(text))
    if not match:
        raise ValueError(f"A parameter count must be a number with an optional k, M or G suffix (e.g. 0.6M, 36k); "
                         f"received {text!r}")
    value = float(match[1]) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match[2].lower()]
    if round(value) <= 0:
        raise ValueError(f"A parameter count must be positive; received {text!r}")
    return round(value)


def format_count(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)
