"""Preprocessing inside the model (`include_preprocessing`): on raw 0-255 images the model computes what it
computes without it on `keras_resnet.preprocess_input(images, mode=...)`, for each mode, in both data formats and
under mixed precision; `True` takes the mode of the weights' source; weights files load with or without it; saved
models (and pyramids, whose outputs are a dict) load in safe mode where keras_resnet is not installed; clear errors.
torchvision checkpoints converted with it take raw images: tests/test_torch_checkpoints.py."""

import re

import keras
import numpy as np
import pytest
from test_saving import randomized, run_child

import keras_resnet as kr
from keras_resnet.preprocessing import MODES, preprocessing_mode
from keras_resnet.transforms import with_stock_layers

SPEC = kr.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4, shortcut="A")
IMAGENET_STEM = kr.Spec((1, 1, 1, 1), "basic", width=4, stem_width=8)
RAW = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


@pytest.fixture(params=["channels_last", "channels_first"])
def data_format(request):
    keras.config.set_image_data_format(request.param)
    yield request.param
    keras.config.set_image_data_format("channels_last")


def shaped(x, data_format):
    return x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("mode", MODES)
def test_the_model_preprocesses_as_preprocess_input(mode, data_format):
    shape = shaped(RAW, data_format).shape[1:]
    plain = randomized(kr.build(SPEC, input_shape=shape))
    model = kr.build(SPEC, input_shape=shape, include_preprocessing=mode)
    model.set_weights(plain.get_weights())  # the preprocessing has no weights
    assert len(model.layers) > len(plain.layers) and model.count_params() == plain.count_params()
    x = shaped(RAW, data_format)
    expected = plain.predict_on_batch(kr.preprocess_input(x.copy(), data_format=data_format, mode=mode))
    np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_true_is_the_mode_of_the_weights_source():
    """keras.applications' v1 weights: caffe; its V2 weights: tf; torchvision's and timm's (the torchvision
    layout): torch; the same mode as each named builder's `preprocess_input`."""
    assert preprocessing_mode(True, kr.SPECS["ResNet50"], 3) == "caffe"
    assert preprocessing_mode(True, kr.SPECS["ResNet50V2"], 3) == "tf"
    assert preprocessing_mode(True, kr.SPECS["ResNet50"].replace(layout="torchvision"), 3) == "torch"
    for name, spec in kr.SPECS.items():
        assert preprocessing_mode(True, spec, 3) == getattr(kr, name).preprocess_input.keywords["mode"], name
    assert preprocessing_mode(False, spec, 3) is None and preprocessing_mode("tf", spec, 1) == "tf"
    names = [layer.name for layer in kr.build(SPEC, input_shape=(32, 32, 3), include_preprocessing=True).layers]
    assert names[1:6] == ["preprocess_b", "preprocess_g", "preprocess_r", "preprocess_bgr", "preprocess_caffe"]
    resnet20 = kr.ResNet20(blocks=(1, 1, 1), include_preprocessing=True)  # the named builders too
    assert resnet20.layers[1].name == f"preprocess_{kr.ResNet20.preprocess_input.keywords['mode']}"
    assert kr.WideResNet(10, 1, include_preprocessing=True).layers[1].name == "preprocess_torch"  # its layout


def test_preprocessing_computes_in_float32_under_mixed_precision():
    plain = randomized(kr.build(SPEC, input_shape=(32, 32, 3), dtype="mixed_bfloat16", classifier_activation=None))
    model = kr.build(SPEC, input_shape=(32, 32, 3), dtype="mixed_bfloat16", classifier_activation=None,
                     include_preprocessing="torch")
    model.set_weights(plain.get_weights())
    assert {layer.compute_dtype for layer in model.layers if layer.name.startswith("preprocess")} == {"float32"}
    expected = plain.predict_on_batch(kr.preprocess_input(RAW.copy(), mode="torch"))
    np.testing.assert_allclose(model.predict_on_batch(RAW), expected, rtol=0, atol=2e-2 * np.abs(expected).max())


def test_weights_files_load_with_or_without_preprocessing(tmp_path):
    plain = randomized(kr.build(SPEC, input_shape=(32, 32, 3)))
    plain.save_weights(tmp_path / "plain.weights.h5")
    model = kr.build(SPEC, input_shape=(32, 32, 3), include_preprocessing="caffe",
                     weights=tmp_path / "plain.weights.h5")
    for a, b in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.save_weights(tmp_path / "model.weights.h5")
    again = kr.build(SPEC, input_shape=(32, 32, 3), weights=tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(again.predict_on_batch(RAW), plain.predict_on_batch(RAW))


@pytest.mark.slow
def test_saved_models_load_where_keras_resnet_is_not_installed(tmp_path):
    """A model of each mode, one built channels first (loaded where channels last is the default) and a pyramid:
    its dict of levels survives `model.save` and safe mode; outputs identical to Keras' own layers'."""
    models = {mode: kr.build(SPEC, input_shape=(32, 32, 3), include_preprocessing=mode) for mode in MODES}
    models["pyramid"] = kr.pyramid(IMAGENET_STEM, ["P2", "P4", "P5"], output_stride=16, input_shape=(32, 32, 3),
                                   include_preprocessing=True)
    keras.config.set_image_data_format("channels_first")
    try:
        models["caffe_channels_first"] = kr.build(SPEC, input_shape=(3, 32, 32), include_preprocessing=True)
        inputs = {"caffe_channels_first": RAW.transpose(0, 3, 1, 2)}
        for name, model in models.items():
            randomized(model).save(tmp_path / f"{name}.keras")
            expected = with_stock_layers(model).predict_on_batch(inputs.get(name, RAW))
            np.savez(tmp_path / f"{name}.expected.npz", x=inputs.get(name, RAW),
                     **(expected if isinstance(expected, dict) else {"y": expected}))
    finally:
        keras.config.set_image_data_format("channels_last")
    printed = run_child("""
import glob, os, numpy as np, keras
for path in glob.glob(os.path.join(sys.argv[1], "*.keras")):
    model = keras.saving.load_model(path, safe_mode=True)
    expected = dict(np.load(path[:-len(".keras")] + ".expected.npz"))
    outputs = model.predict_on_batch(expected.pop("x"))
    outputs = outputs if isinstance(outputs, dict) else {"y": outputs}
    assert sorted(outputs) == sorted(expected), (path, list(outputs))
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value, err_msg=f"{path} {key}")
    print(os.path.basename(path))
assert not any(name.startswith("keras_resnet") for name in sys.modules)
""", tmp_path)
    assert sorted(printed.split()) == sorted(f"{name}.keras" for name in models)


@pytest.mark.parametrize("value, message", [
    ("bgr", "`include_preprocessing` must be True (the weights' own mode), False or one of ['caffe', 'tf', 'torch']; "
            "received include_preprocessing='bgr'"),
    (None, "received include_preprocessing=None"),
    ("torch", "the input needs 3 channels; received 1 channels"),
])
def test_bad_preprocessing_is_one_clear_error(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kr.build(SPEC, input_shape=(32, 32, 1), include_preprocessing=value)
