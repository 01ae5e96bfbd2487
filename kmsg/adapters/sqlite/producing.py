"""Transaction bodies that write new jobs: ``enqueue_many`` and ``import_jobs``.

Each first checks that the disk has room for its jobs beside the reserve kept for draining
(``space.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kmsg.adapters.sqlite.rows import encode_errors
from kmsg.adapters.sqlite.space import JOB_OVERHEAD, check_room
from kmsg.adapters.sqlite.statements import sql
from kmsg.jobs import PreparedJob
from kmsg.models import Enqueued, EnqueueOutcome, Job, JobState
from kmsg.rules import due_time

__all__ = ["import_jobs", "import_size", "insert_jobs"]


def _insert_params(job: PreparedJob, now: float) -> dict[str, Any]:
    run_at = due_time(job.run_at if job.run_at is not None else now + (job.delay or 0.0))
    return {
        "queue": job.queue,
        "id": job.id,
        "task": job.task,
        "payload": job.payload,
        "state": (JobState.PENDING if run_at <= now else JobState.DELAYED).value,
        "priority": job.priority,
        "run_at": run_at,
        "created_at": now,
        "max_attempts": job.max_attempts,
        "backoff_initial": job.backoff.initial,
        "backoff_factor": job.backoff.factor,
        "backoff_maximum": job.backoff.maximum,
        "lease": job.lease,
        "dedupe_key": job.dedupe_key,
        "trace_parent": job.trace_parent,
    }


def _touch_queues(connection: sqlite3.Connection, queues: Sequence[str]) -> None:
    connection.executemany(sql("touch_queue"), [{"queue": q} for q in dict.fromkeys(queues)])


def _insert_one(connection: sqlite3.Connection, params: dict[str, Any]) -> Enqueued:
    """Insert one job, or name the job that makes it a replay or a duplicate."""
    job_id = str(params["id"])
    if connection.execute(sql("insert_job"), params).rowcount:
        return Enqueued(job_id, EnqueueOutcome.CREATED)
    if connection.execute(sql("find_id"), params).fetchone() is not None:
        return Enqueued(job_id, EnqueueOutcome.SAME_ID)
    holder = connection.execute(sql("find_dedupe"), params).fetchone()
    if holder is None:  # pragma: no cover - OR IGNORE only skips on the two unique indexes
        raise RuntimeError(f"job {job_id!r} was neither inserted nor found")
    return Enqueued(str(holder[0]), EnqueueOutcome.SAME_KEY)


def insert_jobs(
    connection: sqlite3.Connection, now: float, jobs: Sequence[PreparedJob], path: Path
) -> list[Enqueued]:
    """Insert ``jobs`` in order; for each, its id (or the id of the job it deduped onto) and
    what happened.

    Fast path: one ``executemany``. If any row was skipped (a replayed id or a held dedupe key),
    the batch is rolled back to a savepoint and redone row by row to learn which.
    ``BackendFull`` (nothing written) if the file has no room for them (``space.py``).
    """
    if not jobs:
        return []
    check_room(connection, path, sum(len(job.payload) + JOB_OVERHEAD for job in jobs))
    params = [_insert_params(job, now) for job in jobs]
    _touch_queues(connection, [job.queue for job in jobs])
    connection.execute("SAVEPOINT kmsg_batch")
    if connection.executemany(sql("insert_job"), params).rowcount == len(params):
        connection.execute("RELEASE kmsg_batch")
        return [Enqueued(job.id, EnqueueOutcome.CREATED) for job in jobs]
    connection.execute("ROLLBACK TO kmsg_batch")
    connection.execute("RELEASE kmsg_batch")
    return [_insert_one(connection, row) for row in params]


def import_size(job: Job) -> int:
    """About the bytes a job snapshot takes once stored."""
    errors = sum(len(error.message) + 64 for error in job.errors)
    return len(job.payload) + len(job.result or b"") + errors + JOB_OVERHEAD


def _import_params(job: Job) -> dict[str, Any]:
    state, attempts = JobState(job.state), job.attempts
    if state is JobState.PROCESSING:
        # The lease belonged to another backend: requeue with the attempt refunded, or finish
        # the cancel that was requested.
        state = JobState.CANCELLED if job.cancel_requested else JobState.PENDING
        attempts = max(attempts - 1, 0)
    cancelled_at = job.cancelled_at
    if state is JobState.CANCELLED and cancelled_at is None:
        cancelled_at = job.run_at
    ended = {
        JobState.COMPLETED: job.completed_at,
        JobState.FAILED: job.failed_at,
        JobState.CANCELLED: cancelled_at,
    }
    finished_at = (ended.get(state) or job.created_at) if state.terminal else None
    return {
        "queue": job.queue,
        "id": job.id,
        "task": job.task,
        "payload": job.payload,
        "state": state.value,
        "priority": job.priority,
        "run_at": due_time(job.run_at),
        "created_at": job.created_at,
        "attempts": attempts,
        "max_attempts": job.max_attempts,
        "backoff_initial": job.backoff.initial,
        "backoff_factor": job.backoff.factor,
        "backoff_maximum": job.backoff.maximum,
        "lease": job.lease,
        "dedupe_key": job.dedupe_key,
        "errors": encode_errors(job.errors),
        "result": job.result,
        "completed_at": job.completed_at,
        "failed_at": job.failed_at,
        "cancelled_at": cancelled_at,
        "finished_at": finished_at,
        "progress": job.progress,
        "trace_parent": job.trace_parent,
    }


def import_jobs(
    connection: sqlite3.Connection, _now: float, jobs: Sequence[Job], path: Path
) -> int:
    """Write snapshots as they are; ids already in their queue are skipped. Returns how many.

    ``BackendFull`` (nothing written) if the file has no room for them (``space.py``).
    """
    if not jobs:
        return 0
    check_room(connection, path, sum(import_size(job) for job in jobs))
    _touch_queues(connection, [job.queue for job in jobs])
    return connection.executemany(sql("import_job"), [_import_params(job) for job in jobs]).rowcount
