"""The study's outputs: `results.csv`, `results.png` and `report.md`, pure functions of the result
rows (one dict per trial and seed, keys `COLUMNS`; errors in percent).

Each of Wide ResNet's conclusions (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Tables 4 and 5)
is a `Conclusion` of `Comparison`s between two networks, positive in the paper's direction. A
comparison's difference is measured per seed (every network trains with every seed, on that seed's
data order), so it gets a verdict from the 95% interval over the seeds, and a power line where it
stays unresolved, with the statistics and words of `keras_resnet.experiments.statistics`.
"""

import dataclasses
import itertools
import json
import os
import statistics as stats

from keras_resnet.cli.figures import figure
from keras_resnet.cli.files import write_csv, write_text
from keras_resnet.experiments.statistics import (MEASURED, MIN_SEEDS, RULE, SEEDS_TO_RESOLVE, estimate, measured,
                                                 power_note, spread)
from keras_resnet.training.distribute import describe_machines
from keras_resnet.tuning.budget import format_count

COLUMNS = ("trial_id", "worker", "seed", "budget", "block", "depth", "cardinality", "dropout", "widen", "channels",
           "params", "budget_deviation", "macs", "epochs", "seconds_per_epoch", "train_seconds", "train_error",
           "val_error", "test_error", "epoch_seconds", "val_curve", "machine")

# Wide ResNet, Table 4: (depth, k, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE4 = (
    (40, 1, 0.6, 6.85, 30.89), (40, 2, 2.2, 5.33, 26.04), (40, 4, 8.9, 4.97, 22.89), (40, 8, 35.7, 4.66, None),
    (28, 10, 36.5, 4.17, 20.50), (28, 12, 52.5, 4.33, 20.43), (22, 8, 17.2, 4.38, 21.22), (22, 10, 26.8, 4.44, 20.75),
    (16, 8, 11.0, 4.81, 22.07), (16, 10, 17.1, 4.56, 21.59),
)
# Table 5: (network, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE5 = (("pre-act ResNet-1001", 10.2, 4.92, 22.71), ("WRN-40-4", 8.9, 4.53, 21.18),
                ("WRN-16-8", 11.0, 4.27, 20.43), ("WRN-28-10", 36.5, 4.00, 19.25))


def held_out_error(row):
    """A trial's test error (%), or its validation error where it has no test error."""
    return row["test_error"] if row["test_error"] != "" else row["val_error"]


def _metric(rows):
    return "test" if all(r["test_error"] != "" for r in rows) else "validation"


def _curve(row):
    """A run's `(training seconds, validation error)` after each epoch, its seconds counted as epochs
    times its median seconds per epoch (`seconds_per_epoch`), so that a busy moment of a shared
    machine does not count."""
    errors = json.loads(row["val_curve"]) if row.get("val_curve") else []
    return [(i + 1) * row["seconds_per_epoch"] for i in range(len(errors))], errors


@dataclasses.dataclass(frozen=True)
class Cell:
    """The runs of one budget and depth, per seed (`{seed: value}`, means over the grid's other
    values where it has more, of the longest-trained runs: Hyperband also trains briefly): held-out
    error (%), seconds per epoch, generalisation gap (held-out minus training error, points) and
    validation-error curve against training time; the widening factor k and the parameter count."""

    error: dict
    seconds: dict
    gap: dict
    curve: dict
    k: float
    params: int

    def mean(self, field):
        return stats.mean(getattr(self, field).values())


def cells(rows):
    """`{(budget, depth): Cell}` of the result rows."""
    groups = {}
    for r in rows:
        groups.setdefault((r["budget"], r["depth"]), []).append(r)
    out = {}
    for key, group in groups.items():
        longest = [r for r in group if r.get("epochs", 0) == max(q.get("epochs", 0) for q in group)]
        by_seed = {}
        for r in longest:
            by_seed.setdefault(int(r.get("seed", 0)), []).append(r)

        def per_seed(f):
            return {seed: stats.mean(f(r) for r in runs) for seed, runs in sorted(by_seed.items())}

        curves = {seed: [list(map(stats.mean, zip(*points))) for points in zip(*map(_curve, runs))]
                  for seed, runs in sorted(by_seed.items())}
        out[key] = Cell(per_seed(held_out_error), per_seed(lambda r: r["seconds_per_epoch"]),
                        per_seed(lambda r: held_out_error(r) - r["train_error"]), curves,
                        stats.mean(r["widen"] for r in longest), round(stats.mean(r["params"] for r in longest)))
    return out


