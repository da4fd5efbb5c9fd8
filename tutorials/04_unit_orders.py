"""
Title: Residual-unit orders (a)-(e) of He et al. 2016
Description: Where BatchNorm and ReLU go around the addition, compared on CIFAR-10.

He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks" (arXiv:1603.05027),
Fig. 4: five orders of BN, ReLU and addition in a residual unit, each a value of the `unit`
field of a `keras_resnet.Spec`:

- (a) original: conv-BN-ReLU-conv-BN, addition, ReLU (He 2015);
- (b) BN after addition;
- (c) ReLU before addition;
- (d) ReLU-only pre-activation;
- (e) full pre-activation: BN-ReLU-conv-BN-ReLU-conv, addition (the "v2" networks).

Paper (Table 2, CIFAR-10 test error, full schedule):

| unit | ResNet-110 | ResNet-164 |
|------|------------|------------|
| (a)  | 6.61       | 5.93       |
| (b)  | 8.17       | 6.50       |
| (c)  | 7.84       | 6.14       |
| (d)  | 6.71       | 5.91       |
| (e)  | 6.37       | 5.46       |

This tutorial is the `unit_orders` experiment of `keras_resnet.experiments`, the same code as
`keras-resnet experiment unit_orders`: the five orders at one depth (ResNet-20),
every order trained with every seed through the training command, the claims ((e) best; (b)
and (c) worse than (a)) declared before the runs, and a verdict per claim from a 95%
confidence interval over seeds. Offline on Fashion-MNIST by default; `--dataset cifar10
--epochs 182 --subset 0` is the paper's scale (on a GPU).

Run: `python tutorials/04_unit_orders.py`. At the defaults that is 25 ResNet-20 runs of 7-11
minutes each on a 2-core CPU (as the runs of the report below took), about 4 hours. The report in
`docs/experiments/unit_orders/report.md` is of the first two seeds of a run at the defaults with
`--seeds 3` (10 runs, 93 minutes).
`--smoke` runs it in seconds: the offline digits, 100 images, one epoch, two seeds.
"""

from keras_resnet.experiments import command, definitions, report

# The options of `keras-resnet experiment unit_orders` (--dataset, --seeds, --epochs,
# --subset, --batch-size, --data-dir, --output-dir), and --smoke.
args = command.tutorial_arguments("unit_orders")

"""
## Five orders, one field

Each order is the `unit` field of the same ResNet-20 row; nothing else changes.
"""

experiment = definitions.get("unit_orders")
for network in experiment.networks:
    spec = network.spec
    print(f"{network.label:<28} unit={spec.unit} pre-activation={spec.preact}")

"""
## Every order, every seed; a verdict per claim

The report puts each measured difference beside Table 2's, and the figure draws training
error (dashed) and held-out error (solid) per epoch for the five orders.
"""

settings = command.settings_of(experiment, args)
rows = command.measure(experiment, settings, args.output_dir, "python tutorials/04_unit_orders.py", args.verbose)
print(report.summary(experiment, rows))
print(f"Wrote {args.output_dir}/report.md and {args.output_dir}/{experiment.name}.png")
