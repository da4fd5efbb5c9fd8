"""The width-against-depth study's networks, timed as the study trains them (`keras-resnet benchmark --study`).

Every network of a study (each budget and depth, its width solved by `keras_resnet.tuning.budget.plan`
in whole channels or in multiples of 8) is timed in each `Configuration` (precision, XLA or not, batch
size, channel multiple) in one process, the candidates interleaved (`keras_resnet.tools.timing`). One
table gives images/s per network and configuration, each as the ratio to the first configuration, then
the time one epoch of every network takes in each.
"""

import dataclasses
import itertools
import logging

import keras

from keras_resnet.builder import build
from keras_resnet.cli.parser import bad_options, check_positive
from keras_resnet.tools.timing import random_batch, time_steps
from keras_resnet.tuning.budget import format_count, plan_all


@dataclasses.dataclass(frozen=True)
class Configuration:
    """How a network is trained: compute precision, XLA or not, batch size, channel multiple."""

    precision: str = "float32"
    jit_compile: bool = False
    batch_size: int = 128
    multiple: int = 1

    def __str__(self):
        return f"{self.precision}{', XLA' if self.jit_compile else ''}, batch {self.batch_size}, x{self.multiple} channels"

    @property
    def label(self):
        """A short name for a table's header, e.g. `bf16 XLA b128 x8`."""
        precision = {"float32": "f32", "mixed_bfloat16": "bf16", "mixed_float16": "f16"}[self.precision]
        return f"{precision}{' XLA' if self.jit_compile else ''} b{self.batch_size} x{self.multiple}"


# The experiments' and the tuner's configurations before the speed work (float32, whole channels, batch 32 and
# 128), each change alone, then bfloat16 on aligned channels with and without XLA.
CONFIGURATIONS = (
    Configuration("float32", False, 32, 1), Configuration("float32", False, 128, 1),
    Configuration("float32", True, 128, 1), Configuration("mixed_bfloat16", False, 128, 1),
    Configuration("float32", False, 128, 8), Configuration("mixed_bfloat16", True, 128, 8),
    Configuration("mixed_bfloat16", False, 128, 8),
)


def _step(spec, configuration, input_shape, classes):
    """One SGD step of `spec` on a fixed random batch, as a function."""
    x, y = random_batch(input_shape, configuration.batch_size, classes)
    model = build(spec, input_shape=input_shape, classes=classes, dtype=configuration.precision)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=configuration.jit_compile)
    return lambda: model.train_on_batch(x, y)


def measure_study(budgets, depths, configurations=CONFIGURATIONS, *, input_shape=(32, 32, 1), classes=10,
                  tolerance=0.2, train_images=60_000, n=10, rounds=3, out=print):
    """Times every network of the study (`budgets` x `depths`, widths within `tolerance` of the budget)
    in every configuration (the first is the baseline of the ratios) and prints the table; returns
    `{(budget, depth, configuration): (Plan, images/s)}`."""
    plans = {m: plan_all(budgets, depths, input_shape=input_shape, classes=classes, tolerance=tolerance, multiple=m)
             for m in {c.multiple for c in configurations}}
    keys = [(b, d, c) for b, d, c in itertools.product(budgets, depths, configurations)]
    steps = {key: _step(plans[key[2].multiple][key[0], key[1], 1, 0.0].spec, key[2], input_shape, classes)
             for key in keys}
    speeds = {}
    for batch in sorted({c.batch_size for c in configurations}):  # time_steps counts the images of one call
        speeds.update(time_steps({k: s for k, s in steps.items() if k[2].batch_size == batch}, batch, n, rounds,
                                 warmup=2))
    keras.backend.clear_session()
    results = {key: (plans[key[2].multiple][key[0], key[1], 1, 0.0], speeds[key]) for key in keys}
    _print_table(results, budgets, depths, configurations, train_images, out)
    return results


def _print_table(results, budgets, depths, configurations, train_images, out):
    base, multiples = configurations[0], sorted({c.multiple for c in configurations})
    out("| budget | depth | " + " | ".join(f"channels x{m} (params)" for m in multiples) + " | "
        + " | ".join(c.label for c in configurations) + " |")
    out("|---|---|" + "---|" * (len(multiples) + len(configurations)))
    epoch = dict.fromkeys(configurations, 0.0)
    for budget, depth in itertools.product(budgets, depths):
        plans = {c.multiple: results[budget, depth, c][0] for c in configurations}
        cells = [f"{'/'.join(str(plans[m].channels * 2**i) for i in range(3))} ({plans[m].params / 1e3:.0f}k, "
                 f"{plans[m].deviation:+.0%})" for m in multiples]
        for c in configurations:
            speed = results[budget, depth, c][1]
            epoch[c] += train_images / speed
            cells.append(f"{speed:,.0f} ({speed / results[budget, depth, base][1]:.2f}x)")
        out(f"| {format_count(budget)} | {depth} | " + " | ".join(cells) + " |")
    out("")
    out("img/s per configuration, and its ratio to the first on the same budget and depth. One epoch of every "
        f"network ({train_images:,} images each):")
    for c in configurations:
        out(f"- {c.label} ({c}): {epoch[c] / 60:.1f} min, {epoch[base] / epoch[c]:.2f}x the first's images per second")
    _print_precision_ratios(results, budgets, depths, configurations, out)


def _print_precision_ratios(results, budgets, depths, configurations, out):
    """What mixed precision alone gains: each mixed configuration against its float32 twin (the same XLA
    setting, batch size and channels), network by network."""
    twins = [(c, dataclasses.replace(c, precision="float32")) for c in configurations if c.precision != "float32"]
    twins = [(c, f) for c, f in twins if f in configurations]
    if twins:
        out("")
        out("Mixed precision against float32 at the same XLA setting, batch size and channels, per budget/depth:")
    for mixed, single in twins:
        ratios = ", ".join(f"{format_count(b)}/{d} {results[b, d, mixed][1] / results[b, d, single][1]:.2f}x"
                           for b, d in itertools.product(budgets, depths))
        out(f"- {mixed.label} over {single.label}: {ratios}")


def run(args):
    """`keras-resnet benchmark --study`."""
    # Every network has its own step function; TensorFlow counts them as retracings of one and warns.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with bad_options():
        check_positive(args, "steps", "rounds")
        for multiple in {c.multiple for c in CONFIGURATIONS}:
            plan_all(args.budgets, args.depths, input_shape=(32, 32, 1), tolerance=0.2, multiple=multiple)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}; 32x32x1 inputs, 10 classes; per-step "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps after 2 warm-up steps\n")
    measure_study(args.budgets, args.depths, n=args.steps, rounds=args.rounds)
    return 0
