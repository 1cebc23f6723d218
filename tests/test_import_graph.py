"""The import graph of the `vivit` package, read from its source with `ast`: no import cycles, and
the host-side input pipeline (vivit/data) never imports the training code (vivit/train).

Every import statement counts, at module level or inside a function: `import a.b`, `from a import
b` (b a submodule, or a name defined in a), and relative imports. An import names one module: the
submodule when there is one, else the module or package it names (a package is its
`__init__.py`). The parent packages that Python also runs are not counted: every module would
otherwise form a cycle with its own package's `__init__.py`, which imports it.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path
from typing import Collection

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "vivit"

# module -> {module it imports: line of its first import there}
Graph = dict[str, dict[str, int]]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted name -> source file, for every module of the package in `package_dir`."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a `from` import names (`from ..a import b` in module -> its `..a`)."""
    if level == 0:
        return name or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(parts):
        raise ValueError(f"{module}: relative import beyond the top-level package.")
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


def _known(name: str, modules: Collection[str]) -> str | None:
    """The longest prefix of dotted `name` that is one of `modules` (None: outside the package)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: Collection[str]) -> dict[str, int]:
    """The package modules that `module` (source `path`) imports, with the line of the first."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            # `from a import b`: the submodule a.b if there is one, else a itself.
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _known(name, modules)
            if target is not None and target != module:
                found[target] = min(found.get(target, node.lineno), node.lineno)
    return found


def import_graph(package_dir: Path) -> tuple[Graph, dict[str, Path]]:
    """Every module's imports of the package's other modules, and the modules' files."""
    files = module_files(package_dir)
    return {module: imports_of(module, path, files) for module, path in files.items()}, files


def _shortest_cycle_through(graph: Graph, start: str) -> list[str] | None:
    """[start, ..., start]: the fewest imports that lead from `start` back to it, or None."""
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for imported in sorted(graph.get(module, {})):
            if imported == start:
                chain = [module]
                while chain[-1] != start:
                    chain.append(parents[chain[-1]])
                return chain[::-1] + [start]
            if imported not in parents:
                parents[imported] = module
                queue.append(imported)
    return None


def find_cycles(graph: Graph) -> list[list[str]]:
    """One shortest cycle through each module that lies on one, each told once, as a chain
    [a, b, ..., a] that starts at its alphabetically first module."""
    cycles = []
    for module in sorted(graph):
        cycle = _shortest_cycle_through(graph, module)
        if cycle is None:
            continue
        loop = cycle[:-1]
        first = loop.index(min(loop))
        chain = loop[first:] + loop[:first] + [loop[first]]
        if chain not in cycles:
            cycles.append(chain)
    return cycles


def describe(chain: list[str], graph: Graph) -> str:
    """'a:12 -> b:3 -> a': each module with the line that imports the next one."""
    steps = [f"{module}:{graph[module][after]}" for module, after in zip(chain, chain[1:])]
    return " -> ".join(steps + [chain[-1]])


def imports_between(graph: Graph, importer: str, imported: str) -> list[tuple[str, str, int]]:
    """(module, module it imports, line) wherever `importer` or a module under it imports
    `imported` or a module under it."""

    def under(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return [(module, target, line) for module, targets in sorted(graph.items())
            if under(module, importer)
            for target, line in sorted(targets.items()) if under(target, imported)]


# The package.


def test_the_package_has_no_import_cycles():
    graph, _ = import_graph(PACKAGE_DIR)
    cycles = find_cycles(graph)
    assert not cycles, ("Import cycles (module:line -> the module that line imports):\n"
                        + "\n".join(describe(chain, graph) for chain in cycles))


def test_the_input_pipeline_never_imports_the_training_code():
    graph, _ = import_graph(PACKAGE_DIR)
    assert imports_between(graph, "vivit.data", "vivit.train") == []


# The layers of docs/architecture.md, lowest first: a module imports only from its own layer or
# below. Each area's config.py declares keys and imports nothing above the base, so the config
# assembly (vivit.config) may read them all.
LAYERS = (
    ("base", ("vivit.config", "vivit.config_keys", "vivit.storage", "vivit.registry",
              "vivit.provenance",
              "vivit.processes", "vivit.cli", "vivit.startup_notices", "vivit.models.config",
              "vivit.data.config", "vivit.train.config", "vivit.pretrained.config")),
    ("files", ("vivit.workdir", "vivit.formats")),
    ("domain", ("vivit.tasks", "vivit.models", "vivit.data")),
    ("run parts", ("vivit.train", "vivit.pretrained", "vivit.sweep", "vivit.flops", "vivit.run")),
    # "vivit": the package's own __init__, a facade (vivit.load_run) over everything below.
    ("entry points", ("vivit", "vivit.export", "vivit.pretrained.__main__", "vivit.sweep.__main__",
                      "vivit.data.prepare")),
)


def _layer_of(module: str) -> int:
    """The layer of the most specific prefix of `module` that LAYERS names ("vivit" names the
    package's own __init__ only)."""
    best, depth = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "vivit" and module.startswith(prefix + "."))
            if inside and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    assert best is not None, f"{module} is in no layer of LAYERS: add it"
    return best


