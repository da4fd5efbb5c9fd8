"""`keras_resnet.build`'s arguments (keras_resnet/builder.py): input shapes and tensors,
the top, dtype policies and mixed precision, and one clear error for each bad argument."""

import keras
import numpy as np
import pytest

import keras_resnet as kr

BASIC = kr.Spec((1, 1), "basic", width=4, stem="cifar", stem_width=4)
X = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")


@pytest.mark.parametrize("shape", [(None, None, 3), (48, 80, 1), (40, 40, 4), (None, 64, 3)])
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_any_input_size_without_top(shape, pooling):
    model = kr.ResNet18(include_top=False, pooling=pooling, input_shape=shape)
    h, w = 64 if shape[0] is None else shape[0], 96 if shape[1] is None else shape[1]
    x = np.random.default_rng(0).uniform(size=(1, h, w, shape[2])).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == ((1, 512) if pooling else (1, -(-h // 32), -(-w // 32), 512))
    if pooling:
        assert model.layers[-1].name == f"{pooling}_pool"


def test_input_tensor():
    tensor = keras.Input((40, 40, 3))
    model = kr.build("ResNet20", input_tensor=tensor, classes=7)
    assert len(model.inputs) == 1 and model.inputs[0] is tensor and model.output_shape == (None, 7)
    # A tensor that feeds the network through other layers: the model starts where it does.
    images = keras.Input((40, 40, 3))
    scaled = keras.layers.Rescaling(1 / 255)(images)
    model = kr.build("ResNet20", input_tensor=scaled)
    assert len(model.inputs) == 1 and model.inputs[0] is images and isinstance(model.layers[1], keras.layers.Rescaling)


def test_classifier_activation_and_name():
    logits = kr.build("ResNet20", classifier_activation=None, name="mine")
    assert logits.get_layer("predictions").activation.__name__ == "linear" and logits.name == "mine"
    assert kr.build(BASIC).name == "resnet" and kr.build("ResNet20").name == "resnet20"


@pytest.mark.parametrize("kwargs,message", [
    (dict(pooling="mean", include_top=False), r"`pooling` must be one of \[None, 'avg', 'max'\]; received pooling='mean'"),
    (dict(include_top="yes"), r"`include_top` must be one of \[True, False\]; received include_top='yes'"),
    (dict(classes=0), r"`classes` must be a positive integer; received classes=0"),
    (dict(classes=-3), r"received classes=-3"),
    (dict(input_shape=(32, 32)), r"`input_shape` must have rank 3, \(height, width, channels\); received input_shape=\(32, 32\)"),
    (dict(input_shape=(32, 32, 3, 1)), r"rank 3.*received input_shape=\(32, 32, 3, 1\)"),
    (dict(input_shape=(32, 32, None), include_top=False), r"positive integers.*received input_shape=\(32, 32, None\)"),
    (dict(input_shape=(2, 32, 3)), r"at least 4x4 .*received input_shape=\(2, 32, 3\)"),
    (dict(input_shape=(None, None, 3)), r"`include_top=True` needs a fixed input size; received input_shape=\(None, None, 3\)"),
    (dict(input_tensor=np.zeros((1, 32, 32, 3))), r"`input_tensor` must be None or a tensor"),
    (dict(classifier_activation="softmaxx"), r"`classifier_activation` must be None, a Keras activation name.*"
                                             r"received classifier_activation='softmaxx'"),
    (dict(name=""), r"`name` must be a non-empty string or None; received name=''"),
    (dict(dtype="float31"), r"`dtype` must be None, a float dtype.*received dtype='float31'"),
    (dict(dtype=3), r"`dtype` must be .*received dtype=3"),
    (dict(dtype="int32"), r"received dtype='int32'"),
    (dict(weights="no/such/file.weights.h5"), r"`weights` must be None, 'imagenet' or the path of an existing weights file; received weights='no/such/file.weights.h5'"),
    (dict(blocks=(3, 3, 0)), r"received blocks=\(3, 3, 0\)"),
    (dict(se_ratio=0), r"`se_ratio` must be a positive number; received se_ratio=0"),
    (dict(depth=20), r"Unknown arguments \['depth'\]"),
    (dict(width=4096), r"This network would have [\d,]+ parameters .*the limit is 1,000,000,000"),
])
def test_build_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kr.build("ResNet20", **kwargs)


def test_imagenet_input_too_small():
    with pytest.raises(ValueError, match=r"at least 32x32 .*received input_shape=\(16, 16, 3\)"):
        kr.build("ResNet50", include_top=False, input_shape=(16, 16, 3))


# Mixed precision -----------------------------------------------------------------------

KINDS = ("basic", "resnext", "preact")
# Largest logit error of half-precision compute, relative to the largest logit: float16
# keeps 11 significant bits, bfloat16 8 (measured: at most 0.06% and 0.45%).
RELATIVE_ERROR = {"mixed_float16": 0.005, "mixed_bfloat16": 0.02}


@pytest.fixture
def tiny(tiny_resnext):
    return {"basic": BASIC, "resnext": tiny_resnext, "preact": BASIC.replace(unit="e")}


@pytest.fixture
def global_policy():
    """Sets the global policy for one test, then restores it."""
    before = keras.config.dtype_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(before)


def _check(model, policy, reference):
    """`model` computes in `policy` on float32 weights, and its logits are the float32
    model's `reference` to half precision. (Compared as logits: a tiny random network's
    softmax is close to uniform whatever its weights.)"""
    compute = keras.DTypePolicy(policy).compute_dtype
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(c.compute_dtype == compute and c.variable_dtype == "float32" for c in convs)
    assert all(w.dtype == "float32" for w in model.weights)
    y = model.predict_on_batch(X)
    assert model.output.dtype == "float32" and y.dtype == np.float32
    scale = np.abs(reference).max()
    np.testing.assert_allclose(y, reference, rtol=0, atol=RELATIVE_ERROR[policy] * scale)
    assert np.ptp(reference, axis=-1).min() > 5 * RELATIVE_ERROR[policy] * scale  # the logits differ by more


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", KINDS)
def test_global_policy_and_dtype_argument(global_policy, tiny, policy, kind):
    fp32 = kr.build(tiny[kind], input_shape=(16, 16, 3), classifier_activation=None)
    reference = fp32.predict_on_batch(X)
    by_argument = kr.build(tiny[kind], input_shape=(16, 16, 3), dtype=policy, classifier_activation=None)
    by_argument.set_weights(fp32.get_weights())
    _check(by_argument, policy, reference)
    global_policy(policy)
    by_global = kr.build(tiny[kind], input_shape=(16, 16, 3), classifier_activation=None)
    by_global.set_weights(fp32.get_weights())
    _check(by_global, policy, reference)
    # A per-model dtype overrides the global policy.
    assert kr.build(tiny[kind], input_shape=(16, 16, 3), dtype="float32").layers[1].compute_dtype == "float32"


@pytest.mark.parametrize("builder", [kr.ResNet20, lambda **kw: kr.WideResNet(10, 1, **kw)])
def test_builders_take_dtype_and_keep_logits_float32(builder):
    model = builder(dtype="mixed_bfloat16", classifier_activation=None)
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32" and model.output.dtype == "float32"


@pytest.mark.parametrize("unit", ["a", "e"])
def test_bfloat16_batch_norms_on_part_blocks_of_channels_and_their_relus_compute_in_float32(unit):
    """On TensorFlow, a bfloat16 batch norm over channels that do not fill whole blocks of 16 is slow: such
    a batch norm, and a ReLU right after it, compute in float32; the rest in bfloat16, to the float32 logits."""
    spec = kr.Spec((1, 1), "basic", width=24, stem="cifar", stem_width=16, unit=unit)  # 16, then 24 and 48
    fp32 = kr.build(spec, input_shape=(16, 16, 3), classifier_activation=None)
    model = kr.build(spec, input_shape=(16, 16, 3), dtype="mixed_bfloat16", classifier_activation=None)
    model.set_weights(fp32.get_weights())
    _check(model, "mixed_bfloat16", fp32.predict_on_batch(X))

    def after_part_block_norm(layer):
        source = layer.input._keras_history.operation
        return isinstance(source, keras.layers.BatchNormalization) and source.output.shape[-1] == 24

    norms = {layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
             and layer.output.shape[-1] == 24}
    relus = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Activation)
             and after_part_block_norm(layer)}
    # (a): the block's two and its shortcut's, and the first's ReLU (the last follows the addition); (e): the block's
    # first and the next stage's pre-activation, each with its ReLU.
    assert (len(norms), len(relus)) == {"a": (3, 1), "e": (2, 2)}[unit]
    float32 = {layer.name for layer in model.layers[1:] if layer.compute_dtype == "float32"}
    assert float32 == norms | relus | {"predictions"}
    half = kr.build(spec, input_shape=(16, 16, 3), dtype="mixed_float16")  # only bfloat16's kernel is slow
    assert {layer.name for layer in half.layers[1:] if layer.compute_dtype == "float32"} == {"predictions"}


def test_float32_batch_norm_and_relu_pairs_change_outputs_not_at_all_and_gradients_by_rounding(monkeypatch):
    """A ReLU commutes with rounding to bfloat16: computing it in float32, before the next conv's cast, gives
    the outputs of a bfloat16 ReLU after the batch norm's cast. The gradients differ by bfloat16 rounding
    only (where a ReLU feeds two convs, the block's and its shortcut's, their gradients now add in float32):
    far less than bfloat16's own distance from float32."""
    import tensorflow as tf

    from keras_resnet import keras_ops

    spec = kr.Spec((1, 1), "basic", width=24, stem="cifar", stem_width=16, unit="e")
    paired = kr.build(spec, input_shape=(16, 16, 3), dtype="mixed_bfloat16")
    monkeypatch.setattr(keras_ops, "bfloat16_in_float32", lambda dtype, channels: False)
    unpaired = kr.build(spec, input_shape=(16, 16, 3), dtype="mixed_bfloat16")
    assert [layer.name for layer in unpaired.layers[1:] if layer.compute_dtype == "float32"] == ["predictions"]
    unpaired.set_weights(paired.get_weights())
    fp32 = kr.build(spec, input_shape=(16, 16, 3))
    fp32.set_weights(paired.get_weights())

    @tf.function  # as Keras trains: a graph, where TensorFlow fuses a batch norm with its ReLU
    def forward_backward(model):
        with tf.GradientTape() as tape:
            y = model(X, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 11.0))
        return [y] + tape.gradient(loss, model.trainable_weights)

    (y, *grads), (y_unpaired, *grads_unpaired) = forward_backward(paired), forward_backward(unpaired)
    np.testing.assert_array_equal(y, y_unpaired)
    _, *grads_fp32 = forward_backward(fp32)
    flat = [np.concatenate([np.ravel(g) for g in gs]) for gs in (grads, grads_unpaired, grads_fp32)]
    # Measured: 3% of the distance between bfloat16's and float32's gradients.
    assert np.linalg.norm(flat[0] - flat[1]) < 0.25 * np.linalg.norm(flat[1] - flat[2])


def test_trains_a_step_in_mixed_bfloat16(tiny_resnext):
    model = kr.build(tiny_resnext, input_shape=(16, 16, 3), dtype="mixed_bfloat16")
    before = [w.copy() for w in model.get_weights()]
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=False)
    loss = model.train_on_batch(X, np.array([1, 2]))
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
