"""The papers' training recipes, as data, for `model.fit`.

A `Recipe` is a paper's training section in parts that each build Keras objects: the learning rate per step
(`schedule`, `keras_resnet.training.schedules`), SGD or LAMB with weight decay and EMA (`Optimizer`), RandAugment,
MixUp and CutMix on the training batches (`Augmentation`), the loss, the random crop's `pad_mode`, the `Spec`
fields the recipe sets (`changes`) and the paper's results.

    recipe = recipes.get("he2015").at_batch_size(32)  # lr 0.025: the linear scaling rule
    data = keras_resnet.training.data.load("cifar10", recipe.batch_size, pad_mode=recipe.pad_mode)
    model = keras_resnet.build("ResNet56", input_shape=data.input_shape, classes=data.num_classes, **recipe.changes)
    recipe.compile(model, data.steps_per_epoch, epochs=20)
    model.fit(data.train, validation_data=data.validation, epochs=20)

CIFAR recipes: He, Zhang, Ren, Sun 2015, Deep Residual Learning, arXiv:1512.03385, s4.2; He et al. 2016, Identity
Mappings, arXiv:1603.05027, s4; Zagoruyko & Komodakis 2016, Wide Residual Networks, arXiv:1605.07146, s3; Xie et
al. 2017, Aggregated Residual Transformations, arXiv:1611.05431, s5.3. ImageNet recipes: He et al. 2019, Bag of
Tricks, arXiv:1812.01187; Wightman, Touvron, Jegou 2021, ResNet strikes back, arXiv:2110.00476 (timm's A3);
torchvision's "new training recipe" (Vryniotis 2021, pytorch.org blog).
"""

import dataclasses

import keras

