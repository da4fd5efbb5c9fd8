"""Width against depth at fixed parameter budgets (Wide ResNet, Zagoruyko & Komodakis 2016,
arXiv:1605.07146): a keras-tuner search in which every network's width is solved from its
depth and budget.

    keras-resnet tune --budgets 20k,40k --depths 10,16 --epochs 1 --steps-per-epoch 2
    keras-resnet tune --workers 2 --budgets 0.6M,2.2M --depths 16,40    # a chief and 2 workers here

It runs alone, as keras-tuner's distributed chief or worker (`distributed_role`), or, with
`--workers N`, as a chief and N workers on this machine (`launch`).
"""

import argparse
import dataclasses
import functools
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

from keras_resnet.checks import between, positive, seed
from keras_resnet.cli.files import read_json
from keras_resnet.cli.parser import (CommandFailed, bad_options, check_positive, data_options, full_disk_ends,
                                     number_list, output_option, training_options)
from keras_resnet.cli.run_folder import check_folder, claim, release, start
from keras_resnet.experiments.statistics import MIN_SEEDS
from keras_resnet.training import data as data_lib
from keras_resnet.training import recipes
from keras_resnet.training.distribute import fastest_precision
from keras_resnet.tuning.budget import family, parse_count
from keras_resnet.tuning.hypermodel import PROJECT, TUNERS, BudgetHyperModel, collect, make_tuner
from keras_resnet.tuning.report import write_outputs

ROLES = ("alone", "chief", "worker")
LAUNCHER_OPTIONS = ("workers", "oracle_ip", "timeout")  # the launcher's own: its processes do not get them
STUDY = ("budgets", "depths", "cardinalities", "dropouts", "tolerance", "channel_multiple", "precision", "dataset",
         "subset", "recipe", "batch_size", "epochs", "steps_per_epoch", "tuner", "max_trials", "seeds", "seed")


