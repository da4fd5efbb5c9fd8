"""`python -m keras_resnet.experiments NAME`: one experiment (`keras_resnet.experiments.command`)."""

import sys

from keras_resnet.experiments.command import main

sys.exit(main())