from keras_resnet.checks import did_you_mean, one_of, positive
from keras_resnet.training.schedules import CosineSchedule, Schedule, StepSchedule


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """How a recipe updates the weights, built by `build` into one Keras optimizer.

    Attributes:
        name: `"sgd"` or `"lamb"` (`keras.optimizers.Lamb`, You et al. 2019, arXiv:1904.00962).
        momentum, nesterov: SGD's momentum.
        weight_decay: the papers' weight decay `wd` (gradient `+ wd * w`).
        decoupled_weight_decay: False: `wd` as `L2(wd / 2)` on every conv and dense kernel (`regularize`; the
            loss `wd/2 * |w|^2` has that gradient). True: `wd` in the optimizer. BatchNorm and biases are
            never decayed.
        ema: the momentum per step of an exponential moving average of the weights (Keras' `use_ema`) in the
            paper's run, or None.
        ema_paper_steps: the paper's run in optimizer steps. A run of another length keeps the EMA's horizon
            (`1 / (1 - ema)` steps) the same fraction of the run.
    """

    name: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    decoupled_weight_decay: bool = False
    ema: float | None = None
    ema_paper_steps: int | None = None

    def __post_init__(self):
        one_of("Optimizer.name", self.name, ("sgd", "lamb"))
        if self.ema is not None and not self.ema_paper_steps:
            raise ValueError(f"An optimizer with `ema` needs `ema_paper_steps` (the paper's run in steps, which scales "
                             f"the EMA's horizon); received ema={self.ema!r}, ema_paper_steps={self.ema_paper_steps!r}")

    def batch_scale(self, ratio):
        """The learning rate's factor for a batch `ratio` times the recipe's: `ratio`, the linear scaling rule
        (Goyal et al. 2017, arXiv:1706.02677); its square root for LAMB, whose layer-wise trust ratio already
        adapts the step (timm's convention)."""
        return ratio**0.5 if self.name == "lamb" else ratio

    def ema_momentum(self, steps):
        """The EMA momentum per step of a run of `steps` optimizer steps, its horizon kept the paper's fraction
        of the run (as torchvision adjusts its decay); 0 (the latest weights) in a run shorter than the horizon."""
        return max(0.0, 1 - (1 - self.ema) * self.ema_paper_steps / steps)

    def build(self, learning_rate, steps):
        """The Keras optimizer on `learning_rate` (a number or a schedule) for a run of `steps` steps."""
        options = {"weight_decay": self.weight_decay} if self.decoupled_weight_decay else {}
        if self.ema is not None:
            options.update(use_ema=True, ema_momentum=self.ema_momentum(steps))
        if self.name == "lamb":
            optimizer = keras.optimizers.Lamb(learning_rate, **options)
        else:
            optimizer = keras.optimizers.SGD(learning_rate, momentum=self.momentum, nesterov=self.nesterov, **options)
        if self.decoupled_weight_decay:  # by variable name: BatchNorm's gamma and beta, every bias
            optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
        return optimizer

    def regularize(self, model):
        """Puts the weight decay on every kernel of `model` as `L2(weight_decay / 2)`, in place, unless it is the
        optimizer's (`decoupled_weight_decay`); returns `model`. Call before `compile`."""
        if self.decoupled_weight_decay:
            return model
        regularizer = keras.regularizers.L2(self.weight_decay / 2)
        for layer in model.layers:
            if getattr(layer, "kernel", None) is not None and hasattr(layer, "kernel_regularizer"):
                layer.kernel_regularizer = regularizer  # saved in the layer's config
                layer.kernel.regularizer = regularizer  # what the training loss reads
        return model


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """A recipe's batch augmentations: Keras layers applied to `{"images", "labels"}` batches of [0, 255]
    images and one-hot labels in the data pipeline.

    Attributes:
        randaugment: `(num_ops, factor)` of `keras.layers.RandAugment` (Cubuk et al. 2020, arXiv:1909.13719).
        mixup: `alpha` of `keras.layers.MixUp` (Zhang et al. 2018, arXiv:1710.09412); 0 for none.
        cutmix: `factor` of `keras.layers.CutMix` (Yun et al. 2019, arXiv:1905.04899); 0 for none.
    """

    randaugment: tuple | None = None
    mixup: float = 0.0
    cutmix: float = 0.0

    @property
    def mixes(self):
        """Whether it mixes labels (MixUp, CutMix), which then must be one-hot."""
        return bool(self.mixup or self.cutmix)

    def layers(self, seed=None):
        """The layers, in order: RandAugment, MixUp, CutMix (those the recipe has), seeded `seed`, `seed + 1`,
        ... They compute in float32 whatever the global dtype policy: they belong to the input pipeline."""
        chosen = []
        if self.randaugment:
            num_ops, factor = self.randaugment
            chosen.append((keras.layers.RandAugment, {"num_ops": num_ops, "factor": factor}))
        if self.mixup:
            chosen.append((keras.layers.MixUp, {"alpha": self.mixup}))
        if self.cutmix:
            chosen.append((keras.layers.CutMix, {"factor": self.cutmix}))
        seeds = [None] * 3 if seed is None else range(seed, seed + 3)
        return [layer(**options, seed=s, dtype="float32") for (layer, options), s in zip(chosen, seeds)]

    def batch_transform(self, seed=None):
        """The augmentations as a `batch_transform` of `keras_resnet.training.data.load` (with `one_hot=True`),
        or None if there are none: RandAugment, then MixUp or CutMix; with both, one of them per batch with
        probability 1/2 (timm's and torchvision's switch), drawn from the batch's stateless seed. `seed` seeds
        the Keras layers (`layers`)."""
        layers = self.layers(seed)
        if not layers:
            return None
        randaugment = [layer for layer in layers if isinstance(layer, keras.layers.RandAugment)]
        mixing = [layer for layer in layers if not isinstance(layer, keras.layers.RandAugment)]

        def transform(images, labels, seed):
            import tensorflow as tf  # the pipeline's own ops

            for layer in randaugment:
                images = layer(images, training=True)
            batch = {"images": images, "labels": labels}
            if len(mixing) == 2:
                mixup, cutmix = mixing
                use_cutmix = tf.random.stateless_uniform([], seed) < 0.5
                batch = tf.cond(use_cutmix, lambda: cutmix(batch, training=True), lambda: mixup(batch, training=True))
            elif mixing:
                batch = mixing[0](batch, training=True)
            return batch["images"], batch["labels"]

        return transform


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe.

    Attributes:
        paper: where it comes from, and what it says (the training command prints it).
        schedule: the learning rate per step (a `schedules.Schedule`), with the paper's length in epochs.
        optimizer: the optimizer's settings (`Optimizer`).
        augmentation: the batch augmentations (`Augmentation`).
        batch_size: examples per step.
        label_smoothing, bce: the loss: categorical (or, with `bce`, binary) cross-entropy on one-hot labels
            with that smoothing; without either, and without mixed labels, sparse categorical cross-entropy.
        pad_mode: padding of the random-crop augmentation (`keras_resnet.training.data`).
        changes: `Spec` fields the recipe sets, e.g. `{"dropout": 0.3}`, for `keras_resnet.build`.
        expected: the paper's CIFAR-10 test errors (%) for its networks.
        imagenet_top1: the published ImageNet top-1 accuracy (%) per network.
    """

    paper: str
    schedule: Schedule
    optimizer: Optimizer = Optimizer()
    augmentation: Augmentation = Augmentation()
    batch_size: int = 128
    label_smoothing: float = 0.0
    bce: bool = False
    pad_mode: str = "constant"
    changes: dict = dataclasses.field(default_factory=dict)
    expected: dict = dataclasses.field(default_factory=dict)
    imagenet_top1: dict = dataclasses.field(default_factory=dict)

    @property
    def epochs(self):
        """The paper's run, in epochs."""
        return self.schedule.epochs

    @property
    def learning_rate(self):
        """The peak learning rate, after the warm-up."""
        return self.schedule.learning_rate

    @property
    def one_hot(self):
        """Whether the loss needs one-hot labels (label smoothing, BCE, MixUp/CutMix)."""
        return bool(self.label_smoothing or self.bce or self.augmentation.mixes)

    @property
    def classifier_activation(self):
        """The classifier's activation the loss expects: `"sigmoid"` for BCE (as timm's BCE recipes), else
        `"softmax"`."""
        return "sigmoid" if self.bce else "softmax"

    def at_batch_size(self, batch_size):
        """The recipe for another (positive) batch size, its learning rates (peak and warm-up start) scaled by
        `Optimizer.batch_scale` (the linear scaling rule; the square root for LAMB)."""
        positive("batch_size", batch_size)
        if batch_size == self.batch_size:
            return self
        scale = self.optimizer.batch_scale(batch_size / self.batch_size)
        return dataclasses.replace(self, batch_size=batch_size, schedule=self.schedule.scaled(scale))

    def loss(self):
        """The recipe's loss on probabilities: softmax outputs, or sigmoid outputs with `bce`."""
        if self.bce:
            return keras.losses.BinaryCrossentropy(label_smoothing=self.label_smoothing)
        if self.one_hot:
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy()

    def batch_transform(self, seed=None):
        """The recipe's batch augmentations for `data.load`, or None (`Augmentation.batch_transform`)."""
        return self.augmentation.batch_transform(seed)

    def compile(self, model, steps_per_epoch, epochs=None, **kwargs):
        """Regularizes (`Optimizer.regularize`) and compiles `model` for the recipe and returns it: its
        optimizer on the schedule laid over `epochs` (default the paper's) of `steps_per_epoch` steps, its loss,
        and Keras' "accuracy" (categorical accuracy on one-hot labels, under the same name). `model` must have
        `classifier_activation` outputs; `kwargs` go to `model.compile` (e.g. `jit_compile`)."""
        epochs = epochs or self.epochs
        optimizer = self.optimizer.build(self.schedule.build(steps_per_epoch, epochs), steps_per_epoch * epochs)
        loss = self.loss() if self.one_hot else "sparse_categorical_crossentropy"
        model = self.optimizer.regularize(model)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], **kwargs)
        return model


