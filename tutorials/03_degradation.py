"""
Title: The degradation problem: plain-20/56 against ResNet-20/56
Description: He et al. 2015's Fig. 6 reproduced: deeper plain networks train worse, residual ones better.

He et al. 2015 (arXiv:1512.03385), section 4.2 and Fig. 6: a plain network (the same layers
without shortcuts) of 56 layers has *higher training error* than one of 20 layers, so the
problem is optimisation, not overfitting. With identity shortcuts the 56-layer network trains
better than the 20-layer one. A plain network is `keras_resnet.build("ResNet56", shortcut="none")`.

Paper (CIFAR-10, full 64k-iteration schedule): plain-56 ends with higher training and test
error than plain-20 (Fig. 6, left); ResNet-56 reaches 6.97% test error against ResNet-20's
8.75% (Table 6). Expect the same orderings at full scale
(`--epochs 182`); in short runs the gap between the plain networks is already visible.

The plot `degradation.png` shows training error (dashed) and validation error (solid) per
epoch, as the paper's figure does.

Run: `python tutorials/03_degradation.py --epochs 182` (on a GPU).
CI runs it with `--smoke`: tensorflow-datasets' mock data, two steps, tiny networks.
"""

import argparse
import contextlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

import keras_resnet  # noqa: E402
import keras_resnet.training.data  # noqa: E402
from keras_resnet.training import recipes  # noqa: E402

parser = argparse.ArgumentParser(description="He 2015 Fig. 6: plain vs residual networks")
parser.add_argument("--epochs", type=int, default=182)
parser.add_argument("--output", default="degradation.png")
parser.add_argument("--smoke", action="store_true", help="mock data, 2 steps, tiny networks (CI)")
args = parser.parse_args()
epochs, steps = (2, 2) if args.smoke else (args.epochs, None)
def mock():  # tensorflow-datasets' random examples in place of the download
    return tfds.testing.mock_data(num_examples=32) if args.smoke else contextlib.nullcontext()


recipe = recipes.get("he2015")
with mock():
    data = keras_resnet.training.data.load("cifar10", recipe.batch_size, seed=0, pad_mode=recipe.pad_mode)

"""
## Four networks, one recipe

Depth 20 has 3 blocks per stage, depth 56 has 9. A smoke run keeps the contrast with 1 and
3 blocks of width 4.
"""

histories = {}
for depth in (20, 56):
    for shortcut, kind in (("none", "plain"), ("A", "ResNet")):
        smoke = dict(blocks=(1 if depth == 20 else 3,) * 3, width=4, stem_width=4) if args.smoke else {}
        model = keras_resnet.build(f"ResNet{depth}", input_shape=data.input_shape, classes=data.num_classes,
                                   shortcut=shortcut, **smoke)
        recipe.compile(model, steps or data.steps_per_epoch, epochs)
        history = model.fit(data.train, validation_data=data.validation, epochs=epochs, steps_per_epoch=steps)
        histories[f"{kind}-{depth}"] = history.history

"""
## Training error (dashed) and validation error (solid), as in Fig. 6
"""

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, kind in zip(axes, ("plain", "ResNet")):
    for depth, color in ((20, "tab:orange"), (56, "tab:red")):
        h = histories[f"{kind}-{depth}"]
        x = range(1, len(h["accuracy"]) + 1)
        ax.plot(x, [100 * (1 - a) for a in h["accuracy"]], "--", color=color)
        ax.plot(x, [100 * (1 - a) for a in h["val_accuracy"]], "-", color=color, label=f"{kind}-{depth}")
    ax.set(title=f"{kind} networks", xlabel="epoch", ylabel="error (%)")
    ax.legend()
    ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(args.output, dpi=100)
print(f"Wrote {args.output}")
for name, h in histories.items():
    print(f"{name:<10} final training error {100 * (1 - h['accuracy'][-1]):6.2f}%  "
          f"validation error {100 * (1 - h['val_accuracy'][-1]):6.2f}%")
