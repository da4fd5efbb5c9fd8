"""The papers' CIFAR training recipes, as data, for `model.fit`.

A `Recipe` holds what a paper's training section says: optimizer, learning-rate
schedule, weight decay, batch size, dropout. It turns them into Keras objects
(`keras.optimizers.SGD`, a `PiecewiseConstantDecay` schedule, `L2` kernel
regularizers) for any number of epochs: the schedule keeps its shape, so a
10-epoch run decays where a 182-epoch run would, proportionally.

One thing does not scale down: the warm-up. A freshly initialised network is
unstable at the papers' learning rate 0.1 for its first few hundred steps
(He 2015 warms ResNet-110 up at 0.01 for 400 iterations because "0.1 is
slightly too large to start converging"); that instability is counted in steps
from initialisation, not in fractions of the run. A full-length run recovers
from it; a 10-epoch run on a small dataset (21 steps an epoch) does not: its
first epoch at 0.1 sometimes drives the network into a state it leaves only
after the rate has already been cut (ResNet-20 on the digits ended at 35-39%
test accuracy in two runs of four). So a run shorter than the paper's warms up
linearly from `warmup_learning_rate` to `learning_rate` over at least one epoch
(Goyal et al. 2017's gradual warm-up, arXiv:1706.02677), at most a quarter of
the run, or over the paper's own warm-up scaled, if longer. At the paper's
length the schedule is exactly the paper's. The ramp is a staircase of up to
20 steps of `PiecewiseConstantDecay`, so that a saved model's optimizer is
Keras' own and loads without this package.

    recipe = keras_resnet.recipes.get("he2015")  # .at_batch_size(32): lr 0.025, the linear scaling rule
    data = keras_resnet.data.load("cifar10", recipe.batch_size, pad_mode=recipe.pad_mode)
    model = recipe.compile(keras_resnet.build("ResNet56"), data.steps_per_epoch, epochs=20)
    model.fit(data.train, validation_data=data.validation, epochs=20)

Papers:
- He, Zhang, Ren, Sun 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385, s4.2.
- He, Zhang, Ren, Sun 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027, s4.
- Zagoruyko & Komodakis 2016, Wide Residual Networks, arXiv:1605.07146, s3.
- Xie, Girshick, Dollar, Tu, He 2017, Aggregated Residual Transformations, arXiv:1611.05431, s5.3.

ImageNet recipes of the refinements (issue 16; REFERENCE.md s8), from Keras' own parts: cosine
decay with linear warm-up (`CosineDecay(warmup_target=, warmup_steps=)`), `label_smoothing` in
the loss, optimizer EMA (`use_ema`), weight decay in the optimizer with BatchNorm and biases
excluded (`exclude_from_weight_decay`), `keras.layers.MixUp` / `CutMix` / `RandAugment` as
batch augmentations of the data pipeline (`Recipe.augmentations`):
- He et al. 2019, Bag of Tricks for Image Classification, arXiv:1812.01187.
- Wightman, Touvron, Jegou 2021, ResNet strikes back, arXiv:2110.00476 (timm's A3 procedure).
- torchvision's "new training recipe" (Vryniotis 2021, pytorch.org blog "How to Train
  State-Of-The-Art Models Using TorchVision's Latest Primitives").
"""

import dataclasses

import keras

from keras_resnet.checks import positive

