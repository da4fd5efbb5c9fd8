"""
Title: Residual-unit orders (a)-(e) of He et al. 2016
Description: Where BatchNorm and ReLU go around the addition, compared on CIFAR-10.

He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks" (arXiv:1603.05027),
Fig. 4: five orders of BN, ReLU and addition in a residual unit, each a value of the `unit`
field of a `keras_resnet.Spec`:

- (a) original: conv-BN-ReLU-conv-BN, addition, ReLU (He 2015);
- (b) BN after addition;
- (c) ReLU before addition;
- (d) ReLU-only pre-activation;
- (e) full pre-activation: BN-ReLU-conv-BN-ReLU-conv, addition (the "v2" networks).

Paper (Table 2, CIFAR-10 test error, full schedule):

| unit | ResNet-110 | ResNet-164 |
|------|------------|------------|
| (a)  | 6.61       | 5.93       |
| (b)  | 8.17       | 6.50       |
| (c)  | 7.84       | 6.14       |
| (d)  | 6.71       | 5.91       |
| (e)  | 6.37       | 5.46       |

At full scale (`--epochs 182`), expect (e) best and (b) and (c) clearly worst; (a) and (d)
differ by about a tenth, less than runs of one network differ. `--model PreActResNet164` runs the bottleneck
column.

Run: `python tutorials/04_unit_orders.py --epochs 182` (on a GPU).
CI runs it with `--smoke`: tensorflow-datasets' mock data, two steps, tiny networks.
"""

import argparse
import contextlib

import tensorflow_datasets as tfds

import keras_resnet
import keras_resnet.training.data
from keras_resnet.training import recipes

PAPER = {"ResNet110": dict(zip("abcde", (6.61, 8.17, 7.84, 6.71, 6.37))),
         "PreActResNet164": dict(zip("abcde", (5.93, 6.50, 6.14, 5.91, 5.46)))}

parser = argparse.ArgumentParser(description="He 2016 residual-unit orders")
parser.add_argument("--model", default="ResNet110", choices=list(PAPER))
parser.add_argument("--epochs", type=int, default=182)
parser.add_argument("--smoke", action="store_true", help="mock data, 2 steps, tiny networks (CI)")
args = parser.parse_args()
epochs, steps = (1, 2) if args.smoke else (args.epochs, None)
def mock():  # tensorflow-datasets' random examples in place of the download
    return tfds.testing.mock_data(num_examples=32) if args.smoke else contextlib.nullcontext()


# He 2016 trains every CIFAR network with He 2015's recipe and a 400-iteration warm-up.
recipe = recipes.get("he2016")
with mock():
    data = keras_resnet.training.data.load("cifar10", recipe.batch_size, seed=0, pad_mode=recipe.pad_mode)

"""
## One network, five units

Only the `unit` field changes; shortcuts, widths and depth stay the same.
"""

errors = {}
for unit in "ae" if args.smoke else "abcde":  # a smoke run compares the original and the full pre-activation
    tiny = dict(blocks=(1, 1, 1), width=4, stem_width=4) if args.smoke else {}
    model = keras_resnet.build(args.model, input_shape=data.input_shape, classes=data.num_classes, unit=unit, **tiny)
    recipe.compile(model, steps or data.steps_per_epoch, epochs)
    model.fit(data.train, validation_data=data.validation, epochs=epochs, steps_per_epoch=steps)
    errors[unit] = 100 * (1 - model.evaluate(data.test)[1])

print(f"{args.model}: CIFAR-10 test error (%)")
print(f"{'unit':<6}{'here':>8}{'paper':>8}")
for unit, error in errors.items():
    print(f"({unit})   {error:>8.2f}{PAPER[args.model][unit]:>8.2f}")
