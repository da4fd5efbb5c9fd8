"""`Spec`: what a residual network is, as plain values. Widths, strides and where shortcuts project are derived
from the fields, never stored; `keras_resnet.build` turns a Spec into a Keras model.

Papers:
- He, Zhang, Ren, Sun 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385.
- He, Zhang, Ren, Sun 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027.
- Zagoruyko & Komodakis 2016, Wide Residual Networks, arXiv:1605.07146.
- Xie, Girshick, Dollar, Tu, He 2017, Aggregated Residual Transformations, arXiv:1611.05431.

Refinements (the `deep_stem` ... `zero_init_last` fields; timm's models are the reference):
- He, Zhang, Zhang, Zhang, Xie, Li 2019, Bag of Tricks for Image Classification, arXiv:1812.01187
  (ResNet-C deep stem, ResNet-D average-pool shortcut).
- Hu, Shen, Sun 2018, Squeeze-and-Excitation Networks, arXiv:1709.01507.
- Huang, Sun, Liu, Sedra, Weinberger 2016, Deep Networks with Stochastic Depth, arXiv:1603.09382.
- Goyal et al. 2017, Accurate, Large Minibatch SGD, arXiv:1706.02677 (zero-initialised last BN gamma).
- Bello et al. 2021, Revisiting ResNets (ResNet-RS), arXiv:2103.07579.

Output stride (dilated convolutions in place of the last strides): Chen, Papandreou, Schroff, Adam 2017, Rethinking
Atrous Convolution for Semantic Image Segmentation (DeepLabv3), arXiv:1706.05587; torchvision's
`resnet50(replace_stride_with_dilation=...)` and timm's `output_stride` are the reference.
"""

import collections
import dataclasses

from keras_resnet.checks import between, is_number, one_of, positive

BLOCKS = ("basic", "bottleneck")
STEMS = ("imagenet", "cifar")
SHORTCUTS = ("A", "B", "C", "none")
LAYOUTS = ("keras", "torchvision")
STEM_POOLS = ("max", "conv")
# Residual blocks in all, at most: ResNet-1202 has 600; a million would take hours to build and never fit in memory.
MAX_BLOCKS = 2000
# A level of the feature pyramid (`Spec.features`): timm's `feature_info` (num_chs, reduction, module) with KerasHub's
# level names.
Feature = collections.namedtuple("Feature", "level channels stride layer")

