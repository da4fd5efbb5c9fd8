"""Convert a torchvision or timm ResNet/ResNeXt/Wide ResNet/SE-ResNe(X)t checkpoint (.pth) to Keras.

    keras-resnet convert resnet50-11ad3fa6.pth resnet50.weights.h5
    keras-resnet convert model.pth model.keras --arch resnext50_32x4d --no-top
    keras-resnet convert resnet50d.pth resnet50d.weights.h5 --source timm

The output is a weights file (`.weights.h5`), loaded without PyTorch by `keras_resnet.build(row,
layout="torchvision", weights=path)`, or a whole model (`.keras`), written whole or not at all; an existing
file is replaced only with `--overwrite`. The conversion is `keras_resnet.from_torchvision` / `from_timm`.
"""

import os

from keras_resnet.cli.files import atomic
from keras_resnet.cli.parser import CommandFailed, UsageError, bad_options, full_disk_ends
from keras_resnet.cli.run_folder import check_folder
from keras_resnet.torch_checkpoints import TIMM, TORCHVISION, from_timm, from_torchvision

SOURCES = {"torchvision": (TORCHVISION, from_torchvision), "timm": (TIMM, from_timm)}


def arguments(p):
    p.add_argument("checkpoint", help="torchvision or timm state dict file (.pth), read with weights_only=True")
    p.add_argument("output", help="a .weights.h5 (weights only) or .keras (whole model) file to write")
    p.add_argument("--source", choices=list(SOURCES), default="torchvision",
                   help="the library that wrote the checkpoint (default: torchvision)")
    p.add_argument("--arch", choices=sorted({*TORCHVISION, *TIMM}),
                   help="torchvision builder or timm model name (default: recognised from the tensors)")
    p.add_argument("--no-top", action="store_true", help="drop the classifier (include_top=False)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args):
    archs, convert = SOURCES[args.source]
    output = args.output
    with bad_options():
        if not output.endswith((".weights.h5", ".keras")):
            raise UsageError(f"the output must end in .weights.h5 or .keras; received {output!r}")
        if os.path.isdir(output):
            raise UsageError(f"the output must be a file; received {output!r}, a folder")
        check_folder(os.path.dirname(output) or ".", "the output's folder")
        if os.path.exists(output) and not args.overwrite:
            raise UsageError(f"{output!r} exists; pass --overwrite to replace it")
        if args.arch is not None and args.arch not in archs:
            raise UsageError(f"--arch {args.arch} is not one of {args.source}'s {', '.join(archs)}")
        try:
            model = convert(args.checkpoint, args.arch, include_top=not args.no_top)
        except ImportError as e:  # no PyTorch to read the file: not a bad option
            raise CommandFailed(str(e)) from e
    with full_disk_ends(os.path.dirname(output) or ".", "convert again"), atomic(output) as partial:
        (model.save if output.endswith(".keras") else model.save_weights)(partial)
    if output.endswith(".keras"):
        print(f"Wrote {output}; load it with keras.saving.load_model({output!r}).")
        return 0
    classes = model.output_shape[-1]
    extra = ", include_top=False" if args.no_top else f", classes={classes}" if classes != 1000 else ""
    print(f"Wrote {output}; load it with keras_resnet.build({archs[model.name]!r}, layout='torchvision'{extra}, "
          f"weights={output!r}).")
    return 0
