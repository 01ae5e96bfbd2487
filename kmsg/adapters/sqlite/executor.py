"""The async executor of the SQLite planner's steps: the one place the async adapter touches the
file (besides the wake-up watch, ``watch.py``).

A :class:`~kmsg.adapters.sqlite.plans.Write` goes to the group-commit batcher (``batching.py``):
concurrent writes share one thread hop and one transaction. A
:class:`~kmsg.adapters.sqlite.plans.Read` runs in its own read transaction in a worker thread.
After a write that may make a job claimable (``Write.wakes``) the adapter's local waiters are
woken (other connections notice through ``PRAGMA data_version``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread

from kmsg.adapters.sqlite.batching import WriteBatcher
from kmsg.adapters.sqlite.database import Database
from kmsg.adapters.sqlite.plans import Read, Step

__all__ = ["SQLiteExecutor"]


class SQLiteExecutor:
    """Performs steps on one :class:`~kmsg.adapters.sqlite.database.Database`; ``wake`` is
    called after a write that may make a job claimable."""

    def __init__(self, database: Database, wake: Callable[[], None]) -> None:
        self._database = database
        self._batcher = WriteBatcher(database)
        self._wake = wake

    async def perform(self, step: Step) -> Any:
        """Run one step's body in its transaction and return what the body returned."""
        if isinstance(step, Read):
            return await anyio.to_thread.run_sync(self._database.read, step.body)
        try:
            return await self._batcher.write(step.body, step.weight)
        finally:
            if step.wakes:
                self._wake()
