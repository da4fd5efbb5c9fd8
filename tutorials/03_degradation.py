"""
Title: The degradation problem: plain-20/56 against ResNet-20/56
Description: He et al. 2015's Fig. 6, measured with several seeds and a verdict per claim.

He et al. 2015 (arXiv:1512.03385), section 4.2 and Fig. 6: a plain network (the same layers
without shortcuts) of 56 layers has *higher training error* than one of 20 layers, so the
problem is optimisation, not overfitting. With identity shortcuts the 56-layer network trains
better than the 20-layer one. A plain network is `keras_resnet.build("ResNet56", shortcut="none")`.

Paper (CIFAR-10, full 64k-iteration schedule): plain-56 ends with higher training and test
error than plain-20 (Fig. 6, left); ResNet-56 reaches 6.97% test error against ResNet-20's
8.75% (Table 6).

This tutorial is the `degradation` experiment of `keras_resnet.experiments`, the same code as
`python -m keras_resnet.experiments degradation`: every network trained with every seed
through the training command, the claims declared before the runs, and a verdict per claim
from a 95% confidence interval over seeds. It runs offline on Fashion-MNIST (Debian's
`dataset-fashion-mnist`, or Keras' download); `--dataset cifar10 --epochs 182 --subset 0`
is the paper's scale (on a GPU).

Run: `python tutorials/03_degradation.py` (30 minutes at the defaults, measured once on the
2-core machine while it ran other jobs; see `docs/experiments/degradation/report.md`).
CI runs it with `--smoke`: the offline digits, 100 images, one epoch, two seeds.
"""

from keras_resnet import experiments
from keras_resnet.experiments import command, report, run

# The options of `python -m keras_resnet.experiments degradation` (--dataset, --seeds, --epochs,
# --subset, --batch-size, --data-dir, --output-dir), and --smoke.
args = command.tutorial_arguments("degradation")

"""
## The experiment is data

Four networks (table rows with `Spec` changes) and the claims, each a contrast of one metric
oriented so that the paper's direction is positive.
"""

experiment = experiments.get("degradation")
for network in experiment.networks:
    print(f"{network.label:<10} {network.model} {network.changes}")
for claim in experiment.claims:
    print(f"claim: {claim.statement}; {claim.metric} contrast {claim.weights}")

"""
## Train every network with every seed, then judge each claim

`run.run` trains seed by seed through `keras_resnet.training.train` and resumes an interrupted
experiment without repeating finished runs; `report.write_outputs` writes `results.csv`,
`report.md` and `degradation.png` (training error dashed, held-out error solid, per epoch,
mean and min-max over seeds, as Fig. 6 draws them).
"""

settings = run.settings(experiment, dataset=args.dataset, seeds=args.seeds, epochs=args.epochs,
                        subset=args.subset, batch_size=args.batch_size, data_dir=args.data_dir)
rows = run.run(experiment, args.output_dir, settings, verbose=args.verbose)
report.write_outputs(experiment, rows, settings, args.output_dir, "tutorials/03_degradation.py", run.COLUMNS)
print(report.summary(experiment, rows))
print(f"Wrote {args.output_dir}/report.md and {args.output_dir}/{experiment.name}.png")
