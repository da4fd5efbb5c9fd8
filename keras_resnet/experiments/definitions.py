"""The experiments as data: the networks each trains (table rows with `Spec` changes) and the
claims it tests, each declared before any run as a contrast of one metric between networks,
positive in the paper's direction (`keras_resnet.experiments.statistics`).

- `degradation`: He et al. 2015 (arXiv:1512.03385) s4.2, Fig. 6: plain-20/56 against ResNet-20/56.
- `unit_orders`: He et al. 2016 (arXiv:1603.05027) Fig. 4, Table 2: residual-unit orders (a)-(e).
- `shortcut_scale`: He et al. 2016 s3, Table 1: the shortcut scaled by 0.5.
- `width_depth`: Zagoruyko & Komodakis 2016 (arXiv:1605.07146) Tables 4-5: width against depth at
  fixed parameter budgets, the networks solved by the tuner's budget solver.
"""

import dataclasses

from keras_resnet.checks import did_you_mean
from keras_resnet.table import SPECS
from keras_resnet.tuning.budget import format_count, plan


@dataclasses.dataclass(frozen=True)
class Network:
    """One network of an experiment: a table row with `Spec` field changes."""

    label: str
    model: str
    changes: dict = dataclasses.field(default_factory=dict)
    depth: int | None = None  # for figures against depth
    budget: int | None = None  # the width-against-depth experiment's parameter budget

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

    `defaults` are the command's defaults (about an hour on a 2-core CPU with 3 seeds on
    Fashion-MNIST); `differs` says what differs from the paper and why that could change the outcome.
    """

    name: str
    title: str
    source: str
    networks: tuple
    claims: tuple
    differs: str
    figure: str = "curves"  # "curves": error per epoch; "depth": test error against depth per budget
    defaults: dict = dataclasses.field(default_factory=dict)

    def network(self, label):
        return next(n for n in self.networks if n.label == label)


SHORT_RUN = ("{epochs} epochs of batch {batch_size} on {subset} images of {dataset}, against the paper's "
             "182-200 epochs of batch 128 on CIFAR-10's 50k images: short runs measure how fast a network "
             "starts to learn more than where it ends. The smaller batch, with the learning rate scaled to it "
             "(`Recipe.at_batch_size`), gives 4x the steps for the same examples; at batch 128 (22 steps an "
             "epoch) the 56-layer networks diverge in their first epoch.")
SHORT_RUN_DEFAULTS = dict(epochs=5, subset=3000, batch_size=32)


def _degradation():
    nets = tuple(Network(f"{kind}-{d}", f"ResNet{d}", {"shortcut": "none"} if kind == "plain" else {}, depth=d)
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
        SHORT_RUN + " Depths 20 and 56 are the paper's own pair; 110 would triple the cost.",
        defaults=dict(SHORT_RUN_DEFAULTS, recipe="he2015"),
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
        SHORT_RUN + " One depth, 20 (basic blocks) instead of 110 and 164: He 2016's differences grow with "
        "depth (the signal crosses more units), so they may be too small to resolve at 20.",
        defaults=dict(SHORT_RUN_DEFAULTS, recipe="he2016"),
    )


def _shortcut_scale():
    nets = tuple(Network(f"ResNet-{d}" + (" x0.5" if scale != 1 else ""), f"ResNet{d}",
                         {"shortcut_scale": scale} if scale != 1 else {}, depth=d)
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
        SHORT_RUN + " Option A shortcuts are scaled where they subsample too.",
        defaults=dict(SHORT_RUN_DEFAULTS, recipe="he2016"),
    )


WIDTH_DEPTH_BUDGETS = (150_000, 600_000)
WIDTH_DEPTH_DEPTHS = (16, 40)


def _width_depth(budgets=WIDTH_DEPTH_BUDGETS, depths=WIDTH_DEPTH_DEPTHS, input_shape=(32, 32, 1), classes=10):
    nets = []
    for budget in budgets:
        for depth in depths:
            p = plan(budget, depth, input_shape=input_shape, classes=classes)
            row = "WRN16_4"  # any WRN row: the changes give the solved depth and width
            changes = {k: v for k, v in p.spec.to_dict().items() if v != SPECS[row].to_dict()[k]}
            nets.append(Network(f"WRN-{depth}-{p.widen:.2f} @{format_count(budget)}", row, changes, depth, budget))
    label = {(n.budget, n.depth): n.label for n in nets}
    shallow, deep = min(depths), max(depths)
    small, large = min(budgets), max(budgets)
    claims = tuple(Claim(f"At {format_count(b)} parameters, the wider WRN-{shallow} is as accurate as the deeper "
                         f"WRN-{deep} or more (test error)", "test_error",
                         {label[b, deep]: 1, label[b, shallow]: -1},
                         "Table 4: WRN-40-4 (8.9M) 4.97% vs WRN-16-8 (11.0M) 4.81%; WRN-40-8 (35.7M) 4.66% vs "
                         "WRN-28-10 (36.5M) 4.17%") for b in budgets)
    claims += tuple(Claim(f"Widening helps at depth {d}: {format_count(large)} beats {format_count(small)} "
                          f"(test error)", "test_error", {label[small, d]: 1, label[large, d]: -1},
                          "Table 4: WRN-40-1 6.85% -> 40-2 5.33% -> 40-4 4.97%; WRN-16-8 4.81% -> 16-10 4.56%")
                    for d in depths)
    claims += tuple(Claim(f"At {format_count(b)} parameters the wider network trains faster per epoch (seconds)",
                          "epoch_seconds", {label[b, deep]: 1, label[b, shallow]: -1},
                          "Table 5: WRN-40-4 trains 8x faster than pre-act ResNet-1001 at similar size")
                    for b in budgets)
    return Experiment(
        "width_depth", "Width against depth at fixed parameter budgets",
        "Zagoruyko & Komodakis 2016, Tables 4-5 (CIFAR-10)", tuple(nets), claims,
        SHORT_RUN + " Budgets of 0.15M and 0.6M (the paper: 0.6M-36M) and WRN's recipe with dropout 0.3. "
        "Short schedules favour wide networks for a reason WRN does not give: fewer sequential layers "
        "start learning sooner.",
        figure="depth", defaults=dict(SHORT_RUN_DEFAULTS, recipe="wrn"),
    )


EXPERIMENTS = {e.name: e for e in (_degradation(), _unit_orders(), _shortcut_scale(), _width_depth())}


def get(name):
    """The `Experiment` called `name`; a ValueError naming close names otherwise."""
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    raise ValueError(f"Unknown experiment {name!r}.{did_you_mean(name, EXPERIMENTS)} Known experiments: "
                     f"{', '.join(EXPERIMENTS)}")