def seconds_to_reach(slow, fast):
    """`{seed: seconds}` each of two curves takes to first reach the higher of their best validation
    errors, the error both reach, as `(slow's, fast's)`; seeds where either has no curve are left out."""
    out = ({}, {})
    for seed in sorted(set(slow) & set(fast)):
        if not (slow[seed][1] and fast[seed][1]):
            continue
        target = max(min(slow[seed][1]), min(fast[seed][1]))
        for i, (seconds, errors) in enumerate((slow[seed], fast[seed])):
            out[i][seed] = next(t for t, e in zip(seconds, errors) if e <= target)
    return out


def plot(rows, path):
    """Held-out error against depth at each budget, and against training time."""
    by_cell = cells(rows)
    with figure(path, 2, (11, 4.2), dpi=110, legend_size=8) as (left, right):
        for budget in sorted({b for b, _ in by_cell}):
            depths = sorted(d for b, d in by_cell if b == budget)
            label = f"{format_count(budget)} params"
            means = [by_cell[budget, d].mean("error") for d in depths]
            low = [m - min(by_cell[budget, d].error.values()) for m, d in zip(means, depths)]
            high = [max(by_cell[budget, d].error.values()) - m for m, d in zip(means, depths)]
            line, *_ = left.errorbar(depths, means, yerr=[low, high], fmt="o-", capsize=4, label=label)
            budget_rows = [r for r in rows if r["budget"] == budget]
            right.scatter([r["train_seconds"] for r in budget_rows], [held_out_error(r) for r in budget_rows],
                          color=line.get_color(), label=label)
            for r in budget_rows:
                right.annotate(str(r["depth"]), (r["train_seconds"], held_out_error(r)), fontsize=7,
                               textcoords="offset points", xytext=(3, 3))
        ylabel = f"{_metric(rows)} error (%)"
        left.set(xlabel="depth (width solved for the budget)", ylabel=ylabel,
                 title="Error against depth (mean, bars min-max over seeds)")
        right.set(xlabel="training time (s)", ylabel=ylabel, title="Error against training time")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two networks of this study compared: `differences` (`{seed: difference}`) are positive where
    they keep the paper's ordering; `note` gives the numbers in words."""

    differences: dict
    note: str

    @property
    def difference(self):
        return stats.mean(self.differences.values())

    @property
    def as_paper(self):
        return self.difference >= 0

    @property
    def estimate(self):
        """The `Estimate` over seeds, or None with fewer than `MIN_SEEDS`."""
        return estimate(list(self.differences.values())) if len(self.differences) >= MIN_SEEDS else None


def compare(worse, better, note):
    """The `Comparison` of two `{seed: value}`s, `worse - better` over the seeds both have."""
    return Comparison({seed: worse[seed] - better[seed] for seed in sorted(set(worse) & set(better))}, note)


@dataclasses.dataclass(frozen=True)
class Conclusion:
    """One of the paper's conclusions, its evidence there, and this study's comparisons."""

    claim: str
    paper: str
    comparisons: tuple
    needs: str = "needs two or more depths at one budget"

    @property
    def ordering(self):
        """How many comparisons keep the paper's ordering: `all`, `n of m`, `none` or `not testable`."""
        same, n = sum(c.as_paper for c in self.comparisons), len(self.comparisons)
        if not n:
            return "not testable"
        return "all" if same == n else "none" if not same else f"{same} of {n}"

    @property
    def notes(self):
        return [c.note for c in self.comparisons] or [self.needs]


def _network(cell, depth):
    return f"depth {depth} (k={cell.k:.3g}, {cell.params:,} params)"


