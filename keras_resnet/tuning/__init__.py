"""Width against depth at fixed parameter budgets: a keras-tuner study of Zagoruyko & Komodakis
(Wide Residual Networks, arXiv:1605.07146, Tables 4 and 5), described in docs/tuning.md.

`budget` solves each depth's width for a budget, `hypermodel` is the keras-tuner side, `report`
writes the outputs and `command` is `keras-resnet tune`.
"""
