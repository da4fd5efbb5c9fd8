"""Whole-model transforms (keras_resnet/transforms.py): `with_stock_layers`,
`fold_batch_norm` and `unfreeze`."""

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet import layers as kr_layers
from keras_resnet.transforms import STOCK_LAYERS, with_stock_layers


def randomised(model, seed, variance=(0.5, 1.5), scale=0.3):
    """`model` with random weights and BatchNorm statistics far from the initial ones, so
    that a layer that is wrong shows in the outputs."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(*variance, w.shape) if "variance" in w.path else rng.normal(0, scale, w.shape)
                       for w in model.weights])
    return model


def test_with_stock_layers_swaps_only_the_fast_subclasses(tiny_resnext):
    model = randomised(kr.build(tiny_resnext, input_shape=(16, 16, 3)), seed=0)
    stock = with_stock_layers(model)
    assert [type(layer).__name__ for layer in stock.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.name for layer in stock.layers[1:]] == [layer.name for layer in model.layers[1:]]  # inputs aside
    assert not any(type(layer) in STOCK_LAYERS for layer in stock.layers)
    assert sum(type(layer) is kr_layers.Conv2D for layer in model.layers) == 2  # the grouped 3x3 convs
    assert sum(type(layer) is kr_layers.BatchNormalization for layer in model.layers) == 9
    assert all(np.array_equal(a, b) for a, b in zip(stock.get_weights(), model.get_weights(), strict=True))
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(stock.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5, atol=1e-5)


# Folding batch norms into convs for inference ------------------------------------------

FOLD = {  # model -> batch norms that follow a conv and fold (the others precede a ReLU)
    "ResNet20": (lambda spec: kr.ResNet20(classifier_activation=None), 19),  # torchvision layout, option A
    "ResNet50": (lambda spec: kr.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3)), 53),  # conv bias
    "ResNet50V2": (lambda spec: kr.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3)), 32),
    # the stem, three per block, two projections
    "tiny ResNeXt": (lambda spec: kr.build(spec, input_shape=(32, 32, 3), classifier_activation=None), 9),
}


@pytest.mark.parametrize("name", FOLD)
def test_folded_batch_norms_give_the_same_outputs(name, tiny_resnext):
    make, folds = FOLD[name]
    model = randomised(make(tiny_resnext), seed=1, variance=(0.5, 2.0))
    before = [w.copy() for w in model.get_weights()]
    folded = kr.fold_batch_norm(model)
    norms = lambda m: sum(isinstance(layer, keras.layers.BatchNormalization) for layer in m.layers)  # noqa: E731
    assert norms(model) - norms(folded) == folds
    assert len(model.layers) - len(folded.layers) == folds
    x = np.random.default_rng(2).uniform(-1, 1, (2, *model.input_shape[1:])).astype("float32")
    expected = model.predict_on_batch(x)
    np.testing.assert_allclose(folded.predict_on_batch(x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))  # untouched
    conv = folded.get_layer(folded.layers[1].name if name == "tiny ResNeXt" else "conv1_conv")
    assert conv.use_bias and conv.bias is not None


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="exports the TensorFlow graph")
@pytest.mark.parametrize("name", ["ResNet20", "tiny ResNeXt"])
def test_a_folded_model_exports_as_any_keras_model(name, tiny_resnext, tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = randomised(FOLD[name][0](tiny_resnext), seed=3)
    folded = kr.fold_batch_norm(model)
    folded.export(str(tmp_path / "folded"), format="tf_saved_model", verbose=False)
    x = np.random.default_rng(4).uniform(-1, 1, (2, *model.input_shape[1:])).astype("float32")
    expected = model.predict_on_batch(x)
    exported = tf.saved_model.load(str(tmp_path / "folded"))  # held: `serve` reads its variables
    np.testing.assert_allclose(exported.serve(x).numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# Fine-tuning ------------------------------------------------------------------------------


def test_frozen_backbone_keeps_bn_statistics_and_trains_the_head():
    """Keras 3 `trainable=False` semantics: a frozen backbone's BatchNorm runs in
    inference mode, so neither its weights nor its moving statistics change while
    the new head trains; `unfreeze` then trains the backbone from a stage on,
    BatchNorm still frozen."""
    spec = kr.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4)
    backbone = kr.build(spec, include_top=False, pooling="avg", input_shape=(16, 16, 3))
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(backbone(inputs)))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5, (16, 16, 16, 3)).astype("float32"), rng.integers(0, 3, 16)

    def fit():
        before = {v.path: v.numpy() for v in model.weights}
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        return {v.path for v in model.weights if not np.array_equal(before[v.path], v.numpy())}

    def layers(paths):
        return {p.split("/")[0] for p in paths}

    backbone.trainable = False
    assert fit() == {"head/kernel", "head/bias"}
    assert kr.unfreeze(backbone, "conv3") is backbone
    assert layers(fit()) == {"head", "conv3_block1_0_conv", "conv3_block1_1_conv", "conv3_block1_2_conv"}
    kr.unfreeze(backbone)
    changed = fit()
    assert {"conv1_conv/kernel", "conv2_block1_1_conv/kernel"} <= changed
    assert not [p for p in changed if "_bn/" in p]


@pytest.mark.parametrize("model,first,message", [
    ("backbone", "conv9", r"Model 'resnet' has no layer named 'conv9' or starting with 'conv9_'; its stages start "
                          r"at \['conv1', 'conv2', 'conv3'\]"),
    ("backbone", 5, r"`first` must be None or a layer name .*received first=5"),
    ("ResNet20", None, r"`model` must be a keras.Model .*received model='ResNet20'"),
])
def test_unfreeze_errors(model, first, message):
    if model == "backbone":
        model = kr.build(kr.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4), include_top=False)
    with pytest.raises(ValueError, match=message):
        kr.unfreeze(model, first)