# He 2016 Fig. 4. A residual branch is `pre conv (bn relu conv)* end`, then the
# shortcut is added and `post` follows the addition. Each entry: (pre, end, post).
UNITS = {
    "a": ((), ("bn",), ("relu",)),  # original (He 2015): ReLU after addition
    "b": ((), (), ("bn", "relu")),  # BN after addition
    "c": ((), ("bn", "relu"), ()),  # ReLU before addition
    "d": (("relu",), ("bn",), ()),  # ReLU-only pre-activation
    "e": (("bn", "relu"), (), ()),  # full pre-activation (He 2016, "v2")
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a residual network is, as plain values.

    Attributes:
        blocks: residual blocks per stage, e.g. `(3, 4, 6, 3)` for ResNet-50. Stage `i` has stride 2 for `i > 0` and
            base width `width * 2**i`.
        block: `"basic"` (two 3x3 convs) or `"bottleneck"` (1x1, 3x3, 1x1; output 4x the base width).
        width: base width ("planes") of the first stage.
        widen: Wide ResNet factor `k` on the inner (3x3) width; may be fractional.
        groups: ResNeXt cardinality `C` of every 3x3 conv.
        group_width: ResNeXt `d`, channels per group in the first stage; `None` means `width * widen / groups`.
        stem: `"imagenet"` (7x7/2 conv, 3x3/2 max-pool) or `"cifar"` (3x3 conv).
        stem_width: output channels of the stem conv.
        unit: residual-unit order of He 2016 Fig. 4, `"a"` (original) to `"e"` (full pre-activation); see `UNITS`.
        shortcut: He 2015's options: `"A"` zero-pads new channels, `"B"` projects where the channel count changes,
            `"C"` projects in every block; `"none"` removes shortcuts (the plain networks). Where only the resolution
            changes, A and B subsample.
        dropout: dropout rate before the last conv of each block (Wide ResNet).
        shortcut_scale: a constant the shortcut is multiplied by before the addition (He 2016 s3.1, Table 1: 0.5 hurts
            optimisation); 1 is the identity. Parameter-free: counts and MACs do not change.
        layout: `"keras"` reproduces keras.applications (v1: stride on the first 1x1, bias on every conv, BN epsilon
            1.001e-5; pre-activation: TF-slim's stride in the *last* block of a stage with a subsampling shortcut,
            bias only on convs that no BN follows). `"torchvision"` is "ResNet v1.5": stride on the 3x3 of the first
            block, no conv bias, BN epsilon 1e-5, momentum 0.9 (torch 0.1), He-normal init.
        deep_stem: ResNet-C (He 2019; timm's "deep" stem): three 3x3 convs (widths `stem_width / 2`, `stem_width / 2`,
            `stem_width`, BN-ReLU between; the first strided on the ImageNet stem) in place of the one stem conv.
        stem_pool: `"max"` (3x3/2 max-pool) or `"conv"` (ResNet-RS: a 3x3/2 conv with BN-ReLU) after the ImageNet
            stem; `"conv"` needs a post-activation unit (a, b, c).
        avg_down: ResNet-D (He 2019): where a shortcut subsamples, a 2x2 average pool does it (followed by the
            projection's 1x1 at stride 1, or by option A's zero-padding) instead of a strided 1x1 or a subsampling.
        se_ratio: squeeze-and-excitation (Hu 2018) at the end of every residual branch (after its last conv and the
            activations that follow it), with `channels * se_ratio` hidden units rounded as timm's `SEModule` does
            (`se_width`); bias on both 1x1 convs. `None`: no SE. timm's SE-ResNets use 1/16, ResNet-RS 0.25.
        drop_path: stochastic depth (Huang 2016): block `l` of `L` drops its whole residual branch with probability
            `drop_path * l / L` during training (a Keras `Dropout` over the batch axis, which scales the kept branches
            by `1 / (1 - rate)`; identity in inference). The last block's rate.
        zero_init_last: Goyal 2017: the residual branch starts as zero: the gamma of the BN after its last conv is
            initialised to 0 (units a, c, d), or, where the branch ends in the conv (units b, e), that conv's kernel,
            as timm's pre-activation ResNets do.
        output_stride: the resolution's total reduction, input size / final feature size; `None`: the network's own
            (`reduction`: 32 for four stages on the ImageNet stem, 4 for three on the CIFAR stem). Half or a quarter
            of it keeps the last one or two halvings' resolution and dilates the 3x3 convs from there on (DeepLabv3;
            torchvision's `replace_stride_with_dilation`, timm's `output_stride` in (8, 16, 32)): the block that would
            have halved gets stride 1, its first 3x3 keeps the dilation before it, and every later 3x3 has twice
            that (torchvision's `previous_dilation`); a ResNet-D projection after that point is preceded by timm's
            2x2 average pool at stride 1 (`AvgPool2dSame`). Same weights; larger feature maps, more MACs.
    """

    blocks: tuple
    block: str = "bottleneck"
    width: int = 64
    widen: float = 1
    groups: int = 1
    group_width: int | None = None
    stem: str = "imagenet"
    stem_width: int = 64
    unit: str = "a"
    shortcut: str = "B"
    dropout: float = 0.0
    layout: str = "keras"
    shortcut_scale: float = 1.0
    deep_stem: bool = False
    stem_pool: str = "max"
    avg_down: bool = False
    se_ratio: float | None = None
    drop_path: float = 0.0
    zero_init_last: bool = False
    output_stride: int | None = None

    def __post_init__(self):
        blocks = self.blocks
        if isinstance(blocks, list):
            blocks = tuple(blocks)
            object.__setattr__(self, "blocks", blocks)
        if not isinstance(blocks, tuple) or not blocks or not all(is_number(n) and n > 0 for n in blocks):
            raise ValueError(f"`blocks` must be a non-empty tuple of positive integers; received blocks={blocks!r}")
        if sum(blocks) > MAX_BLOCKS:
            raise ValueError(f"`blocks` may hold at most {MAX_BLOCKS} blocks in all (ResNet-1202 has 600); received "
                             f"blocks={blocks!r} ({sum(blocks)} blocks)")
        one_of("block", self.block, BLOCKS)
        one_of("stem", self.stem, STEMS)
        one_of("unit", self.unit, tuple(UNITS))
        one_of("shortcut", self.shortcut, SHORTCUTS)
        one_of("layout", self.layout, LAYOUTS)
        for field in ("width", "groups", "stem_width"):
            positive(field, getattr(self, field))
        positive("widen", self.widen, (int, float))
        if self.group_width is not None:
            positive("group_width", self.group_width)
        between("dropout", self.dropout, 0, 1)
        positive("shortcut_scale", self.shortcut_scale, (int, float))
        if self.shortcut == "none" and self.shortcut_scale != 1:
            raise ValueError(f"A plain network (shortcut='none') has no shortcut to scale; received "
                             f"shortcut_scale={self.shortcut_scale!r}")
        self._check_refinements()
        inner = self.inner_width
        if inner < 1:
            raise ValueError(f"The 3x3 width (width {self.width} x widen {self.widen}) rounds to {inner} channels; "
                             f"it must be at least 1: received widen={self.widen!r}")
        if inner % self.groups:
            raise ValueError(f"The 3x3 width ({inner} = width {self.width} x widen {self.widen}) must be divisible "
                             f"by groups; received groups={self.groups}. Set `group_width` or a width divisible by "
                             f"{self.groups}.")
        if self.block == "basic" and self.stem_width % self.groups:
            raise ValueError(f"A basic block's first 3x3 conv is grouped, so stem_width must be divisible by groups; "
                             f"received stem_width={self.stem_width}, groups={self.groups}")

    def _check_refinements(self):
        for field in ("deep_stem", "avg_down", "zero_init_last"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"`{field}` must be True or False; received {field}={getattr(self, field)!r}")
        one_of("stem_pool", self.stem_pool, STEM_POOLS)
        if self.se_ratio is not None:
            positive("se_ratio", self.se_ratio, (int, float))
        between("drop_path", self.drop_path, 0, 1)
        allowed = self.output_strides
        if self.output_stride is not None and not (is_number(self.output_stride) and self.output_stride in allowed):
            raise ValueError(f"`output_stride` must be None or one of {list(allowed)} for this stem and "
                             f"{len(self.blocks)} stages; received output_stride={self.output_stride!r}")
        if self.deep_stem and self.stem_width % 2:
            raise ValueError(f"The deep stem's first convs have half the stem width, so stem_width must be even; "
                             f"received stem_width={self.stem_width}")
        if self.stem_pool == "conv" and (self.stem != "imagenet" or self.preact):
            raise ValueError(f"stem_pool='conv' replaces the ImageNet stem's max-pool and needs a post-activation "
                             f"unit (a, b, c); received stem={self.stem!r}, unit={self.unit!r}")
        if self.shortcut == "none":
            for field, off in (("avg_down", False), ("drop_path", 0), ("zero_init_last", False)):
                if getattr(self, field) != off:
                    raise ValueError(f"`{field}` acts on the shortcut or the residual branch beside it, and "
                                     f"shortcut='none' has none; received {field}={getattr(self, field)!r}")

    # Derived values; the two layouts' forks are one named property each (see `layout`).

    @property
    def preact(self):
        """Whether units start with an activation (He 2016 (d), (e)): no BN-ReLU in the stem, a final activation
        after the last stage, projections read the pre-activated input."""
        return bool(UNITS[self.unit][0])

    @property
    def slim(self):
        """Whether keras.applications' pre-activation layout applies, which follows TF-slim: the stride sits in
        the last block of a stage, every 3x3 is padded explicitly, and the first 1x1 keeps stride 1."""
        return self.layout == "keras" and self.preact

    @property
    def strided_conv(self):
        """Which conv of a block (0: the first) carries a stage's stride. keras.applications v1 strides the first
        1x1, as Caffe's ResNet did; "ResNet v1.5" (torchvision) and v2 stride the 3x3."""
        caffe = self.layout == "keras" and not self.preact
        return 0 if caffe or self.block == "basic" else 1

    def conv_bias(self, normalized):
        """Whether a conv has a bias, given whether a BatchNorm directly follows it: keras.applications v1 gives
        every conv one, its pre-activation (v2) layout only convs that no BN follows; torchvision none."""
        if self.layout == "torchvision":
            return False
        return not (self.preact and normalized)

    @property
    def bn_epsilon(self):
        return 1.001e-5 if self.layout == "keras" else 1e-5

    @property
    def bn_momentum(self):
        """Keras' convention (the moving average keeps `momentum`); torch's 0.1 is 0.9 here."""
        return 0.99 if self.layout == "keras" else 0.9

    @property
    def kernel_initializer(self):
        """The conv kernels' initializer, as a Keras identifier: Keras' default, or torchvision's
        `kaiming_normal_(mode="fan_out", nonlinearity="relu")`."""
        if self.layout == "keras":
            return "glorot_uniform"
        return {"class_name": "VarianceScaling",
                "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}}

    @property
    def inner_width(self):
        """Width of the first stage's 3x3 convs."""
        base = self.groups * self.group_width if self.group_width else self.width
        return int(round(base * self.widen))

    def widths(self, stage):
        """(3x3 width, output width) of a stage."""
        inner = self.inner_width * 2**stage
        out = self.width * 2**stage * 4 if self.block == "bottleneck" else inner
        return inner, out

    def se_width(self, channels):
        """Hidden units of the SE of a `channels`-wide branch: `channels * se_ratio` rounded to the nearest
        multiple of 8, at least 8 (timm's `make_divisible` with `round_limit=0`)."""
        return max(8, int(channels * self.se_ratio + 4) // 8 * 8)

    @property
    def depth(self):
        """Weighted layers, counted as the papers do (convs on the main path + dense)."""
        return sum(self.blocks) * (3 if self.block == "bottleneck" else 2) + 2

    @property
    def default_size(self):
        return 224 if self.stem == "imagenet" else 32

    @property
    def default_classes(self):
        return 1000 if self.stem == "imagenet" else 10

    @property
    def stem_stride(self):
        return 4 if self.stem == "imagenet" else 1

    @property
    def output_strides(self):
        """The allowed `output_stride`s: the network's own, half and a quarter of it, as far as its stages halve."""
        own = self.stem_stride * 2 ** (len(self.blocks) - 1)
        return tuple(own // 2**k for k in range(min(2, len(self.blocks) - 1) + 1))

    @property
    def reduction(self):
        """The total downsampling factor, input size / final feature size: `output_stride` or the network's own."""
        return self.output_stride or self.output_strides[0]

    @property
    def min_size(self):
        """Smaller inputs would vanish."""
        return self.reduction

    @property
    def stage_outputs(self):
        """Names of the layers that end each stage: `keras.Model(m.input, [m.get_layer(n).output for n in
        spec.stage_outputs])`. A feature pyramid's levels are `features` (`keras_resnet.pyramid`)."""
        names = [f"conv{s + 2}_block{n}_out" for s, n in enumerate(self.blocks)]
        if self.preact:  # the last stage is only normalised by the final activation
            names[-1] = "post_relu"
        return tuple(names)

    @property
    def features(self):
        """The feature pyramid, `{level: Feature(level, channels, stride, layer)}`, one level per stage: the last
        feature map at the stage's resolution, named `P{log2(stride)}` after the stride it has at the network's own
        output stride (KerasHub's `pyramid_outputs` keys: P2 ... P5 on the ImageNet stem, P0 ... P2 on the CIFAR
        stem), whatever `output_stride` makes of the actual `stride` (timm's `reduction`). The layer is the stage's
        output (`stage_outputs`), except where TF-slim's layout halves in a stage's last block: there it is that
        block's input."""
        levels, ends, last = {}, self.stage_outputs, len(self.blocks) - 1
        for stage, n in enumerate(self.blocks):
            layer, channels = ends[stage], self.widths(stage)[1]
            if self.slim and stage < last and n > 1:
                layer = f"conv{stage + 2}_block{n - 1}_out"
            elif self.slim and stage < last:  # its only block halves: the stem's or the previous stage's output
                stem = "pool1_pool" if self.stem == "imagenet" else ("conv1_3_conv" if self.deep_stem else "conv1_conv")
                layer, channels = (ends[stage - 1], self.widths(stage - 1)[1]) if stage else (stem, self.stem_width)
            stride = self.stem_stride * 2**stage
            level = f"P{stride.bit_length() - 1}"
            levels[level] = Feature(level, channels, min(stride, self.reduction), layer)
        return levels

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["blocks"] = list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or "blocks" not in d:
            raise ValueError(f"Spec.from_dict needs a dict with at least `blocks` (as Spec.to_dict writes); "
                             f"received {d!r}")
        fields = [f.name for f in dataclasses.fields(cls)]
        if unknown := set(d) - set(fields):
            raise ValueError(f"Unknown Spec fields {sorted(unknown)}; allowed: {fields}")
        return cls(**d)
