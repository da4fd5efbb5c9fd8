"""What every command shares: the `keras-resnet` command line and its run folders.

- `main`: `keras-resnet <command>` (also `python -m keras_resnet <command>`), which finds the
  command's module, gives it a parser and turns its errors into one line.
- `parser`: the parser, the options several commands share, the one-line error path
  (status 2 for a bad option, 1 for a failure such as a full disk) and the option check.
- `files`: files that appear whole or not at all (one atomic writer), JSON and CSV.
- `run_folder`: claiming an output folder for one run, study or experiment, and its lock.
- `figures`: matplotlib figures written as PNG files.

The library (`keras_resnet` outside its command subpackages) imports nothing from here.
"""
