"""Runs a training command several times and prints the distribution of its test accuracy.

    python -m keras_resnet.tools.repeat --runs 20 -- \\
        python -m keras_resnet.train --model ResNet20 --epochs 10 --batch-size 64

Each run is a fresh process, exactly as a user starts it (unseeded commands
stay unseeded), so the spread is the one a user meets. The command must print
the training command's last line, `Test accuracy: X`. Every run's accuracy and
wall time go to `--output` (CSV) as they finish; the summary gives min / median
/ max over the runs and how many fell below `--threshold`.
"""

import argparse
import csv
import re
import statistics
import subprocess
import sys
import time

from keras_resnet.checks import ArgumentParser, between, positive

ACCURACY = re.compile(r"^Test accuracy: ([0-9.]+)", re.MULTILINE)


def run_once(command, log):
    """Runs `command`; returns (test accuracy or None, seconds)."""
    start = time.time()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.time() - start
    log.write(result.stdout)
    found = ACCURACY.findall(result.stdout)
    return (float(found[-1]) if result.returncode == 0 and found else None), seconds


def summarize(accuracies, threshold):
    """min / median / max of the finished runs, and how many are below `threshold` or failed."""
    done = [a for a in accuracies if a is not None]
    failed = len(accuracies) - len(done)
    below = sum(a < threshold for a in done) + failed
    if not done:
        return f"{len(accuracies)} runs, none finished"
    return (f"{len(accuracies)} runs: test accuracy min {min(done):.4f} / median {statistics.median(done):.4f} / "
            f"max {max(done):.4f}; {below} below {threshold}" + (f" ({failed} failed)" if failed else ""))


def parser():
    p = ArgumentParser(prog="python -m keras_resnet.tools.repeat", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="how many times to run the command")
    p.add_argument("--threshold", type=float, default=0.95, help="accuracy a run must reach")
    p.add_argument("--output", default="repeat.csv", help="CSV of every run (accuracy, seconds)")
    p.add_argument("--log", default="repeat.log", help="the runs' printed output")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("no command given; put it after --")
    try:
        positive("--runs", args.runs)
        between("--threshold", args.threshold, 0, 1, high_open=False)
        out, log = open(args.output, "w", newline=""), open(args.log, "w")
    except ValueError as e:
        p.error(str(e))
    except OSError as e:
        p.error(f"cannot write {e.filename!r}: {e.strerror}")
    accuracies = []
    with out, log:
        writer = csv.writer(out)
        writer.writerow(["run", "test_accuracy", "seconds"])
        for run in range(1, args.runs + 1):
            accuracy, seconds = run_once(command, log)
            accuracies.append(accuracy)
            writer.writerow([run, "" if accuracy is None else accuracy, round(seconds, 1)])
            out.flush()
            print(f"run {run}/{args.runs}: test accuracy {accuracy if accuracy is not None else 'FAILED'} "
                  f"in {seconds:.0f} s", flush=True)
    print(f"{' '.join(command)}\n{summarize(accuracies, args.threshold)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
