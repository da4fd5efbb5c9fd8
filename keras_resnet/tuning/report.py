"""The study's outputs: `results.csv`, `results.png` and `report.md`, pure functions of the result
rows (one dict per trial, keys `COLUMNS`; errors in percent).

Each of Wide ResNet's conclusions (Zagoruyko & Komodakis 2016, arXiv:1605.07146, Tables 4 and 5)
is a `Conclusion` of `Comparison`s between two networks, positive (or a tie) in the paper's
ordering. The trials are single runs, so the report counts the comparisons that keep the ordering
and gives no verdict, which needs the spread over seeds (`keras-resnet experiment width_depth`).
"""

import dataclasses
import itertools
import os
import statistics as stats

from keras_resnet.cli.figures import figure
from keras_resnet.cli.files import write_csv, write_text
from keras_resnet.tuning.budget import format_count

COLUMNS = ("trial_id", "worker", "budget", "block", "depth", "cardinality", "dropout", "widen", "channels",
           "params", "budget_deviation", "macs", "epochs", "seconds_per_epoch", "train_seconds", "train_error",
           "val_error", "test_error")

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


@dataclasses.dataclass(frozen=True)
class Cell:
    """The trials of one budget and depth, as means over the longest-trained ones
    (Hyperband also trains networks briefly): held-out error (%), seconds per epoch,
    generalisation gap (held-out minus training error, points) and widening factor k."""

    error: float
    seconds: float
    gap: float
    k: float


def cells(rows):
    """`{(budget, depth): Cell}` of the result rows."""
    groups = {}
    for r in rows:
        groups.setdefault((r["budget"], r["depth"]), []).append(r)
    out = {}
    for key, group in groups.items():
        longest = [r for r in group if r.get("epochs", 0) == max(q.get("epochs", 0) for q in group)]
        mean = lambda f: stats.mean(f(r) for r in longest)  # noqa: E731
        out[key] = Cell(mean(held_out_error), mean(lambda r: r["seconds_per_epoch"]),
                        mean(lambda r: held_out_error(r) - r["train_error"]), mean(lambda r: r["widen"]))
    return out


def plot(rows, path):
    """Held-out error against depth at each budget, and against training time."""
    by_cell = cells(rows)
    with figure(path, 2, (11, 4.2), dpi=110, legend_size=8) as (left, right):
        for budget in sorted({b for b, _ in by_cell}):
            depths = sorted(d for b, d in by_cell if b == budget)
            label = f"{format_count(budget)} params"
            line, = left.plot(depths, [by_cell[budget, d].error for d in depths], "o-", label=label)
            budget_rows = [r for r in rows if r["budget"] == budget]
            right.scatter([r["train_seconds"] for r in budget_rows], [held_out_error(r) for r in budget_rows],
                          color=line.get_color(), label=label)
            for r in budget_rows:
                right.annotate(str(r["depth"]), (r["train_seconds"], held_out_error(r)), fontsize=7,
                               textcoords="offset points", xytext=(3, 3))
        ylabel = f"{_metric(rows)} error (%)"
        left.set(xlabel="depth (width solved for the budget)", ylabel=ylabel,
                 title="Error against depth at fixed budgets")
        right.set(xlabel="training time (s)", ylabel=ylabel, title="Error against training time")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two networks of this study compared: `difference` is positive (or zero) where they
    keep the paper's ordering; `note` gives the numbers in words."""

    difference: float
    note: str

    @property
    def as_paper(self):
        return self.difference >= 0


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


def _widening(by_cell):
    """Table 4, each depth down its widths: at one depth, a larger budget (wider) errs less."""
    budgets, depths = sorted({b for b, _ in by_cell}), sorted({d for _, d in by_cell})
    comparisons = []
    for d in depths:
        at_depth = [b for b in budgets if (b, d) in by_cell]
        for small, large in zip(at_depth, at_depth[1:]):
            thin, wide = by_cell[small, d], by_cell[large, d]
            comparisons.append(Comparison(thin.error - wide.error, f"depth {d}: k={thin.k:.3g} {thin.error:.2f}% -> "
                                                                   f"k={wide.k:.3g} {wide.error:.2f}%"))
    return Conclusion("Widening helps at every depth.", "Table 4: at depth 40, k=1/2/4/8 give 6.85/5.33/4.97/4.66% "
                      "CIFAR-10 error.", tuple(comparisons), "needs a depth at two or more budgets")


