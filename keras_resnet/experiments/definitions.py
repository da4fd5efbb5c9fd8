"""The experiments as data: the networks each trains (table rows with `Spec` changes) and the
claims it tests, each declared before any run as a contrast of one metric between networks,
positive in the paper's direction (`keras_resnet.experiments.statistics`).

- `degradation`: He et al. 2015 (arXiv:1512.03385) s4.2, Fig. 6: plain-20/56 against ResNet-20/56.
- `unit_orders`: He et al. 2016 (arXiv:1603.05027) Fig. 4, Table 2: residual-unit orders (a)-(e).
- `shortcut_scale`: He et al. 2016 s3, Table 1: the shortcut scaled by 0.5.

Wide ResNet's width against depth is the tuner's study (`keras-resnet tune`), with the same verdicts.
"""

import dataclasses

from keras_resnet.checks import did_you_mean
from keras_resnet.table import SPECS


@dataclasses.dataclass(frozen=True)
class Network:
    """One network of an experiment: a table row with `Spec` field changes."""

    label: str
    model: str
    changes: dict = dataclasses.field(default_factory=dict)

    @property
    def spec(self):
        return SPECS[self.model].replace(**self.changes)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's claim as a contrast of one metric, declared before the runs.

    Attributes:
        statement: the claim, in words.
        metric: `train_error`, `test_error` (%, final epoch) or `epoch_seconds`.
        weights: network label -> weight, the weighted sum positive in the paper's direction
            (`{"plain-56": 1, "plain-20": -1}` on training error: plain-56's is higher).
        paper: the paper's number(s) for the same comparison.
    """

    statement: str
    metric: str
    weights: dict
    paper: str


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What an experiment trains, what it tests, and its default settings.

    `defaults` are the command's defaults; `differs` says what differs from the paper and why that
    could change the outcome.
    """

    name: str
    title: str
    source: str
    networks: tuple
    claims: tuple
    differs: str
    defaults: dict = dataclasses.field(default_factory=dict)

    def network(self, label):
        return next(n for n in self.networks if n.label == label)


REGIME = ("{epochs} epochs of batch {batch_size} on {subset} training images of {dataset} in {precision}, against "
          "the paper's 182-200 epochs on CIFAR-10's 50k images: a short schedule measures where a network is after "
          "a few passes over the data more than where it ends.")
# Every training image but the 10% held out for validation, and the fastest configuration of this CPU
# (docs/benchmark.md): batch 128 and, by default, the machine's mixed precision.
REGIME_DEFAULTS = dict(epochs=8, subset=None, batch_size=128)


def _degradation():
    nets = tuple(Network(f"{kind}-{d}", f"ResNet{d}", {"shortcut": "none"} if kind == "plain" else {})
                 for kind in ("plain", "ResNet") for d in (20, 56))
    return Experiment(
        "degradation", "Degradation: plain against residual networks",
        "He et al. 2015, s4.2 and Fig. 6 (CIFAR-10)", nets,
        (Claim("The deeper plain network has the higher training error (the degradation problem)",
               "train_error", {"plain-56": 1, "plain-20": -1},
               "Fig. 6 left: plain-56's training error above plain-20's throughout training"),
         Claim("The deeper plain network has the higher test error", "test_error", {"plain-56": 1, "plain-20": -1},
               "Fig. 6 left: plain-56's test error above plain-20's"),
         Claim("With shortcuts the deeper network is at least as good (test error)", "test_error",
               {"ResNet-20": 1, "ResNet-56": -1}, "Table 6: ResNet-20 8.75% vs ResNet-56 6.97% (+1.78)"),
         Claim("Shortcuts remove the degradation at depth 56 (training error)", "train_error",
               {"plain-56": 1, "ResNet-56": -1}, "Fig. 6: ResNet-56 trains below plain-56")),
        REGIME + " Depths 20 and 56 are the paper's own pair; 110 would triple the cost.",
        defaults=dict(REGIME_DEFAULTS, recipe="he2015"),
    )


UNIT_NAMES = {"a": "original", "b": "BN after addition", "c": "ReLU before addition",
              "d": "ReLU-only pre-activation", "e": "full pre-activation"}


def _unit_orders():
    nets = tuple(Network(f"({u}) {UNIT_NAMES[u]}", "ResNet20", {"unit": u} if u != "a" else {})
                 for u in UNIT_NAMES)
    label = {u: n.label for u, n in zip(UNIT_NAMES, nets)}
    paper = {"a": (6.61, 5.93), "b": (8.17, 6.50), "c": (7.84, 6.14), "d": (6.71, 5.91), "e": (6.37, 5.46)}

    def versus(worse, better):
        return (f"Table 2 / Fig. 4, CIFAR-10 test error, ResNet-110: ({worse}) {paper[worse][0]} vs ({better}) "
                f"{paper[better][0]}; ResNet-164: {paper[worse][1]} vs {paper[better][1]}")

    claims = tuple(Claim(f"Full pre-activation (e) beats ({u}) (test error)", "test_error",
                         {label[u]: 1, label["e"]: -1}, versus(u, "e")) for u in "abcd")
    claims += tuple(Claim(f"({u}) {UNIT_NAMES[u]} is worse than the original (a) (test error)", "test_error",
                          {label[u]: 1, label["a"]: -1}, versus(u, "a")) for u in "bc")
    return Experiment(
        "unit_orders", "Residual-unit orders (a)-(e)", "He et al. 2016, Fig. 4 and Table 2 (CIFAR-10)", nets, claims,
        REGIME + " One depth, 20 (basic blocks) instead of 110 and 164: He 2016's differences grow with "
        "depth (the signal crosses more units), so they may be too small to resolve at 20.",
        defaults=dict(REGIME_DEFAULTS, recipe="he2016"),
    )


def _shortcut_scale():
    nets = tuple(Network(f"ResNet-{d}" + (" x0.5" if scale != 1 else ""), f"ResNet{d}",
                         {"shortcut_scale": scale} if scale != 1 else {})
                 for d in (20, 56) for scale in (1.0, 0.5))
    gap = lambda d: {f"ResNet-{d} x0.5": 1, f"ResNet-{d}": -1}
    return Experiment(
        "shortcut_scale", "Shortcut scaling by a constant 0.5", "He et al. 2016, s3.1 and Table 1 (CIFAR-10)", nets,
        (Claim("Scaling the shortcut by 0.5 hurts at depth 20 (test error)", "test_error", gap(20),
               "not measured at 20; Table 1 measures ResNet-110 only"),
         Claim("Scaling the shortcut by 0.5 hurts at depth 56 (test error)", "test_error", gap(56),
               "Table 1, ResNet-110: identity 6.61% vs constant scaling 0.5 12.35% (+5.74), or training fails"),
         Claim("Scaling the shortcut hurts optimisation (training error) at depth 56", "train_error", gap(56),
               "s3.1: the scaled shortcut gives a higher training loss (Fig. 3)"),
         Claim("It hurts more in the deeper network (difference of the two gaps, training error)", "train_error",
               {**gap(56), **{k: -v for k, v in gap(20).items()}},
               "s3.1, Eq. 4: the product of the scales over L units vanishes as L grows")),
        REGIME + " Option A shortcuts are scaled where they subsample too.",
        defaults=dict(REGIME_DEFAULTS, recipe="he2016"),
    )


EXPERIMENTS = {e.name: e for e in (_degradation(), _unit_orders(), _shortcut_scale())}


def get(name):
    """The `Experiment` called `name`; a ValueError naming close names otherwise."""
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    raise ValueError(f"Unknown experiment {name!r}.{did_you_mean(name, EXPERIMENTS)} Known experiments: "
                     f"{', '.join(EXPERIMENTS)}")
