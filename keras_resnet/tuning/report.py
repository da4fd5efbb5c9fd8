"""The study's outputs: `results.csv`, `results.png` and `report.md`, pure functions of
the result rows (one dict per trial, keys `COLUMNS`)."""

import itertools
import os

from keras_resnet.training.plots import figure
from keras_resnet.training.run_folder import atomic_write, write_csv
from keras_resnet.tuning.budget import format_count

COLUMNS = ("trial_id", "worker", "budget", "block", "depth", "cardinality", "dropout", "widen", "channels",
           "params", "budget_deviation", "macs", "epochs", "seconds_per_epoch", "train_seconds", "train_accuracy",
           "val_accuracy", "test_accuracy")



def _accuracy(row):
    return row["test_accuracy"] if row["test_accuracy"] != "" else row["val_accuracy"]


def _cells(rows):
    """Mean accuracy, seconds per epoch, train-test gap and widening factor per (budget, depth),
    of the longest-trained runs (Hyperband also trains networks briefly)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["budget"], r["depth"]), []).append(r)
    groups = {key: [r for r in rs if r.get("epochs", 0) == max(q.get("epochs", 0) for q in rs)]
              for key, rs in groups.items()}
    mean = lambda rs, f: sum(f(r) for r in rs) / len(rs)  # noqa: E731
    return {key: {"acc": mean(rs, _accuracy), "sec": mean(rs, lambda r: r["seconds_per_epoch"]),
                  "gap": mean(rs, lambda r: r["train_accuracy"] - _accuracy(r)), "k": mean(rs, lambda r: r["widen"]),
                  "n": len(rs)}
            for key, rs in groups.items()}


def plot(rows, path):
    """Accuracy against depth at each budget, and accuracy against training time."""
    cells = _cells(rows)
    with figure(path, 2, (11, 4.2), dpi=110, legend_size=8) as (left, right):
        for budget in sorted({b for b, _ in cells}):
            depths = sorted(d for b, d in cells if b == budget)
            label = f"{format_count(budget)} params"
            line, = left.plot(depths, [cells[budget, d]["acc"] for d in depths], "o-", label=label)
            budget_rows = [r for r in rows if r["budget"] == budget]
            right.scatter([r["train_seconds"] for r in budget_rows], [_accuracy(r) for r in budget_rows],
                          color=line.get_color(), label=label)
            for r in budget_rows:
                right.annotate(str(r["depth"]), (r["train_seconds"], _accuracy(r)), fontsize=7,
                               textcoords="offset points", xytext=(3, 3))
        metric = "test" if all(r["test_accuracy"] != "" for r in rows) else "validation"
        left.set(xlabel="depth (width solved for the budget)", ylabel=f"{metric} accuracy",
                 title="Accuracy against depth at fixed budgets")
        right.set(xlabel="training time (s)", ylabel=f"{metric} accuracy", title="Accuracy against training time")


# Wide ResNet, Table 4: (depth, k, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE4 = (
    (40, 1, 0.6, 6.85, 30.89), (40, 2, 2.2, 5.33, 26.04), (40, 4, 8.9, 4.97, 22.89), (40, 8, 35.7, 4.66, None),
    (28, 10, 36.5, 4.17, 20.50), (28, 12, 52.5, 4.33, 20.43), (22, 8, 17.2, 4.38, 21.22), (22, 10, 26.8, 4.44, 20.75),
    (16, 8, 11.0, 4.81, 22.07), (16, 10, 17.1, 4.56, 21.59),
)
# Table 5: (network, params in M, CIFAR-10 error, CIFAR-100 error).
PAPER_TABLE5 = (("pre-act ResNet-1001", 10.2, 4.92, 22.71), ("WRN-40-4", 8.9, 4.53, 21.18),
                ("WRN-16-8", 11.0, 4.27, 20.43), ("WRN-28-10", 36.5, 4.00, 19.25))


def _paper_pairs():
    """Table 4's networks of near-equal size (within 25%), each as (deeper, shallower)."""
    rows = sorted(PAPER_TABLE4, key=lambda r: r[2])
    return [(max(a, b), min(a, b)) for a, b in itertools.combinations(rows, 2)
            if a[0] != b[0] and max(a[2], b[2]) / min(a[2], b[2]) <= 1.25]


def _verdict(results):
    if not results:
        return "not testable"
    return "yes" if all(results) else "no" if not any(results) else f"partly ({sum(results)} of {len(results)})"


