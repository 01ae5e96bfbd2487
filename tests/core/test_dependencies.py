"""Every dependency pyproject.toml declares is used; the benchmark docs name no absolute path.

A requirement is *used* when its import name appears in an ``import`` statement of ``kmsg``,
``tests`` or ``benchmarks``, when it is a pytest plugin (pytest loads every installed one: its
distribution has a ``pytest11`` entry point), or when it is one of the few packages used without
an import (a package another one loads, a command-line tool); those are listed below with the
file that shows the use, and the test checks that the file still names them.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

ROOT = Path(__file__).parents[2]
_SCANNED = ("kmsg", "tests", "benchmarks")

# requirement -> (file that shows the use, text that file must contain)
USED_WITHOUT_IMPORT: dict[str, tuple[str, str]] = {
    "python-multipart": ("kmsg/dashboard/views/login.py", "request.form()"),  # starlette's forms
    # starlette.testclient imports httpx2 (with plain httpx it raises a deprecation warning)
    "httpx2": ("tests/dashboard/conftest.py", "from starlette.testclient import"),
    "ruff": (".ci/run", ".venv/bin/ruff check"),
    "mypy": (".ci/run", ".venv/bin/mypy"),
    "pyinstrument": ("benchmarks/README.md", "pyinstrument"),  # profiles quoted in the figures
    "py-spy": ("benchmarks/README.md", "py-spy"),
}
# requirement -> the module it provides, where that is not its own name (namespace packages)
IMPORTED_AS: dict[str, str] = {
    "opentelemetry-api": "opentelemetry.trace",
    "opentelemetry-sdk": "opentelemetry.sdk",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _requirements() -> Iterator[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    for line in lines:
        found = _NAME.match(line)
        assert found is not None, line
        name = found.group().lower().replace("_", "-")
        if name != "kmsg":  # kmsg[redis,...]: extras of this package, checked one by one
            yield name


def _imported_modules() -> set[str]:
    """Every module named by an absolute import, and each of its parents."""
    modules: set[str] = set()
    for folder in _SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    parts = name.split(".")
                    modules.update(".".join(parts[: n + 1]) for n in range(len(parts)))
    return modules


def _pytest_plugin(name: str) -> bool:
    try:
        points = distribution(name).entry_points
    except PackageNotFoundError:
        return False
    return any(point.group == "pytest11" for point in points)


def test_every_declared_dependency_is_used() -> None:
    modules = _imported_modules()
    unused = [
        name
        for name in _requirements()
        if IMPORTED_AS.get(name, name.replace("-", "_")) not in modules
        and name not in USED_WITHOUT_IMPORT
        and not _pytest_plugin(name)
    ]
    assert unused == [], f"declared in pyproject.toml but imported nowhere: {unused}"


def test_uses_without_an_import_are_still_there() -> None:
    declared = set(_requirements())
    for name, (path, text) in USED_WITHOUT_IMPORT.items():
        assert name in declared, f"{name} is listed here but no longer declared"
        assert text in (ROOT / path).read_text(), f"{path} no longer shows a use of {name}"


def test_benchmark_instructions_use_paths_inside_the_checkout() -> None:
    text = (ROOT / "benchmarks" / "README.md").read_text()
    absolute = re.findall(r"(?<![\w.~])/(?:work|home|tmp|root|Users)/\S+", text)
    assert absolute == []
