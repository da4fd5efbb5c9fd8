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
`keras-resnet experiment degradation`: every network trained with every seed
through the training command, the claims declared before the runs, and a verdict per claim
from a 95% confidence interval over seeds. It runs offline on Fashion-MNIST (Debian's
`dataset-fashion-mnist`, or Keras' download); `--dataset cifar10 --epochs 182 --subset 0`
is the paper's scale (on a GPU).

Run: `python tutorials/03_degradation.py`. At the defaults that is 20 runs of 8-32 minutes each on
a 2-core CPU, about 5 hours in all; the report of such a run is in
`docs/experiments/degradation/report.md`.
`--smoke` runs it in seconds: the offline digits, 100 images, one epoch, two seeds.
"""

from keras_resnet.experiments import command, definitions, report

# The options of `keras-resnet experiment degradation` (--dataset, --seeds, --epochs,
# --subset, --batch-size, --data-dir, --output-dir), and --smoke.
args = command.tutorial_arguments("degradation")

"""
## The experiment is data

Four networks (table rows with `Spec` changes) and the claims, each a contrast of one metric
oriented so that the paper's direction is positive.
"""

experiment = definitions.get("degradation")
for network in experiment.networks:
    print(f"{network.label:<10} {network.model} {network.changes}")
for claim in experiment.claims:
    print(f"claim: {claim.statement}; {claim.metric} contrast {claim.weights}")

"""
## Train every network with every seed, then judge each claim

`command.measure` trains seed by seed through `keras_resnet.training.train` (`run.run`),
resumes an interrupted experiment without repeating finished runs, and after every run
rewrites `results.csv`, `report.md` and `degradation.png` (`report.write_outputs`: training
error dashed, held-out error solid, per epoch, mean and min-max over seeds, as Fig. 6 draws
them).
"""

settings = command.settings_of(experiment, args)
rows = command.measure(experiment, settings, args.output_dir, "python tutorials/03_degradation.py", args.verbose)
print(report.summary(experiment, rows))
print(f"Wrote {args.output_dir}/report.md and {args.output_dir}/{experiment.name}.png")
