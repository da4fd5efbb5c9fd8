"""Training and inference throughput, beside references measured in the same run.

    python -m keras_resnet.tools.benchmark --models ResNet50 ResNeXt50_32x4d --size 112 --batch 8

For every model, mode (train, infer) and precision it prints images/s, the
achieved FLOP/s, its fraction of the machine's nominal peak and of a float32
matrix product measured at the start of the run (what the best-tuned kernel
reaches here), and ratios to the references built in the same process: the
keras.applications counterpart (ResNet50/101/152 and V2), the same network on
stock Keras layers (`keras.layers.Conv2D(groups=...)` and
`keras.layers.BatchNormalization` instead of keras_resnet's), the torchvision
counterpart (when torch and torchvision import), float32 (for other
precisions) and an optional baseline model. Everything of one mode and
precision is timed in interleaved rounds and the best round kept, so that a
shared, noisy machine slows all candidates alike. `--build-time` adds the time to build a model
against keras.applications, also interleaved.

Shared machines give different absolute numbers from run to run: compare the
ratios, which are measured side by side.
"""

import contextlib
import os
import sys
import time
import types

import keras
import numpy as np

from keras_resnet import layers
from keras_resnet.checks import ArgumentParser, command_error, positive
from keras_resnet.models import build, complexity
from keras_resnet.spec import SPECS, get_spec
from keras_resnet.weights import TORCHVISION

MODES = ("train", "infer")
REFERENCES = ("keras", "stock", "torch", "folded")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Training costs ~3x the forward pass (forward, gradients of inputs and of weights).
FLOPS_PER_MAC = {"train": 6, "infer": 2}


def detect_peak(cpuinfo=None, cpus=None):
    """Nominal fp32 peak FLOP/s of this CPU: cores x clock x FLOP per cycle (64
    with AVX-512, 32 with AVX2 and FMA, else 16: two FMA units per core).

    Nominal, not real: AMD's Zen 4 runs AVX-512 on 256-bit units (half the
    FLOP per cycle) at a boost clock /proc/cpuinfo does not show. The
    benchmark therefore also measures `matmul_flops` in the same run.

    Args:
        cpuinfo: the text of /proc/cpuinfo; default: read it.
        cpus: the CPUs counted; default: those this process may run on.

    Returns:
        FLOP/s, or `None` where /proc/cpuinfo cannot tell.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    info = cpuinfo
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line.split(":")[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    if not mhz:
        return None
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 16
    return (len(os.sched_getaffinity(0)) if cpus is None else cpus) * mhz[0] * 1e6 * per_cycle


def matmul_flops(n=4096, repeats=3):
    """FLOP/s of the backend's float32 `n` x `n` matrix product, the best of
    `repeats`: what this machine's best-tuned kernel reaches, measured now."""
    a = keras.random.normal((n, n), seed=1)
    b = keras.random.normal((n, n), seed=2)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


@contextlib.contextmanager
def _global_policy(policy):
    """Builds keras.applications models (which take no dtype) under `policy`."""
    before = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def _keras_step(model, x, y, mode, jit_compile=False):
    """One training step (SGD) or one inference batch of a Keras model."""
    if mode == "infer":
        return lambda: model.predict_on_batch(x)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", jit_compile=jit_compile)
    return lambda: model.train_on_batch(x, y)


def _import_torchvision():
    """torch and torchvision, or `None`. torchvision's CPU-less PyPI wheels import
    their pure-Python models once the C++ meta registrations are skipped.

    torch's OpenMP threads spin while waiting; next to TensorFlow's threads in
    one process, or on a shared machine, that cut its throughput up to 10x
    here, so unless `OMP_WAIT_POLICY` is set, they wait passively.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch

        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        import torchvision
    except Exception:  # noqa: BLE001 - any import failure means "no reference"
        return None
    return torch, torchvision


# The torchvision counterpart of each table row that has one (ResNet50 -> resnet50).
TORCHVISION_NAMES = {row: arch for arch, row in TORCHVISION.items()}


def _torch_step(torch, net, x, y, mode, precision):
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "mixed_bfloat16")
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
    y = torch.from_numpy(y).long()
    if mode == "infer":
        net.eval()

        def infer():
            with torch.inference_mode(), autocast:
                return net(x)

        return infer
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        optimizer.zero_grad()
        with autocast:
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()

    return train


def time_steps(steps, batch_size, n, rounds, warmup=1):
    """Images/s of each step function: warm up, then `rounds` rounds of `n`
    calls each, the candidates interleaved; the best round counts.

    Args:
        steps: dict label -> step function (one batch per call).
        batch_size: images per call.

    Returns:
        dict label -> images/s.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    best = dict.fromkeys(steps, 0.0)
    for _ in range(rounds):
        for label, step in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                step()
            best[label] = max(best[label], n * batch_size / (time.perf_counter() - start))
    return best


