import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
