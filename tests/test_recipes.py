"""keras_resnet.recipes: the papers' schedules, scaled; weight decay as L2 on kernels."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.training import recipes

TINY = keras_resnet.Spec((1, 1, 1), "basic", width=4, stem="cifar", stem_width=4)


def rates(schedule, steps):
    return [round(float(schedule(step)), 8) for step in steps]


def test_he2015_at_full_length_is_the_paper():
    # 64k iterations: lr 0.1, /10 after 32k and 48k updates.
    schedule = recipes.get("he2015").schedule(steps_per_epoch=640, epochs=100)
    assert rates(schedule, [0, 31_999, 32_000, 47_999, 48_000, 63_999]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def test_warmup_lasts_400_of_64k_iterations():
    for name in ("he2015_warmup", "he2016"):
        schedule = recipes.get(name).schedule(steps_per_epoch=640, epochs=100)
        assert rates(schedule, [0, 399, 400, 32_000]) == [0.01, 0.01, 0.1, 0.01]


def test_schedules_scale_with_the_epoch_count():
    # WRN: x0.2 at epochs 60/120/160 of 200; in a 20-epoch run at 6, 12 and 16.
    wrn = recipes.get("wrn")
    schedule = wrn.schedule(steps_per_epoch=10, epochs=20)
    assert rates(schedule, [59, 60, 119, 120, 159, 160]) == [0.1, 0.02, 0.02, 0.004, 0.004, 0.0008]
    assert wrn.schedule(10).boundaries == [599, 1199, 1599]  # the paper's 200 epochs by default
    resnext = recipes.get("resnext29").schedule(steps_per_epoch=1, epochs=300)
    assert rates(resnext, [149, 150, 224, 225]) == [0.1, 0.01, 0.01, 0.001]


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
