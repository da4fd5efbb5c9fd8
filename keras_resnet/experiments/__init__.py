"""The papers' claims, measured (docs/experiments.md): each experiment trains its networks with
several seeds and gives every claim a verdict from the 95% interval of its per-seed difference.
`definitions` holds the experiments as data, `statistics` the verdict, `run` the training, `report`
the outputs and `command` is `keras-resnet experiment NAME`.
"""
