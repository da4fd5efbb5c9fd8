"""Weight files: keras.applications' ImageNet files (`imagenet`), the `preprocess_input` mode that suits a
network's weights (`preprocessing_mode`), and loading any weights file that fits (`load_weights`). Checkpoints
of torchvision and timm are converted by `keras_resnet.torch_checkpoints`.
"""

import os
import re
import zipfile

import h5py
import keras

from keras_resnet.complexity import with_changes
from keras_resnet.table import SPECS, get_spec

# keras.applications' BASE_WEIGHTS_PATH and WEIGHTS_HASHES (keras/src/applications/resnet.py): for each table
# row the md5 hashes of the file with the top and without. Same URLs, hashes and cache folder (`~/.keras/models`,
# or `$KERAS_HOME/models`), so a file downloaded by either library serves both.
KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
KERAS_WEIGHTS = {
    "ResNet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "ResNet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "ResNet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "ResNet50V2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "ResNet101V2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "ResNet152V2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}

_CONVERT_HINT = (
    "Other pretrained networks come from torchvision or timm checkpoints (layout='torchvision'): "
    "`keras_resnet.from_torchvision('resnet50.pth')` returns the Keras model, and "
    "`keras-resnet convert resnet50.pth resnet50.weights.h5` writes a weights file that "
    "`keras_resnet.build('ResNet50', layout='torchvision', weights='resnet50.weights.h5')` loads."
)


def keras_weights_file(model, include_top=True):
    """The keras.applications file name of a row's ImageNet weights, e.g.
    `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`."""
    return f"{model.lower()}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"


def imagenet(spec, include_top=True, classes=1000, channels=3, classifier_activation="softmax"):
    """Checks that `weights="imagenet"` applies to `spec` (one of `KERAS_WEIGHTS`' rows unchanged but for its
    `output_stride`, which changes no weight) and the builder's other arguments (`channels`: input channels), and
    returns the path of the file in the Keras cache, downloaded on first use as keras.applications does it and
    checked against its md5 hash; ValueError if the weights do not fit the request or the download is corrupt."""
    spec = get_spec(spec)
    name = {SPECS[name]: name for name in KERAS_WEIGHTS}.get(spec.replace(output_stride=None))
    if name is None:
        rows = {v: k for k, v in SPECS.items()}
        raise ValueError(f"weights='imagenet' exists only for the keras.applications networks "
                         f"{', '.join(KERAS_WEIGHTS)} in their default layout; received it for {rows.get(spec, spec)}. "
                         f"{_CONVERT_HINT}")
    if include_top and classes != 1000:
        raise ValueError(f"weights='imagenet' with include_top=True has 1000 classes; received classes={classes}. "
                         f"For another number of classes use include_top=False and a new head.")
    if channels != 3:
        raise ValueError(f"weights='imagenet' expects 3 input channels (RGB); received {channels} channels.")
    if include_top and keras.activations.get(classifier_activation) not in (
            keras.activations.get("softmax"), keras.activations.get(None)):
        raise ValueError(f"The ImageNet classifier was trained with softmax: classifier_activation must be "
                         f"'softmax' or None; received classifier_activation={classifier_activation!r}")
    return _download(keras_weights_file(name, include_top), KERAS_WEIGHTS[name][0 if include_top else 1])


def _download(fname, md5):
    origin = KERAS_WEIGHTS_URL + fname
    try:
        return keras.utils.get_file(fname, origin, cache_subdir="models", file_hash=md5)
    except ValueError as e:
        # get_file's only ValueError here is a failed hash check, after which it keeps the bad file; without a
        # hash it returns the cached file's path, downloading nothing: remove that file.
        os.remove(keras.utils.get_file(fname, origin, cache_subdir="models"))
        raise ValueError(f"The download of {origin} is corrupt or truncated (its md5 hash is not {md5}); it "
                         f"was removed from the Keras cache. Try again, or download the file yourself and "
                         f"pass its path as `weights`.") from e
    except Exception as e:  # get_file raises a bare Exception for network errors
        raise OSError(f"Could not download {origin} ({e}). Offline, copy the file into the `models` folder of "
                      f"the Keras cache ($KERAS_HOME, default ~/.keras) or pass its path as `weights`.") from e