def distributed_role():
    """`"alone"`, `"chief"` or `"worker"`, from keras-tuner's variables (a ValueError if some of
    the three are set and others missing); a command reads it once."""
    if "KERASTUNER_ORACLE_IP" not in os.environ and "KERASTUNER_TUNER_ID" not in os.environ:
        return "alone"
    missing = [v for v in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
               if not os.environ.get(v)]
    if missing:
        raise ValueError(f"Distributed tuning needs KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
                         f"KERASTUNER_ORACLE_PORT; missing {missing}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def _warn_insecure(ip, port):
    who = ("any process on this machine" if ipaddress.ip_address(socket.gethostbyname(ip)).is_loopback
           else "anyone who can reach this address (keep it on a private network)")
    warnings.warn(f"The keras-tuner oracle serves gRPC on {ip}:{port} without encryption or authentication: "
                  f"{who} can read the search and submit results.", stacklevel=2)


def open_study(output_dir, study, role="alone"):
    """Claims `output_dir` for `study` (`keras_resnet.cli.run_folder.claim`): a new or empty
    folder, or one that holds this same study, which then resumes. A distributed worker only
    checks that it can write there, and leaves the claim to its chief.

    Raises:
        ValueError: if the folder cannot be written, holds anything else, or a damaged file
            (`study.json`, keras-tuner's `oracle.json` or a `trial.json`).
    """
    if role == "worker":
        check_folder(output_dir)
        return
    # A distributed worker may have created keras-tuner's project folder before the chief claims.
    if not claim(output_dir, "study.json", study, resume=True, what="study", ignored=(PROJECT,)):
        start(output_dir, "study.json", study)
    # keras-tuner reloads its state with a bare json.load: a file cut short would end the study in a traceback.
    search = os.path.join(output_dir, PROJECT)
    for folder, _, files in os.walk(search):
        for name in sorted(f for f in files if f.endswith(".json")):
            read_json(os.path.join(folder, name), f"restore it, or move {search} aside to search again from the "
                                                  f"first trial")


def run_study(load, hypermodel, output_dir, study, *, tuner="grid", epochs=1, max_trials=None, seeds=(0, 1),
              seed=None, verbose=0, role=None):
    """Runs (or resumes) a search and writes its outputs (alone: also after every trial).

    Args:
        load: `load(seed)` gives the data a seed trains on (what `keras_resnet.training.data.load`
            returns: `train`, `validation`, `test`).
        hypermodel: a `BudgetHyperModel`.
        output_dir: where the search (`tuner/`), `study.json` and the outputs go.
        study: the study's settings (JSON-serialisable dict, with at least `dataset`, `tuner`,
            `epochs`, `seeds`, `tolerance`), as `open_study` claims them.
        tuner, epochs, max_trials, seeds, seed: as for `make_tuner`.
        role: `"alone"`, `"chief"` or `"worker"`; by default `distributed_role()`.

    Returns:
        The rows of `results.csv` (empty on a distributed worker, whose chief writes them).
    """
    role = distributed_role() if role is None else role
    open_study(output_dir, study, role)
    if role == "chief":
        _warn_insecure(os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"])
    t = make_tuner(tuner, hypermodel, output_dir, epochs=epochs, max_trials=max_trials, seeds=seeds, seed=seed)
    if role == "alone":  # the outputs as the study goes (a chief runs no trials, a worker leaves them to it)
        t.after_trial = lambda: write_outputs(collect(t, hypermodel), output_dir, study)
    t.search(load, epochs=epochs, verbose=verbose)
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
    """Runs `keras-resnet tune *argv` as a keras-tuner chief and `workers` workers on this machine.

    `argv` lacks the launcher's own options (`LAUNCHER_OPTIONS`); the chief's oracle listens on
    `ip`:`port` (default a free port); `timeout` is seconds before the whole search stops.
    Returns the highest exit status of the processes; raises CommandFailed if one fails or time
    runs out. Every process is stopped on the way out, whatever happened.
    """
    port = port or _free_port(ip)
    # A terminated launcher must still stop its tuners (the `finally` below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = [sys.executable, "-m", "keras_resnet", "tune", *argv]
    env = {**os.environ, "KERASTUNER_ORACLE_IP": ip, "KERASTUNER_ORACLE_PORT": str(port)}
    processes = []
    try:
        for tuner_id in ["chief", *(f"tuner{i}" for i in range(workers))]:
            processes.append(subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": tuner_id}))
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed:
                raise CommandFailed(f"A tuner process exited with status {failed[0].returncode}; stopping the "
                                    f"search (finished trials are kept and resume).")
            if deadline is not None and time.monotonic() > deadline:
                raise CommandFailed(f"The distributed search did not finish in {timeout} s; stopped it "
                                    f"(finished trials are kept and resume).")
            time.sleep(0.5)
        return max(p.returncode for p in processes)
    finally:
        _stop(processes)


def _stop(processes):
    for p in processes:
        if p.poll() is None:
            p.terminate()
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def child_argv(args):
    """The options of `args` as `--name=value` (lists comma-separated, unset ones left out), less
    the launcher's own."""
    argv = []
    for name, value in vars(args).items():
        if name in LAUNCHER_OPTIONS or value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        argv.append(f"--{name.replace('_', '-')}={text}")
    return argv


def _depth(text):
    try:
        depth = int(text)
    except ValueError:
        raise ValueError(f"A depth must be an integer; received {text!r}") from None
    family(depth)
    return depth


def arguments(p):
    p.add_argument("--budgets", type=number_list(parse_count), default=[160_000, 640_000],
                   help="parameter budgets, e.g. 0.6M,2.2M,8.9M (WRN-40-1/2/4 of Table 4); default 160k,640k, "
                        "where depths 10, 16 and 40 meet in channels aligned to 8")
    p.add_argument("--depths", type=number_list(_depth), default=[10, 16, 40],
                   help="depths: 6n+4 for WRN (basic blocks), 9n+2 for pre-activation bottleneck ResNets "
                        "(the deep-and-thin end, e.g. 164); default 10,16,40")
    p.add_argument("--cardinalities", type=number_list(int), default=[1],
                   help="ResNeXt cardinalities to try (default 1)")
    p.add_argument("--dropouts", type=number_list(float), default=[0.0], help="dropout rates to try (default 0)")
    p.add_argument("--tolerance", type=float, default=0.15,
                   help="largest allowed |params/budget - 1| (default 0.15: the report gives every comparison's "
                        "parameter counts)")
    data_options(p, dataset="digits")
    training_options(p, "wrn", epochs=10, batch_size=128)
    p.add_argument("--steps-per-epoch", type=int, default=None, help="limit each epoch to this many batches")
    p.add_argument("--channel-multiple", type=int, default=8,
                   help="solve widths in multiples of this many channels (default 8: the CPU's fast kernels; "
                        "1: whole channels)")
    p.add_argument("--precision", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"), default="auto",
                   help="the layers' dtype policy, the classifier's float32; auto (the default): mixed_float16 on a "
                        "GPU, mixed_bfloat16 on a CPU with bfloat16 instructions, else float32")
    p.add_argument("--tuner", choices=TUNERS, default="grid")
    p.add_argument("--max-trials", type=int, default=None, help="random/Bayesian trials (default: the grid's size)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1: every network trains with each, and each "
                   "claim gets a verdict from the 95%% interval over them (at least 2; default 5)")
    p.add_argument("--seed", type=int, default=None, help="the random, Bayesian or Hyperband oracle's seed")
    output_option(p, "runs/tune", "study")
    p.add_argument("--workers", type=int, default=0,
                   help="start a keras-tuner chief and this many workers on this machine")
    p.add_argument("--oracle-ip", default="127.0.0.1",
                   help="address the chief's oracle listens on with --workers (default loopback)")
    p.add_argument("--timeout", type=float, default=None,
                   help="with --workers: stop every tuner after this many seconds (finished trials resume)")
    p.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA compilation of each trial's model (default auto; off saves compile time on tiny runs)")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))


def _check(args, role):
    """Every option and the output folder, before anything is loaded, started or written."""
    check_positive(args, "epochs", "batch_size", "seeds", "max_trials", "steps_per_epoch", "subset",
                   "channel_multiple")
    if args.seeds < MIN_SEEDS:
        raise ValueError(f"--seeds must be at least {MIN_SEEDS}: one run gives no confidence interval, so no "
                         f"verdict; received --seeds={args.seeds}")
    recipes.get(args.recipe)
    data_lib.check_dataset(args.dataset)
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
    if args.workers and role != "alone":
        raise ValueError("--workers starts its own chief and workers; unset KERASTUNER_TUNER_ID, "
                         "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT, or drop --workers")
    try:
        ipaddress.ip_address(args.oracle_ip)
    except ValueError:
        raise ValueError(f"--oracle-ip must be an IP address; received {args.oracle_ip!r}") from None
    check_folder(args.output_dir)  # every process: a worker writes there before its chief claims it


def _load(args, recipe, seed):
    """A seed's data: its shuffling and augmentation, each epoch cut to `--steps-per-epoch`."""
    data = data_lib.load(args.dataset, args.batch_size, seed=seed, pad_mode=recipe.pad_mode, data_dir=args.data_dir,
                         subset=args.subset)
    if args.steps_per_epoch and args.steps_per_epoch < data.steps_per_epoch:
        data = dataclasses.replace(data, train=data.train.take(args.steps_per_epoch))
    return data


def _search(args):
    """`load(seed)`, the study's data, and its hypermodel."""
    recipe = recipes.get(args.recipe).at_batch_size(args.batch_size)  # the linear scaling rule
    load = functools.partial(_load, args, recipe)
    data = load(0)
    steps = min(data.steps_per_epoch, args.steps_per_epoch or data.steps_per_epoch)
    hypermodel = BudgetHyperModel(args.budgets, args.depths, args.cardinalities, args.dropouts,
                                  input_shape=data.input_shape, classes=data.num_classes, tolerance=args.tolerance,
                                  recipe=recipe, steps_per_epoch=steps, epochs=args.epochs,
                                  jit_compile={"on": True, "off": False}.get(args.jit_compile, "auto"),
                                  multiple=args.channel_multiple, precision=args.precision)
    return load, hypermodel


def run(args):
    with bad_options():
        role = distributed_role()
        _check(args, role)
    if args.workers:
        return launch(child_argv(args), args.workers, args.oracle_ip, timeout=args.timeout)
    if args.precision == "auto":  # resolved once, so that the study records what it trains with
        args = argparse.Namespace(**{**vars(args), "precision": fastest_precision()})
    with bad_options():
        load, hypermodel = _search(args)
    study = {name: getattr(args, name) for name in STUDY}
    with full_disk_ends(args.output_dir, "run the same command again: the finished trials are kept"):
        rows = run_study(load, hypermodel, args.output_dir, study, tuner=args.tuner, epochs=args.epochs,
                         max_trials=args.max_trials, seeds=tuple(range(args.seeds)), seed=args.seed,
                         verbose=args.verbose, role=role)
    if role != "worker":
        print(f"{len(rows)} run(s): {os.path.join(args.output_dir, 'results.csv')}, results.png, report.md")
    return 0
