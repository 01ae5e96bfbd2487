"""Transaction bodies for claiming and for the fenced calls (complete, fail, extend, release).

Each function runs inside one transaction opened by :class:`~.database.Database` and receives the
connection and ``now``. A fenced call that must raise ``LeaseLost`` *returns* the exception instead
of raising it: when a cancel was requested the call still commits the job's move to ``cancelled``,
and the adapter raises after the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from kmsg.adapters.sqlite.rows import (
    TOKEN,
    append_error,
    claim_order,
    decode_errors,
    job_from_row,
)
from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import LeaseLost
from kmsg.models import Backoff, ClaimedJob, JobState, Lease
from kmsg.outcomes import Lost, lease_lost
from kmsg.rules import (
    LEASE_EXPIRED_MESSAGE,
    SNOOZED,
    claim_allowance,
    due_time,
    refill,
    retry_at,
)
from kmsg.validation import STEP_JOBS

__all__ = ["claim", "complete", "extend", "extend_many", "fail", "release", "settle_params"]

HOUSEKEEPING_BATCH: Final = 1000
"""Most delayed jobs promoted, and most expired leases ended, by one claim."""


def settle_params(
    seq: int,
    state: JobState,
    now: float,
    *,
    run_at: float | None = None,
    errors: str | None = None,
) -> dict[str, Any]:
    """Parameters of ``settle.sql``: move row ``seq`` to ``state`` (stamping terminal times)."""
    return {
        "seq": seq,
        "state": state.value,
        "run_at": run_at,
        "errors": errors,
        "failed_at": now if state is JobState.FAILED else None,
        "cancelled_at": now if state is JobState.CANCELLED else None,
    }


def _after_failure(
    now: float,
    attempts: int,
    max_attempts: int,
    backoff: Backoff,
    retry_in: float | None,
    retryable: bool,
) -> tuple[JobState, float | None]:
    """The state (and due time) a job takes after failed attempt number ``attempts``."""
    delay = backoff.delay(attempts) if retry_in is None else retry_in
    run_at = retry_at(now, attempts, max_attempts, delay, retryable=retryable)
    return (JobState.FAILED, None) if run_at is None else (JobState.DELAYED, run_at)


def _end_expired_leases(connection: sqlite3.Connection, now: float, queue: str) -> None:
    rows = connection.execute(
        sql("expired_leases"), {"queue": queue, "now": now, "batch": HOUSEKEEPING_BATCH}
    ).fetchall()
    updates: list[dict[str, Any]] = []
    for seq, attempts, max_attempts, initial, factor, maximum, errors, cancelled in rows:
        if cancelled:
            updates.append(settle_params(seq, JobState.CANCELLED, now))
            continue
        history = append_error(
            errors,
            at=now,
            attempt=attempts,
            error_type="LeaseExpired",
            message=LEASE_EXPIRED_MESSAGE,
        )
        backoff = Backoff(initial=initial, factor=factor, maximum=maximum)
        state, run_at = _after_failure(now, attempts, max_attempts, backoff, None, True)
        updates.append(settle_params(seq, state, now, run_at=run_at, errors=history))
    if updates:
        connection.executemany(sql("settle"), updates)


def _bucket(connection: sqlite3.Connection, now: float, queue: str) -> tuple[bool, float | None]:
    """The queue's pause flag and its refilled token count (None: no rate limit)."""
    settings = connection.execute(sql("queue_settings"), {"queue": queue}).fetchone()
    if settings is None:
        return False, None
    paused, max_jobs, per_seconds, tokens, refilled_at = settings
    if max_jobs is None:
        return bool(paused), None
    return bool(paused), refill(tokens, refilled_at, now, max_jobs, per_seconds)


def claim(
    connection: sqlite3.Connection, now: float, queue: str, limit: int, lease: float | None
) -> list[ClaimedJob]:
    """End expired leases, promote due delayed jobs, then take the best pending ones (at most
    ``STEP_JOBS`` of each, so one claim's transaction stays short)."""
    _end_expired_leases(connection, now, queue)
    connection.execute(
        sql("promote_due"), {"queue": queue, "now": now, "batch": HOUSEKEEPING_BATCH}
    )
    paused, tokens = _bucket(connection, now, queue)
    allowed = claim_allowance(min(limit, STEP_JOBS), paused=paused, tokens=tokens)
    if allowed <= 0:
        return []
    rows = connection.execute(
        sql("claim"), {"queue": queue, "now": now, "lease": lease, "limit": allowed}
    ).fetchall()
    if tokens is not None and rows:
        connection.execute(
            sql("store_tokens"), {"queue": queue, "tokens": tokens - len(rows), "now": now}
        )
    rows.sort(key=claim_order)
    return [ClaimedJob(job=job_from_row(row), token=row[TOKEN]) for row in rows]


class HeldRow(NamedTuple):
    """The columns ``held_job.sql`` reads, by name."""

    seq: int
    state: str
    token: str | None
    cancel_requested: int
    attempts: int
    max_attempts: int
    backoff_initial: float
    backoff_factor: float
    backoff_maximum: float
    errors: str


def _read_held(connection: sqlite3.Connection, lease: Lease) -> HeldRow | None:
    row = connection.execute(sql("held_job"), {"queue": lease.queue, "id": lease.job_id}).fetchone()
    return None if row is None else HeldRow._make(row)


def _held(connection: sqlite3.Connection, lease: Lease) -> HeldRow | LeaseLost:
    """The job's row if ``lease`` still holds it, else the LeaseLost to raise."""
    row = _read_held(connection, lease)
    if row is None:
        return lease_lost(lease, Lost.GONE)
    if row.state != JobState.PROCESSING.value or row.token != lease.token:
        return lease_lost(lease, Lost.STALE)
    return row


