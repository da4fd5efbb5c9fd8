"""torchvision and timm checkpoints converted to Keras models of the torchvision layout ("ResNet v1.5").

`from_torchvision` converts torchvision's ResNets (He et al. 2015, arXiv:1512.03385), ResNeXts (Xie et al. 2016,
arXiv:1611.05431) and Wide ResNets (Zagoruyko and Komodakis 2016, arXiv:1605.07146); `from_timm` timm's, and its
refinements: ResNet-D (He et al. 2018, arXiv:1812.01187), SE (Hu et al. 2017, arXiv:1709.01507) and ResNet-RS
(Bello et al. 2021, arXiv:2103.07579). `load_torchvision` loads a checkpoint into a model already built. PyTorch
is needed only to read `.pth` files.
"""

import collections.abc
import os
import re

import keras
import numpy as np

from keras_resnet.builder import build
from keras_resnet.table import SPECS

# torchvision builder -> table row.
TORCHVISION = {
    "resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "resnext50_32x4d": "ResNeXt50_32x4d", "resnext101_32x8d": "ResNeXt101_32x8d",
    "resnext101_64x4d": "ResNeXt101_64x4d", "wide_resnet50_2": "WideResNet50_2", "wide_resnet101_2": "WideResNet101_2",
}

# timm model name -> table row: timm's ResNet class shares torchvision's layout. timm's resnetv2 models
# (pre-activation) name their tensors differently and are not converted.
TIMM = {
    "resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "resnet200": "ResNet200", "resnext50_32x4d": "ResNeXt50_32x4d",
    "resnext101_32x8d": "ResNeXt101_32x8d", "resnext101_64x4d": "ResNeXt101_64x4d",
    "wide_resnet50_2": "WideResNet50_2", "wide_resnet101_2": "WideResNet101_2",
    "resnet50d": "ResNet50D", "resnet101d": "ResNet101D", "resnet152d": "ResNet152D", "resnet200d": "ResNet200D",
    "seresnet50": "SEResNet50", "seresnext50_32x4d": "SEResNeXt50_32x4d", "seresnext101_32x4d": "SEResNeXt101_32x4d",
    "resnetrs50": "ResNetRS50", "resnetrs101": "ResNetRS101",
}


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError("Reading a PyTorch checkpoint file needs PyTorch (`pip install torch`; the CPU build "
                          "suffices). Without it, pass the state dict as a mapping of numpy arrays, e.g. "
                          "from `safetensors.numpy.load_file`.") from e
    return torch


