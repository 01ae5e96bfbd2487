"""Package-wide promises: __all__ is complete and sorted, and nothing imports pickle."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import kmsg

PACKAGE_ROOT = Path(kmsg.__file__).parent


def test_all_lists_every_public_name_sorted() -> None:
    public = {
        name
        for name, value in vars(kmsg).items()
        if not name.startswith("_") and not isinstance(value, type(kmsg))
    }
    assert set(kmsg.__all__) - {"__version__"} == public
    assert list(kmsg.__all__) == sorted(kmsg.__all__)


def test_every_subpackage_all_names_exist() -> None:
    for info in pkgutil.walk_packages([str(PACKAGE_ROOT)], prefix="kmsg."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue  # an optional extra is not installed
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name!r}"


def test_no_module_imports_pickle() -> None:
    offenders = []
    for path in PACKAGE_ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in {"pickle", "cPickle", "dill", "cloudpickle"} for n in names):
                offenders.append(str(path.relative_to(PACKAGE_ROOT)))
    assert offenders == []
