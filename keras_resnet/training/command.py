"""Train a network of the table on a dataset with a paper's recipe, and report its test accuracy.

    keras-resnet train --model ResNet20 --dataset digits --epochs 10 --batch-size 64
    keras-resnet train --model ResNet56 --set shortcut=none --dataset fashion_mnist   # plain-56
    keras-resnet train --output-dir runs/ResNet20-digits-he2015 --resume              # after a kill

The run's files (`keras_resnet.training.train`) go to `--output-dir`, by default a new numbered folder under
`runs/`; the last line printed is `Test accuracy: X`.
"""

import argparse
import ast
import dataclasses

from keras_resnet.cli.parser import bad_options, data_options, full_disk_ends, output_option, training_options
from keras_resnet.spec import Spec
from keras_resnet.training.config import Config
from keras_resnet.training.distribute import STRATEGIES
from keras_resnet.training.train import prepare, run as run_training


def _spec_change(text):
    """`FIELD=VALUE` of `--set`: a `Spec` field and a Python literal (or a bare word, e.g. unit=e)."""
    field, sep, value = text.partition("=")
    fields = [f.name for f in dataclasses.fields(Spec)]
    if not sep or field not in fields:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE with FIELD one of {fields}; received {text!r}")
    try:
        return field, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return field, value


def arguments(p):
    p.add_argument("--model", default=Config.model, help="a keras_resnet.SPECS name, e.g. ResNet56, WRN28_10 "
                                                         f"(default {Config.model})")
    p.add_argument("--set", dest="changes", action="append", type=_spec_change, default=[], metavar="FIELD=VALUE",
                   help="override a Spec field, e.g. --set shortcut=none (plain net), --set unit=e")
    data_options(p, dataset=Config.dataset)
    training_options(p, recipe=Config.recipe)
    output_option(p, None, shown="a new folder runs/MODEL-DATASET-RECIPE, numbered -2, -3, ... when taken")
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --output-dir")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute on GPUs, bfloat16 on CPUs/TPUs; float32 weights")
    p.add_argument("--strategy", default=Config.strategy, choices=STRATEGIES,
                   help="auto: multi_worker_mirrored when TF_CONFIG is set, mirrored on several GPUs, "
                        "data_parallel on several JAX devices")
    p.add_argument("--validation-split", type=float, default=Config.validation_split)
    p.add_argument("--seed", type=int, help="for a reproducible run")
    p.add_argument("--steps-per-epoch", type=int, help="cap on steps per epoch, for quick trials")
    p.add_argument("--verbose", type=int, default=Config.verbose, choices=(0, 1, 2),
                   help="1: progress bars, 2: a line per epoch")
    cluster = p.add_argument_group("several processes or hosts, JAX backend (keras.distribution.initialize; default: "
                                   "KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES, _PROCESS_ID)")
    cluster.add_argument("--coordinator", help="HOST:PORT of process 0, the same on every process")
    cluster.add_argument("--num-processes", type=int, help="how many processes train together")
    cluster.add_argument("--process-id", type=int, help="this process's index; process 0 writes the run's files")


def run(args):
    with bad_options():
        config = Config.checked(**{**vars(args), "changes": dict(args.changes)})
    with full_disk_ends(config.output_dir, "run the same command with --resume to continue from the last "
                                          "finished epoch"):
        with bad_options():  # the data, the model and the output folder
            prepared = prepare(config)
        run_training(config, prepared)
    return 0
