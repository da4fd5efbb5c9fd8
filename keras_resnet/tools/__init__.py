"""The commands around the library: `keras-resnet benchmark` (with its references,
`keras_resnet.tools.references`), `convert`, `show` and `repeat`."""
