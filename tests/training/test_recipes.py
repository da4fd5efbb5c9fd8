"""keras_resnet.training.recipes and .schedules: the papers' schedules, scaled; the optimizer, loss and
batch augmentations a recipe builds; weight decay as L2 on kernels or in the optimizer."""

import dataclasses

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.training import data as data_lib
from keras_resnet.training import recipes, schedules

TINY = keras_resnet.Spec((1, 1, 1), "basic", width=4, stem="cifar", stem_width=4)


def rates(schedule, steps):
    """The learning rate at each of `steps`: in one vectorised call where the schedule
    allows it (PiecewiseConstantDecay), step by step otherwise (CosineDecay branches)."""
    steps = list(steps)
    try:
        values = keras.ops.convert_to_numpy(schedule(np.asarray(steps)))
    except ValueError:
        values = [keras.ops.convert_to_numpy(schedule(step)) for step in steps]
    return [round(float(r), 8) for r in values]


# He 2015: 64k iterations are 182 epochs of 45k images at batch 128; 182 x 352 = 64,064 steps.
FULL = dict(steps_per_epoch=352, epochs=182)


def test_he2015_at_full_length_is_the_paper():
    # lr 0.1 from the first step (no warm-up), /10 after 32k and 48k of 64k updates.
    schedule = recipes.get("he2015").schedule.build(**FULL)
    assert recipes.get("he2015").schedule.warmup_steps(**FULL) == 0
    assert schedule.boundaries == [32_031, 48_047]  # 32k and 48k of 64k, scaled to 64,064
    assert rates(schedule, [0, 32_031, 32_032, 48_047, 48_048, 64_063]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def test_paper_warmup_lasts_400_of_64k_iterations_at_full_length():
    for name in ("he2015_warmup", "he2016"):
        schedule = recipes.get(name).schedule.build(**FULL)
        assert schedule.boundaries == [399, 32_031, 48_047]  # round(400 * 64064 / 64000) = 400
        assert rates(schedule, [0, 399, 400, 32_031, 32_032]) == [0.01, 0.01, 0.1, 0.1, 0.01]


def test_wrn_and_resnext_at_full_length_have_no_warmup():
    wrn = recipes.get("wrn").schedule.build(10)  # the paper's 200 epochs by default
    assert wrn.boundaries == [599, 1199, 1599]
    assert rates(wrn, [0, 599, 600]) == [0.1, 0.1, 0.02]
    resnext = recipes.get("resnext29").schedule.build(steps_per_epoch=1, epochs=300)
    assert rates(resnext, [0, 149, 150, 224, 225]) == [0.1, 0.1, 0.01, 0.01, 0.001]


def test_short_run_milestones_scale_with_the_epoch_count():
    # WRN: x0.2 at epochs 60/120/160 of 200; in a 20-epoch run at 6, 12 and 16.
    schedule = recipes.get("wrn").schedule.build(steps_per_epoch=10, epochs=20)
    assert rates(schedule, [59, 60, 119, 120, 159, 160]) == [0.1, 0.02, 0.02, 0.004, 0.004, 0.0008]
    # The README's first run: 21 steps x 10 epochs, /10 after half and three quarters.
    schedule = recipes.get("he2015").schedule.build(steps_per_epoch=21, epochs=10)
    assert rates(schedule, [21, 104, 105, 157, 158, 209]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


@pytest.mark.parametrize("name", list(recipes.RECIPES))
@pytest.mark.parametrize("steps_per_epoch, epochs", [(21, 10), (391, 3), (844, 15), (5, 2)])
def test_short_runs_warm_up_linearly_for_an_epoch(name, steps_per_epoch, epochs):
    schedule = recipes.get(name).schedule
    cosine = isinstance(schedule, schedules.CosineSchedule)
    steps = steps_per_epoch * epochs
    warmup = schedule.warmup_steps(steps_per_epoch, epochs)
    paper_length = schedule.length or schedule.epochs
    assert warmup == max(round(schedule.warmup * steps / paper_length), min(steps_per_epoch, steps // 4))
    if cosine and steps > 1000:  # step-by-step evaluation: the warm-up and a coarse rest
        sample = sorted({*range(warmup + 2), *range(0, steps, steps // 200)})
    else:
        sample = range(steps)
    lr = dict(zip(sample, rates(schedule.build(steps_per_epoch, epochs), sample)))
    peak, start = schedule.learning_rate, schedule.warmup_learning_rate
    assert lr[0] == pytest.approx(start) and lr[warmup] == pytest.approx(peak)
    ramp = np.diff([lr[i] for i in range(warmup + 1)])
    assert np.all(ramp >= -1e-8) and ramp.max() <= (peak - start) / min(warmup, schedules.WARMUP_LEVELS) * (1 + 1e-6)
    after = [lr[i] for i in sorted(lr) if i >= warmup]
    assert max(lr.values()) == pytest.approx(peak) and np.all(np.diff(after) <= 1e-8)  # then only decays
    if cosine:  # no milestones to keep
        return
    # The milestones keep their place in the run (none falls inside the warm-up).
    first = schedule.milestones[0] / paper_length
    assert lr[max(round(first * steps), warmup + 1) - 1] == peak
    assert lr[max(round(first * steps), warmup + 1)] == round(peak * schedule.decay, 8)


@pytest.mark.parametrize("name, nesterov", [("he2015", False), ("he2016", False), ("wrn", True), ("resnext29", True)])
def test_cifar_recipes_build_plain_sgd(name, nesterov):
    """The papers' SGD: momentum 0.9, no decay in the optimizer (it is L2 on the kernels), no EMA."""
    optimizer = recipes.get(name).optimizer.build(0.1, steps=100)
    assert type(optimizer) is keras.optimizers.SGD and optimizer.momentum == 0.9 and optimizer.nesterov == nesterov
    assert optimizer.weight_decay is None and not optimizer.use_ema


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="adam"), r"`Optimizer.name` must be one of \['sgd', 'lamb'\]; received Optimizer.name='adam'"),
    (dict(ema=0.999), r"An optimizer with `ema` needs `ema_paper_steps`.*received ema=0\.999, ema_paper_steps=None"),
])
def test_bad_optimizer_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        recipes.Optimizer(**kwargs)


@pytest.mark.parametrize("name, batch_size, peak, warmup_start", [
    ("he2015", 32, 0.025, 0.0025),  # Goyal et al.'s linear rule: 0.1 x 32/128
    ("he2016", 64, 0.05, 0.005),
    ("bag_of_tricks", 256, 0.1, 0.0),  # the paper's own rule: 0.1 x batch/256
    ("torchvision_v2", 2048, 1.0, 0.01),
    ("rsb_a3", 512, 4e-3, 0.0),  # LAMB: the square root, 8e-3 x sqrt(512/2048)
])
def test_the_learning_rate_follows_the_batch_size(name, batch_size, peak, warmup_start):
    recipe = recipes.get(name).at_batch_size(batch_size)
    assert recipe.batch_size == batch_size
    assert recipe.learning_rate == pytest.approx(peak)
    assert recipe.schedule.warmup_learning_rate == pytest.approx(warmup_start)
    rates_aside = lambda r: dataclasses.replace(  # noqa: E731
        r, batch_size=0, schedule=dataclasses.replace(r.schedule, learning_rate=0, warmup_learning_rate=0))
    assert rates_aside(recipe) == rates_aside(recipes.get(name))  # nothing else changes
    assert recipes.get(name).at_batch_size(recipes.get(name).batch_size) is recipes.get(name)
    schedule = recipe.schedule.build(steps_per_epoch=10)
    start, after_warmup = rates(schedule, [0, recipe.schedule.warmup_steps(10)])
    assert (start, after_warmup) == pytest.approx((warmup_start if recipe.schedule.warmup else peak, peak))


@pytest.mark.parametrize("bad", [0, -32, 1.5, "64", None, True])
def test_a_batch_size_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match=rf"`batch_size` must be a positive integer; received batch_size={bad!r}"):
        recipes.get("he2015").at_batch_size(bad)


def test_weight_decay_is_l2_on_kernels_only():
    model = recipes.get("wrn").optimizer.regularize(keras_resnet.build(TINY, classes=3, input_shape=(8, 8, 3)))
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len(kernels) == 10  # stem, 2 per block x 3, 2 projections, dense
    # The papers' decay wd (gradient + wd * w) is the loss wd/2 * |w|^2.
    expected = 5e-4 / 2 * sum(float(np.sum(keras.ops.convert_to_numpy(k) ** 2)) for k in kernels)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    assert model.get_layer("predictions").get_config()["kernel_regularizer"]["config"]["l2"] == 2.5e-4
    assert all(v.regularizer is None for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
               for v in layer.weights)


def test_wrn_recipe_sets_dropout_and_reflection():
    wrn = recipes.get("wrn")
    assert wrn.changes == {"dropout": 0.3} and wrn.pad_mode == "reflect"
    assert recipes.get("he2015").changes == {}


def test_unknown_recipe():
    with pytest.raises(ValueError, match=r"^Unknown recipe 'sgd'\. Known recipes: he2015, he2015_warmup, he2016, wrn"):
        recipes.get("sgd")
    with pytest.raises(ValueError, match=r"^Unknown recipe 'WRN'\. Did you mean 'wrn'\? Known recipes: he2015,"):
        recipes.get("WRN")
    assert recipes.get(recipes.RECIPES["wrn"]) is recipes.RECIPES["wrn"]


# The ImageNet recipes -------------------------------------------------------------

MODERN = ("bag_of_tricks", "rsb_a3", "torchvision_v2")


@pytest.mark.parametrize("name", MODERN)
def test_cosine_with_linear_warmup(name):
    """5 of the recipe's epochs of linear warm-up to the peak, then cosine to 0; a run of a
    tenth of the length warms up for a tenth as long, but never for less than an epoch."""
    recipe = recipes.get(name)
    for epochs, warmup in ((recipe.epochs, 50), (recipe.epochs // 10, 10), (10, 10)):
        steps = 10 * epochs
        assert recipe.schedule.warmup_steps(10, epochs) == max(warmup, round(50 * epochs / recipe.epochs))
        warmup = recipe.schedule.warmup_steps(10, epochs)
        schedule = recipe.schedule.build(steps_per_epoch=10, epochs=epochs)
        assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
        start, peak, middle, end = rates(schedule, [0, warmup, warmup + (steps - warmup) // 2, steps])
        lr0 = recipe.schedule.warmup_learning_rate
        assert start == pytest.approx(lr0) and peak == pytest.approx(recipe.learning_rate)
        half = (steps - warmup) // 2
        assert middle == pytest.approx(recipe.learning_rate * (1 + np.cos(np.pi * half / (steps - warmup))) / 2, rel=1e-4)
        assert end == pytest.approx(0, abs=1e-9)
        linear = lr0 + (recipe.learning_rate - lr0) * (warmup // 2) / warmup
        assert rates(schedule, [warmup // 2])[0] == pytest.approx(linear, rel=1e-5)


@pytest.mark.parametrize("name", MODERN)
def test_what_a_modern_recipe_puts_on_the_model(name):
    recipe = recipes.get(name)
    model = keras_resnet.build(TINY, **recipe.changes)
    recipe.compile(model, steps_per_epoch=10, epochs=2)
    optimizer = model.optimizer
    assert type(optimizer) is (keras.optimizers.Lamb if name == "rsb_a3" else keras.optimizers.SGD)
    assert optimizer.weight_decay == pytest.approx(recipe.optimizer.weight_decay)
    assert isinstance(optimizer.learning_rate if not callable(optimizer._learning_rate) else optimizer._learning_rate,
                      keras.optimizers.schedules.CosineDecay)
    # Decay in the optimizer, none through regularizers; never on BatchNorm or biases.
    assert not model.losses and all(getattr(layer, "kernel_regularizer", None) is None for layer in model.layers)
    optimizer.build(model.trainable_variables)
    decayed = {v.name for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {"kernel"}
    assert optimizer.use_ema == (recipe.optimizer.ema is not None)
    if recipe.optimizer.ema:  # 20 steps: the EMA's horizon is the paper's fraction of the run
        assert optimizer.ema_momentum == pytest.approx(recipe.optimizer.ema_momentum(20))
    loss = model.loss
    assert isinstance(loss, keras.losses.BinaryCrossentropy if recipe.bce else keras.losses.CategoricalCrossentropy)
    assert loss.get_config()["label_smoothing"] == recipe.label_smoothing
    augmentation = recipe.augmentation
    kinds = [type(layer).__name__ for layer in augmentation.layers()]
    assert kinds == [k for k, on in (("RandAugment", augmentation.randaugment), ("MixUp", augmentation.mixup),
                                     ("CutMix", augmentation.cutmix)) if on]
    if name == "bag_of_tricks":  # zero-initialised last BN gamma (Goyal 2017), a Spec field
        assert recipe.changes == {"zero_init_last": True}
        assert not np.any(keras.ops.convert_to_numpy(model.get_layer("conv2_block1_2_bn").gamma))
    # One step on one-hot labels through the recipe's batch augmentations.
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    batch = {"images": x, "labels": keras.ops.one_hot(np.array([0, 1, 2, 3]), 10)}
    for layer in augmentation.layers():
        batch = layer(batch, training=True)
    assert np.isfinite(model.train_on_batch(batch["images"], batch["labels"])[0])


def test_modern_recipes_name_their_source_and_numbers():
    assert recipes.get("bag_of_tricks").imagenet_top1 == {"ResNet50": 75.3, "ResNet50D": 79.29}
    assert recipes.get("rsb_a3").imagenet_top1 == {"ResNet50": 78.1}
    assert recipes.get("torchvision_v2").imagenet_top1 == {"ResNet50": 80.858}
    assert "TrivialAugment" in recipes.get("torchvision_v2").paper


def test_the_ema_horizon_is_the_same_fraction_of_any_run():
    optimizer = recipes.get("torchvision_v2").optimizer
    assert optimizer.ema_momentum(1252 * 600) == pytest.approx(0.99997, abs=1e-12)  # the paper's run: its own value
    horizon = lambda momentum, steps: 1 / (1 - momentum) / steps  # noqa: E731 - as a fraction of the run
    paper = horizon(0.99997, 1252 * 600)
    for steps in (85 * 2, 390 * 30, 1252 * 100):
        momentum = optimizer.ema_momentum(steps)
        assert 0 < momentum < 0.99997 and horizon(momentum, steps) == pytest.approx(paper)
    assert optimizer.ema_momentum(170) == pytest.approx(0.8674, abs=1e-4)  # a 170-step run: ~7.5 steps
    assert optimizer.ema_momentum(1) == 0.0  # a run shorter than the horizon keeps the latest weights


def test_bce_recipe_wants_a_sigmoid_classifier():
    assert recipes.get("rsb_a3").classifier_activation == "sigmoid"
    assert {recipes.get(name).classifier_activation for name in recipes.RECIPES if name != "rsb_a3"} == {"softmax"}
    assert recipes.get("he2015").batch_transform() is None and not recipes.get("he2015").one_hot
    assert recipes.get("he2015").loss().get_config()["name"] == "sparse_categorical_crossentropy"
    # Mixed labels are one-hot, and so is the loss.
    mixup = dataclasses.replace(recipes.get("he2015"), augmentation=recipes.Augmentation(mixup=0.2))
    assert mixup.one_hot and type(mixup.loss()) is keras.losses.CategoricalCrossentropy


# The recipes' batch augmentations in the data pipeline ------------------------------


def test_one_of_mixup_and_cutmix_per_batch_from_a_stateless_seed():
    import tensorflow as tf

    transform = recipes.Augmentation(mixup=0.2, cutmix=1.0).batch_transform(seed=0)  # torchvision_v2's
    # Image i is flat at 10 * i: MixUp keeps each image flat, CutMix pastes a patch of another.
    images = np.broadcast_to(10.0 * np.arange(8)[:, None, None, None], (8, 16, 16, 3)).astype("float32")
    labels = tf.one_hot(np.arange(8), 10)
    used = []
    for s in range(16):
        seed = tf.constant([s, 0], tf.int64)
        mixed, mixed_labels = transform(tf.constant(images), labels, seed)
        flat = all(np.unique(np.round(image, 3)).size == 1 for image in mixed.numpy())
        used.append("mixup" if flat else "cutmix")
        np.testing.assert_allclose(mixed_labels.numpy().sum(axis=1), 1, rtol=1e-5)
        # The choice is the seed's alone (a patch can be empty, so only CutMix is asserted).
        if not flat:
            assert float(tf.random.stateless_uniform([], seed)) < 0.5
    assert set(used) == {"mixup", "cutmix"}


def test_the_data_pipeline_applies_a_recipes_augmentations():
    load = lambda recipe, **kwargs: data_lib.load("digits", 16, seed=0, one_hot=True, subset=160,
                                                  batch_transform=recipe.batch_transform(0) if recipe else None,
                                                  **kwargs)
    first = lambda d: [keras.ops.convert_to_numpy(t) for t in next(iter(d.train))]
    plain = first(load(None))
    # RandAugment alone: the same examples, crops and flips (the hook has its own seeds), other pixels.
    randaugment = dataclasses.replace(recipes.get("rsb_a3"), augmentation=recipes.Augmentation(randaugment=(2, 0.6)))
    augmented = first(load(randaugment))
    np.testing.assert_array_equal(augmented[1], plain[1])
    assert set(np.unique(plain[1])) == {0.0, 1.0} and not np.allclose(augmented[0], plain[0])
    # rsb_a3 in full: mixed labels; reproducible with the seed, batch after batch.
    runs = [[[keras.ops.convert_to_numpy(t) for t in batch] for batch in load(recipes.get("rsb_a3")).train.take(3)]
            for _ in range(2)]
    labels = np.concatenate([y for _, y in runs[0]])
    assert np.any((labels > 1e-6) & (labels < 1 - 1e-6))
    for (x0, y0), (x1, y1) in zip(*runs):
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
