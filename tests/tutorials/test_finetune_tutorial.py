"""The fine-tuning tutorial runs offline (`--smoke`: tfds mock data, small model)."""

import importlib.util
import math
import pathlib

import keras

TUTORIAL = pathlib.Path(__file__).resolve().parents[2] / "tutorials" / "finetune.py"


def test_finetune_tutorial_smoke():
    spec = importlib.util.spec_from_file_location("finetune", TUTORIAL)
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    model, history = tutorial.main(["--smoke"])
    assert model.output_shape == (None, 5)  # tf_flowers' five classes
    assert all(math.isfinite(v) for v in history.history["loss"] + history.history["val_loss"])
    backbone = model.layers[1]
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert trainable and all(name.startswith("conv5_") and "_bn" not in name for name in trainable)
    assert not any(layer.trainable for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization))
