"""Width against depth at fixed parameter budgets: a keras-tuner study.

Zagoruyko & Komodakis (Wide Residual Networks, arXiv:1605.07146, REFERENCE.md
section 5) found that, at an equal number of parameters, wider and shallower
residual networks are as accurate as deeper and thinner ones or more, and much
faster to train. This package lets a user test that on their own data and
hardware:

- `budget.plan` solves the width that brings a depth to a parameter budget, from
  the analytic `keras_resnet.complexity` (no keras-tuner, no model built).
- `hypermodel.BudgetHyperModel` is a keras-tuner `HyperModel` whose hyperparameters are a
  parameter budget, a depth and (optionally) ResNeXt cardinality and dropout.
  The width is not searched: it is solved from the depth and the budget with
  the analytic `keras_resnet.complexity`, so every trial meets its budget and
  none is rejected for its size. Depths follow a family's rule: 6n+4 is a Wide
  ResNet (pre-activation basic blocks), 9n+2 a pre-activation bottleneck ResNet
  (the paper's "deep and thin" end, ResNet-164 and -1001). The two rules never
  share a depth (6n+4 is 1 mod 3, 9n+2 is 2 mod 3), so a depth names its block
  kind, and mixing both in `--depths` searches over block kinds.
- `hypermodel.make_tuner` builds a keras-tuner grid (the default: every depth at every
  budget), random, Bayesian or Hyperband tuner over it.
- `command.run_study` searches and writes `results.csv`, `results.png` and
  `report.md` (`report`: pure functions of the result rows), the last placing
  the measured ordering beside the paper's Tables 4 and 5.

`python -m keras_resnet.tuning --help` (`command`) is the command line; it runs alone, as
keras-tuner's distributed chief or worker (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), or, with `--workers N`, as a
chief and N workers on this machine.
"""