def conclusions(rows):
    """The paper's conclusions, each as (claim, paper evidence, verdict, this run's numbers)."""
    cells = _cells(rows)
    budgets = sorted({b for b, _ in cells})
    depths = sorted({d for _, d in cells})
    pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    out = []

    # 1. Widening helps at every depth (Table 4, each depth down its widths).
    tests, notes = [], []
    for d in depths:
        bs = [b for b in budgets if (b, d) in cells]
        if len(bs) > 1:
            accs = [cells[b, d]["acc"] for b in bs]
            tests.append(all(y >= x for x, y in zip(accs, accs[1:])))
            steps = (f"k={cells[b, d]['k']:.3g} {pct(cells[b, d]['acc'])}" for b in bs)
            notes.append(f"depth {d}: " + " -> ".join(steps))
    out.append(("Widening helps at every depth.", "Table 4: at depth 40, k=1/2/4/8 give 6.85/5.33/4.97/4.66% "
                "CIFAR-10 error.", _verdict(tests), notes or ["needs a depth at two or more budgets"]))

    # 2 and 3. At equal parameters wide-and-shallow is as good or better, and faster.
    acc_tests, speed_tests, acc_notes, speed_notes, gap_tests, gap_notes = [], [], [], [], [], []
    for b in budgets:
        ds = [d for d in depths if (b, d) in cells]
        if len(ds) < 2:
            continue
        shallow, deep = cells[b, ds[0]], cells[b, ds[-1]]
        acc_tests.append(shallow["acc"] >= deep["acc"])
        acc_notes.append(f"{format_count(b)}: depth {ds[0]} (k={shallow['k']:.3g}) {pct(shallow['acc'])} vs depth "
                         f"{ds[-1]} (k={deep['k']:.3g}) {pct(deep['acc'])}")
        speed_tests.append(deep["sec"] > shallow["sec"])
        speed_notes.append(f"{format_count(b)}: depth {ds[-1]} takes {deep['sec']:.3g} s/epoch, depth {ds[0]} "
                           f"{shallow['sec']:.3g} s/epoch ({deep['sec'] / shallow['sec']:.2f}x)")
        gap_tests.append(deep["gap"] >= shallow["gap"])
        gap_notes.append(f"{format_count(b)}: train-minus-test accuracy gap {pct(deep['gap'])} at depth {ds[-1]} vs "
                         f"{pct(shallow['gap'])} at depth {ds[0]}")
    need = ["needs two or more depths at one budget"]
    paper = "; ".join(f"WRN-{s[0]}-{s[1]} ({s[2]}M) {s[3]}% vs WRN-{d[0]}-{d[1]} ({d[2]}M) {d[3]}%"
                      for d, s in _paper_pairs())
    out.append(("At an equal parameter count a wider, shallower network is as good as a deeper, thinner one or "
                "better.", f"Table 4 near-equal sizes (CIFAR-10 error): {paper}. Table 5: WRN-40-4 (8.9M) 4.53% vs "
                "pre-act ResNet-1001 (10.2M) 4.92%.", _verdict(acc_tests), acc_notes or need))
    out.append(("Wide, shallow networks are much faster to train.", "Table 5: WRN-40-4 trains 8x faster than "
                "pre-act ResNet-1001 at a similar accuracy.", _verdict(speed_tests), speed_notes or need))
    out.append(("Very deep thin networks give no extra regularisation.", "Section 3: the thin ResNet-1001 does "
                "not overfit less than WRN-40-4; dropout, not depth, regularises.", _verdict(gap_tests),
                gap_notes or need))
    return out


