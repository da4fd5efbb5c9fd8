"""`python -m keras_resnet.experiments NAME`: run one experiment, write its results, report and
figure. `tutorial_arguments` gives the tutorials that run one experiment the same options."""

import os
import shlex
import sys

from keras_resnet.checks import ArgumentParser, command_error
from keras_resnet.experiments import EXPERIMENTS, get
from keras_resnet.experiments import report as report_lib
from keras_resnet.experiments import run as run_lib
from keras_resnet.training import run_folder
from keras_resnet.training.train import TrainingStopped

PROG = "python -m keras_resnet.experiments"
SMOKE = dict(dataset="digits", epochs=1, subset=100, seeds=2)  # what CI runs the tutorials with


def parser(tutorial=None):
    """The command's options; for a tutorial running the experiment named `tutorial`, the same
    options without the experiment's name, output in ./NAME, and `--smoke` (`SMOKE`)."""
    description = "Measure one of the papers' claims with several seeds and report a verdict per claim " \
                  "with its 95% interval."
    p = ArgumentParser(prog=PROG if tutorial is None else None, description=description)
    if tutorial is None:
        p.add_argument("experiment", help=f"one of {', '.join(EXPERIMENTS)}")
    else:
        p.set_defaults(experiment=tutorial)
        p.add_argument("--smoke", action="store_true", help="the offline digits, 100 images, 1 epoch, 2 seeds (CI)")
    p.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist (offline), cifar10 (the papers'), ...")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, every network with each (at least 2)")
    p.add_argument("--epochs", type=int, help="default: the experiment's (python -m keras_resnet.experiments --help)")
    p.add_argument("--subset", type=int, help="training images (a fixed class-balanced part; 0: all); default: "
                                              "the experiment's")
    p.add_argument("--batch-size", type=int, help="default: the experiment's (32); the learning rate follows "
                   "it by the linear scaling rule")
    p.add_argument("--data-dir", help="where the dataset's files are")
    p.add_argument("--output-dir", default=tutorial, help="default runs/experiments/NAME (a tutorial: ./NAME); "
                                                          "running again continues it")
    p.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2))
    return p


def tutorial_arguments(name):
    """A tutorial's options for the experiment `name`, with `--smoke` applied."""
    args = parser(tutorial=name).parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    try:
        experiment = get(args.experiment)
        s = run_lib.settings(experiment, dataset=args.dataset, seeds=args.seeds, epochs=args.epochs,
                             subset=args.subset, batch_size=args.batch_size, data_dir=args.data_dir)
        output_dir = args.output_dir or os.path.join("runs", "experiments", experiment.name)
        run_folder.claim(output_dir, run_lib.SETTINGS_FILE, s, resume=True, what="experiment")
    except ValueError as e:
        return command_error(PROG, e)
    command = " ".join([PROG, *map(shlex.quote, argv)])
    write = lambda rows: report_lib.write_outputs(experiment, rows, s, output_dir, command, run_lib.COLUMNS)
    try:
        rows = run_lib.run(experiment, output_dir, s, verbose=args.verbose, on_row=write)
    except OSError as e:
        return run_folder.out_of_space(PROG, e, output_dir, "run the same command again: the finished runs are kept")
    except TrainingStopped as e:  # a network diverged: its finished runs and the others' are kept
        return command_error(PROG, e, status=1)
    write(rows)
    run_folder.release(output_dir)
    print(report_lib.summary(experiment, rows))
    print(f"Report: {os.path.join(output_dir, 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
