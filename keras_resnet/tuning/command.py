"""The study's command line (`python -m keras_resnet.tuning`) and its launcher.

It runs alone, as keras-tuner's distributed chief or worker (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), or, with `--workers N`, as a chief
and N workers on this machine (`launch`).
"""

import argparse
import dataclasses
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

from keras_resnet.checks import ArgumentParser, between, command_error, positive, seed
from keras_resnet.training import recipes
from keras_resnet.training.run_folder import claim, out_of_space, read_json, release, start
from keras_resnet.tuning.budget import family, parse_count
from keras_resnet.tuning.hypermodel import PROJECT, TUNERS, BudgetHyperModel, collect, make_tuner
from keras_resnet.tuning.report import write_outputs

# The study ------------------------------------------------------------------------


def distributed_role():
    """`"chief"`, `"worker"` or `None` (not distributed), from keras-tuner's variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ and "KERASTUNER_TUNER_ID" not in os.environ:
        return None
    missing = [v for v in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
               if not os.environ.get(v)]
    if missing:
        raise ValueError(f"Distributed tuning needs KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
                         f"KERASTUNER_ORACLE_PORT; missing {missing}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def _warn_insecure(ip, port):
    if ipaddress.ip_address(socket.gethostbyname(ip)).is_loopback:
        who = "any process on this machine"
    else:
        who = "anyone who can reach this address (keep it on a private network)"
    warnings.warn(f"The keras-tuner oracle serves gRPC on {ip}:{port} without encryption or authentication: "
                  f"{who} can read the search and submit results.", stacklevel=2)


def open_study(output_dir, study):
    """Claims `output_dir` for `study` (`run_folder.claim`): a new or empty folder, or
    one that holds this same study, which then resumes. A distributed worker leaves
    this to its chief.

    Raises:
        ValueError: if it holds anything else (its results are never overwritten), or
            a damaged file (`study.json`, keras-tuner's `oracle.json` or a `trial.json`).
    """
    if distributed_role() == "worker":
        return
    # A distributed worker may have created keras-tuner's project folder before the chief claims.
    if not claim(output_dir, "study.json", study, resume=True, what="study", ignored=(PROJECT,)):
        start(output_dir, "study.json", study)
    # keras-tuner reloads its state with a bare json.load: a file cut short would end the study in a traceback.
    search = os.path.join(output_dir, "tuner")
    for folder, _, files in os.walk(search):
        for name in sorted(f for f in files if f.endswith(".json")):
            read_json(os.path.join(folder, name), f"restore it, or move {search} aside to search again from the "
                                                  f"first trial")


def run_study(data, hypermodel, output_dir, study, *, tuner="grid", epochs=1, max_trials=None,
              executions_per_trial=1, seed=None, verbose=0):
    """Runs (or resumes) a search and writes its outputs.

    Args:
        data: an object with `train`, `validation` and `test` tf.data datasets
            (as `keras_resnet.training.data.load` returns).
        hypermodel: a `BudgetHyperModel`.
        output_dir: where the search (`tuner/`), `study.json` and the outputs go.
        study: the study's settings (JSON-serialisable dict, with at least
            `dataset`, `tuner`, `epochs`, `executions_per_trial`, `tolerance`).
            A directory holding a different study is refused, so no result is
            overwritten; the same study resumes where it stopped.
        tuner, epochs, max_trials, executions_per_trial, seed: as for `make_tuner`.
        verbose: Keras `fit` verbosity.

    Returns:
        The rows of `results.csv` (empty on a distributed worker, whose chief
        writes them).
    """
    open_study(output_dir, study)
    role = distributed_role()
    if role == "chief":
        _warn_insecure(os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"])
    t = make_tuner(tuner, hypermodel, output_dir, epochs=epochs, max_trials=max_trials,
                   executions_per_trial=executions_per_trial, seed=seed)
    t.search(data.train, validation_data=data.validation, test_data=data.test, epochs=epochs, verbose=verbose)
    if role == "worker":
        return []
    rows = collect(t, hypermodel)
    write_outputs(rows, output_dir, study)
    release(output_dir)
    return rows


def _free_port(ip):
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def launch(argv, workers, ip="127.0.0.1", port=None, timeout=None):
    """Runs this command as a keras-tuner chief and `workers` workers on this machine.

    Args:
        argv: the command's arguments, without `--workers`.
        workers: number of worker processes.
        ip, port: where the chief's oracle listens (default loopback, a free port).
        timeout: seconds before the whole search is stopped, or `None`.

    Returns:
        The chief's exit status. Every process is stopped on any error.
    """
    port = port or _free_port(ip)  # the chief warns that it listens without authentication
    # A terminated launcher must still stop its tuners (the `finally` below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = [sys.executable, "-m", "keras_resnet.tuning", *argv]
    env = {**os.environ, "KERASTUNER_ORACLE_IP": ip, "KERASTUNER_ORACLE_PORT": str(port)}
    processes = []
    try:
        for tuner_id in ["chief", *(f"tuner{i}" for i in range(workers))]:
            processes.append(subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": tuner_id}))
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed:
                raise RuntimeError(f"A tuner process exited with status {failed[0].returncode}; stopping the search "
                                   f"(finished trials are kept and resume).")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"The distributed search did not finish in {timeout} s; stopped it "
                                   f"(finished trials are kept and resume).")
            time.sleep(0.5)
        return max(p.returncode for p in processes)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# Command line -------------------------------------------------------------------


def _list(parse):
    def parse_list(text):
        try:
            return [parse(v) for v in text.split(",") if v.strip()]
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse_list


def _depth(text):
    try:
        depth = int(text)
    except ValueError:
        raise ValueError(f"A depth must be an integer; received {text!r}") from None
    family(depth)
    return depth


def parser():
    p = ArgumentParser(
        prog="keras-resnet-tune",
        description="Width against depth at fixed parameter budgets (Wide ResNet, Zagoruyko & Komodakis 2016): "
                    "a keras-tuner search in which every network's width is solved from its depth and budget.")
    p.add_argument("--budgets", type=_list(parse_count), default=[600_000, 2_200_000, 8_900_000],
                   help="parameter budgets, e.g. 0.6M,2.2M,8.9M (the default: WRN-40-1/2/4 of Table 4)")
    p.add_argument("--depths", type=_list(_depth), default=[16, 22, 28, 40],
                   help="depths: 6n+4 for WRN (basic blocks), 9n+2 for pre-activation bottleneck ResNets "
                        "(the deep-and-thin end, e.g. 164); default 16,22,28,40 (Table 4)")
    p.add_argument("--cardinalities", type=_list(int), default=[1], help="ResNeXt cardinalities to try (default 1)")
    p.add_argument("--dropouts", type=_list(float), default=[0.0], help="dropout rates to try (default 0)")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="largest allowed |params/budget - 1| (default 0.1; widths are whole channels)")
    p.add_argument("--dataset", default="digits", help="a dataset of keras_resnet.training.data.load (default: digits, offline)")
    p.add_argument("--data-dir", default=None, help="where the dataset's files are (see keras-resnet-train --help)")
    p.add_argument("--subset", type=int, default=None, help="a fixed, class-balanced number of training examples")
    p.add_argument("--recipe", choices=tuple(recipes.RECIPES), default="wrn",
                   help="training recipe of keras_resnet.training.recipes, scaled to --epochs (default: Wide ResNet's)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="the learning rate follows it by the linear scaling rule (Recipe.at_batch_size)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (Hyperband: the most epochs)")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="limit each epoch to this many batches")
    p.add_argument("--tuner", choices=TUNERS, default="grid")
    p.add_argument("--max-trials", type=int, default=None, help="random/Bayesian trials (default: the grid's size)")
    p.add_argument("--executions-per-trial", type=int, default=1, help="trainings averaged per trial")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output-dir", default="runs/tune", help="results and the resumable search (default runs/tune)")
    p.add_argument("--workers", type=int, default=0,
                   help="start a keras-tuner chief and this many workers on this machine")
    p.add_argument("--oracle-ip", default="127.0.0.1",
                   help="address the chief's oracle listens on with --workers (default loopback)")
    p.add_argument("--timeout", type=float, default=None,
                   help="with --workers: stop every tuner after this many seconds (finished trials resume)")
    p.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA compilation of each trial's model (default auto; off saves compile time on tiny runs)")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    return p


def _check(args):
    for name in ("epochs", "batch_size", "executions_per_trial", "max_trials", "steps_per_epoch", "subset"):
        if getattr(args, name) is not None:
            positive(f"--{name.replace('_', '-')}", getattr(args, name))
    seed("--seed", args.seed)
    between("--tolerance", args.tolerance, 0, 1)
    for value in args.cardinalities:
        positive("--cardinalities", value)
    for value in args.dropouts:
        between("--dropouts", value, 0, 1)
    if args.workers < 0:
        raise ValueError(f"--workers must be 0 or more; received --workers={args.workers}")
    if args.timeout is not None and not args.workers:
        raise ValueError(f"--timeout stops the tuners that --workers starts; received --timeout={args.timeout} "
                         f"without --workers")
    if args.timeout is not None:
        positive("--timeout", args.timeout, (int, float))
    if args.workers and distributed_role():
        raise ValueError("--workers starts its own chief and workers; unset KERASTUNER_TUNER_ID, "
                         "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, or drop --workers")
    try:
        ipaddress.ip_address(args.oracle_ip)
    except ValueError:
        raise ValueError(f"--oracle-ip must be an IP address; received {args.oracle_ip!r}") from None


def _without_workers(argv):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--workers", "--oracle-ip", "--timeout"):
            skip = True
        elif not a.startswith(("--workers=", "--oracle-ip=", "--timeout=")):
            out.append(a)
    return out


def main(argv=None):
    """The command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    args = p.parse_args(argv)
    try:
        _check(args)
        if args.workers:
            try:
                return launch(_without_workers(argv), args.workers, args.oracle_ip, timeout=args.timeout)
            except (RuntimeError, TimeoutError) as e:  # a tuner failed (it said why) or time ran out
                return command_error(p.prog, e, status=1)
        from keras_resnet.training import data as data_module

        recipe = recipes.get(args.recipe).at_batch_size(args.batch_size)  # the linear scaling rule
        data = data_module.load(args.dataset, args.batch_size, seed=args.seed, pad_mode=recipe.pad_mode,
                                data_dir=args.data_dir, subset=args.subset)
        steps = data.steps_per_epoch
        if args.steps_per_epoch and args.steps_per_epoch < steps:
            steps = args.steps_per_epoch
            data = dataclasses.replace(data, train=data.train.take(steps))
        hypermodel = BudgetHyperModel(args.budgets, args.depths, args.cardinalities, args.dropouts,
                                      input_shape=data.input_shape, classes=data.num_classes,
                                      tolerance=args.tolerance, recipe=recipe, steps_per_epoch=steps,
                                      epochs=args.epochs,
                                      jit_compile={"on": True, "off": False}.get(args.jit_compile, "auto"))
        study = {k: getattr(args, k) for k in ("budgets", "depths", "cardinalities", "dropouts", "tolerance",
                                               "dataset", "subset", "recipe", "batch_size", "epochs", "steps_per_epoch",
                                               "tuner", "max_trials", "executions_per_trial", "seed")}
        open_study(args.output_dir, study)
    except ValueError as e:
        return command_error(p.prog, e)
    try:
        rows = run_study(data, hypermodel, args.output_dir, study, tuner=args.tuner, epochs=args.epochs,
                         max_trials=args.max_trials, executions_per_trial=args.executions_per_trial, seed=args.seed,
                         verbose=args.verbose)
    except OSError as e:
        return out_of_space(p.prog, e, args.output_dir, "run the same command again: the finished trials are kept")
    if distributed_role() != "worker":
        print(f"{len(rows)} trial(s): {os.path.join(args.output_dir, 'results.csv')}, results.png, report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