WARMUP_LEVELS = 20  # steps of the staircase that approximates a linear warm-up


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe.

    Attributes:
        paper: where it comes from.
        epochs: the full-length run, in epochs.
        length, milestones, warmup: the schedule in the paper's own unit
            (iterations or epochs): the run's length, where the learning rate
            is multiplied by `decay`, and how long the warm-up at
            `warmup_learning_rate` lasts. Scaled to any epoch count.
        short_run_warmup: the shortest warm-up, in epochs, of a run shorter
            than the paper's (see the module docstring).
        learning_rate, decay: the base learning rate and its step factor.
        weight_decay: the papers' weight decay `wd` (gradient `+ wd * w`), put on
            every conv and dense kernel as `L2(wd / 2)` (loss `+ wd/2 * |w|^2`
            has that gradient). BatchNorm parameters and biases are not decayed.
        momentum, nesterov: SGD momentum.
        batch_size: examples per step.
        dropout: dropout in every block (a `Spec` field), or `None` to keep
            the model's.
        pad_mode: padding of the random-crop augmentation (`keras_resnet.data`).
        expected: the paper's CIFAR-10 test errors (%) for its networks.

        The ImageNet recipes' fields (defaults: the CIFAR recipes' behaviour):
        cosine: cosine decay from `learning_rate` to 0 after the warm-up, in
            place of the milestones; the warm-up (`warmup` epochs from
            `warmup_learning_rate`) is linear at every length, and keeps at
            least `short_run_warmup` epochs in a short run, as the step schedules do.
        optimizer_name: `"sgd"` or `"lamb"`.
        decoupled_weight_decay: `weight_decay` in the optimizer, with BatchNorm's
            gamma and beta and every bias excluded, instead of `L2` kernel regularizers.
        label_smoothing, bce: the loss: categorical (or binary, `bce`) cross-entropy
            on one-hot labels with that smoothing; both need one-hot labels (`one_hot`).
        mixup, cutmix: `keras.layers.MixUp(alpha=mixup)`, `keras.layers.CutMix(factor=cutmix)`.
        randaugment: `(num_ops, factor)` of `keras.layers.RandAugment`, or `None`.
        ema: the optimizer's EMA momentum per step (`use_ema=True`) in the paper's
            run, or `None`. A run of another length keeps the EMA's horizon
            (`1 / (1 - ema)` steps) the same fraction of the run (`ema_momentum`).
        paper_steps_per_epoch: optimizer steps per epoch in the paper's run
            (ImageNet's 1,281,167 images at its batch size), for `ema_momentum`.
        spec_changes: `Spec` fields the recipe sets, e.g. `{"zero_init_last": True}`.
        imagenet_top1: the published ImageNet top-1 (%) per table row.
    """

    paper: str
    epochs: int
    length: int
    milestones: tuple
    learning_rate: float = 0.1
    decay: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    batch_size: int = 128
    warmup: int = 0
    warmup_learning_rate: float = 0.01
    short_run_warmup: float = 1.0
    dropout: float | None = None
    pad_mode: str = "constant"
    expected: dict = dataclasses.field(default_factory=dict)
    cosine: bool = False
    optimizer_name: str = "sgd"
    decoupled_weight_decay: bool = False
    label_smoothing: float = 0.0
    bce: bool = False
    mixup: float = 0.0
    cutmix: float = 0.0
    randaugment: tuple | None = None
    ema: float | None = None
    paper_steps_per_epoch: int | None = None
    spec_changes: dict = dataclasses.field(default_factory=dict)
    imagenet_top1: dict = dataclasses.field(default_factory=dict)

    def at_batch_size(self, batch_size):
        """The recipe for another batch size, by the linear scaling rule (Goyal
        et al. 2017): `learning_rate` and `warmup_learning_rate` times
        `batch_size / self.batch_size`; by its square root for LAMB, whose
        layer-wise trust ratio already adapts the step (timm's convention).

        A smaller batch takes more, smaller steps over the same examples, which
        is what a short run on a small machine needs: ResNet-56 on 2,700
        Fashion-MNIST images, he2015 laid over 5 epochs, diverges in its first
        epoch at batch 128 and lr 0.1 (22 steps an epoch), and trains at batch
        32 and lr 0.025 (85 steps an epoch) in the same time (docs/training.md).

        Raises:
            ValueError: if `batch_size` is not a positive integer.
        """
        positive("batch_size", batch_size)
        if batch_size == self.batch_size:
            return self
        ratio = batch_size / self.batch_size
        scale = ratio**0.5 if self.optimizer_name == "lamb" else ratio
        return dataclasses.replace(self, batch_size=batch_size, learning_rate=self.learning_rate * scale,
                                   warmup_learning_rate=self.warmup_learning_rate * scale)

    def warmup_steps(self, steps_per_epoch, epochs=None):
        """How many steps the warm-up lasts in a run of `epochs` epochs: the
        paper's warm-up scaled with the run, and, in a run shorter than the
        paper's, at least `short_run_warmup` epochs and at most a quarter of the run."""
        epochs = epochs or self.epochs
        steps = steps_per_epoch * epochs
        paper = round(self.warmup * steps / self.length)
        if epochs >= self.epochs:
            return paper
        return max(paper, min(round(self.short_run_warmup * steps_per_epoch), steps // 4))

    def schedule(self, steps_per_epoch, epochs=None):
        """The learning rate per step. Cosine recipes: Keras' `CosineDecay` with its
        linear warm-up (`warmup_target`). The others, a `PiecewiseConstantDecay`:
        the warm-up (constant at the paper's length, a linear staircase in a
        shorter run), then `learning_rate`, multiplied by `decay` at each milestone.

        Args:
            steps_per_epoch: optimizer steps in one epoch.
            epochs: length of the run; default the paper's `epochs`.
        """
        epochs = epochs or self.epochs
        steps = steps_per_epoch * epochs
        warmup = self.warmup_steps(steps_per_epoch, epochs)
        if self.cosine:
            warmup = min(warmup, steps - 1)
            return keras.optimizers.schedules.CosineDecay(
                self.warmup_learning_rate if warmup else self.learning_rate, steps - warmup,
                warmup_target=self.learning_rate if warmup else None, warmup_steps=warmup)
        if epochs >= self.epochs:  # the paper's constant warm-up, if it has one
            levels = 1 if warmup else 0
        else:
            levels = min(warmup, WARMUP_LEVELS)
        # Level i of the warm-up runs until step warmup * (i + 1) / levels.
        ramp = [self.warmup_learning_rate + (self.learning_rate - self.warmup_learning_rate) * i / levels
                for i in range(levels)] if levels > 1 else [self.warmup_learning_rate] * levels
        points = [round(warmup * (i + 1) / levels) for i in range(levels)]
        milestones = [max(round(m * steps / self.length), 1) for m in self.milestones]
        values = ramp + [self.learning_rate * self.decay**i for i in range(len(milestones) + 1)]
        # PiecewiseConstantDecay switches *after* a boundary step, counting from 0; a milestone
        # never falls inside the warm-up.
        boundaries, last = [], 0
        for point in points + milestones:
            last = max(point, last + 1)
            boundaries.append(last - 1)
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)

    def optimizer(self, steps_per_epoch, epochs=None):
        """`keras.optimizers.SGD` with the recipe's momentum and schedule."""
        if self.cosine or self.optimizer_name != "sgd" or self.decoupled_weight_decay or self.ema:
            return self._modern_optimizer(steps_per_epoch, epochs)
        return keras.optimizers.SGD(self.schedule(steps_per_epoch, epochs), momentum=self.momentum,
                                    nesterov=self.nesterov)

    # The ImageNet recipes' parts (issue 16) -----------------------------------

    def ema_momentum(self, steps_per_epoch, epochs=None):
        """The EMA momentum per step for a run of `epochs` epochs of `steps_per_epoch`
        steps: the paper's `ema`, with its horizon kept the same fraction of the run,
        as the schedule keeps its shape. torchvision's recipe, which `ema` comes from,
        adjusts its decay the same way, by batch size over epochs. Without this, a
        2-epoch run at 0.99997 ends with weights that have barely left their
        initialisation (ResNet-56: 10% test accuracy, chance, after 170 steps).

        Raises:
            ValueError: if the recipe has `ema` but not `paper_steps_per_epoch`.
        """
        if not self.paper_steps_per_epoch:
            raise ValueError(f"A recipe with `ema` needs `paper_steps_per_epoch` (the paper's steps per epoch, which "
                             f"scale the EMA's horizon); received ema={self.ema!r}, "
                             f"paper_steps_per_epoch={self.paper_steps_per_epoch!r}")
        epochs = epochs or self.epochs
        paper_steps = self.epochs * self.paper_steps_per_epoch
        return max(0.0, 1 - (1 - self.ema) * paper_steps / (steps_per_epoch * epochs))

    def _modern_optimizer(self, steps_per_epoch, epochs):
        schedule = self.schedule(steps_per_epoch, epochs)
        decay = dict(weight_decay=self.weight_decay) if self.decoupled_weight_decay else {}
        ema = dict(use_ema=True, ema_momentum=self.ema_momentum(steps_per_epoch, epochs)) if self.ema else {}
        if self.optimizer_name == "lamb":
            optimizer = keras.optimizers.Lamb(schedule, **decay, **ema)
        else:
            optimizer = keras.optimizers.SGD(schedule, momentum=self.momentum, nesterov=self.nesterov, **decay, **ema)
        if self.decoupled_weight_decay:  # by variable name: BatchNorm's gamma and beta, every bias
            optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
        return optimizer

    @property
    def one_hot(self):
        """Whether the loss needs one-hot labels (label smoothing, BCE, MixUp/CutMix)."""
        return bool(self.label_smoothing or self.bce or self.mixup or self.cutmix)

    @property
    def classifier_activation(self):
        """The classifier's activation the loss expects: `"sigmoid"` for BCE (one
        independent probability per class, as timm's BCE recipes), else `"softmax"`."""
        return "sigmoid" if self.bce else "softmax"

    def loss(self):
        """The recipe's loss on probabilities: softmax outputs, or sigmoid outputs with `bce`
        (`classifier_activation`)."""
        if self.bce:
            return keras.losses.BinaryCrossentropy(label_smoothing=self.label_smoothing)
        if self.one_hot:
            return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy()

    def augmentations(self, seed=None):
        """The batch augmentations, Keras layers to map over `{"images", "labels"}`
        batches (one-hot labels, images in [0, 255]) in the data pipeline, in order:
        RandAugment, then MixUp and CutMix. The papers pick one of MixUp and CutMix
        per batch (`batch_transform` does); a pipeline applying both in turn mixes more.
        The layers compute in float32 whatever the global dtype policy: they belong to
        the input pipeline, not to the model.

        Args:
            seed: an integer that seeds the layers (`seed`, `seed + 1`, ...), or `None`.
        """
        seeds = iter(range(seed, seed + 3)) if seed is not None else iter([None] * 3)
        kwargs = lambda: dict(seed=next(seeds), dtype="float32")
        layers = []
        if self.randaugment:
            num_ops, factor = self.randaugment
            layers.append(keras.layers.RandAugment(num_ops=num_ops, factor=factor, **kwargs()))
        if self.mixup:
            layers.append(keras.layers.MixUp(alpha=self.mixup, **kwargs()))
        if self.cutmix:
            layers.append(keras.layers.CutMix(factor=self.cutmix, **kwargs()))
        return layers

    def batch_transform(self, seed=None):
        """The recipe's batch augmentations as a `batch_transform` of `keras_resnet.data.load`
        (with `one_hot=True`), or `None` if it has none: a function `(images, labels, seed)
        -> (images, labels)` of a batch of [0, 255] images, their one-hot labels and a
        stateless seed. It applies RandAugment, then MixUp or CutMix: where the recipe has
        both, one of them per batch, each with probability 1/2 (timm's and torchvision's
        switch), chosen from the batch's stateless `seed`.

        Args:
            seed: seeds the Keras layers (see `augmentations`).
        """
        layers = self.augmentations(seed)
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

    def regularize(self, model):
        """Puts the recipe's weight decay on every kernel of `model` (in place)
        and returns it. Call before `compile`."""
        regularizer = keras.regularizers.L2(self.weight_decay / 2)
        for layer in model.layers:
            if getattr(layer, "kernel", None) is not None and hasattr(layer, "kernel_regularizer"):
                layer.kernel_regularizer = regularizer  # saved in the layer's config
                layer.kernel.regularizer = regularizer  # what the training loss reads
        return model

    def compile(self, model, steps_per_epoch, epochs=None, **kwargs):
        """Regularizes and compiles `model` for the recipe: its optimizer on the scaled
        schedule, its loss (sparse categorical cross-entropy, or `loss()` on one-hot
        labels), and Keras' "accuracy", which resolves to categorical accuracy on one-hot
        (and mixed) labels and keeps the name `accuracy`.

        Args:
            model: a classifier with `classifier_activation` outputs (softmax, sigmoid
                for BCE), as `keras_resnet.build` gives.
            steps_per_epoch, epochs: the run's length (see `schedule`).
            **kwargs: further `model.compile` arguments, e.g. `jit_compile`.

        Returns:
            `model`, ready for `model.fit`.
        """
        if not self.decoupled_weight_decay:
            self.regularize(model)
        loss = "sparse_categorical_crossentropy" if not self.one_hot else self.loss()
        model.compile(optimizer=self.optimizer(steps_per_epoch, epochs), loss=loss, metrics=["accuracy"], **kwargs)
        return model

    @property
    def model_changes(self):
        """`Spec` fields the recipe sets, e.g. `{"dropout": 0.3}`, for `keras_resnet.build`."""
        return {**self.spec_changes, **({} if self.dropout is None else {"dropout": self.dropout})}


# The table. Schedules are in the paper's unit: He 2015/2016 count iterations
# (64k at batch 128 on a 45k-image training split is 182 epochs), WRN and
# ResNeXt count epochs. `expected`: CIFAR-10 test error (%) the paper reports.
_HE2015 = Recipe(
    paper="He et al. 2015, s4.2: SGD momentum 0.9, lr 0.1, /10 at 32k and 48k iterations, stop at 64k, "
          "weight decay 1e-4, batch 128, pad-4 crop and flip",
    epochs=182, length=64_000, milestones=(32_000, 48_000),
    expected={"ResNet20": 8.75, "ResNet32": 7.51, "ResNet44": 7.17, "ResNet56": 6.97, "ResNet110": 6.43},
)
RECIPES = {
    "he2015": _HE2015,
    # "0.1 is slightly too large to start converging": 0.01 until training error
    # falls below 80% (about 400 iterations), then back to 0.1.
    "he2015_warmup": dataclasses.replace(
        _HE2015, paper=_HE2015.paper + "; ResNet-110/1202 warm up at lr 0.01 for 400 iterations",
        warmup=400, expected={"ResNet110": 6.43, "ResNet1202": 7.93}),
    # He 2016 trains every CIFAR network like He 2015 with the 400-iteration warm-up.
    "he2016": dataclasses.replace(
        _HE2015, paper="He et al. 2016, s4: the He 2015 recipe with a 400-iteration warm-up at lr 0.01 "
                       "for every network",
        warmup=400, expected={"PreActResNet164": 5.46, "PreActResNet1001": 4.92}),
    "wrn": Recipe(
        paper="Zagoruyko & Komodakis 2016: SGD Nesterov 0.9, lr 0.1 x0.2 at epochs 60/120/160, 200 epochs, "
              "weight decay 5e-4, batch 128, dropout 0.3, reflect-pad-4 crop and flip",
        epochs=200, length=200, milestones=(60, 120, 160), decay=0.2, weight_decay=5e-4, nesterov=True,
        dropout=0.3, pad_mode="reflect", expected={"WRN28_10": 3.89},
    ),
    "resnext29": Recipe(
        paper="Xie et al. 2017, s5.3: SGD momentum 0.9 (Nesterov, as the fb.resnet.torch code it builds on), "
              "lr 0.1, /10 at epochs 150 and 225, 300 epochs, weight decay 5e-4, batch 128",
        epochs=300, length=300, milestones=(150, 225), weight_decay=5e-4, nesterov=True,
        expected={"ResNeXt29_8x64d": 3.65, "ResNeXt29_16x64d": 3.58},
    ),
    # ImageNet recipes (issue 16). `length` and `epochs` agree, so `milestones` go unused.
    "bag_of_tricks": Recipe(
        paper="He et al. 2019 (Bag of Tricks), s3-5: SGD Nesterov 0.9, batch 1024 at lr 0.4 (0.1 x 1024/256), "
              "5-epoch linear warm-up then cosine decay, 120 epochs (200 with mixup 0.2), label smoothing 0.1, "
              "weight decay 1e-4 without BN and bias, zero-initialised last BN gamma; ResNet-50 75.3 -> "
              "ResNet-50-D with every trick 79.29 top-1",
        epochs=200, length=200, milestones=(), learning_rate=0.4, weight_decay=1e-4, nesterov=True, batch_size=1024,
        cosine=True, warmup=5, warmup_learning_rate=0.0, decoupled_weight_decay=True, label_smoothing=0.1, mixup=0.2,
        spec_changes={"zero_init_last": True}, imagenet_top1={"ResNet50": 75.3, "ResNet50D": 79.29},
    ),
    "rsb_a3": Recipe(
        paper="Wightman et al. 2021 (ResNet strikes back), procedure A3: 100 epochs, LAMB lr 8e-3 at batch 2048, "
              "5-epoch warm-up, cosine, weight decay 0.02, binary cross-entropy, mixup 0.1, cutmix 1.0, "
              "RandAugment m6 (factor 0.6 of timm's magnitude 10), 160px training, 224px test; ResNet-50 78.1 top-1",
        epochs=100, length=100, milestones=(), learning_rate=8e-3, weight_decay=0.02, batch_size=2048,
        cosine=True, warmup=5, warmup_learning_rate=0.0, optimizer_name="lamb", decoupled_weight_decay=True, bce=True,
        mixup=0.1, cutmix=1.0, randaugment=(2, 0.6), imagenet_top1={"ResNet50": 78.1},
    ),
    "torchvision_v2": Recipe(
        paper="torchvision's new recipe (2021): SGD momentum 0.9, lr 0.5 at batch 1024, 600 epochs, 5-epoch "
              "linear warm-up from 0.01x then cosine, label smoothing 0.1, mixup 0.2, cutmix 1.0, weight decay "
              "2e-5 without norm layers, EMA, TrivialAugmentWide (Keras has none: RandAugment instead), random "
              "erasing 0.1 (not applied); ResNet-50 80.858 top-1",
        epochs=600, length=600, milestones=(), learning_rate=0.5, weight_decay=2e-5, batch_size=1024,
        cosine=True, warmup=5, warmup_learning_rate=0.005, decoupled_weight_decay=True, label_smoothing=0.1,
        mixup=0.2, cutmix=1.0, randaugment=(1, 0.5), ema=0.99997,
        paper_steps_per_epoch=1252, imagenet_top1={"ResNet50": 80.858},
    ),
}


def get(name):
    """The `Recipe` called `name` (a key of `RECIPES`), or a `Recipe` itself."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
