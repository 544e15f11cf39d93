"""The package's import graph: layers, one direction, no cycles (an AST walk over fastnn/).

The layers, lowest first. A module may import from its own layer or a lower one, never from
a higher one; imports inside one layer must not form a cycle. A new module of fastnn/ must
be given a layer here (the test fails until it is), so where it sits is a decision.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastnn"

LAYERS = [
    # 0: settings and the layer table's definition, importing nothing from fastnn (the
    #    kernels read the table's column numbers, so _layout sits below them)
    {"fastnn._config", "fastnn._version", "fastnn._layout"},
    # 1: the compiled code
    {"fastnn._kernels", "fastnn.kernels"},
    # 2: what the library's modules share
    {"fastnn.validation", "fastnn._io"},
    # 3: the library
    {"fastnn.network", "fastnn.persistence", "fastnn.parallel", "fastnn.datasets", "fastnn.data",
     "fastnn.reference", "fastnn.training", "fastnn.onnx"},
    # (training: SGD's epoch loop, so beside network; onnx: Network.to_onnx calls it)
    # 4: built on the library
    {"fastnn.book", "fastnn.bench", "fastnn.plot", "fastnn.sklearn", "fastnn.sweep",
     "fastnn.images", "fastnn.models"},
    # 5: the entry points
    {"fastnn.cli", "fastnn", "fastnn.__main__"},
]

#: The only packages a function may import locally: the optional extras (and the peers
#: ``fastnn bench --peers`` times), so ``import fastnn`` works without them.
OPTIONAL = {"matplotlib", "sklearn", "distributed", "onnx", "onnxruntime", "PIL", "scipy", "torch",
            "threadpoolctl", "pandas"}


#: Function-local imports tolerated for now, by (module, package imported): none. (The
#: mechanism stays for a branch that lands with one; the test fails when one is gone.)
KNOWN = frozenset()


def module_name(path, root):
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name):
    """The layer index of module ``name``: its own entry, else its package's (``fastnn.book.x``)."""
    parts = name.split(".")
    if name == "fastnn":
        return len(LAYERS) - 1
    for n in range(len(parts), 1, -1):  # never the bare "fastnn": a new module must be placed
        prefix = ".".join(parts[:n])
        for i, layer in enumerate(LAYERS):
            if prefix in layer:
                return i
    return None


def _resolve(node, importer, modules, is_package):
    """The fastnn modules an import statement reaches (``from fastnn import Network`` is ``fastnn``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "fastnn"]
    base = node.module or ""
    if node.level:  # relative: from the importer's package
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    if base.split(".")[0] != "fastnn":
        return []
    targets = []
    for alias in node.names:
        full = f"{base}.{alias.name}"
        targets.append(full if full in modules else base)
    return targets


def import_graph(root):
    """``(edges, local)``: module-level imports between fastnn's modules, and function-local imports.

    ``edges[m]`` is the set of fastnn modules ``m`` imports at module level (class bodies
    and ``try`` blocks included); ``local`` lists ``(module, line, imported top-level
    package)`` for every import inside a function.
    """
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    edges, local = {}, []
    for name, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        edges[name] = set()

        def visit(node, in_function, name=name, is_package=is_package):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    if in_function:
                        if isinstance(child, ast.Import):
                            tops = [alias.name.split(".")[0] for alias in child.names]
                        else:
                            tops = [("fastnn" if child.level else (child.module or "").split(".")[0])]
                        local.extend((name, child.lineno, top) for top in tops)
                    else:
                        edges[name].update(_resolve(child, name, modules, is_package))
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(tree, False)
        edges[name].discard(name)
    return edges, local


def cycles(edges):
    """Every cycle found by a depth-first walk, each as a list of modules."""
    found, state, stack = [], {}, []

    def walk(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == "open":
                found.append([*stack[stack.index(n):], n])
            elif n not in state:
                walk(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            walk(m)
    return found


def violations(root, known=frozenset()):
    """Human-readable breaches of the rules above, for the package at ``root``.

    ``known`` holds ``(module, package)`` function-local imports tolerated for now (each
    must still be there)."""
    edges, local = import_graph(root)
    problems = [f"{m} has no layer: add it to LAYERS in tests/test_layout.py"
                for m in sorted(edges) if layer_of(m) is None]
    for m, targets in sorted(edges.items()):
        for t in sorted(targets):
            lm, lt = layer_of(m), layer_of(t)
            if lm is not None and lt is not None and lt > lm:
                problems.append(f"{m} (layer {lm}) imports {t} (layer {lt}), a layer above it")
    problems += [f"{m} imports {t}: _config must import nothing from fastnn"
                 for m, targets in edges.items() if m == "fastnn._config" for t in targets]
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(edges)]
    problems += [f"{m}:{line} imports {top} inside a function (only optional dependencies may: {sorted(OPTIONAL)})"
                 for m, line, top in local if top not in OPTIONAL and (m, top) not in known]
    problems += [f"known breach {m} -> {top} is gone: remove it from KNOWN in tests/test_layout.py"
                 for m, top in sorted(known - {(m, top) for m, _, top in local})]
    return problems


def test_fastnn_imports_run_one_way():
    assert violations(PACKAGE, KNOWN) == []


def test_the_graph_sees_the_package():
    edges, _ = import_graph(PACKAGE)
    assert {"fastnn", "fastnn.network", "fastnn.validation", "fastnn.cli", "fastnn.book.reproduce"} <= set(edges)
    assert "fastnn.validation" in edges["fastnn.network"]
    assert "fastnn.network" in edges["fastnn.book.reproduce"]


@pytest.fixture
def bad_package(tmp_path):
    """A package named fastnn that breaks every rule once."""
    root = tmp_path / "fastnn"
    (root / "book").mkdir(parents=True)
    files = {
        "__init__.py": "from fastnn.network import Network\n",
        "_config.py": "from fastnn import validation\n",
        "validation.py": "import numpy\n",
        "network.py": "from fastnn import cli\nfrom . import persistence\n",
        "persistence.py": "from fastnn.network import Network\n",
        "cli.py": "def main():\n    import fastnn.network\n    import matplotlib\n",
        "book/__init__.py": "",
        "book/chapter.py": "from fastnn import Network\n",
        "newcomer.py": "",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_the_check_catches_each_kind_of_breach(bad_package):
    problems = violations(bad_package)
    assert "fastnn.newcomer has no layer: add it to LAYERS in tests/test_layout.py" in problems
    assert "fastnn.network (layer 3) imports fastnn.cli (layer 5), a layer above it" in problems
    assert "fastnn.book.chapter (layer 4) imports fastnn (layer 5), a layer above it" in problems  # via __init__
    assert "fastnn._config imports fastnn.validation: _config must import nothing from fastnn" in problems
    assert "import cycle: fastnn.network -> fastnn.persistence -> fastnn.network" in problems
    assert any(p.startswith("fastnn.cli:2 imports fastnn inside a function") for p in problems)
    assert not any("matplotlib" in p.split("(")[0] for p in problems)  # an optional dependency may
    assert "fastnn._config (layer 0) imports fastnn.validation (layer 2), a layer above it" in problems
    assert len(problems) == 7


def test_known_breaches_are_tolerated_only_while_they_exist(bad_package):
    problems = violations(bad_package, {("fastnn.cli", "fastnn"), ("fastnn.gone", "numba")})
    assert not any(p.startswith("fastnn.cli:2 imports fastnn inside a function") for p in problems)
    assert "known breach fastnn.gone -> numba is gone: remove it from KNOWN in tests/test_layout.py" in problems
