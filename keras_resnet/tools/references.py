"""The references `keras-resnet benchmark` times beside keras_resnet's networks.

- "keras": the keras.applications network of the same name (ResNet50/101/152 and V2),
  built under the same dtype policy;
- "stock": the same network on stock Keras layers (`keras_resnet.transforms.with_stock_layers`);
- "folded": inference only, the same network with its batch norms folded into the
  convolutions (`keras_resnet.transforms.fold_batch_norm`);
- "torch": the torchvision counterpart, when torch and torchvision import.

Each reference is a step function: one training step (SGD, cross-entropy) or one
inference batch per call, on the batch the keras_resnet network gets.
"""

import contextlib
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


@contextlib.contextmanager
def global_policy(policy):
    """Builds keras.applications models (which take no dtype) under `policy`."""
    before = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def keras_step(model, x, y, mode, jit_compile=False):
    """One training step (SGD) or one inference batch of a Keras model."""
    if mode == "infer":
        return lambda: model.predict_on_batch(x)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", jit_compile=jit_compile)
    return lambda: model.train_on_batch(x, y)


def import_torchvision():
    """torch and torchvision, or `None`. torchvision's wheels built for CUDA import their
    pure-Python models on a CPU-only torch once the C++ meta registrations are skipped.

    torch's OpenMP threads spin while waiting; next to TensorFlow's threads in one
    process, or on a shared machine, spinning threads slow it down many times over, so
    unless `OMP_WAIT_POLICY` is set, they wait passively.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
    """The step functions of keras_resnet's network `ours` and of its references.

    Args:
        ours: the keras_resnet model built from `spec` under `precision`.
        label: how the rows name it; `name`: its table name, or None for a Spec.
        batch: `(x, y)`, NHWC images and integer labels.
        references: any of `REFERENCES`; a reference the network has none of is skipped.
        torch_vision: `(torch, torchvision)` from `import_torchvision`, or None.

    Returns:
        `(labels, steps)`: reference kind ("ours", "keras", ...) -> printed label, and
        printed label -> step function.
    """
    x, y = batch
    labels = {"ours": f"{label} keras_resnet"}
    models = {"ours": ours}
    if "keras" in references and name and hasattr(keras.applications, name) and spec == SPECS[name]:
        with global_policy(precision):
            models["keras"] = getattr(keras.applications, name)(weights=None, input_shape=x.shape[1:])
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
    """Seconds to build `name` (weights=None) with keras_resnet and with
    keras.applications, interleaved `repeats` times; the fastest of each.

    Returns:
        `(keras_resnet seconds, keras.applications seconds)`.
    """
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