# The table. Schedules are in the paper's unit: He 2015/2016 count iterations (64k at
# batch 128 on a 45k-image training split is 182 epochs), the others count epochs.
_HE2015 = Recipe(
    paper="He et al. 2015, s4.2: SGD momentum 0.9, lr 0.1, /10 at 32k and 48k iterations, stop at 64k, "
          "weight decay 1e-4, batch 128, pad-4 crop and flip",
    schedule=StepSchedule(learning_rate=0.1, epochs=182, length=64_000, milestones=(32_000, 48_000)),
    expected={"ResNet20": 8.75, "ResNet32": 7.51, "ResNet44": 7.17, "ResNet56": 6.97, "ResNet110": 6.43})
# He 2015: "0.1 is slightly too large to start converging" for ResNet-110 and 1202, so 0.01 until training error
# falls below 80% (about 400 iterations), then back to 0.1.
_HE_WARMUP = dataclasses.replace(_HE2015.schedule, warmup=400)
RECIPES = {
    "he2015": _HE2015,
    "he2015_warmup": dataclasses.replace(
        _HE2015, paper=_HE2015.paper + "; ResNet-110/1202 warm up at lr 0.01 for 400 iterations",
        schedule=_HE_WARMUP, expected={"ResNet110": 6.43, "ResNet1202": 7.93}),
    "he2016": dataclasses.replace(
        _HE2015, paper="He et al. 2016, s4: the He 2015 recipe with a 400-iteration warm-up at lr 0.01 "
                       "for every network",
        schedule=_HE_WARMUP, expected={"PreActResNet164": 5.46, "PreActResNet1001": 4.92}),
    "wrn": Recipe(
        paper="Zagoruyko & Komodakis 2016: SGD Nesterov 0.9, lr 0.1 x0.2 at epochs 60/120/160, 200 epochs, "
              "weight decay 5e-4, batch 128, dropout 0.3, reflect-pad-4 crop and flip",
        schedule=StepSchedule(learning_rate=0.1, epochs=200, milestones=(60, 120, 160), decay=0.2),
        optimizer=Optimizer(weight_decay=5e-4, nesterov=True),
        pad_mode="reflect", changes={"dropout": 0.3}, expected={"WRN28_10": 3.89}),
    "resnext29": Recipe(
        paper="Xie et al. 2017, s5.3: SGD momentum 0.9 (Nesterov, as the fb.resnet.torch code it builds on), "
              "lr 0.1, /10 at epochs 150 and 225, 300 epochs, weight decay 5e-4, batch 128",
        schedule=StepSchedule(learning_rate=0.1, epochs=300, milestones=(150, 225)),
        optimizer=Optimizer(weight_decay=5e-4, nesterov=True),
        expected={"ResNeXt29_8x64d": 3.65, "ResNeXt29_16x64d": 3.58}),
    "bag_of_tricks": Recipe(
        paper="He et al. 2019 (Bag of Tricks), s3-5: SGD Nesterov 0.9, batch 1024 at lr 0.4 (0.1 x 1024/256), "
              "5-epoch linear warm-up then cosine decay, 120 epochs (200 with mixup 0.2), label smoothing 0.1, "
              "weight decay 1e-4 without BN and bias, zero-initialised last BN gamma; ResNet-50 75.3 -> "
              "ResNet-50-D with every trick 79.29 top-1",
        schedule=CosineSchedule(learning_rate=0.4, epochs=200, warmup=5, warmup_learning_rate=0.0),
        optimizer=Optimizer(weight_decay=1e-4, nesterov=True, decoupled_weight_decay=True),
        augmentation=Augmentation(mixup=0.2), batch_size=1024, label_smoothing=0.1,
        changes={"zero_init_last": True}, imagenet_top1={"ResNet50": 75.3, "ResNet50D": 79.29}),
    "rsb_a3": Recipe(
        paper="Wightman et al. 2021 (ResNet strikes back), procedure A3: 100 epochs, LAMB lr 8e-3 at batch 2048, "
              "5-epoch warm-up, cosine, weight decay 0.02, binary cross-entropy, mixup 0.1, cutmix 1.0, "
              "RandAugment m6 (factor 0.6 of timm's magnitude 10), 160px training, 224px test; ResNet-50 78.1 top-1",
        schedule=CosineSchedule(learning_rate=8e-3, epochs=100, warmup=5, warmup_learning_rate=0.0),
        optimizer=Optimizer("lamb", weight_decay=0.02, decoupled_weight_decay=True), bce=True,
        augmentation=Augmentation(randaugment=(2, 0.6), mixup=0.1, cutmix=1.0), batch_size=2048,
        imagenet_top1={"ResNet50": 78.1}),
    "torchvision_v2": Recipe(
        paper="torchvision's new recipe (2021): SGD momentum 0.9, lr 0.5 at batch 1024, 600 epochs, 5-epoch "
              "linear warm-up from 0.01x then cosine, label smoothing 0.1, mixup 0.2, cutmix 1.0, weight decay "
              "2e-5 without norm layers, EMA, TrivialAugmentWide (Keras has none: RandAugment instead), random "
              "erasing 0.1 (not applied); ResNet-50 80.858 top-1",
        # 600 epochs of ImageNet's 1,281,167 training images at batch 1024: 1252 steps each.
        optimizer=Optimizer(weight_decay=2e-5, decoupled_weight_decay=True, ema=0.99997, ema_paper_steps=600 * 1252),
        schedule=CosineSchedule(learning_rate=0.5, epochs=600, warmup=5, warmup_learning_rate=0.005),
        augmentation=Augmentation(randaugment=(1, 0.5), mixup=0.2, cutmix=1.0), batch_size=1024,
        label_smoothing=0.1, imagenet_top1={"ResNet50": 80.858}),
}


def get(name):
    """The `Recipe` called `name` (a key of `RECIPES`), or a `Recipe` itself; ValueError for any other name."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}.{did_you_mean(name, RECIPES)} Known recipes: "
                         f"{', '.join(RECIPES)}; or pass a Recipe.")
    return RECIPES[name]
