"""The blocking executor of the SQLite planner's steps, for :class:`kmsg.sync.SyncQueue`.

Each step's body runs in its own transaction on the adapter's one connection, in the calling
thread, one thread at a time (``Database`` holds a lock); writes in ``BEGIN IMMEDIATE``, with the
same lock polling as the async adapter (``database.py``).
"""

from __future__ import annotations

from typing import Any

from kmsg.adapters.sqlite.database import Database
from kmsg.adapters.sqlite.plans import Read, Step

__all__ = ["SyncSQLiteExecutor"]


class SyncSQLiteExecutor:
    """Performs steps on one :class:`~kmsg.adapters.sqlite.database.Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def perform(self, step: Step) -> Any:
        """Run one step's body in its transaction and return what the body returned."""
        if isinstance(step, Read):
            return self.database.read(step.body)
        return self.database.write(step.body)

    def close(self) -> None:
        """Close the connection."""
        self.database.close()