def _widening(by_cell):
    """Table 4, each depth down its widths: at one depth, a larger budget (wider) errs less."""
    budgets, depths = sorted({b for b, _ in by_cell}), sorted({d for _, d in by_cell})
    comparisons = []
    for d in depths:
        at_depth = [b for b in budgets if (b, d) in by_cell]
        for small, large in zip(at_depth, at_depth[1:]):
            thin, wide = by_cell[small, d], by_cell[large, d]
            comparisons.append(compare(thin.error, wide.error, f"depth {d}: k={thin.k:.3g} {thin.mean('error'):.2f}% "
                                                               f"-> k={wide.k:.3g} {wide.mean('error'):.2f}%"))
    return Conclusion("Widening helps at every depth.", "Table 4: at depth 40, k=1/2/4/8 give 6.85/5.33/4.97/4.66% "
                      "CIFAR-10 error.", tuple(comparisons), "needs a depth at two or more budgets")


def _pairs(by_cell):
    """`(budget, shallower depth, deepest depth)` of every budget with two or more depths: the deep and
    thin network against each wider one."""
    for b in sorted({b for b, _ in by_cell}):
        ds = sorted(d for bb, d in by_cell if bb == b)
        for s in ds[:-1]:
            yield b, s, ds[-1]


def _paper_pairs():
    """Table 4's networks of near-equal size (within 25%), each as (deeper, shallower)."""
    rows = sorted(PAPER_TABLE4, key=lambda r: r[2])
    return [(max(a, b), min(a, b)) for a, b in itertools.combinations(rows, 2)
            if a[0] != b[0] and max(a[2], b[2]) / min(a[2], b[2]) <= 1.25]


def _equal_budget(by_cell):
    """Tables 4 and 5: at an equal budget each wider, shallower depth against the deepest is as
    accurate or more, faster per epoch and to a set accuracy, and no less regularised."""
    accuracy, speed, sooner, gap = [], [], [], []
    for b, s, d in _pairs(by_cell):
        shallow, deep, budget = by_cell[b, s], by_cell[b, d], format_count(b)
        pair = f"{budget}: {_network(shallow, s)} vs {_network(deep, d)}"
        accuracy.append(compare(deep.error, shallow.error, f"{pair}: {shallow.mean('error'):.2f}% vs "
                                                           f"{deep.mean('error'):.2f}%"))
        speed.append(compare(deep.seconds, shallow.seconds, f"{pair}: {shallow.mean('seconds'):.3g} vs "
                             f"{deep.mean('seconds'):.3g} s/epoch"))
        slow, fast = seconds_to_reach(deep.curve, shallow.curve)
        if slow:
            sooner.append(compare(slow, fast, f"{pair}: {stats.mean(fast.values()):.3g} vs "
                                              f"{stats.mean(slow.values()):.3g} s to the validation error both reach"))
        gap.append(compare(deep.gap, shallow.gap, f"{pair}: generalisation gap (held-out minus training error) "
                                                  f"{shallow.mean('gap'):.2f} vs {deep.mean('gap'):.2f} points"))
    paper = "; ".join(f"WRN-{s[0]}-{s[1]} ({s[2]}M) {s[3]}% vs WRN-{d[0]}-{d[1]} ({d[2]}M) {d[3]}%"
                      for d, s in _paper_pairs())
    return [
        Conclusion("At an equal parameter count a wider, shallower network is as good as a deeper, thinner one or "
                   "better.", f"Table 4 near-equal sizes (CIFAR-10 error): {paper}. Table 5: WRN-40-4 (8.9M) 4.53% "
                   "vs pre-act ResNet-1001 (10.2M) 4.92%.", tuple(accuracy)),
        Conclusion("Wide, shallow networks are much faster to train (seconds per epoch).", "Table 5: WRN-40-4 "
                   "trains 8x faster than pre-act ResNet-1001 at a similar error.", tuple(speed)),
        Conclusion("Wide, shallow networks reach a set accuracy sooner (training seconds to the validation error "
                   "both networks reach).", "Table 5 and s4: WRN-40-4 reaches ResNet-1001's error in an eighth of "
                   "its time.", tuple(sooner), "needs two or more depths at one budget, with validation curves"),
        Conclusion("Very deep thin networks give no extra regularisation.", "Section 3: the thin ResNet-1001 does "
                   "not overfit less than WRN-40-4; dropout, not depth, regularises.", tuple(gap)),
    ]


