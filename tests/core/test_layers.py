"""The package's layers, read from the source with ``ast`` (no kmsg module is imported).

Every module under ``kmsg/`` is parsed, and each import of a kmsg module becomes an edge of the
import graph, of one of three kinds:

* ``module level``: runs when the importing module is imported (inside ``try``, a class body or a
  plain ``if`` too);
* ``inside a function``: runs when the function is called (a lazy import), including
  ``importlib.import_module(...)`` calls, whose targets are read from the module's string
  literals that name kmsg modules (``"kmsg.adapters.redis"``, ``"kmsg.cli.app:main"``);
* ``type-only``: under ``if TYPE_CHECKING:``; it never runs, so it is allowed where a runtime
  import would not be.

``from kmsg.a import b`` is an edge to ``kmsg.a.b`` when that is a module, else to ``kmsg.a``;
relative imports are resolved against the importing module's package.

The rules:

(a) core (every module outside ``kmsg/adapters/``) never imports ``kmsg.adapters`` or anything in
    it at runtime, except the lazy import by URL scheme in ``kmsg/urls.py`` (``ALLOWED_LAZY``);
(b) an adapter package (``kmsg.adapters.sqlite``, ``kmsg.adapters.redis``) never imports another
    at runtime, and the shared modules (``kmsg/adapters/base.py`` and the like) import none;
(c) no import cycle among kmsg modules at import time: module-level edges only, since a loop
    closed by an import inside a function (``kmsg.urls`` and the Redis adapter, ``kmsg.cli.app``
    and its lazily loaded commands) or by a type-only one does not run while the modules load.
"""

from __future__ import annotations

import ast
import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

REPO: Final = Path(__file__).resolve().parents[2]
PACKAGE: Final = "kmsg"
ADAPTERS: Final = f"{PACKAGE}.adapters"
DYNAMIC_IMPORTERS: Final = frozenset(
    {"importlib.import_module", "import_module", "__import__", "importlib.__import__"}
)

ALLOWED_LAZY: Final = frozenset(
    {
        # open_queue() imports the adapter a URL's scheme names, on first use (kmsg/urls.py).
        ("kmsg.urls", "opener_for", "kmsg.adapters.sqlite"),
        ("kmsg.urls", "opener_for", "kmsg.adapters.redis"),
        # open_delivery_store() imports the store of the backend a URL names, the same way.
        ("kmsg.messaging.reports", "_open", "kmsg.adapters.sqlite.delivery_store"),
        ("kmsg.messaging.reports", "_open", "kmsg.adapters.redis.delivery_store"),
    }
)
"""(importing module, function, adapter module): the only runtime imports of an adapter from
core, each allowed only as a lazy ``importlib.import_module`` call in that function."""


class Kind(enum.Enum):
    """When an import runs."""

    MODULE = "module level"
    FUNCTION = "inside a function"
    TYPE_ONLY = "type-only (if TYPE_CHECKING)"


