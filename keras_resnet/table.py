"""The block-spec table: every named network as one row (`SPECS["ResNet50"]` is what `keras_resnet.ResNet50`
builds), and the parametric families that give the CIFAR rows.

ImageNet rows follow He et al. 2015 Table 1 (ResNet-200: He et al. 2016); `layout="keras"` rows reproduce
keras.applications, ResNeXt and Wide ResNet rows use torchvision's layout, as their papers' published weights
do. The refinement rows are named and laid out as timm's `resnet50d` ... `seresnext101_32x4d`, `resnetrs50/101`.
"""

import dataclasses

from keras_resnet.checks import did_you_mean, positive
from keras_resnet.spec import MAX_BLOCKS, Spec

@dataclasses.dataclass(frozen=True)
class DepthRule:
    """A family's depth rule: depth = `per_block` * n + `offset` with n >= 1 blocks per stage, counted as the
    papers count layers; `name` is the family's in messages, `block` its block kind."""

    name: str
    per_block: int
    offset: int
    block: str

    def matches(self, depth):
        return (isinstance(depth, int) and not isinstance(depth, bool) and depth > self.offset
                and (depth - self.offset) % self.per_block == 0)

    def examples(self):
        return ", ".join(str(self.per_block * n + self.offset) for n in range(1, 6))

    def blocks(self, depth):
        """n, the blocks per stage of the family's `depth`-layer network."""
        if not self.matches(depth):
            raise ValueError(f"{self.name} depth must be {self} with n >= 1 ({self.examples()}, ...); "
                             f"received depth={depth!r}")
        n = (depth - self.offset) // self.per_block
        if 3 * n > MAX_BLOCKS:  # every family here has three stages
            raise ValueError(f"{self.name} depth must be at most {self.per_block * (MAX_BLOCKS // 3) + self.offset} "
                             f"(Spec.blocks holds at most {MAX_BLOCKS} blocks); received depth={depth!r}")
        return n

    def __str__(self):
        return f"{self.per_block}n+{self.offset}"


CIFAR_RESNET = DepthRule("CIFAR ResNet", 6, 2, "basic")
PREACT_RESNET = DepthRule("Pre-activation ResNet", 9, 2, "bottleneck")
WRN = DepthRule("WRN", 6, 4, "basic")


def cifar_resnet(depth, shortcut="A", unit="a"):
    """He 2015 CIFAR ResNet-`depth` (6n+2): 3 stages of n basic blocks, widths 16/32/64."""
    n = CIFAR_RESNET.blocks(depth)
    return Spec((n,) * 3, "basic", width=16, stem="cifar", stem_width=16, unit=unit, shortcut=shortcut,
                layout="torchvision")


def preact_resnet(depth, unit="e"):
    """He 2016 pre-activation bottleneck ResNet-`depth` (9n+2): outputs 64/128/256."""
    n = PREACT_RESNET.blocks(depth)
    return Spec((n,) * 3, "bottleneck", width=16, stem="cifar", stem_width=16, unit=unit, layout="torchvision")


def wide_resnet(depth, widen, dropout=0.0):
    """Zagoruyko & Komodakis WRN-`depth`-`widen` (6n+4): pre-activation basic blocks, widths 16k/32k/64k for the
    widening factor k = `widen`, which may be fractional."""
    n = WRN.blocks(depth)
    positive("widen", widen, (int, float))
    return Spec((n,) * 3, "basic", width=16, widen=widen, stem="cifar", stem_width=16, unit="e",
                dropout=dropout, layout="torchvision")


def resnext29(cardinality, group_width):
    """Xie 2017 CIFAR ResNeXt-29 `cardinality`x`group_width`d: 3 stages of 3 bottleneck blocks, outputs 256/512/1024."""
    positive("cardinality", cardinality)
    positive("group_width", group_width)
    return Spec((3, 3, 3), "bottleneck", width=64, groups=cardinality, group_width=group_width,
                stem="cifar", stem_width=64, layout="torchvision")


