"""Training and inference throughput of the table's networks, beside references measured in the same run.

    keras-resnet benchmark --models ResNet50 ResNeXt50_32x4d --size 112 --batch 8
    keras-resnet benchmark --models ResNet50 --modes infer --references keras folded

For every model, mode and precision: images/s, FLOP/s, their fraction of the nominal peak and of a float32
matmul measured in the same run, and ratios to the `references`, to float32 and to a baseline model, all
timed in interleaved rounds (the best counts) so that a noisy machine slows every candidate alike: compare
the ratios (docs/benchmark.md). The Python API is `measure`; `choose_jit_compile` picks XLA or not.
"""

import os
import time

import keras

from keras_resnet.builder import build
from keras_resnet.checks import is_number, positive
from keras_resnet.cli.parser import UsageError, bad_options, check_positive, number_list
from keras_resnet.complexity import complexity
from keras_resnet.table import SPECS, get_spec
from keras_resnet.tools import study_speed
from keras_resnet.tools.timing import random_batch, time_steps
from keras_resnet.tuning.budget import parse_count
from keras_resnet.tools.references import (REFERENCES, build_times, import_torchvision, keras_application,
                                           keras_step, reference_steps)

MODES = ("train", "infer")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Training costs ~3x the forward pass (forward, gradients of inputs and of weights).
FLOPS_PER_MAC = {"train": 6, "infer": 2}


def detect_peak(cpuinfo=None, cpus=None):
    """Nominal fp32 peak FLOP/s of this CPU: cores (`cpus`, default those this process may run on) x clock
    x FLOP per cycle (64 with AVX-512, 32 with AVX2 and FMA, else 16: two FMA units per core), or `None`
    where `cpuinfo` (default: read /proc/cpuinfo) cannot tell. Nominal, not real (Zen 4 runs AVX-512 on
    256-bit units), hence `matmul_flops` beside it."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    mhz = [float(line.split(":")[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")]
    flags = next((line.split(":")[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    if not mhz:
        return None
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 16
    return (len(os.sched_getaffinity(0)) if cpus is None else cpus) * mhz[0] * 1e6 * per_cycle


def matmul_flops(n=4096, repeats=3):
    """FLOP/s of the backend's float32 `n` x `n` matrix product, the median of `repeats` after a warm-up: what this
    machine's best-tuned kernel reaches, measured now."""
    positive("n", n)
    positive("repeats", repeats)
    a = keras.random.normal((n, n), seed=1)
    b = keras.random.normal((n, n), seed=2)
    speeds = time_steps({"matmul": lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, b))}, 1, 1, repeats)
    return 2 * n**3 * speeds["matmul"]


def choose_jit_compile(model, batch_size=8, steps=3, input_shape=None, loss="sparse_categorical_crossentropy"):
    """`(jit_compile, {False: images/s, True: images/s})`: whether XLA trains `model` (one input, a classifier
    output) faster here, by measurement: on a CPU it makes convolution training slower (docs/benchmark.md),
    on a GPU it usually helps. Two clones of `model` (left untouched) train with SGD on random data for
    `steps` steps each way, interleaved. `input_shape` (no batch axis) defaults to the model's, then fixed.

    Example:
        >>> jit, speeds = keras_resnet.tools.benchmark.choose_jit_compile(model)
        >>> model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=jit)
    """
    positive("batch_size", batch_size)
    positive("steps", steps)
    input_shape = tuple(model.input_shape[1:] if input_shape is None else input_shape)
    if None in input_shape:
        raise ValueError(f"choose_jit_compile needs a fixed input size; the model's input shape is "
                         f"{model.input_shape}: pass input_shape=(height, width, channels)")
    x, y = random_batch(input_shape, batch_size, model.output_shape[-1])
    candidates = {}
    for jit in (False, True):
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        candidates[jit] = keras_step(clone, x, y, "train", jit, loss)
    speeds = time_steps(candidates, batch_size, steps, rounds=1)
    return speeds[True] > speeds[False], speeds


def _parse_model(model):
    """`Name`, `Name:layout` or `(label, Spec)` -> (label, table name or None, spec)."""
    if isinstance(model, tuple):
        label, spec = model
        return label, None, get_spec(spec)
    name, _, layout = model.partition(":")
    spec = get_spec(name)
    return model, name, spec.replace(layout=layout) if layout else spec