@dataclass(frozen=True)
class Edge:
    """One import of kmsg module ``target`` by kmsg module ``source``, at ``path``:``line``."""

    source: str
    target: str
    path: str
    line: int
    kind: Kind
    function: str | None
    statement: str
    dynamic: bool = False

    def __str__(self) -> str:
        """``path:line: source imports target (kind, in function): `statement```."""
        where = f" in {self.function}()" if self.function else ""
        how = ", dynamic" if self.dynamic else ""
        return (
            f"{self.path}:{self.line}: {self.source} imports {self.target} "
            f"({self.kind.value}{where}{how}): `{self.statement}`"
        )


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` (the repository), by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def is_type_checking(test: ast.expr) -> bool:
    """Whether an ``if`` test is ``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a name or attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


class ImportCollector(ast.NodeVisitor):
    """Collects the kmsg imports of one module, with the kind and function of each."""

    def __init__(self, module: str, path: str, source: str, modules: Mapping[str, Path]) -> None:
        self.module = module
        self.path = path
        self.modules = modules
        self.package = module if path.endswith("/__init__.py") else module.rpartition(".")[0]
        self.lines = source.splitlines()
        self.scope: list[str] = []  # enclosing classes and functions
        self.functions = 0  # how many of them are functions
        self.type_only = False
        self.literals: list[str] = []
        self.edges: list[Edge] = []

    def collect(self, tree: ast.Module) -> list[Edge]:
        """The module's kmsg imports, in the order they appear."""
        self.literals = kmsg_literals(tree, self.modules)
        self.visit(tree)
        return self.edges

    def _add(self, node: ast.stmt | ast.expr, target: str, *, dynamic: bool = False) -> None:
        if not in_package(target, PACKAGE):
            return
        while target not in self.modules:  # `import kmsg.x.y` of a name that is not a module
            target = target.rpartition(".")[0]
        if self.type_only:
            kind = Kind.TYPE_ONLY
        else:
            kind = Kind.FUNCTION if self.functions else Kind.MODULE
        edge = Edge(
            source=self.module,
            target=target,
            path=self.path,
            line=node.lineno,
            kind=kind,
            function=".".join(self.scope) if self.functions else None,
            statement=self.lines[node.lineno - 1].strip(),
            dynamic=dynamic,
        )
        self.edges.append(edge)

    def _in_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1
        self.scope.pop()

    visit_FunctionDef = _in_function
    visit_AsyncFunctionDef = _in_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """A class body runs at import; its name goes into its methods' qualified names."""
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_If(self, node: ast.If) -> None:
        """An ``if TYPE_CHECKING:`` body is type-only; its ``else`` runs."""
        if not is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer, self.type_only = self.type_only, True
        for statement in node.body:
            self.visit(statement)
        self.type_only = outer
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        """``import kmsg.x [as y]``."""
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        """``from kmsg.x import y`` and ``from .x import y``."""
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in self.modules else base)

    def visit_Call(self, node: ast.Call) -> None:
        """``importlib.import_module(...)``: a literal target, else any kmsg module the module's
        string literals name."""
        if dotted(node.func) in DYNAMIC_IMPORTERS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                targets = [first.value]
            else:
                targets = self.literals
            for target in targets:
                self._add(node, target, dynamic=True)
        self.generic_visit(node)


def kmsg_literals(tree: ast.AST, modules: Mapping[str, Path]) -> list[str]:
    """The string literals of ``tree`` that name a kmsg module below the package (the text
    before any ``:attribute``): what a dynamic import in that module may import."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.partition(":")[0]
            if name.startswith(f"{PACKAGE}.") and name in modules:
                found.add(name)
    return sorted(found)


def collect_edges(root: Path = REPO) -> list[Edge]:
    """Every kmsg-internal import of the package under ``root`` (a checkout), parsed only."""
    modules = module_names(root)
    edges: list[Edge] = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(source, relative)
        edges.extend(ImportCollector(module, relative, source, modules).collect(tree))
    return edges


def in_package(module: str, package: str) -> bool:
    """Whether ``module`` is ``package`` or inside it."""
    return module == package or module.startswith(f"{package}.")


def adapter_package(module: str, root: Path = REPO) -> str | None:
    """``kmsg.adapters.<name>`` when ``module`` is in that adapter package, else None (core, or
    a shared module directly under ``kmsg/adapters/``)."""
    parts = module.split(".")
    if len(parts) < 3 or not in_package(module, ADAPTERS):
        return None
    if not (root / Path(*parts[:3]) / "__init__.py").exists():
        return None
    return ".".join(parts[:3])


def core_to_adapter_violations(edges: Iterable[Edge]) -> list[Edge]:
    """Rule (a): runtime imports of ``kmsg.adapters*`` by core modules, save ``ALLOWED_LAZY``."""
    return [
        edge
        for edge in edges
        if not in_package(edge.source, ADAPTERS)
        and in_package(edge.target, ADAPTERS)
        and edge.kind is not Kind.TYPE_ONLY
        and not is_allowed_lazy(edge)
    ]


def is_allowed_lazy(edge: Edge) -> bool:
    """Whether ``edge`` is one of the lazy imports ``ALLOWED_LAZY`` names."""
    return (
        edge.dynamic
        and edge.kind is Kind.FUNCTION
        and (edge.source, edge.function, edge.target) in ALLOWED_LAZY
    )


def cross_adapter_violations(edges: Iterable[Edge], root: Path = REPO) -> list[Edge]:
    """Rule (b): runtime imports from one adapter package (or a shared adapter module) into
    another adapter package."""
    found = []
    for edge in edges:
        if not in_package(edge.source, ADAPTERS) or edge.kind is Kind.TYPE_ONLY:
            continue
        target = adapter_package(edge.target, root)
        if target is not None and adapter_package(edge.source, root) != target:
            found.append(edge)
    return found


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one module or a module
    that imports itself: the modules that reach each other (graphs here are small)."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        reach[start] = seen
    components = {
        frozenset([start, *(other for other in seen if start in reach.get(other, ()))])
        for start, seen in reach.items()
        if start in seen
    }
    return sorted(sorted(component) for component in components)


def shortest_cycle(start: str, edges: Mapping[str, Mapping[str, Edge]]) -> list[Edge]:
    """A shortest cycle of imports through module ``start`` (breadth-first search)."""
    previous: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, edge in sorted(edges.get(node, {}).items()):
                if target == start:
                    cycle = [edge]
                    while cycle[0].source != start:
                        cycle.insert(0, previous[cycle[0].source])
                    return cycle
                if target not in previous:
                    previous[target] = edge
                    following.append(target)
        frontier = following
    return []


def import_cycles(edges: Iterable[Edge]) -> dict[frozenset[str], list[Edge]]:
    """Each import cycle among the given edges: its modules (a strongly connected component) and
    one shortest cycle through the first of them, as the imports that close it."""
    first_edge: dict[str, dict[str, Edge]] = defaultdict(dict)
    for edge in edges:
        first_edge[edge.source].setdefault(edge.target, edge)
    graph = {source: list(targets) for source, targets in first_edge.items()}
    cycles = {}
    for component in strongly_connected(graph):
        cycles[frozenset(component)] = shortest_cycle(component[0], first_edge)
    return cycles


def describe(rule: str, edges: Iterable[Edge]) -> str:
    """An assertion message: the rule broken, then each import that broke it (file:line)."""
    return "\n".join([rule, *(f"  {edge}" for edge in edges)])


def describe_cycles(cycles: Mapping[frozenset[str], Sequence[Edge]]) -> str:
    """An assertion message: each cycle's modules, then the imports that close one loop."""
    lines = ["(c) import cycles at import time (module-level imports):"]
    for modules, loop in cycles.items():
        path = " -> ".join([loop[0].source, *(edge.target for edge in loop)])
        lines.append(f"  cycle among {', '.join(sorted(modules))}: {path}")
        lines.extend(f"    {edge}" for edge in loop)
    return "\n".join(lines)


def runtime_cycles(edges: Iterable[Edge]) -> dict[frozenset[str], list[Edge]]:
    """Rule (c): the cycles of module-level imports."""
    return import_cycles(edge for edge in edges if edge.kind is Kind.MODULE)


RULE_A: Final = "(a) core imports an adapter at runtime (only ALLOWED_LAZY may):"
RULE_B: Final = "(b) an adapter package (or a shared adapter module) imports an adapter package:"


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    """The kmsg-internal imports of this checkout's ``kmsg/``."""
    return collect_edges(REPO)


def test_core_imports_no_adapter(edges: list[Edge]) -> None:
    """(a) Core never imports ``kmsg.adapters*`` at runtime, save the lazy import by URL scheme
    in ``kmsg/urls.py``; a type-only import is allowed."""
    violations = core_to_adapter_violations(edges)
    assert not violations, describe(RULE_A, violations)


def test_the_allowed_lazy_import_is_where_it_is_documented(edges: list[Edge]) -> None:
    """Each ``ALLOWED_LAZY`` entry is a real dynamic import in that function (an allowance that
    no longer matches must be updated, not left to allow something else later)."""
    lazy = {(e.source, e.function, e.target) for e in edges if is_allowed_lazy(e)}
    assert lazy == ALLOWED_LAZY, f"ALLOWED_LAZY entries not found: {sorted(ALLOWED_LAZY - lazy)}"


def test_adapter_packages_import_no_other_adapter(edges: list[Edge]) -> None:
    """(b) ``kmsg.adapters.sqlite`` and ``kmsg.adapters.redis`` never import each other at
    runtime, and the shared modules (``kmsg/adapters/base.py``...) import neither."""
    violations = cross_adapter_violations(edges)
    assert not violations, describe(RULE_B, violations)


def test_no_import_cycle(edges: list[Edge]) -> None:
    """(c) No cycle of module-level imports among kmsg modules (a loop closed only by a lazy or
    a type-only import is left out: that import does not run while the modules load)."""
    cycles = runtime_cycles(edges)
    assert not cycles, describe_cycles(cycles)


def write_package(root: Path, files: Mapping[str, str]) -> None:
    """Write a scratch package: ``files`` maps paths under ``root`` to their text."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


SCRATCH: Final = {
    "kmsg/__init__.py": "from kmsg.core import run\n",
    "kmsg/core.py": (
        "from typing import TYPE_CHECKING\n"
        "import kmsg.models\n"
        "from kmsg import other\n"
        "if TYPE_CHECKING:\n"
        "    from kmsg.adapters.one import Thing\n"
        "else:\n"
        "    from . import models\n"
        "def run():\n"
        "    import importlib\n"
        "    from kmsg.adapters.one.queue import Queue\n"
        "    return importlib.import_module(TABLE['one'])\n"
        "TABLE = {'one': 'kmsg.adapters.one:open_url', 'name': 'kmsg'}\n"
    ),
    "kmsg/models.py": "from .other import X\n",
    "kmsg/other.py": "from kmsg.models import Y\ndef later():\n    import kmsg.core\n",
    "kmsg/adapters/__init__.py": "",
    "kmsg/adapters/base.py": "from kmsg.adapters.two import helper\n",
    "kmsg/adapters/one/__init__.py": "from .queue import Queue\n",
    "kmsg/adapters/one/queue.py": "from ...models import Y\nfrom kmsg.adapters import base\n",
    "kmsg/adapters/two/__init__.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import kmsg.adapters.one\n"
    ),
    "kmsg/adapters/two/queue.py": "def run():\n    from kmsg.adapters.one.queue import Queue\n",
}
"""A small package that breaks each rule once (and shows each kind of import)."""


def test_the_collector_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Module-level, lazy, type-only, relative, ``from package import module`` and dynamic
    imports are all found, each with its kind and line."""
    write_package(tmp_path, SCRATCH)
    found = {(e.source, e.target, e.line, e.kind, e.dynamic) for e in collect_edges(tmp_path)}
    module, function, type_only = Kind.MODULE, Kind.FUNCTION, Kind.TYPE_ONLY
    assert found == {
        ("kmsg", "kmsg.core", 1, module, False),
        ("kmsg.core", "kmsg.models", 2, module, False),
        ("kmsg.core", "kmsg.other", 3, module, False),
        ("kmsg.core", "kmsg.adapters.one", 5, type_only, False),
        ("kmsg.core", "kmsg.models", 7, module, False),
        ("kmsg.core", "kmsg.adapters.one.queue", 10, function, False),
        ("kmsg.core", "kmsg.adapters.one", 11, function, True),
        ("kmsg.models", "kmsg.other", 1, module, False),
        ("kmsg.other", "kmsg.models", 1, module, False),
        ("kmsg.other", "kmsg.core", 3, function, False),
        ("kmsg.adapters.base", "kmsg.adapters.two", 1, module, False),
        ("kmsg.adapters.one", "kmsg.adapters.one.queue", 1, module, False),
        ("kmsg.adapters.one.queue", "kmsg.models", 1, module, False),
        ("kmsg.adapters.one.queue", "kmsg.adapters.base", 2, module, False),
        ("kmsg.adapters.two", "kmsg.adapters.one", 3, type_only, False),
        ("kmsg.adapters.two.queue", "kmsg.adapters.one.queue", 2, function, False),
    }


def test_the_rules_catch_each_kind_of_break(tmp_path: Path) -> None:
    """On the scratch package each checker reports exactly the imports that break its rule, by
    file and line; type-only imports and loops closed lazily are let through."""
    write_package(tmp_path, SCRATCH)
    found = collect_edges(tmp_path)
    assert [str(e) for e in core_to_adapter_violations(found)] == [
        "kmsg/core.py:10: kmsg.core imports kmsg.adapters.one.queue (inside a function in "
        "run()): `from kmsg.adapters.one.queue import Queue`",
        "kmsg/core.py:11: kmsg.core imports kmsg.adapters.one (inside a function in run(), "
        "dynamic): `return importlib.import_module(TABLE['one'])`",
    ]
    assert [(e.path, e.line) for e in cross_adapter_violations(found, tmp_path)] == [
        ("kmsg/adapters/base.py", 1),
        ("kmsg/adapters/two/queue.py", 2),
    ]
    cycles = runtime_cycles(found)
    assert list(cycles) == [frozenset({"kmsg.models", "kmsg.other"})]
    message = describe_cycles(cycles)
    assert "kmsg.models -> kmsg.other -> kmsg.models" in message
    assert "kmsg/other.py:1: kmsg.other imports kmsg.models (module level)" in message