def _batch(input_shape, batch_size, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch_size, *input_shape)).astype("float32")
    return x, rng.integers(0, classes, batch_size)


def choose_jit_compile(model, batch_size=8, steps=3, input_shape=None, loss="sparse_categorical_crossentropy"):
    """Whether XLA (`compile(jit_compile=True)`) trains `model` faster here, by measurement.

    On a CPU, XLA makes convolution training ~3x slower (docs/benchmark.md);
    on a GPU it usually helps. This trains two clones of `model` with SGD on
    random data for `steps` steps each way, interleaved, after one warm-up
    (compilation) step each; `model` itself is left untouched.

    Args:
        model: a Keras model with one input and a classifier output.
        batch_size: images per step.
        steps: timed steps per candidate.
        input_shape: input shape without the batch axis; default the model's,
            which must then be fully defined.
        loss: the loss used for the measurement.

    Returns:
        `(jit_compile, {False: images/s, True: images/s})`.

    Example:
        >>> jit, speeds = keras_resnet.tools.benchmark.choose_jit_compile(model)
        >>> model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=jit)
    """
    input_shape = tuple(model.input_shape[1:] if input_shape is None else input_shape)
    if None in input_shape:
        raise ValueError(f"choose_jit_compile needs a fixed input size; the model's input shape is "
                         f"{model.input_shape}: pass input_shape=(height, width, channels)")
    x, y = _batch(input_shape, batch_size, model.output_shape[-1])
    candidates = {}
    for jit in (False, True):
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        clone.compile(keras.optimizers.SGD(0.01), loss, jit_compile=jit)
        candidates[jit] = lambda clone=clone: clone.train_on_batch(x, y)
    speeds = time_steps(candidates, batch_size, steps, rounds=1)
    return speeds[True] > speeds[False], speeds


def build_times(name, repeats=3):
    """Seconds to build `name` (weights=None) with keras_resnet and with
    keras.applications, interleaved `repeats` times; the fastest of each.

    Returns:
        `(keras_resnet seconds, keras.applications seconds)`.
    """
    reference = _keras_application(name)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, make in enumerate((lambda: build(name), lambda: reference(weights=None))):
            keras.backend.clear_session()
            start = time.perf_counter()
            make()
            best[i] = min(best[i], time.perf_counter() - start)
    keras.backend.clear_session()
    return tuple(best)


def _keras_application(name):
    reference = getattr(keras.applications, name, None)
    if reference is None:
        raise ValueError(f"keras.applications has no {name!r}; build times compare ResNet50/101/152 and V2")
    return reference


def _parse_model(model):
    """`Name`, `Name:layout` (e.g. `"ResNet50:torchvision"`) or `(label, Spec)`
    -> (label, table name or None, spec)."""
    if isinstance(model, tuple):
        label, spec = model
        return label, None, get_spec(spec)
    name, _, layout = model.partition(":")
    spec = get_spec(name)
    return model, name, spec.replace(layout=layout) if layout else spec


