"""The architecture of every residual network, written once against a set of operations.

`network(ops, x, spec, top)` reads a `Spec` and calls `ops.conv`, `ops.bn`, ... Two interpreters run it:
`keras_ops.KerasLayers` creates Keras layers (`build`), `complexity.Counter` follows shapes and counts parameters
and multiply-accumulates, so the two always describe the same network.

Papers: He et al. 2015 (arXiv:1512.03385) Fig. 5 blocks and shortcut options A/B/C; He et al. 2016
(arXiv:1603.05027) Fig. 4 unit orders; Zagoruyko & Komodakis 2016 (arXiv:1605.07146) dropout between the convs;
Xie et al. 2017 (arXiv:1611.05431) grouped 3x3 convs; He et al. 2019 (arXiv:1812.01187) deep stem and
average-pooled shortcut; Hu et al. 2018 (arXiv:1709.01507) SE; Huang et al. 2016 (arXiv:1603.09382) drop path.
"""

import dataclasses

import keras

from keras_resnet.checks import is_number, one_of, positive
from keras_resnet.spec import UNITS

POOLINGS = (None, "avg", "max")


@dataclasses.dataclass(frozen=True)
class Top:
    """What ends the network: a classifier (`include_top`) or features, pooled or not."""

    include_top: bool = True
    pooling: str | None = None
    classes: int = 1000
    classifier_activation: object = "softmax"


def network(ops, x, spec, top):
    """The whole network: stem, stages of blocks, final activation, then `top`."""
    x = _stem(ops, x, spec)
    channels, total = spec.stem_width, sum(spec.blocks)
    for index, (stage, b, stride, dilations) in enumerate(stages(spec), 1):
        inner, out = spec.widths(stage)
        # Huang 2016: the drop rate grows linearly with depth, to spec.drop_path in the last block.
        x = block(ops, x, spec, channels=channels, inner=inner, out=out, stride=stride, dilations=dilations,
                  name=f"conv{stage + 2}_block{b + 1}", drop_path=spec.drop_path * index / total)
        channels = out
    x = activations(ops, x, UNITS[spec.unit][0], "post")
    if top.include_top:  # keras.applications: global average pooling, then the classifier
        x = ops.pool(x, kind="avg", name="avg_pool")
        return ops.dense(x, top.classes, activation=top.classifier_activation, name="predictions")
    if top.pooling:
        x = ops.pool(x, kind=top.pooling, name=f"{top.pooling}_pool")
    return x


def _stem(ops, x, spec):
    imagenet = spec.stem == "imagenet"
    if spec.deep_stem:  # ResNet-C: conv1_1, conv1_2 (half width, BN-ReLU each), then conv1_3
        for i in (1, 2):
            strided = imagenet and i == 1
            x = ops.conv(x, f"conv1_{i}", spec.stem_width // 2, 3, stride=2 if strided else 1,
                         bias=spec.conv_bias(normalized=True), pad=strided)
            x = activations(ops, x, ("bn", "relu"), f"conv1_{i}")
        x = ops.conv(x, "conv1_3", spec.stem_width, 3, bias=spec.conv_bias(normalized=not spec.preact))
    else:
        x = ops.conv(x, "conv1", spec.stem_width, 7 if imagenet else 3, stride=2 if imagenet else 1,
                     bias=spec.conv_bias(normalized=not spec.preact), pad=imagenet)
    if not spec.preact:
        x = activations(ops, x, ("bn", "relu"), "conv1")
    if imagenet and spec.stem_pool == "conv":  # ResNet-RS: a strided 3x3 conv in place of the max-pool
        x = ops.conv(x, "pool1", spec.stem_width, 3, stride=2, bias=spec.conv_bias(normalized=True), pad=True)
        x = activations(ops, x, ("bn", "relu"), "pool1")
    elif imagenet:
        x = ops.maxpool(x, "pool1", size=3, stride=2, pad=1)
    return x


