"""
Title: Wide ResNet WRN-28-10 with dropout, and ResNeXt-29 8x64d
Description: Going wide instead of deep, and aggregating groups, each with its paper's recipe.

- Zagoruyko & Komodakis 2016, "Wide Residual Networks" (arXiv:1605.07146): 28 layers, 10 times
  the width (36.5M parameters), dropout 0.3 between the two convs of each block; SGD Nesterov,
  lr 0.1 x0.2 at epochs 60/120/160 of 200, weight decay 5e-4, reflection-padded crops.
- Xie et al. 2017, "Aggregated Residual Transformations" (arXiv:1611.05431): ResNeXt-29 with
  cardinality 8 and 64 channels per group (34.4M parameters); lr 0.1 /10 at epochs 150 and 225
  of 300, weight decay 5e-4.

Paper numbers (test error %, full schedules) beside what to expect here at full scale:

| network                | params | CIFAR-10 | CIFAR-100 |
|------------------------|--------|----------|-----------|
| WRN-28-10, dropout 0.3 | 36.5M  | 3.89     | 18.85     |
| ResNeXt-29 8x64d       | 34.4M  | 3.65     | 17.77     |

With the full recipes expect errors close to these, give or take the few tenths that separate
runs. `--dataset cifar100` runs the second column.

Run: `python tutorials/05_wide_and_resnext.py --dataset cifar10` (on a GPU).
CI runs it with `--smoke`: tensorflow-datasets' mock data, two steps, tiny networks.
"""

import argparse
import contextlib

import tensorflow_datasets as tfds

import keras_resnet
import keras_resnet.training.data
from keras_resnet.training import recipes

parser = argparse.ArgumentParser(description="WRN-28-10 and ResNeXt-29 on CIFAR")
parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100"])
parser.add_argument("--epochs", type=int, help="default: each recipe's own (200 and 300)")
parser.add_argument("--smoke", action="store_true", help="mock data, 2 steps, tiny networks (CI)")
args = parser.parse_args()
steps = 2 if args.smoke else None
def mock():  # tensorflow-datasets' random examples in place of the download
    return tfds.testing.mock_data(num_examples=32) if args.smoke else contextlib.nullcontext()


"""
## The two networks and their recipes

Both are rows of the spec table; the smoke run keeps their kind (pre-activation wide blocks
with dropout; grouped bottlenecks) at a toy size.
"""

runs = {
    "WRN28_10": ("wrn", keras_resnet.wide_resnet(10, 1) if args.smoke else "WRN28_10"),
    "ResNeXt29_8x64d": ("resnext29", keras_resnet.resnext29(2, 2).replace(blocks=(1, 1, 1), width=4, stem_width=8)
                        if args.smoke else "ResNeXt29_8x64d"),
}
results = {}
for name, (recipe_name, network) in runs.items():
    recipe = recipes.get(recipe_name)
    epochs = 1 if args.smoke else args.epochs or recipe.epochs
    with mock():
        data = keras_resnet.training.data.load(args.dataset, recipe.batch_size, seed=0, pad_mode=recipe.pad_mode)
    # The WRN recipe adds its dropout (0.3) to the network: `recipe.changes`.
    model = keras_resnet.build(network, input_shape=data.input_shape, classes=data.num_classes,
                               **recipe.changes)
    recipe.compile(model, steps or data.steps_per_epoch, epochs)
    model.fit(data.train, validation_data=data.validation, epochs=epochs, steps_per_epoch=steps)
    params = keras_resnet.complexity(network, classes=data.num_classes, **recipe.changes).trainable_params
    results[name] = (params, 100 * (1 - model.evaluate(data.test)[1]), recipe.expected.get(name))

print(f"{args.dataset} test error (%); the paper's figure is for CIFAR-10")
for name, (params, error, paper) in results.items():
    print(f"{name:<18}{params:>12,} params {error:>8.2f} (paper {paper})")
