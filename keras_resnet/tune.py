"""Alias of `keras_resnet.tuning.command`, kept so that existing commands work:
`python -m keras_resnet.tune ...` is `python -m keras_resnet.tuning ...`."""

import sys

from keras_resnet.tuning.command import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
