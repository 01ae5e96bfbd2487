"""The SQLite adapter: :class:`SQLiteJobQueue`, one file shared safely by many processes on a host.

The front (:class:`~kmsg.adapters.base.QueueBase`) checks each call's input in the event loop
and turns it into an operation; :mod:`~kmsg.adapters.sqlite.plans` plans it as transaction
bodies (the SQL is in ``sql/*.sql``); the :class:`~kmsg.adapters.sqlite.executor.SQLiteExecutor`
runs each body as one whole transaction in an anyio worker thread (works under asyncio and
trio). Bulk calls run as sequences of such transactions, each touching at most ``STEP_JOBS``
jobs and about ``STEP_BYTES`` of new data. The one sqlite3 call made on the event loop is
``wait_for_jobs``'s non-blocking ``PRAGMA data_version`` poll (see ``watch.py``). See
``database.py`` for locking and retries and ``__init__.py`` for durability settings.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Self

import anyio
import anyio.to_thread

from kmsg import operations as ops
from kmsg.adapters.base import QueueBase
from kmsg.adapters.sqlite import reading
from kmsg.adapters.sqlite.database import Database, open_database
from kmsg.adapters.sqlite.executor import SQLiteExecutor
from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.plans import Read, SQLitePlanner
from kmsg.adapters.sqlite.watch import CommitWatch, open_watch
from kmsg.codec import PayloadCodec
from kmsg.plans import run_async
from kmsg.queue import Capabilities

__all__ = ["CAPABILITIES", "SQLiteJobQueue"]

CAPABILITIES = Capabilities(
    backend="sqlite",
    anyio_backends=frozenset({"asyncio", "trio"}),
    multi_host=False,
    server_time=False,
    atomic_cross_queue_move=True,
    push_wakeup=False,
    direct_handoff=False,
)


def _close(database: Database, watching: sqlite3.Connection | None) -> None:
    """Blocking: close the main connection, then the watch connection if still open."""
    database.close()
    if watching is not None:
        watching.close()


class SQLiteJobQueue(QueueBase):
    """A :class:`kmsg.JobQueue` on one SQLite file. Open it with ``kmsg.open_queue``."""

    def __init__(self, database: Database, watch: CommitWatch, options: SQLiteOptions) -> None:
        super().__init__(PayloadCodec(max_bytes=options.max_payload_bytes))
        self._database = database
        self._watch = watch
        self._options = options
        self._planner = SQLitePlanner(options.path)
        self._executor = SQLiteExecutor(database, self._notify)
        self._wakeup: anyio.Event | None = None

    @classmethod
    async def open(cls, options: SQLiteOptions) -> Self:
        """Open (creating and migrating if needed) the database named by ``options``."""
        database = await anyio.to_thread.run_sync(open_database, options)
        try:
            watch = await anyio.to_thread.run_sync(open_watch, options)
        except BaseException:
            await anyio.to_thread.run_sync(database.close)
            raise
        return cls(database, watch, options)

    def __repr__(self) -> str:
        return f"SQLiteJobQueue({str(self._options.path)!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""
        return CAPABILITIES

    def _notify(self) -> None:
        """Wake this instance's ``wait_for_jobs`` callers (other connections see data_version)."""
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    async def _perform(self, operation: ops.Operation) -> Any:
        """Run one checked operation: its plan, or one of the two waits."""
        if isinstance(operation, ops.Claim) and operation.wait > 0:
            return await self._claim_waiting(operation)
        if isinstance(operation, ops.WaitForJobs):
            return await self._wait_for_jobs(operation.queue, operation.max_wait)
        return await run_async(self._planner.plan(operation), self._executor.perform)

    async def _wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable, or after ``max_wait`` seconds.

        Wakes at once on a commit by this instance; on a commit by another connection within
        about 1 ms while commits are frequent and within ``poll_interval`` at most (see
        :mod:`kmsg.adapters.sqlite.watch`); and when the next delayed job falls due or the next
        lease ends.
        """
        started = time.monotonic()
        deadline = started + max_wait
        if self._wakeup is None:
            self._wakeup = anyio.Event()
        wakeup = self._wakeup
        # The watch reads run on the event loop, unlike every other sqlite3 call: each reads the
        # WAL index in shared memory (~5 us) and never waits for a lock (busy timeout 0), while
        # the ~100 us thread hop would make a 1 ms poll too dear (see watch.py).
        # Read before the hint's snapshot, so a commit after that snapshot changes the version.
        version = self._watch.version()
        hint, now = await self._executor.perform(
            Read(lambda c, now: (reading.wake_hint(c, now, queue), now))
        )
        if hint is not None:
            deadline = min(deadline, started + max(hint - now, 0.0))
        while (remaining := deadline - time.monotonic()) > 0:
            with anyio.move_on_after(min(self._watch.interval(), remaining)):
                await wakeup.wait()
                return
            if self._watch.changed(version):
                return

    async def aclose(self) -> None:
        """Close the connections. Idempotent; later calls raise ``BackendUnavailable``."""
        await anyio.to_thread.run_sync(_close, self._database, self._watch.detach())