def preprocessing_mode(model, **changes):
    """The `preprocess_input` mode that matches a network's pretrained weights: "caffe" for keras.applications
    v1 weights (RGB->BGR, minus the ImageNet mean), "tf" for its V2 weights (scaled to [-1, 1]), "torch" for the
    torchvision layout (scaled to [0, 1], then the ImageNet mean and std), which timm's weights of every converted
    model expect too (tests/test_torch_checkpoints.py).

    Args:
        model: a name in `keras_resnet.SPECS` or a `Spec`.
        **changes: `Spec` fields to override, e.g. `layout="torchvision"`.

    Example:
        >>> x = keras_resnet.preprocess_input(images, mode=preprocessing_mode("ResNeXt50_32x4d"))
    """
    spec = with_changes(get_spec(model), changes)
    if spec.layout == "torchvision":
        return "torch"
    return "tf" if spec.preact else "caffe"


def load_weights(model, weights):
    """Loads a weights file (`weights`: its path) into `model`, refusing one that does not fit."""
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        what = "a folder" if isinstance(weights, (str, os.PathLike)) and os.path.isdir(weights) else "not a file"
        raise ValueError(f"`weights` must be None, 'imagenet' or the path of an existing weights file; "
                         f"received weights={weights!r} ({what})")
    path = os.fspath(weights)
    kinds = {".h5": h5py.is_hdf5, ".keras": zipfile.is_zipfile}
    kind = next((k for k in kinds if path.endswith(k)), None)
    if kind is None or not kinds[kind](path):
        expected = f"{kind} file" if kind else "a .weights.h5, .h5 or .keras file"
        raise ValueError(f"The weights file {path!r} is not {'a whole ' + expected if kind else expected} "
                         f"(empty, truncated or another format)")
    try:
        # Checked first: Keras loads a file with fewer layers with only a warning, and reports a shape mismatch
        # by dumping the tensor's values.
        mismatch = _first_mismatch(model, path)
        if not mismatch:
            model.load_weights(path)
    except Exception as e:  # h5py's, zipfile's and Keras' own errors do not name the file
        mismatch = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    if mismatch:
        raise ValueError(f"The weights file {path!r} does not fit model {model.name!r}: {mismatch}")


def _snake_case(name):  # as Keras names a layer's group in a `.weights.h5` file
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _first_mismatch(model, path):
    """Describes the first layer whose weights in `path` differ in number or shape. Keras 3 `.weights.h5` files
    store layers as `layers/{class}_{n}` in the order of `model.layers`; legacy HDF5 files (keras.applications'
    downloads) store the layers that have weights, matched in order."""
    if not h5py.is_hdf5(path):
        return None  # not HDF5 (e.g. a .keras zip): Keras itself checks it
    with h5py.File(path, "r") as f:
        if "layers" in f:
            seen, stored = {}, []
            for layer in model.layers:
                key = _snake_case(type(layer).__name__)
                n = seen[key] = seen.get(key, -1) + 1
                group = f["layers"].get(key if n == 0 else f"{key}_{n}")
                vars_ = group["vars"] if group is not None and "vars" in group else {}
                stored.append([vars_[k].shape for k in sorted(vars_, key=int)])
            layers = model.layers
            extra = sum(1 for g in f["layers"].values() if len(g.get("vars", {}))) - sum(1 for s in stored if s)
            if extra > 0:
                return f"the file has weights for {extra} more layers than the model"
        else:
            g = f["model_weights"] if "model_weights" in f else f
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("layer_names", [])]
            stored = [[g[n][w].shape for w in g[n].attrs["weight_names"]]
                      for n in names if len(g[n].attrs.get("weight_names", []))]
            layers = [layer for layer in model.layers if layer.weights]
            if len(stored) != len(layers):
                return f"the file has weights for {len(stored)} layers, the model has {len(layers)} layers with weights"
        for layer, found in zip(layers, stored):
            expected, found = [tuple(w.shape) for w in layer.weights], [tuple(s) for s in found]
            if expected != found:
                return f"layer {layer.name!r} expects weights of shapes {expected}, the file has {found}"
    return None