def conclusions(rows):
    """The paper's conclusions (`Conclusion`s) set beside the result rows."""
    by_cell = cells(rows)
    return [_widening(by_cell), *_equal_budget(by_cell)]


def command_line(study, output_dir):
    """The `keras-resnet tune` command of a study's settings, every one spelled out."""
    words = ["keras-resnet tune"]
    for name, value in study.items():
        if value is not None:
            words.append(f"--{name.replace('_', '-')} {','.join(map(str, value)) if isinstance(value, list) else value}")
    return " ".join(words + [f"--output-dir {output_dir}"])


def _header(rows, study, output_dir):
    seeds = sorted({int(r["seed"]) for r in rows})
    hours = sum(float(r["train_seconds"]) for r in rows) / 3600
    return [
        "# Width against depth at fixed parameter budgets", "",
        f"Command: `{command_line(study, output_dir)}`", "",
        f"Dataset `{study['dataset']}`" + (f" ({study['subset']} training images)" if study.get("subset") else "")
        + f", {study['epochs']} epoch(s) of recipe `{study['recipe']}` at batch {study['batch_size']} in "
        f"{study['precision']}, `{study['tuner']}` tuner, seeds {seeds} of {study['seeds']}, {len(rows)} run(s). "
        f"The width of every network was solved from its depth and budget in multiples of "
        f"{study['channel_multiple']} channel(s) (tolerance {study['tolerance']:.0%}); errors are {_metric(rows)} "
        f"errors (%).", "",
        f"{describe_machines(rows)}; {hours:.2f} h of training in all.", "",
    ]


def _networks(rows):
    lines = ["## Networks (mean and min-max over seeds)", "",
             "| budget | block | depth | k (channels) | params (vs budget) | MACs | seeds | s/epoch | training error "
             "| validation error | test error |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for r in rows:
        groups.setdefault((r["budget"], r["depth"], r["cardinality"], r["dropout"], r["epochs"]), []).append(r)
    for key, group in sorted(groups.items()):
        r = group[0]
        col = lambda name: [float(q[name]) for q in group if q[name] != ""]  # noqa: E731
        test = spread(col("test_error"))
        lines.append(f"| {format_count(r['budget'])} | {r['block']} | {r['depth']} | {r['widen']:.3g} "
                     f"({r['channels']}) | {int(r['params']):,} ({100 * float(r['budget_deviation']):+.1f}%) | "
                     f"{format_count(int(r['macs']))} | {len(group)} | {spread(col('seconds_per_epoch'), 1)} | "
                     f"{spread(col('train_error'))} | {spread(col('val_error'))} | {test} |")
    worst = max(rows, key=held_out_error)
    by_cell = cells(rows)
    best = {b: min(c.mean("error") for (bb, _), c in by_cell.items() if bb == b) for b in sorted({b for b, _ in by_cell})}
    return lines + ["", f"Where the networks ended: the worst of the {len(rows)} runs at {held_out_error(worst):.2f}% "
                    f"{_metric(rows)} error (depth {worst['depth']} at {format_count(worst['budget'])}, seed "
                    f"{worst['seed']}); the best network's mean at each budget: "
                    + ", ".join(f"{error:.2f}% at {format_count(b)}" for b, error in best.items()) + ".", ""]


def _ranked(items):
    """`(text, error)` pairs, lowest error first: `a < b = c`."""
    items = sorted(items, key=lambda item: item[1])
    return "".join(("" if i == 0 else " = " if error == items[i - 1][1] else " < ") + text
                   for i, (text, error) in enumerate(items))


def _beside_table4(rows):
    by_cell = cells(rows)
    lines = ["", "## Measured ordering beside Wide ResNet Table 4", "",
             "| budget | this study, lowest mean error first | Table 4 within 25% of the budget, lowest CIFAR-10 error "
             "first |", "|---|---|---|"]
    for b in sorted({b for b, _ in by_cell}):
        ours = _ranked((f"depth {d} (k={by_cell[b, d].k:.3g}, {by_cell[b, d].mean('error'):.2f}%)",
                        round(by_cell[b, d].mean("error"), 2)) for bb, d in by_cell if bb == b)
        near = (r for r in PAPER_TABLE4 if max(r[2] * 1e6, b) / min(r[2] * 1e6, b) <= 1.25)
        theirs = _ranked((f"WRN-{r[0]}-{r[1]} ({r[2]}M, {r[3]}%)", r[3]) for r in near) or "none"
        lines.append(f"| {format_count(b)} | {ours} | {theirs} |")
    return lines + ["", "Table 4 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(
        f"WRN-{d}-{k} {p}M {c10}/{'-' if c100 is None else c100}" for d, k, p, c10, c100 in PAPER_TABLE4) + "."]


