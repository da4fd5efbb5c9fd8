"""`python -m keras_resnet <command>`: the `keras-resnet` command line (`keras_resnet.cli.main`)."""

import sys

from keras_resnet.cli.main import main

sys.exit(main())
