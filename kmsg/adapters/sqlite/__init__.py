"""The SQLite backend: kmsg's embedded default, for workers on one host.

Open it with ``kmsg.open_queue("sqlite:///kmsg.db")`` (relative path) or
``"sqlite:////var/lib/kmsg/kmsg.db"`` (absolute). Options (URL query or keywords): ``synchronous``,
``busy_timeout``, ``poll_interval``, ``max_payload_bytes`` and (keyword only) ``clock``; see
:mod:`kmsg.adapters.sqlite.options`.

Durability. The database runs in WAL mode.

- ``synchronous=NORMAL`` (default): commits are not fsynced one by one, only at WAL checkpoints.
  A power cut (or OS crash) can lose the last transactions committed before it: jobs enqueued or
  acknowledged in that window may be missing or run again after restart. The database is never
  corrupted, and a crash of the *process* alone loses nothing.
- ``synchronous=FULL``: every commit is fsynced before it returns, so a committed enqueue or
  acknowledgement survives a power cut, at the cost of one fsync per transaction.

Files. kmsg opens only its own database files (stamped ``PRAGMA application_id`` 0x6B6D7367,
"kmsg") and new, empty ones; any other file, or one that is damaged or not SQLite at all, is
refused with ``BackendUnavailable`` naming it, and left untouched (see
:mod:`kmsg.adapters.sqlite.identity`). The WAL is cut back to 16 MiB when it restarts after a long
reader let it grow (``journal_size_limit``). On a full disk writes fail with ``BackendFull``,
nothing of the call written; enqueue and import already refuse new jobs that would leave less
than 8 MiB, which are kept for the calls that drain and free (see
:mod:`kmsg.adapters.sqlite.space`).

Scale. ``stats`` reads counts kept by triggers, in O(1) of the queue; the bulk calls (big
batches, ``clear``, ``cleanup``, ``purge_failed``, ``retry_failed``) run in steps of at most
``STEP_JOBS`` jobs, each its own short transaction, so claims and acknowledgements of other
writers go on in between. Due times (``run_at``) are stored floored to the whole millisecond, so
jobs of one priority due in the same millisecond are claimed in enqueue order.

Many processes may share one file: every write is a ``BEGIN IMMEDIATE`` transaction, and lock
contention is retried (see :mod:`kmsg.adapters.sqlite.database`), so "database is locked" does not
reach callers. Concurrent writes of one adapter instance are group-committed: they share one
transaction, each in its own savepoint (see :mod:`kmsg.adapters.sqlite.batching`). The host clock
is used for leases and delays. Idle workers poll ``PRAGMA data_version`` on a dedicated connection,
a read of shared memory that changes when another connection commits: every 1 ms while commits are
frequent, backing off to every ``poll_interval`` seconds (the upper bound) when the file has been
quiet (see :mod:`kmsg.adapters.sqlite.watch`). Commits by the same instance wake them at once.

Transactional enqueue. :func:`enqueue_in` writes a job inside the application's own ``sqlite3``
transaction on the same file, so the job exists if and only if that transaction commits (see
:mod:`kmsg.adapters.sqlite.outbox`).
"""

from __future__ import annotations

from typing import Any

from kmsg.adapters.sqlite.adapter import CAPABILITIES, SQLiteJobQueue
from kmsg.adapters.sqlite.database import open_database
from kmsg.adapters.sqlite.options import parse_url
from kmsg.adapters.sqlite.outbox import enqueue_in, enqueue_many_in
from kmsg.adapters.sqlite.plans import SQLitePlanner
from kmsg.adapters.sqlite.sync_executor import SyncSQLiteExecutor
from kmsg.codec import PayloadCodec
from kmsg.sync import SyncQueue

__all__ = [
    "CAPABILITIES",
    "SQLiteJobQueue",
    "enqueue_in",
    "enqueue_many_in",
    "open_sync_url",
    "open_url",
]


async def open_url(url: str, **options: Any) -> SQLiteJobQueue:
    """Open the SQLite queue named by ``url`` (called by ``kmsg.open_queue``).

    Raises ``ValidationError`` for a malformed URL or option and ``BackendUnavailable`` when the
    file cannot be opened, is not kmsg's, is damaged or has a schema newer than this kmsg.
    """
    return await SQLiteJobQueue.open(parse_url(url, options))


def open_sync_url(url: str, **options: Any) -> SyncQueue:
    """Open a blocking :class:`~kmsg.sync.SyncQueue` on the SQLite file named by ``url`` (called
    by ``kmsg.sync.open_queue``); errors as :func:`open_url`'s."""
    parsed = parse_url(url, options)
    planner = SQLitePlanner(parsed.path)
    executor = SyncSQLiteExecutor(open_database(parsed))
    codec = PayloadCodec(max_bytes=parsed.max_payload_bytes)
    return SyncQueue(planner, executor, codec, CAPABILITIES)