def _beside_table5(rows):
    lines = ["", "## Beside Table 5", "",
             "Table 5 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(f"{n} {p}M {a}/{c}" for n, p, a, c in PAPER_TABLE5)
             + "; WRN-40-4 trains 8x faster than ResNet-1001.", ""]
    by_cell = cells(rows)
    blocks = {(b, d): next(r["block"] for r in rows if (r["budget"], r["depth"]) == (b, d)) for b, d in by_cell}
    both = [b for b in sorted({b for b, _ in by_cell}) if {"basic", "bottleneck"} <= {blocks[b, d] for bb, d in blocks
                                                                                       if bb == b}]
    for b in both:
        best = {block: min((d for bb, d in by_cell if bb == b and blocks[b, d] == block),
                           key=lambda d: by_cell[b, d].mean("error")) for block in ("basic", "bottleneck")}
        wide, thin = by_cell[b, best["basic"]], by_cell[b, best["bottleneck"]]
        lines.append(f"- {format_count(b)}: best WRN-{best['basic']} (k={wide.k:.3g}) {wide.mean('error'):.2f}% at "
                     f"{wide.mean('seconds'):.3g} s/epoch vs best pre-act ResNet-{best['bottleneck']} "
                     f"(k={thin.k:.3g}) {thin.mean('error'):.2f}% at {thin.mean('seconds'):.3g} s/epoch "
                     f"({thin.mean('seconds') / wide.mean('seconds'):.2f}x the time per epoch).")
    if not both:
        lines.append("- This study has no budget with both a WRN (6n+4) and a pre-activation bottleneck (9n+2) "
                     "depth; add one, e.g. `--depths 16,40,164`, to set the thin end beside WRN as Table 5 does.")
    return lines


def _verdicts(rows):
    lines = ["## Verdicts", "", f"Rule: {RULE} A positive difference is the paper's direction (the deeper, thinner "
             "network worse or slower).", ""]
    for c in conclusions(rows):
        lines += [f"### {c.claim}", "", f"Paper: {c.paper}", "",
                  f"| comparison (means over seeds) | {MEASURED} | verdict | {SEEDS_TO_RESOLVE} |", "|---|---|---|---|"]
        for comparison in c.comparisons:
            est = comparison.estimate
            lines.append(f"| {comparison.note} | {measured(est)} | {'**' + est.verdict + '**' if est else 'none yet'} "
                         f"| {power_note(est) if est else '-'} |")
        if not c.comparisons:
            lines.append(f"| {c.needs} | - | not testable | - |")
        lines.append("")
    return lines


def _orderings(rows):
    lines = ["", "## Orderings of the means", "",
             "| conclusion | same ordering as the paper (means over seeds) |", "|---|---|"]
    lines += [f"| {c.claim} | {c.ordering} |" for c in conclusions(rows)]
    return lines + [""]


def report(rows, study, output_dir="."):
    """The markdown report: the settings, a verdict per comparison, the networks, and the orderings
    beside Wide ResNet Tables 4 and 5."""
    if not rows:
        return "\n".join(_header(rows, study, output_dir) + ["No run has finished yet.", ""])
    return "\n".join(_header(rows, study, output_dir) + _verdicts(rows) + _networks(rows) + _beside_table4(rows)
                     + _beside_table5(rows) + _orderings(rows))


def write_outputs(rows, output_dir, study):
    """Writes `results.csv`, `results.png` and `report.md` under `output_dir`, each atomically."""
    write_csv(os.path.join(output_dir, "results.csv"), rows, COLUMNS)
    if rows:
        plot(rows, os.path.join(output_dir, "results.png"))
    write_text(os.path.join(output_dir, "report.md"), report(rows, study, output_dir))
