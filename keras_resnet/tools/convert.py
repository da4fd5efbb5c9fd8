"""Command line: convert a torchvision or timm checkpoint into a Keras weights file.

    python -m keras_resnet.tools.convert resnet50-11ad3fa6.pth resnet50.weights.h5
    python -m keras_resnet.tools.convert model.pth model.keras --arch resnext50_32x4d --no-top
    python -m keras_resnet.tools.convert resnet50d.pth resnet50d.weights.h5 --source timm

(or the `keras-resnet-convert` console script).

The output is a weights file (`.weights.h5`), loaded without PyTorch by
`keras_resnet.build(row, layout="torchvision", weights=path)`, or a whole model
(`.keras`), loaded by `keras.saving.load_model(path)`.
"""

import os
import sys

from keras_resnet.checks import ArgumentParser, command_error
from keras_resnet.training.run_folder import check_folder
from keras_resnet.weights import TIMM, TORCHVISION, from_timm, from_torchvision

SOURCES = {"torchvision": (TORCHVISION, from_torchvision), "timm": (TIMM, from_timm)}


def main(argv=None):
    parser = ArgumentParser(
        prog="keras-resnet-convert",
        description="Convert a torchvision or timm ResNet/ResNeXt/Wide ResNet/SE-ResNe(X)t checkpoint to Keras.")
    parser.add_argument("checkpoint", help="torchvision or timm state dict file (.pth), read with weights_only=True")
    parser.add_argument("output", help="a .weights.h5 (weights only) or .keras (whole model) file to write")
    parser.add_argument("--source", choices=list(SOURCES), default="torchvision",
                        help="the library that wrote the checkpoint (default: torchvision)")
    parser.add_argument("--arch", choices=sorted({*TORCHVISION, *TIMM}),
                        help="torchvision builder or timm model name (default: recognised)")
    parser.add_argument("--no-top", action="store_true", help="drop the classifier (include_top=False)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    archs, convert = SOURCES[args.source]
    try:
        if not args.output.endswith((".weights.h5", ".keras")):
            raise ValueError(f"the output must end in .weights.h5 or .keras; received {args.output!r}")
        if os.path.isdir(args.output):
            raise ValueError(f"the output must be a file; received {args.output!r}, a folder")
        check_folder(os.path.dirname(args.output) or ".", "the output's folder")
        if os.path.exists(args.output) and not args.overwrite:
            raise ValueError(f"{args.output!r} exists; pass --overwrite to replace it")
        if args.arch is not None and args.arch not in archs:
            raise ValueError(f"--arch {args.arch} is not one of {args.source}'s {', '.join(archs)}")
        model = convert(args.checkpoint, args.arch, include_top=not args.no_top)
    except ValueError as e:
        return command_error(parser.prog, e)
    except ImportError as e:  # no PyTorch to read the file: not a bad option, the same one line
        return command_error(parser.prog, e, status=1)
    if args.output.endswith(".keras"):
        model.save(args.output)
        print(f"Wrote {args.output}; load it with keras.saving.load_model({args.output!r}).")
        return 0
    model.save_weights(args.output)
    row = archs[model.name]
    top = ", include_top=False" if args.no_top else ""
    classes = model.output_shape[-1]
    classes = f", classes={classes}" if not args.no_top and classes != 1000 else ""
    print(f"Wrote {args.output}; load it with keras_resnet.build({row!r}, layout='torchvision'{top}{classes}, "
          f"weights={args.output!r}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
