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
        "keras-tuner>=1.4",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3"],
        # tests/test_backends.py under KERAS_BACKEND=jax / torch (.ci/backends)
        "backends": ["jax", "torch"],
    },
    license="Apache-2.0",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