def report(rows, study):
    """The markdown report: the measured ordering beside Wide ResNet Tables 4 and 5."""
    cells = _cells(rows)
    budgets = sorted({b for b, _ in cells})
    metric = "test" if all(r["test_accuracy"] != "" for r in rows) else "validation"
    lines = [
        "# Width against depth at fixed parameter budgets", "",
        f"Dataset `{study['dataset']}`, {study['epochs']} epoch(s) per trial, `{study['tuner']}` tuner, "
        f"{len(rows)} completed trial(s), {study['executions_per_trial']} execution(s) per trial. The width of "
        f"every network was solved from its depth and budget (tolerance {study['tolerance']:.0%}); accuracies "
        f"are {metric} accuracies, averaged where a budget and depth ran more than once.", "",
        "## Trials", "",
        "| budget | block | depth | k | params (vs budget) | MACs | epochs | s/epoch | val acc | test acc |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{100 * r['test_accuracy']:.2f}%" if r["test_accuracy"] != "" else "-"
        lines.append(f"| {format_count(r['budget'])} | {r['block']} | {r['depth']} | {r['widen']:.3g} | "
                     f"{r['params']:,} ({100 * r['budget_deviation']:+.1f}%) | {format_count(r['macs'])} | "
                     f"{r['epochs']} | "
                     f"{r['seconds_per_epoch']:.3g} | {100 * r['val_accuracy']:.2f}% | {test} |")
    lines += ["", "## Measured ordering beside Wide ResNet Table 4", "",
              "| budget | this run, best first | Table 4 within 25% of the budget, best first (CIFAR-10 error) |",
              "|---|---|---|"]
    for b in budgets:
        ds = sorted((d for bb, d in cells if bb == b), key=lambda d: -cells[b, d]["acc"])
        ours = " > ".join(f"depth {d} (k={cells[b, d]['k']:.3g}, {100 * cells[b, d]['acc']:.2f}%)" for d in ds)
        near = sorted((r for r in PAPER_TABLE4 if max(r[2] * 1e6, b) / min(r[2] * 1e6, b) <= 1.25), key=lambda r: r[3])
        theirs = " > ".join(f"WRN-{r[0]}-{r[1]} ({r[2]}M, {r[3]}%)" for r in near) or "none"
        lines.append(f"| {format_count(b)} | {ours} | {theirs} |")
    lines += ["", "Table 4 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(
        f"WRN-{d}-{k} {p}M {c10}/{'-' if c100 is None else c100}" for d, k, p, c10, c100 in PAPER_TABLE4) + ".", "",
        "## Beside Table 5", "",
        "Table 5 (CIFAR-10 / CIFAR-100 error, %): " + "; ".join(f"{n} {p}M {a}/{c}" for n, p, a, c in PAPER_TABLE5)
        + "; WRN-40-4 trains 8x faster than ResNet-1001.", ""]
    by_block = {}
    for r in rows:
        by_block.setdefault((r["budget"], r["block"]), []).append(r)
    compared = False
    for b in budgets:
        if (b, "basic") in by_block and (b, "bottleneck") in by_block:
            wide = max(by_block[b, "basic"], key=_accuracy)
            thin = max(by_block[b, "bottleneck"], key=_accuracy)
            lines.append(f"- {format_count(b)}: best WRN-{wide['depth']} (k={wide['widen']:.3g}) "
                         f"{100 * _accuracy(wide):.2f}% at {wide['seconds_per_epoch']:.3g} s/epoch vs best pre-act "
                         f"ResNet-{thin['depth']} (k={thin['widen']:.3g}) {100 * _accuracy(thin):.2f}% at "
                         f"{thin['seconds_per_epoch']:.3g} s/epoch "
                         f"({thin['seconds_per_epoch'] / wide['seconds_per_epoch']:.2f}x the time per epoch).")
            compared = True
    if not compared:
        lines.append("- This run has no budget with both a WRN (6n+4) and a pre-activation bottleneck (9n+2) depth; "
                     "add one, e.g. `--depths 16,40,164`, to set the thin end beside WRN as Table 5 does.")
    lines += ["", "## The paper's conclusions in this run", "",
              "The search compares one (averaged) result per network, so these are orderings, not verdicts: no "
              "interval says whether a difference is larger than the spread between runs. For verdicts with 95% "
              "intervals over seeds, run `python -m keras_resnet.experiments width_depth`.", "",
              "| conclusion | paper | same ordering as the paper? | this run |",
              "|---|---|---|---|"]
    for claim, paper, verdict, notes in conclusions(rows):
        lines.append(f"| {claim} | {paper} | **{verdict}** | {'; '.join(notes)} |")
    lines += ["", "With few epochs or one execution per trial, differences of a fraction of a percent are noise "
              "(use `--executions-per-trial`, or the experiment above).", ""]
    return "\n".join(lines)


def write_outputs(rows, output_dir, study):
    """Writes `results.csv`, `results.png` and `report.md` under `output_dir`."""
    write_csv(os.path.join(output_dir, "results.csv"), rows, COLUMNS)
    if rows:
        plot(rows, os.path.join(output_dir, "results.png"))
    atomic_write(os.path.join(output_dir, "report.md"), lambda f: f.write(report(rows, study)))
