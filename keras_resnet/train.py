"""Alias of `keras_resnet.training.train`, kept so that existing commands work:
`python -m keras_resnet.train ...` is `python -m keras_resnet.training ...`."""

import sys

from keras_resnet.training.train import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