def test_no_module_imports_from_a_layer_above_its_own():
    graph, _ = import_graph(PACKAGE_DIR)
    upward = [f"{importer} ({LAYERS[_layer_of(importer)][0]}) -> {target} "
              f"({LAYERS[_layer_of(target)][0]})"
              for importer, targets in sorted(graph.items()) for target in targets
              if _layer_of(target) > _layer_of(importer)]
    assert upward == []


def test_the_graph_of_the_package_is_read():
    """A parser that silently saw nothing would pass both checks above."""
    graph, files = import_graph(PACKAGE_DIR)
    assert len(files) > 50 and files["vivit.data"].name == "__init__.py"
    assert "vivit.train.pixels" in graph["vivit.train.step"]
    assert "vivit.data.preprocess" in graph["vivit.data"]
    assert "vivit.tasks" in graph["vivit.data"]  # imported inside a function


# The checks themselves, on small packages made on the fly.


def _package(root: Path, sources: dict[str, str]) -> Path:
    for relative, source in sources.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root / "fake"


def test_every_kind_of_import_becomes_an_edge(tmp_path):
    package = _package(tmp_path, {
        "fake/__init__.py": "from fake import a\nimport os\n",
        "fake/a.py": "import fake.b.c\nfrom fake.b import d, NAME\n",
        "fake/b/__init__.py": "from . import c\nNAME = 1\n",
        "fake/b/c.py": "def f():\n    from ..a import helper\n    from .d import g\n",
        "fake/b/d.py": "from fake import b\nfrom fake.b.c import *\nimport numpy.linalg\n",
    })
    graph, files = import_graph(package)
    assert sorted(files) == ["fake", "fake.a", "fake.b", "fake.b.c", "fake.b.d"]
    assert graph == {
        "fake": {"fake.a": 1},
        "fake.a": {"fake.b.c": 1, "fake.b.d": 2, "fake.b": 2},
        "fake.b": {"fake.b.c": 1},
        "fake.b.c": {"fake.a": 2, "fake.b.d": 3},
        "fake.b.d": {"fake.b": 1, "fake.b.c": 2},
    }


def test_cycles_are_found_and_told_as_chains(tmp_path):
    package = _package(tmp_path, {
        "fake/__init__.py": "",
        "fake/a.py": "import fake.b\n",
        "fake/b.py": "\n\ndef late():\n    from fake import c\n",
        "fake/c.py": "from . import a\n",
        "fake/d.py": "import fake.e\n",
        "fake/e.py": "import fake.d\nimport fake.a\n",
        "fake/leaf.py": "import fake.d\n",
    })
    graph, _ = import_graph(package)
    cycles = find_cycles(graph)
    assert cycles == [["fake.a", "fake.b", "fake.c", "fake.a"], ["fake.d", "fake.e", "fake.d"]]
    assert describe(cycles[0], graph) == "fake.a:1 -> fake.b:4 -> fake.c:1 -> fake.a"


def test_a_package_without_cycles_passes(tmp_path):
    package = _package(tmp_path, {
        "fake/__init__.py": "from fake.data import load\n",
        "fake/data/__init__.py": "from fake.data.load import load\n",
        "fake/data/load.py": "import fake.util\n",
        "fake/train.py": "from fake.data import load\nimport fake.util\n",
        "fake/util.py": "",
    })
    graph, _ = import_graph(package)
    assert find_cycles(graph) == []
    assert imports_between(graph, "fake.data", "fake.train") == []
    assert imports_between(graph, "fake.train", "fake.data") == [
        ("fake.train", "fake.data.load", 1)]
