"""Transactional enqueue: write jobs inside the application's own SQLite transaction.

An application that keeps its data in the same SQLite file as its queue enqueues with its own
``sqlite3`` connection, in its own transaction::

    import sqlite3
    from kmsg.adapters.sqlite import enqueue_in

    connection = sqlite3.connect("app.db")  # the file of sqlite:///app.db
    with connection:  # commits at the end, rolls back on an exception
        connection.execute("INSERT INTO orders (id, phone) VALUES (?, ?)", (order_id, phone))
        enqueue_in(connection, SendSms(to=phone, text="order received"), queue="sms")

The job exists if and only if that transaction commits: it is the application's outbox, and kmsg
workers consume it directly (they see the commit like any other: ``PRAGMA data_version``). The job
is checked and written exactly as ``enqueue`` does (the same validation and SQL; dedupe keys and
replayed ids behave the same), and the queue's counters change with it, or not at all.

What the caller must do: open the file once with kmsg first (``open_queue`` or ``kmsg migrate``),
so its tables exist (the file is then kmsg's: ``application_id`` "kmsg"; the application keeps its
own tables beside kmsg's, whose names are ``jobs``, ``queues`` and ``job_counts``); have a
transaction open when calling (Python's ``sqlite3`` opens one at the first ``INSERT`` /
``UPDATE`` / ``DELETE``; or ``BEGIN`` yourself); and commit soon, since SQLite has one writer at a
time and workers wait for that lock while the transaction is open. Job times are read from this
host's clock when ``enqueue_in`` runs, not at commit.

Redis offers no such thing: a Redis write cannot join an SQL transaction. Enqueue after your
commit (a crash between the two loses the job: keep a ``sent`` flag and re-enqueue unsent rows
with their ``job_id``, which makes the replay harmless), or before it with a ``delay`` and a
check in the handler that the row exists (a rolled-back write leaves a job that finds nothing).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from kmsg import operations as ops
from kmsg.adapters.sqlite.identity import APPLICATION_ID
from kmsg.adapters.sqlite.producing import insert_jobs
from kmsg.adapters.sqlite.statements import migrations
from kmsg.codec import PayloadCodec
from kmsg.errors import BackendUnavailable, ValidationError
from kmsg.jobs import NewJob
from kmsg.models import Backoff, Enqueued
from kmsg.validation import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE

__all__ = ["enqueue_in", "enqueue_many_in"]

_CODEC = PayloadCodec()


def enqueue_in(
    connection: sqlite3.Connection,
    payload: msgspec.Struct,
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    delay: float | None = None,
    run_at: float | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: Backoff | None = None,
    lease: float = DEFAULT_LEASE,
    dedupe_key: str | None = None,
    job_id: str | None = None,
    trace_parent: str | None = None,
) -> str:
    """Write one job in ``connection``'s open transaction; return its id (or, for a held dedupe
    key, the id of the live job holding it). See the module docstring and
    :meth:`kmsg.JobQueue.enqueue` for the options."""
    new = NewJob(
        payload=payload,
        queue=queue,
        priority=priority,
        delay=delay,
        run_at=run_at,
        max_attempts=max_attempts,
        backoff=backoff,
        lease=lease,
        dedupe_key=dedupe_key,
        job_id=job_id,
        trace_parent=trace_parent,
    )
    return enqueue_many_in(connection, [new])[0].id


def enqueue_many_in(connection: sqlite3.Connection, jobs: Sequence[NewJob]) -> list[Enqueued]:
    """Write a batch of jobs in ``connection``'s open transaction; what each enqueue did.

    Raises ``ValidationError`` (nothing written) for a bad job, or when no transaction is open
    or the connection is not a ``sqlite3.Connection``; ``BackendUnavailable`` when the file is
    not a kmsg database of this version; ``BackendFull`` when the disk is nearly full.
    """
    if not isinstance(connection, sqlite3.Connection):
        raise ValidationError(
            f"connection must be a sqlite3.Connection, not {type(connection).__name__}"
        )
    operation = ops.enqueue(jobs, _CODEC)
    if not connection.in_transaction:
        raise ValidationError(
            "enqueue_in writes inside the caller's transaction, and none is open: write your own"
            " rows first (sqlite3 then opens one) or execute BEGIN, and commit afterwards"
        )
    path = _check_store(connection)
    return insert_jobs(connection, time.time(), list(operation.jobs), path)


def _check_store(connection: sqlite3.Connection) -> Path:
    """The main file's path, once it is known to hold kmsg's current schema."""
    path = Path(connection.execute("PRAGMA database_list").fetchone()[2] or ":memory:")
    application_id: int = connection.execute("PRAGMA application_id").fetchone()[0]
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    expected = len(migrations())
    if application_id != APPLICATION_ID or version != expected:
        raise BackendUnavailable(
            f"{path} is not a kmsg database of this version (application_id {application_id:#x},"
            f" schema {version}, expected {expected}): open it once with kmsg.open_queue or"
            " `kmsg migrate` before enqueueing in its transactions"
        )
    return path
