"""Mixed precision and per-model dtype for every builder (issue 4)."""

import keras
import numpy as np
import pytest

import keras_resnet

BASIC = keras_resnet.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4)
KINDS = ("basic", "resnext", "preact")
X = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")


@pytest.fixture
def tiny(tiny_resnext):
    return {"basic": BASIC, "resnext": tiny_resnext, "preact": BASIC.replace(unit="e")}


@pytest.fixture
def global_policy():
    """Sets the global policy for one test, then restores it."""
    before = keras.config.dtype_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(before)


# Largest logit error of half-precision compute, relative to the largest logit: float16
# keeps 11 significant bits, bfloat16 8 (measured: at most 0.06% and 0.45%).
RELATIVE_ERROR = {"mixed_float16": 0.005, "mixed_bfloat16": 0.02}


def _check(model, policy, reference):
    """`model` computes in `policy` on float32 weights, and its logits are the float32
    model's `reference` to half precision. (Compared as logits: a tiny random network's
    softmax is close to uniform whatever its weights.)"""
    compute = keras.DTypePolicy(policy).compute_dtype
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert convs and all(l.compute_dtype == compute and l.variable_dtype == "float32" for l in convs)
    assert all(w.dtype == "float32" for w in model.weights)
    y = model.predict_on_batch(X)
    assert model.output.dtype == "float32" and y.dtype == np.float32
    scale = np.abs(reference).max()
    np.testing.assert_allclose(y, reference, rtol=0, atol=RELATIVE_ERROR[policy] * scale)
    assert np.ptp(reference, axis=-1).min() > 5 * RELATIVE_ERROR[policy] * scale  # the logits differ by more


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", KINDS)
def test_global_policy_and_dtype_argument(global_policy, tiny, policy, kind):
    fp32 = keras_resnet.build(tiny[kind], input_shape=(16, 16, 3), classifier_activation=None)
    reference = fp32.predict_on_batch(X)
    by_argument = keras_resnet.build(tiny[kind], input_shape=(16, 16, 3), dtype=policy, classifier_activation=None)
    by_argument.set_weights(fp32.get_weights())
    _check(by_argument, policy, reference)
    global_policy(policy)
    by_global = keras_resnet.build(tiny[kind], input_shape=(16, 16, 3), classifier_activation=None)
    by_global.set_weights(fp32.get_weights())
    _check(by_global, policy, reference)
    # A per-model dtype overrides the global policy.
    assert keras_resnet.build(tiny[kind], input_shape=(16, 16, 3), dtype="float32").layers[1].compute_dtype == "float32"


@pytest.mark.parametrize("builder", [keras_resnet.ResNet20, lambda **kw: keras_resnet.WideResNet(10, 1, **kw)])
def test_builders_take_dtype_and_keep_logits_float32(builder):
    model = builder(dtype="mixed_bfloat16", classifier_activation=None)
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32" and model.output.dtype == "float32"


def test_trains_a_step_in_mixed_bfloat16(tiny_resnext):
    model = keras_resnet.build(tiny_resnext, input_shape=(16, 16, 3), dtype="mixed_bfloat16")
    before = [w.copy() for w in model.get_weights()]
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=False)
    loss = model.train_on_batch(X, np.array([1, 2]))
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("dtype", ["float31", 3])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match=rf"`dtype` must be .*received dtype={dtype!r}"):
        keras_resnet.build(BASIC, input_shape=(16, 16, 3), dtype=dtype)