def stages(spec):
    """(stage, block, stride, dilations) for every block. Stage i > 0 halves the resolution in its first block, or,
    in keras.applications' pre-activation (TF-slim) layout, stage i < last halves it in its last block. Once the
    resolution is reduced `spec.reduction` times, a block that would halve it keeps it and the dilation doubles
    (torchvision's `_make_layer(dilate=True)`, TF-slim's `stack_blocks_dense(output_stride)`): `dilations` is
    (that of the block's first 3x3, that of its others and its ResNet-D shortcut), the first still the dilation
    before the block (torchvision's `previous_dilation`, timm's `first_dilation`)."""
    last_stage = len(spec.blocks) - 1
    reduction, dilation = spec.stem_stride, 1
    for stage, n in enumerate(spec.blocks):
        for b in range(n):
            halves = (b == n - 1 and stage < last_stage) if spec.slim else (b == 0 and stage > 0)
            dilate = halves and reduction == spec.reduction
            stride = 2 if halves and not dilate else 1
            reduction *= stride
            previous, dilation = dilation, dilation * (2 if dilate else 1)
            yield stage, b, stride, (previous, dilation)


def activations(ops, x, names, prefix, last_name=None, zero_gamma=False):
    """Applies "bn"/"relu" in order, named `{prefix}_bn`, `{prefix}_relu`; `zero_gamma`: a first BN starts with
    gamma 0 (`Spec.zero_init_last`)."""
    for i, act in enumerate(names):
        name = last_name if last_name and i == len(names) - 1 else f"{prefix}_{act}"
        x = ops.bn(x, name, zero_gamma=zero_gamma and i == 0) if act == "bn" else ops.relu(x, name)
    return x


def block(ops, x, spec, *, channels, inner, out, stride, name, dilations=(1, 1), drop_path=0.0):
    """One residual block (He 2015 Fig. 5, ordered as He 2016 Fig. 4 `spec.unit`) from `channels` to `out`
    channels, `inner` wide inside; `dilations`: of its first 3x3 conv and of the others (`stages`); `drop_path`:
    its stochastic-depth rate."""
    pre, end, post = UNITS[spec.unit]
    y = activations(ops, x, pre, f"{name}_preact")
    residual = shortcut(ops, x, y, spec, channels=channels, out=out, stride=stride, name=name, dilation=dilations[1])
    convs = ((1, inner), (3, inner), (1, out)) if spec.block == "bottleneck" else ((3, inner), (3, out))
    first_3x3 = [kernel for kernel, _ in convs].index(3)
    for i, (kernel, filters) in enumerate(convs):
        last = i == len(convs) - 1
        if last and spec.dropout:
            y = ops.dropout(y, spec.dropout, f"{name}_dropout")
        acts = end if last else ("bn", "relu")
        normalized = acts[:1] == ("bn",)
        s = stride if i == spec.strided_conv else 1
        zero = last and spec.zero_init_last  # the BN after the branch's last conv starts at gamma 0, or the conv
        # Explicit pads are symmetric, as in torch.
        y = ops.conv(y, f"{name}_{i + 1}", filters, kernel, stride=s, groups=spec.groups if kernel == 3 else 1,
                     bias=spec.conv_bias(normalized=normalized), pad=kernel > 1 and (s > 1 or spec.slim),
                     zero=zero and not normalized, dilation=dilations[i > first_3x3] if kernel > 1 else 1)
        y = activations(ops, y, acts, f"{name}_{i + 1}", zero_gamma=zero)
    if spec.se_ratio:
        y = squeeze_excite(ops, y, channels=out, hidden=spec.se_width(out), name=f"{name}_se")
    if drop_path:
        y = ops.drop_path(y, drop_path, f"{name}_drop_path")
    if residual is not None and spec.shortcut_scale != 1:
        residual = ops.scale(residual, spec.shortcut_scale, f"{name}_0_scale")
    merge = f"{name}_add" if post else f"{name}_out"
    y = ops.add(residual, y, merge) if residual is not None else ops.identity(y, merge)
    return activations(ops, y, post, f"{name}_add", last_name=f"{name}_out")


