"""Packaging for keras_resnet.

The import name is `keras_resnet`. The PyPI name `keras-resnet` belongs to an
unrelated, dormant 2019 package that also installs a `keras_resnet` module, so
this distribution is called `keras-resnet-zoo`; do not install both.
"""

from setuptools import find_packages, setup

setup(
    name="keras-resnet-zoo",
    version="0.1.0",
    description="ResNet v1/v2, Wide ResNet and ResNeXt for Keras 3, from one block-spec table",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_resnet", "keras_resnet.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3,<4",
        "tensorflow-datasets>=4.9",
        # tensorflow-datasets' file utilities import it without declaring it: without it,
        # download_and_prepare() of every dataset fails in a fresh install.
        "importlib_resources",
        "keras-tuner>=1.4",
        "scikit-learn>=1.0",  # its bundled digits are the offline default dataset
        "matplotlib>=3.5",  # learning-curve plots of the training command
        "tensorboard>=2.16",  # its logs; TensorFlow no longer installs it
    ],
    # torch only reads torchvision and timm checkpoints (keras_resnet.from_torchvision, from_timm).
    # The tests also compare with torchvision and run on JAX and PyTorch. torch is pinned to the
    # CPU build the project is measured with; torchvision's models are installed without their
    # dependencies (README), since its wheels would pull a CUDA torch.
    # export: what Keras' `model.export(path, format="onnx")` converts with (tf2onnx), and the
    # runtime that runs the file (onnxruntime); SavedModel and LiteRT need only TensorFlow.
    extras_require={
        # timm (the reference of the refinement rows and of from_timm) needs torchvision, pinned to the
        # release built for the pinned torch: torchvision 0.28 requires torch==2.13.0 exactly, so neither
        # can bring another (CUDA) torch.
        "test": ["pytest>=7", "pytest-xdist>=3", "jax", "torch==2.13.0", "pillow", "torchvision==0.28.*", "timm>=1.0,<2",
                 "tf2onnx>=1.16", "onnx", "onnxruntime"],
        "torch": ["torch>=1.13"],
        "export": ["tf2onnx>=1.16", "onnx", "onnxruntime"],
    },
    entry_points={"console_scripts": ["keras-resnet = keras_resnet.cli.main:main"]},
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