def run(models, size=64, batch_size=8, modes=MODES, precisions=("float32",), steps=2, rounds=3,
        references=("keras", "stock", "torch"), baseline=None, peak=None, jit_compile=False, matmul_size=4096,
        out=print):
    """Measures and prints the table (see the module docstring).

    Args:
        models: table names, `Name:layout` strings (e.g. `"ResNet50:torchvision"`)
            or `(label, Spec)` pairs.
        size: input height and width.
        batch_size: images per step.
        modes: any of `"train"`, `"infer"`.
        precisions: any of `"float32"`, `"mixed_bfloat16"`, `"mixed_float16"`.
        steps, rounds: timed steps per round, rounds (the best counts).
        references: any of `"keras"` (keras.applications), `"stock"` (the
            same network on stock Keras layers, `keras_resnet.layers.with_stock_layers`),
            `"torch"` (torchvision), `"folded"` (inference only: the same model
            with its batch norms folded into the convs, `keras_resnet.layers.fold_batch_norm`).
        baseline: one of `models`, to which every row is also compared.
        peak: peak FLOP/s for the fraction-of-peak column; `None` detects it.
        jit_compile: passed to `model.compile` for keras models.
        matmul_size: size of the float32 matrix product measured first, as
            the achievable ceiling (`matmul_flops`); 0 skips it.
        out: where lines go.

    Returns:
        A list of result dicts (model, precision, mode, reference labels -> images/s).
    """
    for value, allowed, what in ((modes, MODES, "modes"), (precisions, PRECISIONS, "precisions"),
                                 (references, REFERENCES, "references")):
        if not set(value) <= set(allowed):
            raise ValueError(f"`{what}` must be among {list(allowed)}; received {what}={list(value)!r}")
    parsed = [_parse_model(model) for model in models]
    labels = [label for label, _, _ in parsed]
    if baseline is not None and baseline not in labels:
        raise ValueError(f"`baseline` must be one of the models {labels}; received baseline={baseline!r}")
    peak = peak or detect_peak()
    matmul = matmul_flops(matmul_size) if matmul_size else None
    if matmul:
        out(f"float32 {matmul_size}x{matmul_size} matmul: {matmul / 1e9:.0f} GFLOP/s"
            + (f" ({100 * matmul / peak:.0f}% of peak)" if peak else ""))
        out("")
    torch_vision = _import_torchvision() if "torch" in references else None
    shape = (size, size, 3)
    results = []
    for precision in precisions:
        for mode in modes:
            rows, steps_by_label = [], {}
            for arg, name, spec in parsed:
                classes = spec.default_classes
                x, y = _batch(shape, batch_size, classes)
                ours = build(spec, input_shape=shape, dtype=precision)
                labels = {"ours": f"{arg} keras_resnet"}
                steps_by_label[labels["ours"]] = _keras_step(ours, x, y, mode, jit_compile)
                if "keras" in references and name and hasattr(keras.applications, name) and spec == SPECS[name]:
                    with _global_policy(precision):
                        app = getattr(keras.applications, name)(weights=None, input_shape=shape)
                    labels["keras"] = f"{name} keras.applications"
                    steps_by_label[labels["keras"]] = _keras_step(app, x, y, mode, jit_compile)
                if "folded" in references and mode == "infer":
                    labels["folded"] = f"{arg} BN folded into convs"
                    steps_by_label[labels["folded"]] = _keras_step(layers.fold_batch_norm(ours), x, y, mode,
                                                                   jit_compile)
                if "stock" in references:
                    labels["stock"] = f"{arg} stock Keras layers"
                    steps_by_label[labels["stock"]] = _keras_step(layers.with_stock_layers(ours), x, y, mode, jit_compile)
                tv_name = TORCHVISION_NAMES.get(name)
                if torch_vision and tv_name and hasattr(torch_vision[1].models, tv_name):
                    torch, torchvision = torch_vision
                    net = getattr(torchvision.models, tv_name)(num_classes=classes)
                    labels["torch"] = f"{tv_name} torchvision"
                    steps_by_label[labels["torch"]] = _torch_step(torch, net, x, y, mode, precision)
                macs = complexity(spec, input_shape=shape).macs
                rows.append(dict(model=arg, precision=precision, mode=mode, labels=labels, macs=macs))
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


def main(argv=None):
    parser = ArgumentParser(prog="keras-resnet-benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ResNet50", "ResNeXt50_32x4d"],
                        help=f"table names, optionally Name:layout; known: {', '.join(SPECS)}")
    parser.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best counts (default 3)")
    parser.add_argument("--references", nargs="*", default=["keras", "stock", "torch"], choices=REFERENCES,
                        help="folded: inference with the batch norms folded into the convs")
    parser.add_argument("--baseline", help="one of --models to which every row is also compared")
    parser.add_argument("--peak-gflops", type=float, help="peak GFLOP/s (default: detected from /proc/cpuinfo)")
    parser.add_argument("--jit-compile", action="store_true", help="compile Keras models with XLA")
    parser.add_argument("--build-time", nargs="*", default=["ResNet152"], metavar="NAME",
                        help="also time building these against keras.applications (default ResNet152; none: skip)")
    parser.add_argument("--build-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    try:  # every option, before anything is measured
        for name in ("size", "batch", "steps", "rounds", "build_repeats"):
            positive(f"--{name.replace('_', '-')}", getattr(args, name))
        if args.peak_gflops is not None:
            positive("--peak-gflops", args.peak_gflops, (int, float))
        labels = []
        for label, _, spec in map(_parse_model, args.models):
            complexity(spec, input_shape=(args.size, args.size, 3))  # refuses a --size the network cannot take
            labels.append(label)
        if args.baseline is not None and args.baseline not in labels:
            raise ValueError(f"--baseline must be one of --models {labels}; received {args.baseline!r}")
        for name in args.build_time:
            _keras_application(name)
    except ValueError as e:
        return command_error(parser.prog, e)
    peak = args.peak_gflops * 1e9 if args.peak_gflops else detect_peak()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {len(os.sched_getaffinity(0))} CPUs, "
          + (f"peak {peak / 1e9:.0f} GFLOP/s" if peak else "peak unknown"))
    print(f"batch {args.batch}, {args.size}x{args.size}, best of {args.rounds} rounds of {args.steps} steps\n")
    for name in args.build_time:
        ours, reference = build_times(name, args.build_repeats)
        print(f"Build {name}: keras_resnet {ours:.2f} s, keras.applications {reference:.2f} s, "
              f"ratio {ours / reference:.2f} (best of {args.build_repeats}, interleaved)\n")
    run(args.models, args.size, args.batch, args.modes, args.precisions, args.steps, args.rounds,
        args.references, args.baseline, peak, args.jit_compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