def _cancelled(connection: sqlite3.Connection, now: float, lease: Lease, seq: int) -> LeaseLost:
    connection.execute(sql("settle"), settle_params(seq, JobState.CANCELLED, now))
    return lease_lost(lease, Lost.CANCELLED)


def complete(
    connection: sqlite3.Connection, now: float, lease: Lease, result: bytes | None
) -> LeaseLost | None:
    """Complete the held job; a replay with the same token after success is a no-op."""
    params = {"queue": lease.queue, "id": lease.job_id, "token": lease.token}
    if connection.execute(sql("complete"), {**params, "result": result, "now": now}).rowcount:
        return None
    row = _read_held(connection, lease)
    if row is not None and row.state == JobState.COMPLETED.value and row.token == lease.token:
        return None
    held = _held(connection, lease)
    if isinstance(held, LeaseLost):
        return held
    return _cancelled(connection, now, lease, held.seq)


def complete_many(
    connection: sqlite3.Connection, now: float, completions: list[tuple[Lease, bytes | None]]
) -> list[bool]:
    """Complete each held job as :func:`complete` would; False where the lease was lost."""
    return [complete(connection, now, lease, result) is None for lease, result in completions]


def fail(
    connection: sqlite3.Connection,
    now: float,
    lease: Lease,
    error: tuple[str, str],
    retry_in: float | None,
    retryable: bool,
) -> JobState | LeaseLost:
    """Record a failed attempt; retry later (``delayed``) or dead-letter (``failed``)."""
    held = _held(connection, lease)
    if isinstance(held, LeaseLost):
        return held
    history = _with_entry(held, now, *error)
    if held.cancel_requested:
        return _cancel_held(connection, now, lease, held, history)
    return _settle_failure(connection, now, held, history, retry_in, retryable)


def snooze(
    connection: sqlite3.Connection,
    now: float,
    lease: Lease,
    delay: float,
    message: str,
    max_snoozes: int,
) -> JobState | LeaseLost:
    """Put the held job back, due in ``delay`` seconds, without using an attempt; fail it
    instead (retry in ``delay``) once it has used ``max_snoozes`` (its ``Snoozed`` entries)."""
    held = _held(connection, lease)
    if isinstance(held, LeaseLost):
        return held
    used = sum(error.type == SNOOZED for error in decode_errors(held.errors))
    history = _with_entry(held, now, SNOOZED, message)
    if held.cancel_requested:
        return _cancel_held(connection, now, lease, held, history)
    if used >= max_snoozes:
        return _settle_failure(connection, now, held, history, delay, True)
    params = {"seq": held.seq, "run_at": due_time(now + delay), "errors": history}
    connection.execute(sql("snooze"), params)
    return JobState.DELAYED


def _with_entry(held: HeldRow, now: float, error_type: str, message: str) -> str:
    """The held job's history with one entry for its current attempt added."""
    return append_error(
        held.errors, at=now, attempt=held.attempts, error_type=error_type, message=message
    )


def _cancel_held(
    connection: sqlite3.Connection, now: float, lease: Lease, held: HeldRow, history: str
) -> LeaseLost:
    """End a held job whose cancel was requested (its history kept); the holder's LeaseLost."""
    connection.execute(
        sql("settle"), settle_params(held.seq, JobState.CANCELLED, now, errors=history)
    )
    return lease_lost(lease, Lost.CANCELLED)


def _settle_failure(
    connection: sqlite3.Connection,
    now: float,
    held: HeldRow,
    history: str,
    retry_in: float | None,
    retryable: bool,
) -> JobState:
    """Retry the held job later (``delayed``) or dead-letter it (``failed``)."""
    backoff = Backoff(
        initial=held.backoff_initial, factor=held.backoff_factor, maximum=held.backoff_maximum
    )
    state, run_at = _after_failure(
        now, held.attempts, held.max_attempts, backoff, retry_in, retryable
    )
    params = settle_params(held.seq, state, now, run_at=run_at, errors=history)
    connection.execute(sql("settle"), params)
    return state


def extend(
    connection: sqlite3.Connection,
    now: float,
    lease: Lease,
    duration: float,
    progress: bytes | None = None,
) -> float | LeaseLost:
    """Move the held job's lease deadline to ``now + duration`` (and set its progress, unless
    None); return the deadline."""
    deadline = now + duration
    params = {"queue": lease.queue, "id": lease.job_id, "token": lease.token}
    values = {**params, "lease_until": deadline, "progress": progress}
    if connection.execute(sql("extend"), values).rowcount:
        return deadline
    held = _held(connection, lease)
    if isinstance(held, LeaseLost):
        return held
    return lease_lost(lease, Lost.CANCEL_REQUESTED)


def extend_many(
    connection: sqlite3.Connection,
    now: float,
    leases: Sequence[Lease],
    duration: float,
    progress: Sequence[bytes | None],
) -> list[float | LeaseLost]:
    """Extend each held job as :func:`extend` would; the LeaseLost where a lease was lost."""
    return [
        extend(connection, now, lease, duration, value)
        for lease, value in zip(leases, progress, strict=True)
    ]


def release(connection: sqlite3.Connection, now: float, lease: Lease) -> LeaseLost | None:
    """Give the held job back to ``pending`` with its attempt refunded (or cancel it)."""
    held = _held(connection, lease)
    if isinstance(held, LeaseLost):
        return held
    if held.cancel_requested:
        connection.execute(sql("settle"), settle_params(held.seq, JobState.CANCELLED, now))
    else:
        connection.execute(sql("release"), {"seq": held.seq})
    return None
