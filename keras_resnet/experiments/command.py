"""Measure one of the papers' claims: every network of the experiment trained with several
seeds, and each claim given a verdict (echoed, contradicted, not resolved) from the 95%
interval of its per-seed difference. --epochs, --subset (0: every training image) and
--batch-size default to the experiment's.

    keras-resnet experiment degradation --seeds 5
    keras-resnet experiment unit_orders --dataset cifar10 --epochs 200 --precision float32

Running the same command again continues an interrupted experiment without repeating a finished
run. `tutorial_arguments` gives the tutorials that run one experiment the same options.
"""

import os

from keras_resnet.cli.parser import ArgumentParser, bad_options, data_options, full_disk_ends, output_option
from keras_resnet.cli.run_folder import release
from keras_resnet.experiments import report as report_lib
from keras_resnet.experiments import run as run_lib
from keras_resnet.experiments.definitions import EXPERIMENTS, get

PROG = "keras-resnet experiment"
SMOKE = dict(dataset="digits", epochs=1, subset=100, seeds=2)  # the tutorials' --smoke: seconds, offline


def arguments(p, tutorial=None):
    """The command's options; for a tutorial running the experiment named `tutorial`, the same
    options without the experiment's name, output in ./NAME, and `--smoke` (`SMOKE`)."""
    if tutorial is None:
        p.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    else:
        p.set_defaults(experiment=tutorial)
        p.add_argument("--smoke", action="store_true", help="the offline digits, 100 images, 1 epoch, 2 seeds")
    data_options(p, dataset="fashion_mnist")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, every network with each (at least 2; "
                   "default 5)")
    p.add_argument("--epochs", type=int, help="default: the experiment's")
    p.add_argument("--batch-size", type=int, help="default: the experiment's (128); the learning rate follows "
                   "it by the linear scaling rule")
    p.add_argument("--precision", choices=run_lib.PRECISIONS, default="auto",
                   help="float32, mixed (bfloat16 on a CPU, float16 on a GPU), or auto (the default): mixed where "
                        "the machine computes faster so")
    output_option(p, tutorial, "experiment", shown=None if tutorial else "runs/experiments/NAME")
    p.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2))


def tutorial_arguments(name):
    """A tutorial's options for the experiment `name`, read from `sys.argv`, with `--smoke` applied."""
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments(p, tutorial=name)
    args = p.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    return args


def command_line(settings, output_dir):
    """The command that runs the experiment of `settings` into `output_dir`, every default spelled out."""
    words = [PROG, settings["experiment"], "--dataset", settings["dataset"], "--seeds", str(len(settings["seeds"])),
             "--epochs", str(settings["epochs"]), "--subset", str(settings["subset"] or 0),
             "--batch-size", str(settings["batch_size"]), "--precision",
             "float32" if settings["precision"] == "float32" else "mixed", "--output-dir", output_dir]
    if settings["data_dir"]:
        words += ["--data-dir", settings["data_dir"]]
    return " ".join(words)


def settings_of(experiment, args):
    """The settings (`run.settings`) of `experiment` under the command's options `args`."""
    return run_lib.settings(experiment, dataset=args.dataset, seeds=args.seeds, epochs=args.epochs,
                            subset=args.subset, batch_size=args.batch_size, data_dir=args.data_dir,
                            precision=args.precision)


def measure(experiment, settings, output_dir, command, verbose=0):
    """Runs (or continues) the experiment of `settings` in `output_dir` (`run.run`), writing its
    outputs (`report.write_outputs`) after every run, so that an interrupted experiment has them
    for the runs it finished. Returns the rows.

    Raises:
        ValueError: if `output_dir` cannot hold the experiment.
        CommandFailed: on a full disk, or a run whose loss diverged; the finished runs are kept.
    """
    def write(rows):
        report_lib.write_outputs(experiment, rows, settings, output_dir, command)

    with full_disk_ends(output_dir, "run the same command again: the finished runs are kept"):
        rows = run_lib.run(experiment, output_dir, settings, verbose=verbose, on_row=write)
        write(rows)
    release(output_dir)
    return rows


def run(args):
    with bad_options():
        experiment = get(args.experiment)
        settings = settings_of(experiment, args)
    output_dir = args.output_dir or os.path.join("runs", "experiments", experiment.name)
    rows = measure(experiment, settings, output_dir, command_line(settings, output_dir), args.verbose)
    print(report_lib.summary(experiment, rows))
    print(f"Report: {os.path.join(output_dir, 'report.md')}")
    return 0
