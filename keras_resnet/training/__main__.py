"""`python -m keras_resnet.training`: the training command (`keras_resnet.training.train`)."""

import sys

from keras_resnet.training.train import main

sys.exit(main())