def _extremes(by_cell):
    """`(budget, shallow depth, deep depth)` of every budget with two or more depths."""
    for b in sorted({b for b, _ in by_cell}):
        ds = sorted(d for bb, d in by_cell if bb == b)
        if len(ds) > 1:
            yield b, ds[0], ds[-1]


def _paper_pairs():
    """Table 4's networks of near-equal size (within 25%), each as (deeper, shallower)."""
    rows = sorted(PAPER_TABLE4, key=lambda r: r[2])
    return [(max(a, b), min(a, b)) for a, b in itertools.combinations(rows, 2)
            if a[0] != b[0] and max(a[2], b[2]) / min(a[2], b[2]) <= 1.25]


def _equal_budget(by_cell):
    """Tables 4 and 5: at an equal budget the shallowest (widest) depth against the deepest is as
    accurate or more, faster, and no less regularised."""
    accuracy, speed, gap = [], [], []
    for b, s, d in _extremes(by_cell):
        shallow, deep, budget = by_cell[b, s], by_cell[b, d], format_count(b)
        accuracy.append(Comparison(deep.error - shallow.error, f"{budget}: depth {s} (k={shallow.k:.3g}) "
                                   f"{shallow.error:.2f}% vs depth {d} (k={deep.k:.3g}) {deep.error:.2f}%"))
        speed.append(Comparison(deep.seconds - shallow.seconds, f"{budget}: depth {d} takes {deep.seconds:.3g} "
                                f"s/epoch, depth {s} {shallow.seconds:.3g} s/epoch "
                                f"({deep.seconds / shallow.seconds:.2f}x)"))
        gap.append(Comparison(deep.gap - shallow.gap, f"{budget}: generalisation gap (held-out minus training "
                              f"error) {deep.gap:.2f} points at depth {d} vs {shallow.gap:.2f} at depth {s}"))
    paper = "; ".join(f"WRN-{s[0]}-{s[1]} ({s[2]}M) {s[3]}% vs WRN-{d[0]}-{d[1]} ({d[2]}M) {d[3]}%"
                      for d, s in _paper_pairs())
    return [
        Conclusion("At an equal parameter count a wider, shallower network is as good as a deeper, thinner one or "
                   "better.", f"Table 4 near-equal sizes (CIFAR-10 error): {paper}. Table 5: WRN-40-4 (8.9M) 4.53% "
                   "vs pre-act ResNet-1001 (10.2M) 4.92%.", tuple(accuracy)),
        Conclusion("Wide, shallow networks are much faster to train.", "Table 5: WRN-40-4 trains 8x faster than "
                   "pre-act ResNet-1001 at a similar error.", tuple(speed)),
        Conclusion("Very deep thin networks give no extra regularisation.", "Section 3: the thin ResNet-1001 does "
                   "not overfit less than WRN-40-4; dropout, not depth, regularises.", tuple(gap)),
    ]


def conclusions(rows):
    """The paper's conclusions (`Conclusion`s) set beside the result rows."""
    by_cell = cells(rows)
    return [_widening(by_cell), *_equal_budget(by_cell)]


