"""Run a training command several times and print the distribution of its test accuracy.

    keras-resnet repeat --runs 20 -- keras-resnet train --model ResNet20 --epochs 10 --batch-size 64

Each run is a fresh process, as a user starts it (unseeded commands stay unseeded), so the spread is the one
a user meets. A run that exits with an error, or prints no `Test accuracy: X` line, counts as failed. Every
run's accuracy and wall time go to `--output` (CSV) as they finish, its printed output to `--log`.
"""

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import time

from keras_resnet.checks import between
from keras_resnet.cli.parser import UsageError, bad_options, check_positive, full_disk_ends

ACCURACY = re.compile(r"^Test accuracy: ([0-9.]+)", re.MULTILINE)


def summarize(accuracies, threshold):
    """min / median / max of the finished runs, and how many are below `threshold` or failed."""
    done = [a for a in accuracies if a is not None]
    failed = len(accuracies) - len(done)
    below = sum(a < threshold for a in done) + failed
    if not done:
        return f"{len(accuracies)} runs, none finished"
    return (f"{len(accuracies)} runs: test accuracy min {min(done):.4f} / median {statistics.median(done):.4f} / "
            f"max {max(done):.4f}; {below} below {threshold}" + (f" ({failed} failed)" if failed else ""))


def arguments(p):
    p.add_argument("--runs", type=int, default=20, help="how many times to run the command (default 20)")
    p.add_argument("--threshold", type=float, default=0.95, help="accuracy a run must reach (default 0.95)")
    p.add_argument("--output", default="repeat.csv", help="CSV of every run: accuracy, seconds (default repeat.csv)")
    p.add_argument("--log", default="repeat.log", help="the runs' printed output (default repeat.log)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")


def _open(path, option):
    try:
        return open(path, "w", newline="")
    except OSError as e:
        raise UsageError(f"{option} must be a file you can write; received {option}={path!r} ({e.strerror})") from e


def run(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with bad_options():
        if not command:
            raise UsageError("no command given; put it after --, e.g. keras-resnet repeat -- keras-resnet train")
        if shutil.which(command[0]) is None:
            raise UsageError(f"cannot run {command[0]!r}: the command after -- must be a program on the PATH "
                             f"or the path of an executable file")
        check_positive(args, "runs")
        between("--threshold", args.threshold, 0, 1, high_open=False)
        out = _open(args.output, "--output")
        log = _open(args.log, "--log")
    accuracies = []
    folder = os.path.dirname(os.path.abspath(args.output))
    with full_disk_ends(folder, f"run keras-resnet repeat again ({args.output} holds the runs so far)"), out, log:
        writer = csv.writer(out)
        writer.writerow(["run", "test_accuracy", "seconds"])
        for run_ in range(1, args.runs + 1):
            start = time.time()
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            seconds = time.time() - start
            log.write(result.stdout)
            found = ACCURACY.findall(result.stdout)
            accuracy = float(found[-1]) if result.returncode == 0 and found else None
            accuracies.append(accuracy)
            writer.writerow([run_, "" if accuracy is None else accuracy, round(seconds, 1)])
            out.flush()
            print(f"run {run_}/{args.runs}: test accuracy {accuracy if accuracy is not None else 'FAILED'} "
                  f"in {seconds:.0f} s", flush=True)
    print(f"{' '.join(command)}\n{summarize(accuracies, args.threshold)}", flush=True)
    return 0