def _check(models, size, batch_size, modes, precisions, steps, rounds, references, baseline, peak, matmul_size):
    """`measure`'s arguments, all checked before anything is built; returns the parsed models."""
    for field, value in (("size", size), ("batch_size", batch_size), ("steps", steps), ("rounds", rounds)):
        positive(field, value)
    if peak is not None:
        positive("peak", peak, (int, float))
    if not (is_number(matmul_size) and matmul_size >= 0):
        raise ValueError(f"`matmul_size` must be a positive integer, or 0 to skip; "
                         f"received matmul_size={matmul_size!r}")
    for value, allowed, what in ((modes, MODES, "modes"), (precisions, PRECISIONS, "precisions"),
                                 (references, REFERENCES, "references")):
        listed = list(value) if isinstance(value, (list, tuple)) else None
        if listed is None or not all(v in allowed for v in listed):
            raise ValueError(f"`{what}` must be a list of values among {list(allowed)}; "
                             f"received {what}={(value if listed is None else listed)!r}")
    parsed = [_parse_model(model) for model in models]
    labels = [label for label, _, _ in parsed]
    if baseline is not None and baseline not in labels:
        raise ValueError(f"`baseline` must be one of the models {labels}; received baseline={baseline!r}")
    for _, _, spec in parsed:
        complexity(spec, input_shape=(size, size, 3))  # refuses a size the network cannot take
    return parsed


def measure(models, size=64, batch_size=8, modes=MODES, precisions=("float32",), steps=2, rounds=3,
            references=("keras", "stock", "torch"), baseline=None, peak=None, jit_compile=False, matmul_size=4096,
            out=print):
    """Measures and prints (with `out`) the table of the module docstring; returns a list of result dicts
    (model, precision, mode, reference labels -> images/s).

    Args:
        models: table names, `Name:layout` strings (e.g. `"ResNet50:torchvision"`) or `(label, Spec)` pairs.
        modes, precisions, references: any of `MODES`, `PRECISIONS`, `references.REFERENCES`.
        steps, rounds: timed steps per round, rounds (the best counts).
        baseline: one of `models`, to which every row is also compared.
        peak: peak FLOP/s for the fraction-of-peak column; `None` detects it.
        matmul_size: size of the float32 matrix product measured first (`matmul_flops`); 0 skips it.
    """
    parsed = _check(models, size, batch_size, modes, precisions, steps, rounds, references, baseline, peak, matmul_size)
    peak = peak or detect_peak()
    matmul = matmul_flops(matmul_size) if matmul_size else None
    if matmul:
        out(f"float32 {matmul_size}x{matmul_size} matmul: {matmul / 1e9:.0f} GFLOP/s"
            + (f" ({100 * matmul / peak:.0f}% of peak)" if peak else ""))
        out("")
    torch_vision = import_torchvision() if "torch" in references else None
    shape = (size, size, 3)
    results = []
    for precision in precisions:
        for mode in modes:
            rows, steps_by_label = [], {}
            for label, name, spec in parsed:
                ours = build(spec, input_shape=shape, dtype=precision)
                batch = random_batch(shape, batch_size, spec.default_classes)
                labels, found = reference_steps(ours, label, name, spec, batch, mode, precision, references,
                                                jit_compile, torch_vision)
                steps_by_label.update(found)
                macs = complexity(spec, input_shape=shape).macs
                rows.append(dict(model=label, precision=precision, mode=mode, labels=labels, macs=macs))
            speeds = time_steps(steps_by_label, batch_size, steps, rounds)
            for row in rows:
                row["speeds"] = {kind: speeds[label] for kind, label in row["labels"].items()}
            results.extend(rows)
            keras.backend.clear_session()
    _print_table(results, peak, matmul, baseline, out)
    return results


