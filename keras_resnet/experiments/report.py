"""An experiment's report and figure: pure functions of its result rows."""

import json
import os
import platform
import statistics as stats

from keras_resnet.experiments.statistics import MIN_SEEDS, RULE, contrast, estimate
from keras_resnet.training import run_folder

METRICS = {"train_error": "training error (%)", "test_error": "test error (%)",
           "epoch_seconds": "seconds per epoch"}


def values(rows, metric):
    """`{network: {seed: value}}` of one metric, skipping empty cells."""
    out = {}
    for row in rows:
        if row.get(metric) not in ("", None):
            out.setdefault(row["network"], {})[int(row["seed"])] = float(row[metric])
    return out


def verdicts(experiment, rows):
    """`(claim, Estimate or None)` per claim; None until two seeds have every network it weighs."""
    results = []
    for claim in experiment.claims:
        per_seed = contrast(values(rows, claim.metric), claim.weights) if all(
            label in values(rows, claim.metric) for label in claim.weights) else []
        results.append((claim, estimate(per_seed) if len(per_seed) >= MIN_SEEDS else None))
    return results


def _spread(xs):
    return f"{stats.mean(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"


def report(experiment, rows, settings, command, wall_seconds=None):
    """The markdown report: settings, the rule, a verdict per claim beside the
    paper's number, every network's numbers, and what differs from the paper."""
    seeds_done = sorted({int(r["seed"]) for r in rows})
    lines = [f"# {experiment.title}", "", f"Source: {experiment.source}.", "",
             f"Command: `{command}`", "",
             f"Settings: dataset `{settings['dataset']}`"
             + (f" (a fixed class-balanced subset of {settings['subset']} training images)" if settings["subset"] else "")
             + f", {settings['epochs']} epochs, recipe `{settings['recipe']}`, batch {settings['batch_size']}, "
               f"seeds {settings['seeds']} ({len(seeds_done)} finished: {len(rows)} of "
               f"{len(settings['seeds']) * len(experiment.networks)} runs).",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}"
             + (f"; wall time of the runs {wall_seconds / 60:.0f} min." if wall_seconds else "."), "",
             "## Verdicts", "", f"Rule: {RULE}", "",
             "| claim | metric | measured difference, mean [95% CI] (seeds) | verdict | paper |",
             "|---|---|---|---|---|"]
    for claim, est in verdicts(experiment, rows):
        measured = (f"{est.mean:+.2f} [{est.low:+.2f}, {est.high:+.2f}] ({est.n})" if est
                    else "pending: fewer than 2 seeds finished")
        lines.append(f"| {claim.statement} | {METRICS[claim.metric]} | {measured} | "
                     f"{est.verdict if est else 'none yet'} | {claim.paper} |")
    lines += ["", "A positive difference is the paper's direction: the first-weighted network of each claim "
              "is the one the paper finds worse (or slower).", "",
              "## Networks (mean and min-max over seeds)", "",
              "| network | params | GMACs | training error (%) | test error (%) | s/epoch |", "|---|---|---|---|---|---|"]
    for net in experiment.networks:
        mine = [r for r in rows if r["network"] == net.label]
        col = lambda m: [float(r[m]) for r in mine if r.get(m) not in ("", None)]
        params = f"{int(mine[0]['params']):,}" if mine else "-"
        macs = f"{int(mine[0]['macs']) / 1e9:.3f}" if mine else "-"
        lines.append(f"| {net.label} | {params} | {macs} | {_spread(col('train_error'))} | "
                     f"{_spread(col('test_error'))} | {_spread(col('epoch_seconds'))} |")
    lines += ["", "## What differs from the paper", "",
              experiment.differs.format(epochs=settings["epochs"], subset=settings["subset"] or "all",
                                        dataset=settings["dataset"], batch_size=settings["batch_size"]), ""]
    return "\n".join(lines)


def figure(experiment, rows, path):
    """The paper's kind of figure as a PNG: error per epoch (training dashed,
    held-out solid) with the min-max band over seeds, or test accuracy against
    depth per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if experiment.figure == "curves":
        for i, net in enumerate(experiment.networks):
            mine = [r for r in rows if r["network"] == net.label]
            for column, style, what in (("train_curve", "--", "training"), ("val_curve", "-", "held-out")):
                curves = [json.loads(r[column]) for r in mine if r.get(column)]
                curves = [c for c in curves if c]
                if not curves:
                    continue
                length = min(map(len, curves))
                epochs = range(1, length + 1)
                columns = list(zip(*(c[:length] for c in curves)))
                ax.plot(epochs, [stats.mean(c) for c in columns], style, color=colors[i % len(colors)],
                        label=f"{net.label} ({what})")
                ax.fill_between(epochs, [min(c) for c in columns], [max(c) for c in columns],
                                color=colors[i % len(colors)], alpha=0.12)
        ax.set(xlabel="epoch", ylabel="error (%)")
    else:
        budgets = sorted({n.budget for n in experiment.networks})
        for i, budget in enumerate(budgets):
            nets = sorted((n for n in experiment.networks if n.budget == budget), key=lambda n: n.depth)
            points = []
            for net in nets:
                accuracies = [100 - float(r["test_error"]) for r in rows if r["network"] == net.label]
                if accuracies:
                    points.append((net.depth, stats.mean(accuracies), min(accuracies), max(accuracies)))
            if points:
                depth, mean, low, high = zip(*points)
                ax.errorbar(depth, mean, yerr=[[m - lo for m, lo in zip(mean, low)], [hi - m for m, hi in zip(mean, high)]],
                            marker="o", capsize=4, color=colors[i % len(colors)], label=f"{budget:,} parameters")
        ax.set(xlabel="depth", ylabel="test accuracy (%)")
    seeds = len({r["seed"] for r in rows})
    ax.set_title(f"{experiment.title} (mean, band/bars min-max over {seeds} seed(s))", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_folder.atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"), binary=True)
    plt.close(fig)


def write_outputs(experiment, rows, settings, output_dir, command, columns):
    """Writes `results.csv`, `report.md` and `NAME.png` into `output_dir`, each atomically."""
    run_folder.write_csv(os.path.join(output_dir, "results.csv"), rows, columns)
    wall = sum(float(r["wall_seconds"]) for r in rows)
    text = report(experiment, rows, settings, command, wall)
    run_folder.atomic_write(os.path.join(output_dir, "report.md"), lambda f: f.write(text))
    figure(experiment, rows, os.path.join(output_dir, f"{experiment.name}.png"))


def summary(experiment, rows):
    """One line per claim: the verdict, the claim, the difference and its interval."""
    return "\n".join(f"{est.verdict if est else 'none yet':>13}: {claim.statement}"
                     + (f" ({est.mean:+.2f} [{est.low:+.2f}, {est.high:+.2f}])" if est else "")
                     for claim, est in verdicts(experiment, rows))