def _trials(rows, study):
    lines = [
        "# Width against depth at fixed parameter budgets", "",
        f"Dataset `{study['dataset']}`, {study['epochs']} epoch(s) per trial, `{study['tuner']}` tuner, "
        f"{len(rows)} completed trial(s), {study['executions_per_trial']} execution(s) per trial. The width of "
        f"every network was solved from its depth and budget in multiples of {study['channel_multiple']} "
        f"channel(s) (tolerance {study['tolerance']:.0%}), trained at batch {study['batch_size']} in "
        f"{study['precision']}; errors are {_metric(rows)} errors (%), averaged where a budget and "
        f"depth ran more than once.", "",
        "## Trials", "",
        "| budget | block | depth | k | params (vs budget) | MACs | epochs | s/epoch | training error | "
        "validation error | test error |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{r['test_error']:.2f}%" if r["test_error"] != "" else "-"
        lines.append(f"| {format_count(r['budget'])} | {r['block']} | {r['depth']} | {r['widen']:.3g} | "
                     f"{r['params']:,} ({100 * r['budget_deviation']:+.1f}%) | {format_count(r['macs'])} | "
                     f"{r['epochs']} | {r['seconds_per_epoch']:.3g} | {r['train_error']:.2f}% | "
                     f"{r['val_error']:.2f}% | {test} |")
    return lines


def _ranked(items):
    """`(text, error)` pairs, lowest error first: `a < b = c`."""
    items = sorted(items, key=lambda item: item[1])
    return "".join(("" if i == 0 else " = " if error == items[i - 1][1] else " < ") + text
                   for i, (text, error) in enumerate(items))


def _beside_table4(rows):
    by_cell = cells(rows)
    lines = ["", "## Measured ordering beside Wide ResNet Table 4", "",
             "| budget | this run, lowest error first | Table 4 within 25% of the budget, lowest CIFAR-10 error "
             "first |", "|---|---|---|"]
    for b in sorted({b for b, _ in by_cell}):
        ours = _ranked((f"depth {d} (k={by_cell[b, d].k:.3g}, {by_cell[b, d].error:.2f}%)", by_cell[b, d].error)
                       for bb, d in by_cell if bb == b)
        near = (r for r in PAPER_TABLE4 if max(r[2] * 1e6, b) / min(r[2] * 1e6, b) <= 1.25)
        theirs = _ranked((f"WRN-{r[0]}-{r[1]} ({r[2]}M, {r[3]}%)", r[3]) for r in near) or "none"
        lines.append(f"| {format_count(b)} | {ours} | {theirs} |")
    return lines + ["", "Table 4 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(
        f"WRN-{d}-{k} {p}M {c10}/{'-' if c100 is None else c100}" for d, k, p, c10, c100 in PAPER_TABLE4) + "."]


def _beside_table5(rows):
    lines = ["", "## Beside Table 5", "",
             "Table 5 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(f"{n} {p}M {a}/{c}" for n, p, a, c in PAPER_TABLE5)
             + "; WRN-40-4 trains 8x faster than ResNet-1001.", ""]
    by_block = {}
    for r in rows:
        by_block.setdefault((r["budget"], r["block"]), []).append(r)
    both = [b for b in sorted({b for b, _ in by_block}) if (b, "basic") in by_block and (b, "bottleneck") in by_block]
    for b in both:
        wide = min(by_block[b, "basic"], key=held_out_error)
        thin = min(by_block[b, "bottleneck"], key=held_out_error)
        lines.append(f"- {format_count(b)}: best WRN-{wide['depth']} (k={wide['widen']:.3g}) "
                     f"{held_out_error(wide):.2f}% at {wide['seconds_per_epoch']:.3g} s/epoch vs best pre-act "
                     f"ResNet-{thin['depth']} (k={thin['widen']:.3g}) {held_out_error(thin):.2f}% at "
                     f"{thin['seconds_per_epoch']:.3g} s/epoch "
                     f"({thin['seconds_per_epoch'] / wide['seconds_per_epoch']:.2f}x the time per epoch).")
    if not both:
        lines.append("- This run has no budget with both a WRN (6n+4) and a pre-activation bottleneck (9n+2) depth; "
                     "add one, e.g. `--depths 16,40,164`, to set the thin end beside WRN as Table 5 does.")
    return lines


def _orderings(rows):
    lines = ["", "## The paper's conclusions in this run", "",
             "Each trial is one run (or the mean of `--executions-per-trial`), so these are orderings of single "
             "runs, not verdicts: nothing here says whether a difference is larger than the spread between seeds. "
             "For verdicts (echoed, contradicted, not resolved) from 95% intervals over seeds, run "
             "`keras-resnet experiment width_depth`.", "",
             "| conclusion | paper | same ordering as the paper (single runs) | this run |",
             "|---|---|---|---|"]
    for c in conclusions(rows):
        lines.append(f"| {c.claim} | {c.paper} | **{c.ordering}** | {'; '.join(c.notes)} |")
    return lines + ["", "With few epochs or one execution per trial, differences of a fraction of a percent are "
                    "noise (use `--executions-per-trial`, or the experiment above).", ""]


def report(rows, study):
    """The markdown report: the trials, and the measured orderings beside Wide ResNet Tables 4 and 5."""
    return "\n".join(_trials(rows, study) + _beside_table4(rows) + _beside_table5(rows) + _orderings(rows))


def write_outputs(rows, output_dir, study):
    """Writes `results.csv`, `results.png` and `report.md` under `output_dir`, each atomically."""
    write_csv(os.path.join(output_dir, "results.csv"), rows, COLUMNS)
    if rows:
        plot(rows, os.path.join(output_dir, "results.png"))
    write_text(os.path.join(output_dir, "report.md"), report(rows, study))