def _read_file(path):
    """The object a `.pth` file holds, read with `weights_only=True` (never arbitrary code); ValueError naming the
    file if it cannot be read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        sources = [source for source, archs in (("torchvision", TORCHVISION), ("timm", TIMM)) if path in archs]
        hint = f" ({path!r} names {sources[0]}'s architecture, not a checkpoint file)" if sources else ""
        raise ValueError(f"No checkpoint file at {path!r}{hint}")
    torch = _import_torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load's many errors all mean "not a readable checkpoint"
        raise ValueError(
            f"Cannot read {path!r} as a PyTorch checkpoint ({type(e).__name__} from torch.load): the file is "
            f"damaged (e.g. cut short), is not a file written by torch.save, or holds pickled objects other than "
            f"tensors, such as a whole model, which weights_only=True refuses to load (save "
            f"model.state_dict() instead)") from e


def _state_dict(checkpoint):
    """A name -> numpy array mapping from a state dict or a checkpoint file."""
    source = ""
    if isinstance(checkpoint, (str, os.PathLike)):
        source = f" in {os.fspath(checkpoint)!r}"
        checkpoint = _read_file(checkpoint)
    for key in ("state_dict", "model"):  # training checkpoints wrap the weights
        if isinstance(checkpoint, collections.abc.Mapping) and isinstance(checkpoint.get(key), collections.abc.Mapping):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, collections.abc.Mapping) or not all(isinstance(k, str) for k in checkpoint):
        what = type(checkpoint).__name__ + (" with names that are not strings"
                                            if isinstance(checkpoint, collections.abc.Mapping) else "")
        raise ValueError(f"Expected a state dict (a mapping of tensor names to tensors) or the path of a "
                         f"torchvision or timm checkpoint; received a {what}{source}")
    return {k.removeprefix("module."): v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
            for k, v in checkpoint.items() if not k.endswith("num_batches_tracked")}


def _guess_arch(state, archs=TORCHVISION):
    """The builder of `archs` (default torchvision's; or `TIMM`) whose tensors `state` has, or None."""
    stages = [re.fullmatch(r"layer(\d)\.\d+\.conv1\.weight", name) for name in state]
    blocks = collections.Counter(int(m.group(1)) for m in stages if m)
    first = state.get("layer1.0.conv2.weight")
    if first is None or first.ndim != 4 or 0 in first.shape:
        return None
    found = dict(blocks=tuple(blocks[i] for i in range(1, 5)), inner_width=first.shape[0],
                 groups=first.shape[0] // first.shape[1],
                 block="bottleneck" if "layer1.0.conv3.weight" in state else "basic")
    # timm's refinements, told apart by their tensors: a stem Sequential, a conv where
    # torchvision's downsample has its BN, a strided stem conv, the SE's hidden width.
    se = state.get("layer1.0.se.fc1.weight")
    found.update(deep_stem="conv1.0.weight" in state, stem_pool="conv" if "maxpool.0.weight" in state else "max",
                 avg_down=getattr(state.get("layer1.0.downsample.1.weight"), "ndim", 0) == 4,
                 se_ratio=None if se is None else se.shape[0])
    for arch, row in archs.items():
        spec = SPECS[row]
        layout = {k: getattr(spec, k) for k in found}
        if spec.se_ratio is not None:
            layout["se_ratio"] = spec.se_width(spec.widths(0)[1])
        if layout == found:
            return arch
    return None


# timm's names for the refinements' layers: the deep stem's Sequential (ReLUs at 2 and 5),
# ResNet-RS's stem conv in place of the max-pool, the SE's two 1x1 convs.
_TIMM_NAMES = {"conv1_1_conv": "conv1.0", "conv1_1_bn": "conv1.1", "conv1_2_conv": "conv1.3",
               "conv1_2_bn": "conv1.4", "conv1_3_conv": "conv1.6", "pool1_conv": "maxpool.0",
               "pool1_bn": "maxpool.1", "se_reduce_conv": "se.fc1", "se_expand_conv": "se.fc2"}


def _torch_prefix(layer_name, avg_down=False):
    """torchvision's (and timm's) module name for a Keras layer of the torchvision layout.
    `avg_down`: timm's ResNet-D shortcut, `downsample = (pool, conv, bn)`."""
    fixed = {"conv1_conv": "conv1", "conv1_bn": "bn1", "predictions": "fc"}
    if layer_name in fixed or layer_name in _TIMM_NAMES:
        return fixed.get(layer_name) or _TIMM_NAMES[layer_name]
    match = re.fullmatch(r"conv(\d)_block(\d+)_(\d|se_reduce|se_expand)_(conv|bn)", layer_name)
    if match is None:
        raise ValueError(f"Layer {layer_name!r} has no torchvision counterpart; torchvision weights fit the "
                         f"ImageNet rows built with layout='torchvision'.")
    stage, block, i, kind = match.groups()
    if i == "0":
        module = f"downsample.{(0 if kind == 'conv' else 1) + avg_down}"
    else:
        module = _TIMM_NAMES.get(f"{i}_{kind}", f"{kind}{i}")
    return f"layer{int(stage) - 1}.{int(block) - 1}.{module}"


def _to_keras(value, shape):
    """A torch tensor as the Keras variable of `shape`, or None if the shapes differ: conv kernels
    (out, in/groups, kh, kw) -> (kh, kw, in/groups, out), dense (out, in) -> (in, out)."""
    if value.shape != _torch_shape(shape):
        return None
    return value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T


def _torch_shape(shape):
    shape = tuple(shape)
    return (shape[3], shape[2], *shape[:2]) if len(shape) == 4 else shape[::-1]


# Keras variables in order, as torch parameter names.
_TORCH_PARAMS = {
    keras.layers.Conv2D: ("weight", "bias"),
    keras.layers.BatchNormalization: ("weight", "bias", "running_mean", "running_var"),
    keras.layers.Dense: ("weight", "bias"),
}


def load_torchvision(model, checkpoint):
    """Loads a torchvision state dict into a keras_resnet model of the torchvision layout.

    Every tensor must find its variable and every variable its tensor, with the same shape; otherwise nothing is
    loaded, and a ValueError names the first tensor that is missing, extra or of the wrong shape.

    Args:
        model: a `keras.Model` built by keras_resnet with `layout="torchvision"`, with or without the top (without
            it, the checkpoint's `fc` is ignored), and with `include_preprocessing=True` if it is to take raw images
            (the torchvision layout's mode is "torch"). To build the model from a torchvision name, use
            `from_torchvision`.
        checkpoint: as for `from_torchvision`.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"load_torchvision expects `model`, a keras.Model built with layout='torchvision', then "
                         f"the checkpoint; received model={_short(model)} (a {type(model).__name__}). To build "
                         f"a model from a torchvision name, call keras_resnet.from_torchvision(checkpoint, arch).")
    state = _state_dict(checkpoint)

    def mismatch(what):
        guesses = [f"{source}'s {guess}" for source, archs in (("torchvision", TORCHVISION), ("timm", TIMM))
                   if (guess := _guess_arch(state, archs))]
        return f"The checkpoint does not fit model {model.name!r}: {what}." + (
            f" It looks like {guesses[0]}." if guesses else "")

    values = _matching_values(model, state, mismatch)
    has_top = any(layer.name == "predictions" for layer in model.layers)
    extra = sorted(k for k in set(state) - set(values) if has_top or not k.startswith("fc."))
    if extra:
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        raise ValueError(mismatch(f"the model has no variable for tensor(s) {', '.join(map(repr, extra[:5]))}{more}"))
    for variable, value in values.values():
        variable.assign(value)


def _short(value, limit=60):
    """`repr(value)` on one line, cut to `limit` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _matching_values(model, state, mismatch):
    """tensor name -> (the model's variable, the tensor in Keras' shape), for every variable of `model`; ValueError
    (its text from `mismatch(what)`) at the first that does not fit."""
    # ResNet-D's average pool shifts timm's downsample Sequential by one.
    avg_down = any(isinstance(layer, keras.layers.AveragePooling2D) for layer in model.layers)
    values = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_prefix(layer.name, avg_down)
        # By base class: grouped convs are keras_resnet.layers.Conv2D, a keras Conv2D.
        params = next((names for cls, names in _TORCH_PARAMS.items() if isinstance(layer, cls)), None)
        if params is None:
            raise ValueError(mismatch(f"layer {layer.name!r} is a {type(layer).__name__}, which has no torchvision "
                                      f"counterpart"))
        for variable, param in zip(layer.weights, params):
            name = f"{prefix}.{param}"
            if name not in state:
                raise ValueError(mismatch(f"it has no tensor {name!r}"))
            values[name] = (variable, _to_keras(state[name], variable.shape))
            if values[name][1] is None:
                raise ValueError(mismatch(f"tensor {name!r} has shape {state[name].shape}, the model needs "
                                          f"{_torch_shape(variable.shape)}"))
    return values


def from_torchvision(checkpoint, arch=None, **kwargs):
    """Converts a torchvision ResNet, ResNeXt or Wide ResNet checkpoint to Keras.

    Args:
        checkpoint: a torchvision state dict (`model.state_dict()`, tensors or numpy arrays) or the path of a `.pth`
            file, read with `torch.load(..., weights_only=True)` (never running pickled code). Checkpoints that wrap
            it under "state_dict" or "model", or whose names start with "module." (DataParallel), are accepted.
        arch: the torchvision builder, one of `keras_resnet.torch_checkpoints.TORCHVISION`; default: recognised from
            the tensors.
        **kwargs: builder arguments (`include_top`, `input_shape`, `pooling`, `classifier_activation`, `name`,
            `include_preprocessing`...). `classes` defaults to the checkpoint's (a fine-tuned `fc` may have any
            number).

    Returns:
        The `keras.Model` (`keras_resnet.build(row, layout="torchvision")`) with the checkpoint's weights. Inputs are
        images preprocessed in "torch" mode, `keras_resnet.preprocess_input(x, mode="torch")`, or with
        `include_preprocessing=True` raw 0-255 images, which the model normalises so itself.
        `model.save_weights("resnet50.weights.h5")` writes a file that `keras_resnet.build("ResNet50",
        layout="torchvision", weights=...)` loads without PyTorch.

    Example:
        >>> model = keras_resnet.from_torchvision("resnet50-11ad3fa6.pth", "resnet50")
    """
    return _convert(checkpoint, arch, TORCHVISION, "torchvision", kwargs)


def from_timm(checkpoint, arch=None, **kwargs):
    """Converts a timm ResNet checkpoint (`timm.create_model(arch).state_dict()`) to Keras.

    timm's `ResNet` class has torchvision's tensor names and layout ("ResNet v1.5"), plus its refinements: the
    deep stem (`conv1.0` ... `conv1.6`), ResNet-D's `downsample = (avg pool, conv, bn)`, SE modules (`se.fc1`,
    `se.fc2`) and ResNet-RS's stem conv (`maxpool.0`, `maxpool.1`). Drop path has no tensors.

    Args:
        checkpoint: as for `from_torchvision` (a state dict or a `.pth` file read with `weights_only=True`; timm's
            `.safetensors` files: pass `safetensors.numpy.load_file(path)`).
        arch: the timm model name, one of `keras_resnet.torch_checkpoints.TIMM`; default: recognised from the tensors.
        **kwargs: builder arguments, as for `from_torchvision`.

    Returns:
        The `keras.Model` of the matching table row (torchvision layout) with the checkpoint's weights. Inputs:
        `keras_resnet.preprocess_input(x, mode="torch")` (timm's ImageNet mean and std for all of `TIMM`), or raw
        0-255 images with `include_preprocessing=True`; timm's
        evaluation size and crop (`timm.data.resolve_data_config`) are not recorded here.

    Example:
        >>> model = keras_resnet.from_timm("resnet50d.pth", "resnet50d")
    """
    return _convert(checkpoint, arch, TIMM, "timm", kwargs)


def _convert(checkpoint, arch, archs, source, kwargs):
    """`from_torchvision` / `from_timm`: `archs` maps the `source` library's names to table rows."""
    state = _state_dict(checkpoint)
    if arch is None:
        arch = _guess_arch(state, archs)
        if arch is None:
            raise ValueError(f"The checkpoint is none of {source}'s {', '.join(archs)}; pass `arch` "
                             f"to see which tensor differs.")
    if not isinstance(arch, str) or arch not in archs:
        raise ValueError(f"`arch` must be one of {list(archs)}; received arch={arch!r}")
    if "weights" in kwargs:
        raise ValueError(f"from_{source} takes its weights from the checkpoint; do not pass `weights`.")
    if kwargs.get("include_top", True) and "fc.weight" in state and state["fc.weight"].ndim == 2:
        kwargs.setdefault("classes", state["fc.weight"].shape[0])
    kwargs.setdefault("name", arch)
    model = build(archs[arch], layout="torchvision", **kwargs)
    load_torchvision(model, state)
    return model