def shortcut(ops, x, preactivated, spec, *, channels, out, stride, name, dilation=1):
    """He 2015's shortcut of the block input `x` from `channels` to `out` channels: a 1x1 projection (option B
    where the channels change, C always), the identity subsampled and zero-padded (option A, and B where only the
    resolution changes), or `None` for a plain network. Pre-activation units project their `preactivated` input.
    ResNet-D: a 2x2 average pool subsamples first; in a dilated stage (`dilation` > 1) the projection's pool keeps
    the resolution (timm's `downsample_avg`)."""
    if spec.shortcut == "none":
        return None
    pooled = spec.avg_down and stride > 1
    if spec.shortcut == "C" or (spec.shortcut == "B" and channels != out):
        x = preactivated if spec.preact else x
        if spec.avg_down and (pooled or dilation > 1):
            x = ops.avgpool(x, f"{name}_0_pool", size=2, stride=stride)
        x = ops.conv(x, f"{name}_0", out, 1, stride=1 if spec.avg_down else stride,
                     bias=spec.conv_bias(normalized=not spec.preact))
        return x if spec.preact else ops.bn(x, f"{name}_0_bn")
    if channels > out:
        raise ValueError(f"Shortcut option A cannot reduce channels ({channels} -> {out}) in {name}; use shortcut 'B'.")
    if pooled:
        x = ops.avgpool(x, f"{name}_0_pool", size=2, stride=2)
    elif stride > 1:
        x = ops.maxpool(x, f"{name}_0_pool", size=1, stride=stride)
    return ops.pad_channels(x, out - channels, f"{name}_0_pad") if out > channels else x


def squeeze_excite(ops, x, *, channels, hidden, name):
    """Hu 2018: channel weights from the global average, 1x1 down to `hidden`, ReLU, 1x1 back to `channels`,
    sigmoid; both 1x1 convs with a bias (timm's `SEModule`)."""
    s = ops.pool(x, kind="avg", name=f"{name}_squeeze", keepdims=True)
    s = ops.relu(ops.conv(s, f"{name}_reduce", hidden, 1, bias=True), f"{name}_relu")
    s = ops.sigmoid(ops.conv(s, f"{name}_expand", channels, 1, bias=True), f"{name}_gate")
    return ops.multiply(x, s, f"{name}_excite")


def input_shape_of(spec, top, input_shape, input_tensor=None):
    """Checks keras.applications' input arguments for `spec`; returns the input shape as given (channels where
    Keras' image data format puts them) and as (H, W, C)."""
    one_of("pooling", top.pooling, POOLINGS)
    one_of("include_top", top.include_top, (True, False))
    positive("classes", top.classes)
    channels_last = keras.config.image_data_format() == "channels_last"
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = spec.default_size if top.include_top else None
        input_shape = (size, size, 3) if channels_last else (3, size, size)
    layout = "(height, width, channels)" if channels_last else "(channels, height, width)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must have rank 3, {layout}; received input_shape={input_shape!r}")
    input_shape = tuple(input_shape)
    hwc = input_shape if channels_last else (*input_shape[1:], input_shape[0])
    if not all(d is None or (is_number(d) and d > 0) for d in hwc[:2]) or not is_number(hwc[2]) or hwc[2] <= 0:
        raise ValueError(f"`input_shape` must be {layout} with positive integers (height and width may be None); "
                         f"received input_shape={input_shape!r}")
    if any(d is not None and d < spec.min_size for d in hwc[:2]):
        raise ValueError(f"Input size must be at least {spec.min_size}x{spec.min_size} for this network (it "
                         f"downsamples {spec.min_size}x); received input_shape={input_shape!r}")
    if top.include_top and None in hwc:
        raise ValueError(f"`include_top=True` needs a fixed input size; received input_shape={input_shape!r}. "
                         f"Use include_top=False (with `pooling`) for variable-size inputs.")
    return input_shape, hwc
