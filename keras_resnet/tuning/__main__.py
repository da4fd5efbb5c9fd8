"""`python -m keras_resnet.tuning`: the width-against-depth study (`keras_resnet.tuning.command`)."""

import sys

from keras_resnet.tuning.command import main

sys.exit(main())
