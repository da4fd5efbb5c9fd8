import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_resnet  # noqa: E402


@pytest.fixture(scope="session")
def tiny_resnext():
    """A ResNeXt small enough for any test: two stages of one bottleneck block,
    grouped 3x3 convs of 4 groups of 2 (then 4) channels, torchvision layout."""
    return keras_resnet.Spec((1, 1), "bottleneck", width=8, groups=4, group_width=2, stem="cifar", stem_width=8,
                             layout="torchvision")


@pytest.fixture
def exit_status():
    """Runs a command's `main(argv)` and returns its exit status, whether `main`
    returns it (the commands' own errors) or argparse exits (its usage errors)."""
    def run(main, argv):
        try:
            return main(argv)
        except SystemExit as e:
            return e.code

    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs processes, trains, or builds the largest networks")
