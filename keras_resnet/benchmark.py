"""Alias of `keras_resnet.tools.benchmark`, kept so that existing commands work:
`python -m keras_resnet.benchmark ...` is `python -m keras_resnet.tools.benchmark ...`."""

import sys

from keras_resnet.tools.benchmark import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
