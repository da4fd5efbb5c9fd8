"""
Title: CIFAR-10 with He et al. 2015's ResNet-20, 56 and 110
Description: The paper's networks trained with the paper's recipe, through keras_resnet.training.recipes.

He, Zhang, Ren, Sun 2015, "Deep Residual Learning for Image Recognition" (arXiv:1512.03385),
section 4.2: CIFAR ResNets of depth 6n+2 (16/32/64 filters, parameter-free "option A"
shortcuts), trained with SGD (momentum 0.9, batch 128), learning rate 0.1 divided by 10 at
32k and 48k iterations, 64k iterations in all (182 epochs of 45k images), weight decay 1e-4,
4-pixel padding, random 32x32 crops and horizontal flips. ResNet-110 first warms up at a
learning rate of 0.01 for 400 iterations.

Paper (Table 6, CIFAR-10 test error) and what to expect at full scale (`--epochs 182`):

| network    | params | paper error |
|------------|--------|-------------|
| ResNet-20  | 0.27M  | 8.75%       |
| ResNet-56  | 0.85M  | 6.97%       |
| ResNet-110 | 1.7M   | 6.43% (best of 5 runs; mean 6.61 +- 0.16) |

With the full schedule, expect errors within about half a point of these: the paper's own
spread between runs is a few tenths (ResNet-110: best 6.43, mean 6.61 +- 0.16 of 5 runs).
Shorter runs (`--epochs 30`) keep the schedule's shape and give up some accuracy. (These
expectations come from the paper; this project's CI cannot download CIFAR-10.)

Run: `python tutorials/02_cifar10_he2015.py --epochs 182` (on a GPU).
CI runs it with `--smoke`: tensorflow-datasets' mock data, two steps, tiny networks.
"""

import argparse
import contextlib

import tensorflow_datasets as tfds

import keras_resnet
import keras_resnet.training.data
from keras_resnet.training import recipes

parser = argparse.ArgumentParser(description="He 2015 CIFAR-10 ResNets")
parser.add_argument("--depths", type=int, nargs="+", default=[20, 56, 110])
parser.add_argument("--epochs", type=int, default=182)
parser.add_argument("--smoke", action="store_true", help="mock data, 2 steps, tiny networks (CI)")
args = parser.parse_args()
epochs, steps = (1, 2) if args.smoke else (args.epochs, None)
def mock():  # tensorflow-datasets' random examples in place of the download
    return tfds.testing.mock_data(num_examples=32) if args.smoke else contextlib.nullcontext()


"""
## Data

He et al. pick the schedule on a 45k/5k split of the 50k training images: keep the last
10% for validation. The recipe says how to pad before cropping (zeros, here).
"""

with mock():
    data = keras_resnet.training.data.load("cifar10", batch_size=128, validation_split=0.1, seed=0,
                                           pad_mode=recipes.get("he2015").pad_mode)

"""
## Training

`Recipe.compile` puts weight decay on every kernel as an L2 penalty of `wd / 2` (the
gradient of `wd/2 |w|^2` is the papers' `wd w`), and compiles SGD on the recipe's schedule,
scaled to the number of epochs asked for.
"""

results = {}
for depth in [20, 110] if args.smoke else args.depths:  # a smoke run: one network with warm-up, one without
    name = f"ResNet{depth}"
    recipe = recipes.get("he2015_warmup" if depth >= 110 else "he2015")
    tiny = dict(blocks=(1, 1, 1), width=4, stem_width=4) if args.smoke else {}
    model = keras_resnet.build(name, input_shape=data.input_shape, classes=data.num_classes, **tiny)
    recipe.compile(model, steps or data.steps_per_epoch, epochs)
    model.fit(data.train, validation_data=data.validation, epochs=epochs, steps_per_epoch=steps)
    _, accuracy = model.evaluate(data.test)
    params = keras_resnet.complexity(name, classes=data.num_classes, **tiny).trainable_params
    results[name] = (params, 100 * (1 - accuracy), recipe.expected.get(name))

"""
## Results beside the paper
"""

print(f"{'network':<12}{'params':>10}{'error %':>10}{'paper %':>10}")
for name, (params, error, paper) in results.items():
    print(f"{name:<12}{params:>10,}{error:>10.2f}{paper:>10}")
