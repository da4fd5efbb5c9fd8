"""The package's structural rules, measured on its source.

- No module of keras_resnet is over 400 lines, and no function over 60 lines (its
  docstring aside): each reads in one sitting.
- No import cycle among keras_resnet's modules (their module-level imports).
- The library, the top-level modules keras_resnet/*.py, imports nothing of the commands
  (keras_resnet.cli, training, tuning, experiments, tools) nor keras-tuner or
  tensorflow-datasets: `import keras_resnet` in a fresh interpreter loads none of them.
- `keras_resnet/__init__.py` imports every table row's builder by name, so that a search
  for `ResNet50` finds where `keras_resnet.ResNet50` comes from.
- No file of the package or the tutorials points at REFERENCE.md, a file outside the
  repository.
"""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

import keras_resnet

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_resnet"
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
COMMANDS = ("keras_resnet.cli", "keras_resnet.training", "keras_resnet.tuning", "keras_resnet.experiments",
            "keras_resnet.tools")
NOT_LIBRARY = (*COMMANDS, "keras_tuner", "tensorflow_datasets")
# `python -m keras_resnet <command>`: the command line's entry point, not part of the library.
ENTRY_POINT = PACKAGE / "__main__.py"
LIBRARY = [p for p in sorted(PACKAGE.glob("*.py")) if p != ENTRY_POINT]


def _name(path):
    """The module name of a file of the package, e.g. keras_resnet.cli.main."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in SOURCES}


def _is_within(module, packages):
    return any(module == p or module.startswith(p + ".") for p in packages)


# Sizes ------------------------------------------------------------------------------


def _long_functions(path):
    """(name, line, lines) of every function of `path` longer than the limit, its docstring aside."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines -= first.end_lineno - first.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append((node.name, node.lineno, lines))
    return found


def test_no_module_is_over_400_lines():
    long = {_name(p): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines"


def test_no_function_is_over_60_lines():
    long = {f"{_name(p)}.{name} (line {line})": n for p in SOURCES for name, line, n in _long_functions(p)}
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines, docstrings aside"


def test_the_size_rules_measure_what_they_say(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    docstring = '    """A docstring\n\n    of several lines."""\n'
    (tmp_path / "limit.py").write_text(f"def fits():\n{docstring}{body}\n")
    (tmp_path / "over.py").write_text(f"def outer():\n    def inner():\n        pass\n{body}\n")
    assert _long_functions(tmp_path / "limit.py") == []
    assert _long_functions(tmp_path / "over.py") == [("outer", 1, MAX_FUNCTION_LINES + 2)]


# Imports ----------------------------------------------------------------------------


def _module_level(tree):
    """The statements that run when the module is imported: not those inside functions."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _imports(path, nodes=None):
    """The modules that `path` imports (`nodes`: the statements to look at, default all), a
    `from package import name` counted as the submodule where `name` is one."""
    tree = ast.parse(path.read_text())
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree) if nodes is None else nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..cli import parser`
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


def _cycle(graph):
    """One import cycle of `graph` (module -> modules it imports) as a list, or None."""
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def _graph():
    return {m: {n for n in _imports(p, _module_level) if n in MODULES and n != m} for m, p in MODULES.items()}


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_import_graph_sees_the_imports():
    graph = _graph()
    assert {"keras_resnet.builder", "keras_resnet.table", "keras_resnet.weight_files"} <= graph["keras_resnet.models"]
    assert "keras_resnet.models" in graph["keras_resnet"]
    assert "keras_resnet.cli.parser" in graph["keras_resnet.cli.main"]
    # Imports inside functions run later, when the function does: not edges.
    assert "keras_resnet.complexity" not in graph["keras_resnet.tools.show"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_the_library_imports_nothing_of_the_commands(path):
    """Anywhere in the module, late imports too."""
    assert sorted(m for m in _imports(path) if _is_within(m, NOT_LIBRARY)) == []


def _loaded_by(code):
    """The modules in sys.modules after a fresh interpreter runs `code`."""
    code = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def keras_alone():
    """What `import keras` imports. Keras itself imports matplotlib and scikit-learn where
    they are installed (keras.src.visualization, keras.src.wrappers): what counts is what
    keras_resnet adds to it."""
    return _loaded_by("import keras")


def test_importing_the_library_loads_none_of_the_commands(keras_alone):
    loaded = _loaded_by("\n".join(f"import {_name(p)}" for p in LIBRARY))
    assert {"keras_resnet.models", "keras_resnet.weight_files", "tensorflow"} <= loaded  # it sees what is imported
    assert sorted(m for m in loaded if _is_within(m, NOT_LIBRARY)) == []
    assert sorted(m for m in loaded - keras_alone if _is_within(m, ("matplotlib", "sklearn"))) == []


def test_the_budget_solver_and_report_import_no_keras_tuner(keras_alone):
    loaded = _loaded_by("import keras_resnet.tuning.budget, keras_resnet.tuning.report")
    assert sorted(m for m in loaded if _is_within(m, ("keras_tuner", "keras_resnet.tuning.hypermodel"))) == []
    assert sorted(m for m in loaded - keras_alone if _is_within(m, ("matplotlib",))) == []  # loaded to draw


# Names ------------------------------------------------------------------------------


def test_the_package_imports_every_builder_by_name():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                and node.module == "keras_resnet.models" for alias in node.names}
    missing = [name for name in keras_resnet.SPECS if name not in imported]
    assert missing == [], "keras_resnet/__init__.py must import these from keras_resnet.models by name"
    assert all(getattr(keras_resnet, name) is getattr(keras_resnet.models, name) for name in keras_resnet.SPECS)


def test_nothing_points_at_reference_md():
    files = [p for folder in (PACKAGE, ROOT / "tutorials") for p in folder.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert [str(p.relative_to(ROOT)) for p in files if "REFERENCE.md" in p.read_text(errors="ignore")] == []
