"""Width against depth at fixed parameter budgets: a keras-tuner study.

Zagoruyko & Komodakis (Wide Residual Networks, arXiv:1605.07146, Tables 4 and 5) found
that, at an equal number of parameters, wider and shallower residual networks are as
accurate as deeper and thinner ones or more, and much faster to train. This package lets
a user test that on their own data and hardware:

- `budget.plan` solves the width that brings a depth to a parameter budget, from the
  analytic `keras_resnet.complexity` (no keras-tuner, no model built). Depths follow a
  family's rule: 6n+4 is a Wide ResNet (pre-activation basic blocks), 9n+2 a
  pre-activation bottleneck ResNet (the paper's "deep and thin" end, ResNet-164 and
  -1001). The two rules never share a depth, so a depth names its block kind.
- `hypermodel.BudgetHyperModel` is a keras-tuner `HyperModel` whose hyperparameters are
  a parameter budget, a depth and (optionally) ResNeXt cardinality and dropout; the
  width is solved, never searched, so every trial meets its budget.
  `hypermodel.make_tuner` builds a grid (the default: every depth at every budget),
  random, Bayesian or Hyperband tuner over it.
- `report` writes `results.csv`, `results.png` and `report.md`, pure functions of the
  result rows, the last placing each measured ordering beside the paper's.
- `command` is `keras-resnet tune`; it runs alone, as keras-tuner's distributed chief or
  worker (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), or,
  with `--workers N`, as a chief and N workers on this machine.
"""
