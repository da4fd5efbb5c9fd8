"""The commands around the library: `benchmark` (with its `references`), `convert`, `show` and `repeat`."""
