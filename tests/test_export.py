"""Export as the README shows it: Keras' own `model.export` to a TensorFlow SavedModel,
LiteRT (TFLite) and ONNX, each file run in its own runtime and compared with Keras, for
ResNet-20 (option A), ResNet50V2 and a small ResNeXt (grouped convs). A model with its
batch norms folded exports too: tests/test_transforms.py."""

import keras
import numpy as np
import pytest

import keras_resnet as kr

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="exports the TensorFlow graph")

MODELS = {
    "ResNet20": lambda spec: kr.ResNet20(),  # option A: the zero channels
    "ResNet50V2": lambda spec: kr.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3), pooling="avg"),
    "tiny ResNeXt": lambda spec: kr.build(spec, input_shape=(32, 32, 3)),  # grouped convs
}


def run_saved_model(path, x):
    loaded = tf.saved_model.load(path)  # held: `serve` reads its variables
    return loaded.serve(x).numpy()


def run_litert(path, x):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own, deprecated in favour of ai_edge_litert
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=path)
    (given,), (result,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(given["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(result["index"])


def run_onnx(path, x):
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


FORMATS = {"tf_saved_model": ("", run_saved_model), "litert": (".tflite", run_litert), "onnx": (".onnx", run_onnx)}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("name", [pytest.param("ResNet50V2", marks=pytest.mark.slow), "ResNet20", "tiny ResNeXt"])
def test_exported_file_runs_as_keras_does(name, format, tmp_path, tiny_resnext):
    if format == "onnx":
        pytest.importorskip("tf2onnx")
    model = MODELS[name](tiny_resnext)
    rng = np.random.default_rng(0)  # random BatchNorm statistics, so that each layer shows
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(0, 0.1, w.shape)
                       for w in model.weights])
    x = rng.uniform(-1, 1, (2, *model.input_shape[1:])).astype("float32")
    expected = model.predict_on_batch(x)
    suffix, run = FORMATS[format]
    path = str(tmp_path / f"model{suffix}")
    model.export(path, format=format, verbose=False)
    np.testing.assert_allclose(run(path, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
