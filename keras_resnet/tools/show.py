"""Build a network, show its size and cost, and run it once; or print the whole table.

    keras-resnet show --model ResNet20          # summary, parameters, MACs, a forward pass
    keras-resnet show --model WRN28_10 --input-size 32 --classes 100
    keras-resnet show --table                   # every model of the spec table (markdown)
"""

import time

from keras_resnet.cli.parser import bad_options, check_positive
from keras_resnet.table import SPECS


def table():
    """The README's model table: one markdown row per spec-table row."""
    from keras_resnet.complexity import complexity

    lines = ["| model | input | blocks | block | layout | unit | shortcut | params (count_params) | trainable | GMACs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, spec in SPECS.items():
        c = complexity(name)
        size = spec.default_size
        lines.append(f"| {name} | {size}x{size} | {'-'.join(map(str, spec.blocks))} | {spec.block} | {spec.layout} "
                     f"| {spec.unit} | {spec.shortcut} | {c.params:,} | {c.trainable_params:,} | {c.macs / 1e9:.3f} |")
    return "\n".join(lines)


def arguments(p):
    p.add_argument("--model", default="ResNet20", help=f"a name in keras_resnet.SPECS ({', '.join(SPECS)})")
    p.add_argument("--input-size", type=int, default=None, help="image height and width (default: the model's)")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--table", action="store_true", help="print the table of every model and exit")
    p.add_argument("--no-summary", action="store_true", help="skip the layer-by-layer summary")


def run(args):
    if args.table:
        print(table())
        return 0
    import numpy as np

    from keras_resnet.builder import build
    from keras_resnet.complexity import complexity
    from keras_resnet.table import get_spec

    with bad_options():
        spec = get_spec(args.model)
        check_positive(args, "input_size", "channels", "classes", "batch_size")
        size = args.input_size or spec.default_size
        shape = (size, size, args.channels)
        start = time.perf_counter()
        model = build(args.model, input_shape=shape, classes=args.classes)
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
