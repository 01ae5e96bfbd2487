"""Read-only transaction bodies: get, peek, stats, listings, queue names and wake-up hints."""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from kmsg.adapters.sqlite.rows import (
    JOB_COLUMNS,
    decode_cursor,
    encode_cursor,
    job_from_row,
)
from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import JobNotFound
from kmsg.models import Job, JobPage, JobState, QueueStats, RateLimit
from kmsg.rules import claim_allowance, refill
from kmsg.validation import MAX_PRIORITY

__all__ = ["get", "list_jobs", "peek", "queue_names", "state_counts", "stats", "wake_hint"]

_SEQ, _PRIORITY, _RUN_AT, _LEASE_UNTIL, _FINISHED_AT = (
    JOB_COLUMNS.index(name) for name in ("seq", "priority", "run_at", "lease_until", "finished_at")
)
_MAX_SEQ: Final = 2**63 - 1


def get(connection: sqlite3.Connection, _now: float, queue: str, job_id: str) -> Job:
    """The job's snapshot; ``JobNotFound`` if there is none."""
    row = connection.execute(sql("get_job"), {"queue": queue, "id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(queue, job_id)
    return job_from_row(row)


def peek(connection: sqlite3.Connection, _now: float, queue: str, limit: int) -> list[Job]:
    """Up to ``limit`` pending jobs in claim order."""
    rows = connection.execute(sql("peek"), {"queue": queue, "limit": limit}).fetchall()
    return [job_from_row(row) for row in rows]


def state_counts(connection: sqlite3.Connection, _now: float, queue: str) -> dict[JobState, int]:
    """How many jobs of the queue are in each state (kept by triggers: O(1))."""
    counts = dict.fromkeys(JobState, 0)
    for state, count in connection.execute(sql("job_counts"), {"queue": queue}):
        counts[JobState(state)] = count
    return counts


def stats(connection: sqlite3.Connection, now: float, queue: str) -> QueueStats:
    """Counts per state, the oldest pending job's age and the settings, from one snapshot.

    The counts are kept by triggers (schema 0002) and the age comes from one index seek per
    distinct pending priority, so no statement here reads more than a few rows.
    """
    counts = {state.value: count for state, count in state_counts(connection, now, queue).items()}
    oldest = connection.execute(sql("oldest_pending"), {"queue": queue}).fetchone()[0]
    settings = connection.execute(sql("queue_settings"), {"queue": queue}).fetchone()
    paused, max_jobs, per_seconds = settings[:3] if settings is not None else (0, None, 1.0)
    return QueueStats(
        queue=queue,
        oldest_pending_age=None if oldest is None else max(now - oldest, 0.0),
        paused=bool(paused),
        rate_limit=None
        if max_jobs is None
        else RateLimit(max_jobs=max_jobs, per_seconds=per_seconds),
        **counts,
    )


def queue_names(connection: sqlite3.Connection, _now: float) -> list[str]:
    """Every queue that has held jobs or settings, sorted."""
    return [name for (name,) in connection.execute(sql("list_queues"))]


def _first_key(state: JobState) -> list[float]:
    if state is JobState.PENDING:
        return [MAX_PRIORITY + 1, 0.0, 0]
    if state.terminal:
        return [float("inf"), _MAX_SEQ]
    return [-1.0, 0]


def _key_of(state: JobState, row: tuple[Any, ...]) -> list[float]:
    if state is JobState.PENDING:
        return [row[_PRIORITY], row[_RUN_AT], row[_SEQ]]
    column = {JobState.DELAYED: _RUN_AT, JobState.PROCESSING: _LEASE_UNTIL}.get(state, _FINISHED_AT)
    return [row[column], row[_SEQ]]


def _page_params(queue: str, state: JobState, key: list[float], limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"queue": queue, "limit": limit + 1}
    if state is JobState.PENDING:
        params.update(priority=key[0], run_at=key[1], seq=key[2])
    else:
        params.update(key=key[0], seq=key[1])
        if state.terminal:
            params["state"] = state.value
    return params


_LISTINGS: Final = {
    JobState.PENDING: "list_pending",
    JobState.DELAYED: "list_delayed",
    JobState.PROCESSING: "list_processing",
}


def list_jobs(
    connection: sqlite3.Connection,
    _now: float,
    queue: str,
    state: JobState,
    limit: int,
    cursor: str | None,
) -> JobPage:
    """One keyset page of ``state``'s jobs in its listing order."""
    first = _first_key(state)
    key = first if cursor is None else decode_cursor(cursor, queue, state, len(first))
    statement = sql(_LISTINGS.get(state, "list_finished"))
    rows = connection.execute(statement, _page_params(queue, state, key, limit)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(queue, state, _key_of(state, rows[-1])) if more else None
    return JobPage(jobs=tuple(job_from_row(row) for row in rows), next_cursor=next_cursor)


def _next_token_at(connection: sqlite3.Connection, now: float, queue: str) -> float | None:
    """When a claim could next take a pending job: now, when the bucket refills, or never."""
    settings = connection.execute(sql("queue_settings"), {"queue": queue}).fetchone()
    if settings is None:
        return now
    paused, max_jobs, per_seconds, tokens, refilled_at = settings
    if paused:
        return None
    if max_jobs is None:
        return now
    left = refill(tokens, refilled_at, now, max_jobs, per_seconds)
    if claim_allowance(1, paused=False, tokens=left):
        return now
    wait: float = (1.0 - left) * per_seconds / max_jobs
    return now + wait


def wake_hint(connection: sqlite3.Connection, now: float, queue: str) -> float | None:
    """The earliest time a job may become claimable without a new commit (None: never).

    That is when a delayed job falls due, a lease ends, or (with pending jobs) the rate limit
    allows the next claim.
    """
    due, lease_end, has_pending = connection.execute(sql("wake_hint"), {"queue": queue}).fetchone()
    pending_at = _next_token_at(connection, now, queue) if has_pending else None
    times = [t for t in (due, lease_end, pending_at) if t is not None]
    return min(times) if times else None
