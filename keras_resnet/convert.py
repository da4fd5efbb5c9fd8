"""Alias of `keras_resnet.tools.convert`, kept so that existing commands work:
`python -m keras_resnet.convert ...` is `python -m keras_resnet.tools.convert ...`."""

import sys

from keras_resnet.tools.convert import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
