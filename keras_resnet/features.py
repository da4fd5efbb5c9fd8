"""Feature pyramids: every network of the table as a backbone whose outputs are its stages' features.

The levels follow KerasHub's `pyramid_outputs` (a dict `{"P2": ..., "P5": ...}`, level = log2 of the stride), their
channels and strides timm's `feature_info` (`num_chs`, `reduction`), both known from the spec without building;
`levels` selects some, as torchvision's `IntermediateLayerGetter(return_layers=...)` and timm's `out_indices` do.
Smaller output strides (`Spec.output_stride`: DeepLabv3, Chen et al. 2017, arXiv:1706.05587) dilate the last stages.
"""

import dataclasses

import keras

from keras_resnet.builder import build, recursion_limit
from keras_resnet.complexity import with_changes
from keras_resnet.spec import Spec
from keras_resnet.table import get_spec


def feature_info(model, **changes):
    """The feature levels of a network, from its spec alone (no model is built).

    Args:
        model: a name in `keras_resnet.SPECS` or a `keras_resnet.Spec`.
        **changes: `Spec` fields to override, e.g. `output_stride=16`.

    Returns:
        `{level: Feature(level, channels, stride, layer)}`, one level per stage (`Spec.features`): "P2" ... "P5" on the
        ImageNet stem, "P0" ... "P2" on the CIFAR stem. A level of an `input_size`-wide input is
        `ceil(input_size / stride)` wide; `layer` names the Keras layer that gives it.

    Example:
        >>> keras_resnet.feature_info("ResNet50", output_stride=16)["P5"]
        Feature(level='P5', channels=2048, stride=16, layer='conv5_block3_out')
    """
    return with_changes(get_spec(model), changes).features


def pyramid(model, levels=None, **kwargs):
    """A backbone in one call: the network without its top, its outputs a dict of feature levels (KerasHub style).

    Args:
        model: a name in `keras_resnet.SPECS` or a `keras_resnet.Spec`.
        levels: the levels to return, e.g. `["P3", "P4", "P5"]` (see `feature_info`); default all.
        **kwargs: `keras_resnet.build`'s arguments (`weights`, `input_shape`, `input_tensor`, `dtype`, `name`,
            `include_preprocessing`) and `Spec` fields, e.g. `output_stride=16`. `include_top` and `pooling` may only
            be left out (or be False and None): the levels are unpooled feature maps.

    Returns:
        A `keras.Model` whose outputs are `{level: features}`, channels as `feature_info` gives them.

    Example:
        >>> backbone = keras_resnet.pyramid("ResNet50", ["P3", "P4", "P5"], output_stride=16, input_shape=(512, 512, 3))
        >>> backbone(images)["P5"].shape  # (batch, 32, 32, 2048)
    """
    for argument, allowed in (("include_top", False), ("pooling", None)):
        if kwargs.get(argument, allowed) is not allowed:
            raise ValueError(f"A pyramid's outputs are the stages' unpooled features, without the top: "
                             f"`{argument}` must be {allowed} or left out; received {argument}={kwargs[argument]!r}")
    fields = {f.name for f in dataclasses.fields(Spec)}
    info = feature_info(model, **{k: v for k, v in kwargs.items() if k in fields})
    levels = [levels] if isinstance(levels, str) else list(info) if levels is None else levels
    try:
        unknown = [level for level in levels if level not in info]
    except TypeError:  # not iterable, or unhashable levels
        unknown = [levels]
    if unknown or not levels:
        raise ValueError(f"`levels` must be None or some of {list(info)}; received levels={levels!r}"
                         + (f" ({', '.join(map(repr, unknown))} is not a level of this network)" if unknown else ""))
    kwargs.update(include_top=False, pooling=None)
    backbone = build(model, **kwargs)
    outputs = {level: backbone.get_layer(info[level].layer).output for level in dict.fromkeys(levels)}
    with recursion_limit(1000 + 30 * sum(get_spec(model).blocks)):
        return keras.Model(backbone.input, outputs, name=backbone.name)
