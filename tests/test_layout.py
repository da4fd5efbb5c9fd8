"""The package's layout: the library (keras_resnet, its spec, models, layers, weights)
imports none of the training, tuning or tool code, nor keras-tuner, matplotlib or the
tf.data pipelines; no module imports one that imports it back; the moved modules stay
reachable by their old names."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_resnet"
LIBRARY = ("keras_resnet", "keras_resnet.spec", "keras_resnet.models", "keras_resnet.layers", "keras_resnet.weights",
           "keras_resnet.pretrained", "keras_resnet.checks")
NOT_LIBRARY = ("keras_tuner", "matplotlib", "tensorflow_datasets", "sklearn", "keras_resnet.training",
               "keras_resnet.tuning", "keras_resnet.tools")


def _imported(modules, then=""):
    """The modules in sys.modules after a fresh interpreter imports `modules` (and runs `then`)."""
    code = f"import sys, json\nimport {', '.join(modules)}\n{then}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def _loaded(imported, names):
    return sorted(m for m in imported if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def keras_alone():
    """What `import keras` imports. Keras 3.15 itself imports matplotlib and scikit-learn
    where they are installed (keras.src.visualization, keras.src.wrappers): what counts is
    what the library adds to it."""
    return _imported(["keras"])


def test_the_library_imports_no_training_tuning_or_tools(keras_alone):
    imported = _imported(LIBRARY)
    assert _loaded(imported - keras_alone, NOT_LIBRARY) == []
    assert _loaded(imported, ("keras_tuner", "tensorflow_datasets", "keras_resnet.training", "keras_resnet.tuning",
                              "keras_resnet.tools")) == []
    assert "keras_resnet.weights" in imported and "tensorflow" in imported  # it sees what is imported


def test_the_budget_solver_and_report_import_no_keras_tuner(keras_alone):
    imported = _imported(["keras_resnet.tuning.budget", "keras_resnet.tuning.report"])
    assert _loaded(imported, ("keras_tuner", "keras_resnet.tuning.hypermodel")) == []
    assert _loaded(imported - keras_alone, ("matplotlib",)) == []  # imported when a plot is drawn


def test_moved_modules_by_their_old_names():
    imported = _imported(["keras_resnet"], then=(
        "assert 'keras_resnet.training.data' not in sys.modules\n"
        "import keras_resnet.training.data, keras_resnet.training.recipes\n"
        "assert keras_resnet.data.load is keras_resnet.training.data.load\n"
        "from keras_resnet import recipes\n"
        "assert recipes.get('wrn') is keras_resnet.training.recipes.RECIPES['wrn']\n"
        "assert keras_resnet.weights.preprocessing_mode('ResNet50') == 'caffe'\n"
        "assert callable(keras_resnet.weights.from_torchvision) and callable(keras_resnet.weights.unfreeze)"))
    assert "keras_resnet.training.data" in imported


def test_moved_modules_import_by_their_old_names():
    _imported(["keras_resnet"], then=(
        "import keras_resnet.data, keras_resnet.training.data\n"
        "assert keras_resnet.data is keras_resnet.training.data\n"
        "import keras_resnet.recipes as recipes\n"
        "from keras_resnet.data import load\n"
        "assert recipes is sys.modules['keras_resnet.training.recipes'] and load is keras_resnet.training.data.load"))


def _module(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, modules):
    """The package's modules that `path` imports anywhere in it (late imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from keras_resnet import weights` imports the module keras_resnet.weights;
            # `from keras_resnet.spec import SPECS`, the module keras_resnet.spec.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def test_no_import_circles():
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    # Importing a module runs its parent packages first, which is not an edge of its own:
    # keras_resnet/__init__ imports the library's modules, and they import their siblings.
    graph = {m: {n for n in _imports(p, paths) if n != m and not m.startswith(n + ".")} for m, p in paths.items()}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for n in graph[m]:
            assert state.get(n) != "open", f"import circle: {' -> '.join(path[path.index(n):] + [n])}"
            if n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert graph["keras_resnet.models"] >= {"keras_resnet.pretrained", "keras_resnet.spec"}
    assert "keras_resnet.models" in graph["keras_resnet.weights"]  # the circle there once was
