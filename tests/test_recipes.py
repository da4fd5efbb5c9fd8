"""keras_resnet.recipes: the papers' schedules, scaled; weight decay as L2 on kernels."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.training import recipes

TINY = keras_resnet.Spec((1, 1, 1), "basic", width=4, stem="cifar", stem_width=4)


def rates(schedule, steps):
    """The learning rate at each of `steps`, in one vectorised call."""
    return [round(float(r), 8) for r in keras.ops.convert_to_numpy(schedule(np.asarray(list(steps))))]


# He 2015: 64k iterations are 182 epochs of 45k images at batch 128; 182 x 352 = 64,064 steps.
FULL = dict(steps_per_epoch=352, epochs=182)


def test_he2015_at_full_length_is_the_paper():
    # lr 0.1 from the first step (no warm-up), /10 after 32k and 48k of 64k updates.
    schedule = recipes.get("he2015").schedule(**FULL)
    assert recipes.get("he2015").warmup_steps(**FULL) == 0
    assert schedule.boundaries == [32_031, 48_047]  # 32k and 48k of 64k, scaled to 64,064
    assert rates(schedule, [0, 32_031, 32_032, 48_047, 48_048, 64_063]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def test_paper_warmup_lasts_400_of_64k_iterations_at_full_length():
    for name in ("he2015_warmup", "he2016"):
        schedule = recipes.get(name).schedule(**FULL)
        assert schedule.boundaries == [399, 32_031, 48_047]  # round(400 * 64064 / 64000) = 400
        assert rates(schedule, [0, 399, 400, 32_031, 32_032]) == [0.01, 0.01, 0.1, 0.1, 0.01]


def test_wrn_and_resnext_at_full_length_have_no_warmup():
    wrn = recipes.get("wrn")
    assert wrn.schedule(10).boundaries == [599, 1199, 1599]  # the paper's 200 epochs by default
    assert rates(wrn.schedule(10), [0, 599, 600]) == [0.1, 0.1, 0.02]
    resnext = recipes.get("resnext29").schedule(steps_per_epoch=1, epochs=300)
    assert rates(resnext, [0, 149, 150, 224, 225]) == [0.1, 0.1, 0.01, 0.01, 0.001]


def test_short_run_milestones_scale_with_the_epoch_count():
    # WRN: x0.2 at epochs 60/120/160 of 200; in a 20-epoch run at 6, 12 and 16.
    schedule = recipes.get("wrn").schedule(steps_per_epoch=10, epochs=20)
    assert rates(schedule, [59, 60, 119, 120, 159, 160]) == [0.1, 0.02, 0.02, 0.004, 0.004, 0.0008]
    # The README's first run: 21 steps x 10 epochs, /10 after half and three quarters.
    schedule = recipes.get("he2015").schedule(steps_per_epoch=21, epochs=10)
    assert rates(schedule, [21, 104, 105, 157, 158, 209]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


@pytest.mark.parametrize("name", list(recipes.RECIPES))
@pytest.mark.parametrize("steps_per_epoch, epochs", [(21, 10), (391, 3), (844, 15), (5, 2)])
def test_short_runs_warm_up_linearly_for_an_epoch(name, steps_per_epoch, epochs):
    recipe = recipes.get(name)
    steps = steps_per_epoch * epochs
    warmup = recipe.warmup_steps(steps_per_epoch, epochs)
    assert warmup == max(round(recipe.warmup * steps / recipe.length), min(steps_per_epoch, steps // 4))
    lr = rates(recipe.schedule(steps_per_epoch, epochs), range(steps))
    assert lr[0] == recipe.warmup_learning_rate and lr[warmup] == recipe.learning_rate
    ramp = np.diff(lr[:warmup + 1])
    assert np.all(ramp >= 0) and ramp.max() <= (recipe.learning_rate - recipe.warmup_learning_rate) / min(warmup, 20) + 1e-8
    assert max(lr) == recipe.learning_rate and np.all(np.diff(lr[warmup:]) <= 0)  # then only decays
    # The milestones keep their place in the run (none falls inside the warm-up).
    first = recipe.milestones[0] / recipe.length
    assert lr[max(round(first * steps), warmup + 1) - 1] == recipe.learning_rate
    assert lr[max(round(first * steps), warmup + 1)] == round(recipe.learning_rate * recipe.decay, 8)


def test_optimizer():
    assert recipes.get("wrn").optimizer(10).nesterov and not recipes.get("he2015").optimizer(10).nesterov
    assert recipes.get("he2015").optimizer(10).momentum == 0.9


def test_weight_decay_is_l2_on_kernels_only():
    model = recipes.get("wrn").regularize(keras_resnet.build(TINY, classes=3, input_shape=(8, 8, 3)))
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
    assert wrn.model_changes == {"dropout": 0.3} and wrn.pad_mode == "reflect"
    assert recipes.get("he2015").model_changes == {}


def test_unknown_recipe():
    with pytest.raises(ValueError, match="Unknown recipe 'sgd'; known recipes: he2015, he2015_warmup"):
        recipes.get("sgd")
