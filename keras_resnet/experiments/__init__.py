"""The papers' claims, measured: each experiment trains its networks with several seeds and
gives every claim a verdict from the 95% interval of its per-seed difference.

- `definitions`: the experiments as data (networks, claims, defaults).
- `statistics`: the interval and the rule that turns it into a verdict.
- `run`: every network with every seed through the training command's own code.
- `report`: the CSV, report and figure, pure functions of the result rows.
- `command`: `keras-resnet experiment NAME`.
"""
