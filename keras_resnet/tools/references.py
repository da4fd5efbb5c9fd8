"""The references `keras-resnet benchmark` times beside keras_resnet's networks, each a step function
(one SGD training step or one inference batch per call, on the batch the keras_resnet network gets):

- "keras": the keras.applications network of the same name, built under the same dtype policy;
- "stock": the same network on stock Keras layers (`keras_resnet.transforms.with_stock_layers`);
- "folded": inference only, its batch norms folded into the convolutions (`transforms.fold_batch_norm`);
- "torch": the torchvision counterpart, when torch and torchvision import.
"""

import os
import sys
import time
import types

import keras
import numpy as np

from keras_resnet.builder import build
from keras_resnet.checks import positive
from keras_resnet.table import SPECS
from keras_resnet.torch_checkpoints import TORCHVISION
from keras_resnet.transforms import fold_batch_norm, with_stock_layers

REFERENCES = ("keras", "stock", "torch", "folded")
# The torchvision counterpart of each table row that has one (ResNet50 -> resnet50).
TORCHVISION_NAMES = {row: arch for arch, row in TORCHVISION.items()}


def keras_step(model, x, y, mode, jit_compile=False, loss="sparse_categorical_crossentropy"):
    """One training step (SGD) or one inference batch of a Keras model."""
    if mode == "infer":
        return lambda: model.predict_on_batch(x)
    model.compile(keras.optimizers.SGD(0.01), loss, jit_compile=jit_compile)
    return lambda: model.train_on_batch(x, y)


def import_torchvision():
    """torch and torchvision, or `None`. torchvision's CUDA wheels import their pure-Python models on a
    CPU-only torch once the C++ meta registrations are skipped."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's spinning threads slow TensorFlow's
    try:
        import torch

        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        import torchvision
    except Exception:  # noqa: BLE001 - any import failure means "no reference"
        return None
    return torch, torchvision


def torch_step(torch, net, x, y, mode, precision):
    """One training step (SGD) or one inference batch of a torch module, on NHWC `x`."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "mixed_bfloat16")
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
    y = torch.from_numpy(y).long()
    if mode == "infer":
        net.eval()

        def infer():
            with torch.inference_mode(), autocast:
                return net(x)

        return infer
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        optimizer.zero_grad()
        with autocast:
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()

    return train


def reference_steps(ours, label, name, spec, batch, mode, precision, references, jit_compile=False,
                    torch_vision=None):
    """`(labels, steps)`: kind ("ours", "keras", ...) -> printed label, and printed label -> step function,
    of keras_resnet's network `ours` (built from `spec` under `precision`, named `label` in the rows, `name`
    in the table or None) and of its `references` (any of `REFERENCES`; one it has none of is skipped), on
    `batch`: `(x, y)`, NHWC images and integer labels. `torch_vision`: from `import_torchvision`, or None.
    """
    x, y = batch
    labels = {"ours": f"{label} keras_resnet"}
    models = {"ours": ours}
    if "keras" in references and name and hasattr(keras.applications, name) and spec == SPECS[name]:
        before = keras.config.dtype_policy()
        keras.mixed_precision.set_global_policy(precision)  # keras.applications models take no dtype
        try:
            models["keras"] = getattr(keras.applications, name)(weights=None, input_shape=x.shape[1:])
        finally:
            keras.mixed_precision.set_global_policy(before)
        labels["keras"] = f"{name} keras.applications"
    if "folded" in references and mode == "infer":
        models["folded"], labels["folded"] = fold_batch_norm(ours), f"{label} BN folded into convs"
    if "stock" in references:
        models["stock"], labels["stock"] = with_stock_layers(ours), f"{label} stock Keras layers"
    steps = {labels[kind]: keras_step(model, x, y, mode, jit_compile) for kind, model in models.items()}
    tv_name = TORCHVISION_NAMES.get(name)
    if "torch" in references and torch_vision and tv_name and hasattr(torch_vision[1].models, tv_name):
        torch, torchvision = torch_vision
        net = getattr(torchvision.models, tv_name)(num_classes=spec.default_classes)
        labels["torch"] = f"{tv_name} torchvision"
        steps[labels["torch"]] = torch_step(torch, net, x, y, mode, precision)
    return labels, steps


def keras_application(name):
    """The keras.applications builder `name`; ValueError if there is none."""
    reference = getattr(keras.applications, name, None) if isinstance(name, str) else None
    if reference is None:
        raise ValueError(f"keras.applications has no {name!r}; build times compare ResNet50/101/152 and V2")
    return reference


def build_times(name, repeats=3):
    """`(keras_resnet seconds, keras.applications seconds)` to build `name` (weights=None), interleaved
    `repeats` times; the fastest of each."""
    positive("repeats", repeats)
    reference = keras_application(name)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, make in enumerate((lambda: build(name), lambda: reference(weights=None))):
            keras.backend.clear_session()
            start = time.perf_counter()
            make()
            best[i] = min(best[i], time.perf_counter() - start)
    keras.backend.clear_session()
    return tuple(best)
