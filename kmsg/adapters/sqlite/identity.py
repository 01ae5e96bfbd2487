"""Whose file is it: kmsg opens only its own databases and new, empty files.

Every kmsg database carries ``PRAGMA application_id`` = :data:`APPLICATION_ID` (the ASCII bytes
``kmsg``) in its header, stamped in the transaction that first migrates it. Opening a file sorts
it into one of:

- **kmsg's**: it carries that application id;
- **new**: nothing in it yet (no schema object, application id and ``user_version`` 0; an empty
  or missing file);
- **kmsg's, from before the stamp**: application id 0, ``user_version`` 1 or more, and the
  ``jobs`` and ``queues`` tables with kmsg's columns, and no table kmsg does not make;
- **someone else's**: anything else, refused with ``BackendUnavailable`` naming the file.

The adapter looks before it writes anything, even the switch to WAL (see ``database.py``), so a
refused file is left exactly as it was, and looks again under the write lock of the first
transaction, where new and older kmsg files are stamped.
"""

from __future__ import annotations

import enum
import sqlite3
from pathlib import Path
from typing import Final

from kmsg.adapters.sqlite.rows import FIRST_JOB_COLUMNS
from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import BackendUnavailable

__all__ = ["APPLICATION_ID", "Identity", "identify", "stamp"]

APPLICATION_ID: Final = 0x6B6D7367
"""``PRAGMA application_id`` of every kmsg database: the bytes of "kmsg" (1802334055)."""

_OUR_TABLES: Final = frozenset({"jobs", "queues", "job_counts"})
_FIRST_TABLES: Final = frozenset({"jobs", "queues"})
_QUEUE_COLUMNS: Final = ("name", "paused", "max_jobs", "per_seconds", "tokens", "refilled_at")


class Identity(enum.Enum):
    """What :func:`identify` found (a file that is not kmsg's raises instead)."""

    KMSG = "kmsg"
    NEW = "new"
    UNSTAMPED = "unstamped"


def _columns(connection: sqlite3.Connection, table: str) -> tuple[str, ...]:
    # The table name is one of the constants above, never input.
    return tuple(row[1] for row in connection.execute(f"PRAGMA table_info({table})"))


def _older_kmsg(connection: sqlite3.Connection, version: int, tables: set[str]) -> bool:
    """Whether an unstamped file with these tables is one an earlier kmsg made."""
    return (
        version >= 1
        and _FIRST_TABLES <= tables <= _OUR_TABLES
        and _columns(connection, "jobs") == FIRST_JOB_COLUMNS
        and _columns(connection, "queues") == _QUEUE_COLUMNS
    )


def identify(connection: sqlite3.Connection, path: Path) -> Identity:
    """Sort the open file (see the module docstring); ``BackendUnavailable`` if not kmsg's.

    Reads only. Call it inside a transaction, so the header and the schema agree.
    """
    application_id: int = connection.execute("PRAGMA application_id").fetchone()[0]
    if application_id == APPLICATION_ID:
        return Identity.KMSG
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    objects = connection.execute(sql("schema_objects")).fetchall()
    tables = {name for kind, name in objects if kind == "table"}
    if application_id == 0 and version == 0 and not objects:
        return Identity.NEW
    if application_id == 0 and _older_kmsg(connection, version, tables):
        return Identity.UNSTAMPED
    shown = ", ".join(sorted(tables)) or "none"
    raise BackendUnavailable(
        f"{path} is not a kmsg database (application_id {application_id:#x}, user_version"
        f" {version}, tables: {shown}); kmsg opens only its own files and new, empty ones"
    )


def stamp(connection: sqlite3.Connection) -> None:
    """Mark the file as kmsg's (inside the migrating transaction)."""
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