# CIFAR rows are the networks of each paper's CIFAR tables: He 2015 Table 6, He 2016
# Table 3, Zagoruyko & Komodakis 2016 Table 4, Xie 2017 Table 7.
SPECS = {
    "ResNet18": Spec((2, 2, 2, 2), "basic"),
    "ResNet34": Spec((3, 4, 6, 3), "basic"),
    "ResNet50": Spec((3, 4, 6, 3)),
    "ResNet101": Spec((3, 4, 23, 3)),
    "ResNet152": Spec((3, 8, 36, 3)),
    "ResNet200": Spec((3, 24, 36, 3)),
    "ResNet18V2": Spec((2, 2, 2, 2), "basic", unit="e"),
    "ResNet34V2": Spec((3, 4, 6, 3), "basic", unit="e"),
    "ResNet50V2": Spec((3, 4, 6, 3), unit="e"),
    "ResNet101V2": Spec((3, 4, 23, 3), unit="e"),
    "ResNet152V2": Spec((3, 8, 36, 3), unit="e"),
    "ResNet200V2": Spec((3, 24, 36, 3), unit="e"),
    "ResNeXt50_32x4d": Spec((3, 4, 6, 3), groups=32, group_width=4, layout="torchvision"),
    "ResNeXt101_32x8d": Spec((3, 4, 23, 3), groups=32, group_width=8, layout="torchvision"),
    "ResNeXt101_64x4d": Spec((3, 4, 23, 3), groups=64, group_width=4, layout="torchvision"),
    "WideResNet50_2": Spec((3, 4, 6, 3), widen=2, layout="torchvision"),
    "WideResNet101_2": Spec((3, 4, 23, 3), widen=2, layout="torchvision"),
    "ResNet20": cifar_resnet(20),
    "ResNet32": cifar_resnet(32),
    "ResNet44": cifar_resnet(44),
    "ResNet56": cifar_resnet(56),
    "ResNet110": cifar_resnet(110),
    "ResNet1202": cifar_resnet(1202),
    "PreActResNet164": preact_resnet(164),
    "PreActResNet1001": preact_resnet(1001),
    "WRN16_4": wide_resnet(16, 4),
    "WRN16_8": wide_resnet(16, 8),
    "WRN28_10": wide_resnet(28, 10),
    "WRN40_4": wide_resnet(40, 4),
    "ResNeXt29_8x64d": resnext29(8, 64),
    "ResNeXt29_16x64d": resnext29(16, 64),
    # Refinements: ResNet-D = deep stem + average-pool shortcut (He 2019); SE reduction 16 (Hu 2018);
    # ResNet-RS (Bello 2021) adds the strided stem conv and SE 0.25.
    "ResNet50D": Spec((3, 4, 6, 3), deep_stem=True, avg_down=True, layout="torchvision"),
    "ResNet101D": Spec((3, 4, 23, 3), deep_stem=True, avg_down=True, layout="torchvision"),
    "ResNet152D": Spec((3, 8, 36, 3), deep_stem=True, avg_down=True, layout="torchvision"),
    "ResNet200D": Spec((3, 24, 36, 3), deep_stem=True, avg_down=True, layout="torchvision"),
    "SEResNet50": Spec((3, 4, 6, 3), se_ratio=1 / 16, layout="torchvision"),
    "SEResNeXt50_32x4d": Spec((3, 4, 6, 3), groups=32, group_width=4, se_ratio=1 / 16, layout="torchvision"),
    "SEResNeXt101_32x4d": Spec((3, 4, 23, 3), groups=32, group_width=4, se_ratio=1 / 16, layout="torchvision"),
    "ResNetRS50": Spec((3, 4, 6, 3), deep_stem=True, stem_pool="conv", avg_down=True, se_ratio=0.25,
                       layout="torchvision"),
    "ResNetRS101": Spec((3, 4, 23, 3), deep_stem=True, stem_pool="conv", avg_down=True, se_ratio=0.25,
                        layout="torchvision"),
}


def get_spec(name_or_spec):
    """The `Spec` of a table row (by name) or a `Spec` itself."""
    if isinstance(name_or_spec, Spec):
        return name_or_spec
    if isinstance(name_or_spec, str) and name_or_spec in SPECS:
        return SPECS[name_or_spec]
    raise ValueError(f"Unknown model {name_or_spec!r}.{did_you_mean(name_or_spec, SPECS)} Known models: "
                     f"{', '.join(SPECS)}; or pass a keras_resnet.Spec.")