def _print_table(results, peak, matmul, baseline, out):
    by_key = {(r["model"], r["precision"], r["mode"]): r for r in results}
    columns = ["model", "precision", "mode", "img/s", "GFLOP/s", "% peak", "% matmul", "vs keras.applications",
               "vs stock Keras layers", "vs torchvision", "vs float32", "BN folded: vs unfolded",
               "BN folded: vs keras.applications"] + ([f"vs {baseline}"] if baseline else [])
    out("| " + " | ".join(columns) + " |")
    out("|" + "---|" * len(columns))
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else ""  # noqa: E731
    for r in results:
        s = r["speeds"]
        flops = s["ours"] * FLOPS_PER_MAC[r["mode"]] * r["macs"]
        fp32 = by_key.get((r["model"], "float32", r["mode"]))
        cells = [r["model"], r["precision"], r["mode"], f"{s['ours']:.2f}", f"{flops / 1e9:.1f}",
                 f"{100 * flops / peak:.0f}%" if peak else "", f"{100 * flops / matmul:.0f}%" if matmul else "",
                 *(ratio(s["ours"], s.get(k)) for k in ("keras", "stock", "torch")),
                 ratio(s["ours"], fp32["speeds"]["ours"]) if fp32 is not r and fp32 else "",
                 ratio(s.get("folded"), s["ours"]), ratio(s.get("folded"), s.get("keras"))]
        if baseline:
            cells.append(ratio(s["ours"], by_key[(baseline, r["precision"], r["mode"])]["speeds"]["ours"]))
        out("| " + " | ".join(cells) + " |")
    out("")
    references = {f"{r['labels'][k]} {r['precision']} {r['mode']}": r["speeds"][k]
                  for r in results for k in r["labels"] if k != "ours"}
    out("References (img/s): " + "; ".join(f"{label} {speed:.2f}" for label, speed in references.items()))


def arguments(p):
    p.add_argument("--models", nargs="+", default=["ResNet50", "ResNeXt50_32x4d"],
                   help=f"table names, optionally Name:layout; known: {', '.join(SPECS)}")
    p.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    p.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS)
    p.add_argument("--steps", type=int, default=2, help="timed steps per round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median step counts (default 3)")
    p.add_argument("--references", nargs="*", default=["keras", "stock", "torch"], choices=REFERENCES,
                   help="folded: inference with the batch norms folded into the convs")
    p.add_argument("--baseline", help="one of --models to which every row is also compared")
    p.add_argument("--peak-gflops", type=float, help="peak GFLOP/s (default: detected from /proc/cpuinfo)")
    p.add_argument("--jit-compile", action="store_true", help="compile Keras models with XLA")
    p.add_argument("--build-time", nargs="*", default=["ResNet152"], metavar="NAME",
                   help="also time building these against keras.applications (default ResNet152; none: skip)")
    p.add_argument("--build-repeats", type=int, default=3, help="builds of each, interleaved (default 3)")
    study = p.add_argument_group("--study: the width-against-depth study's networks, today's configuration and the "
                                 "new defaults side by side (--steps, --rounds apply)")
    study.add_argument("--study", action="store_true", help="time the study's networks instead of --models")
    study.add_argument("--budgets", type=number_list(parse_count), default=[150_000, 600_000],
                       help="parameter budgets (default 150k,600k)")
    study.add_argument("--depths", type=number_list(int), default=[10, 16, 40], help="depths (default 10,16,40)")


def run(args):
    if args.study:
        return study_speed.run(args)
    with bad_options():  # every option, before anything is measured
        check_positive(args, "size", "batch", "steps", "rounds", "build_repeats")
        if args.peak_gflops is not None:
            positive("--peak-gflops", args.peak_gflops, (int, float))
        labels = []
        for label, _, spec in map(_parse_model, args.models):
            complexity(spec, input_shape=(args.size, args.size, 3))  # refuses a --size the network cannot take
            labels.append(label)
        if args.baseline is not None and args.baseline not in labels:
            raise UsageError(f"--baseline must be one of --models {labels}; received {args.baseline!r}")
        for name in args.build_time:
            keras_application(name)
    peak = args.peak_gflops * 1e9 if args.peak_gflops else detect_peak()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {len(os.sched_getaffinity(0))} CPUs, "
          + (f"peak {peak / 1e9:.0f} GFLOP/s" if peak else "peak unknown"))
    print(f"batch {args.batch}, {args.size}x{args.size}, per-step median of {args.rounds} interleaved rounds of "
          f"{args.steps} steps after a warm-up step\n")
    for name in args.build_time:
        ours, reference = build_times(name, args.build_repeats)
        print(f"Build {name}: keras_resnet {ours:.2f} s, keras.applications {reference:.2f} s, "
              f"ratio {ours / reference:.2f} (best of {args.build_repeats}, interleaved)\n")
    measure(args.models, args.size, args.batch, args.modes, args.precisions, args.steps, args.rounds,
            args.references, args.baseline, peak, args.jit_compile)
    return 0
