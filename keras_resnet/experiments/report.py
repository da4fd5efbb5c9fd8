"""An experiment's outputs: `results.csv`, `report.md` and `NAME.png`, pure functions of its
result rows (one dict per run, keys `COLUMNS`; errors in percent)."""

import json
import os
import statistics as stats

from keras_resnet.cli.figures import figure
from keras_resnet.cli.files import write_csv, write_text
from keras_resnet.experiments.statistics import (MEASURED, MIN_SEEDS, RULE, SEEDS_TO_RESOLVE, contrast, estimate,
                                                 measured, power_note, spread)
from keras_resnet.training.distribute import describe_machines

COLUMNS = ("experiment", "network", "model", "changes", "seed", "dataset", "subset", "epochs", "recipe",
           "train_error", "val_error", "test_error", "params", "macs", "epoch_seconds", "wall_seconds", "machine",
           "train_curve", "val_curve")
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


def report(experiment, rows, settings, command, wall_seconds=None):
    """The markdown report: settings, the rule, a verdict per claim beside the
    paper's number, every network's numbers, and what differs from the paper."""
    labels = {net.label for net in experiment.networks}
    seeds_done = [s for s in sorted({int(r["seed"]) for r in rows})  # every network trained with it
                  if labels <= {r["network"] for r in rows if int(r["seed"]) == s}]
    lines = [f"# {experiment.title}", "", f"Source: {experiment.source}.", "",
             f"Command: `{command}`", "",
             f"Settings: dataset `{settings['dataset']}`"
             + (f" (a fixed class-balanced subset of {settings['subset']} training images)"
                if settings["subset"] else "")
             + f", {settings['epochs']} epochs, recipe `{settings['recipe']}`, batch {settings['batch_size']}, "
               f"{settings['precision']}, seeds {settings['seeds']} ({len(seeds_done)} finished: {len(rows)} of "
               f"{len(settings['seeds']) * len(experiment.networks)} runs).",
             describe_machines(rows)
             + (f"; wall time of the runs {wall_seconds / 60:.0f} min." if wall_seconds else "."), "",
             "## Verdicts", "", f"Rule: {RULE}", "",
             f"| claim | metric | {MEASURED} | verdict | {SEEDS_TO_RESOLVE} | paper |",
             "|---|---|---|---|---|---|"]
    for claim, est in verdicts(experiment, rows):
        lines.append(f"| {claim.statement} | {METRICS[claim.metric]} | {measured(est)} | "
                     f"{est.verdict if est else 'none yet'} | {power_note(est) if est else '-'} | {claim.paper} |")
    lines += ["", "A positive difference is the paper's direction: the first-weighted network of each claim "
              "is the one the paper finds worse (or slower).", "",
              "## Networks (mean and min-max over seeds)", "",
              "| network | params | GMACs | training error (%) | test error (%) | s/epoch |",
              "|---|---|---|---|---|---|"]
    for net in experiment.networks:
        mine = [r for r in rows if r["network"] == net.label]
        col = lambda m: [float(r[m]) for r in mine if r.get(m) not in ("", None)]
        params = f"{int(mine[0]['params']):,}" if mine else "-"
        macs = f"{int(mine[0]['macs']) / 1e9:.3f}" if mine else "-"
        lines.append(f"| {net.label} | {params} | {macs} | {spread(col('train_error'))} | "
                     f"{spread(col('test_error'))} | {spread(col('epoch_seconds'))} |")
    lines += ["", "## What differs from the paper", "",
              experiment.differs.format(epochs=settings["epochs"], subset=settings["subset"] or "all",
                                        dataset=settings["dataset"], batch_size=settings["batch_size"],
                                        precision=settings["precision"]), ""]
    return "\n".join(lines)


def _curves(ax, experiment, rows):
    """Error per epoch (training dashed, held-out solid), mean and min-max band over seeds."""
    for i, net in enumerate(experiment.networks):
        mine = [r for r in rows if r["network"] == net.label]
        for column, style, what in (("train_curve", "--", "training"), ("val_curve", "-", "held-out")):
            curves = [c for c in (json.loads(r[column]) for r in mine if r.get(column)) if c]
            if not curves:
                continue
            length = min(map(len, curves))
            epochs = range(1, length + 1)
            columns = list(zip(*(c[:length] for c in curves)))
            ax.plot(epochs, [stats.mean(c) for c in columns], style, color=f"C{i}", label=f"{net.label} ({what})")
            ax.fill_between(epochs, [min(c) for c in columns], [max(c) for c in columns], color=f"C{i}", alpha=0.12)
    ax.set(xlabel="epoch", ylabel="error (%)")


def plot(experiment, rows, path):
    """The paper's kind of figure as a PNG: training and held-out error per epoch."""
    seeds = len({r["seed"] for r in rows})
    title = f"{experiment.title} (mean, band/bars min-max over {seeds} seed(s))"
    with figure(path, 1, (8, 5), legend_size=7, title=title) as (ax,):
        _curves(ax, experiment, rows)


def write_outputs(experiment, rows, settings, output_dir, command):
    """Writes `results.csv`, `report.md` and `NAME.png` into `output_dir`, each atomically."""
    write_csv(os.path.join(output_dir, "results.csv"), rows, COLUMNS)
    wall = sum(float(r["wall_seconds"]) for r in rows)
    write_text(os.path.join(output_dir, "report.md"), report(experiment, rows, settings, command, wall))
    plot(experiment, rows, os.path.join(output_dir, f"{experiment.name}.png"))


def summary(experiment, rows):
    """One line per claim: the verdict, the claim, the difference and its interval."""
    return "\n".join(f"{est.verdict if est else 'none yet':>13}: {claim.statement}"
                     + (f" ({est.mean:+.2f} [{est.low:+.2f}, {est.high:+.2f}])" if est else "")
                     for claim, est in verdicts(experiment, rows))
