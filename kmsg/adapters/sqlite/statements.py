"""The adapter's SQL, loaded once from the package's ``sql/*.sql`` and ``schema/*.sql`` files.

Each file under ``sql/`` holds one statement, named by its file name; ``schema/`` holds the numbered
migrations (``0001_initial.sql``, ...), applied in order and tracked by ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from importlib import resources

__all__ = ["migrations", "sql", "split_script"]

_PACKAGE = "kmsg.adapters.sqlite"


@cache
def sql(name: str) -> str:
    """The statement in ``sql/<name>.sql``."""
    return resources.files(_PACKAGE).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


@cache
def migrations() -> tuple[tuple[int, str], ...]:
    """``(version, script)`` for every ``schema/NNNN_*.sql`` file, in version order."""
    found = sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in resources.files(_PACKAGE).joinpath("schema").iterdir()
        if entry.name.endswith(".sql")
    )
    versions = [version for version, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"schema migrations are not numbered 1..n: {versions}")
    return tuple(found)


def split_script(script: str) -> list[str]:
    """Split a migration into statements, so it can run inside our own transaction.

    (``executescript`` would commit first.) Uses ``sqlite3.complete_statement``, so a semicolon
    inside a string or comment does not split.
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise RuntimeError("migration script ends with an incomplete statement")
    return statements
