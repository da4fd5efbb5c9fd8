"""`python -m keras_resnet`: build a network, show its size and cost, run it once.

    python -m keras_resnet --model ResNet20          # summary, parameters, MACs, a forward pass
    python -m keras_resnet --model WRN28_10 --input-size 32 --classes 100
    python -m keras_resnet --table                   # every model in the spec table (markdown)
"""

import argparse
import sys
import time

from keras_resnet.checks import ArgumentParser, command_error, positive
from keras_resnet.spec import SPECS


def table():
    """The README's model table: one markdown row per spec-table row."""
    from keras_resnet.models import complexity

    lines = ["| model | input | blocks | block | layout | unit | shortcut | params (count_params) | trainable | GMACs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, spec in SPECS.items():
        c = complexity(name)
        size = spec.default_size
        lines.append(f"| {name} | {size}x{size} | {'-'.join(map(str, spec.blocks))} | {spec.block} | {spec.layout} "
                     f"| {spec.unit} | {spec.shortcut} | {c.params:,} | {c.trainable_params:,} | {c.macs / 1e9:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = ArgumentParser(prog="python -m keras_resnet", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ResNet20", help=f"a name in keras_resnet.SPECS ({', '.join(SPECS)})")
    parser.add_argument("--input-size", type=int, default=None, help="image height and width (default: the model's)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="print the table of every model and exit")
    parser.add_argument("--no-summary", action="store_true", help="skip the layer-by-layer summary")
    args = parser.parse_args(argv)
    if args.table:
        print(table())
        return 0

    import numpy as np

    from keras_resnet.models import build, complexity
    from keras_resnet.spec import get_spec

    try:
        spec = get_spec(args.model)
        for name in ("input_size", "channels", "classes", "batch_size"):
            if getattr(args, name) is not None:
                positive(f"--{name.replace('_', '-')}", getattr(args, name))
        size = args.input_size or spec.default_size
        shape = (size, size, args.channels)
        start = time.perf_counter()
        model = build(args.model, input_shape=shape, classes=args.classes)
    except ValueError as e:
        return command_error(parser.prog, e)
    built = time.perf_counter() - start
    if not args.no_summary:
        model.summary()
    c = complexity(args.model, input_shape=shape, classes=args.classes)
    x = np.random.default_rng(0).uniform(0, 1, (args.batch_size, *shape)).astype("float32")
    start = time.perf_counter()
    y = model.predict(x, verbose=0)
    ran = time.perf_counter() - start
    print(f"\n{args.model}: {spec}")
    print(f"parameters: {c.params:,} (count_params), {c.trainable_params:,} trainable; "
          f"built model agrees: {model.count_params() == c.params}")
    print(f"MACs per image at {size}x{size}: {c.macs / 1e9:.3f} G")
    print(f"built in {built:.1f} s; forward pass on {x.shape} -> {y.shape} in {ran:.2f} s; "
          f"outputs sum to {float(y.sum(axis=-1).mean()):.4f} per image (softmax)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
