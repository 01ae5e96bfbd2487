"""Transaction bodies for cancel, removal, dead letters, retention and queue settings.

The bulk calls (``clear``, ``cleanup``, ``purge_failed``, ``retry_failed``) are written as bounded
steps, each touching at most ``STEP_JOBS`` jobs; the adapter runs each step as its own
transaction, in a loop (see ``steps.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from kmsg.adapters.sqlite.consuming import settle_params
from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import JobNotFound
from kmsg.models import JobState, RetryResult, Skipped, SkipReason, skipped_result
from kmsg.rules import due_time
from kmsg.validation import STEP_JOBS

__all__ = [
    "cancel",
    "cleanup_step",
    "clear_step",
    "newest_seq",
    "purge_failed_ids",
    "remove",
    "retry_failed_ids",
    "retry_failed_step",
    "set_paused",
    "set_rate_limit",
]


def cancel(connection: sqlite3.Connection, now: float, queue: str, job_id: str) -> JobState:
    """Cancel a waiting job now, flag a held one, leave a terminal one; return the state."""
    row = connection.execute(sql("job_state"), {"queue": queue, "id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(queue, job_id)
    seq, state_name = row
    state = JobState(state_name)
    if state in (JobState.PENDING, JobState.DELAYED):
        connection.execute(sql("settle"), settle_params(seq, JobState.CANCELLED, now))
        return JobState.CANCELLED
    if state is JobState.PROCESSING:
        connection.execute(sql("request_cancel"), {"seq": seq})
    return state


def remove(connection: sqlite3.Connection, _now: float, queue: str, job_id: str) -> bool:
    """Delete one job in any state; return whether it existed."""
    return connection.execute(sql("remove"), {"queue": queue, "id": job_id}).rowcount > 0


def clear_step(connection: sqlite3.Connection, _now: float, queue: str, last_seq: int) -> int:
    """Delete up to ``STEP_JOBS`` jobs of the queue with ``seq <= last_seq``; return how many."""
    params = {"queue": queue, "last_seq": last_seq, "step": STEP_JOBS}
    return connection.execute(sql("clear"), params).rowcount


def newest_seq(connection: sqlite3.Connection, _now: float) -> int:
    """The newest job's ``seq``: a clear deletes the jobs up to it (later ones may survive)."""
    value: int = connection.execute(sql("newest_seq")).fetchone()[0]
    return value


def cleanup_step(
    connection: sqlite3.Connection, _now: float, queue: str, state: JobState, cutoff: float
) -> int:
    """Delete up to ``STEP_JOBS`` jobs in terminal ``state`` that ended by ``cutoff``, oldest
    first; return how many. With ``failed`` this is a step of ``purge_failed``."""
    params = {"queue": queue, "state": state.value, "cutoff": cutoff, "step": STEP_JOBS}
    return connection.execute(sql("cleanup"), params).rowcount


def retry_failed_ids(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    job_ids: Sequence[str],
    to_queue: str,
) -> RetryResult:
    """Move these dead letters (at most ``STEP_JOBS``) back to pending in ``to_queue``, in this
    order, attempts reset, errors kept; say how many moved and why the others did not."""
    connection.execute(sql("touch_queue"), {"queue": to_queue})
    base = {"queue": queue, "to_queue": to_queue, "run_at": due_time(now)}
    moved, skipped = 0, []
    for job_id in job_ids:
        if connection.execute(sql("retry_failed_one"), {**base, "id": job_id}).rowcount:
            moved += 1
        else:
            skipped.append(_why_not_moved(connection, queue, job_id, to_queue))
    return skipped_result(skipped, moved)


def _why_not_moved(
    connection: sqlite3.Connection, queue: str, job_id: str, to_queue: str
) -> Skipped:
    """Why ``retry_failed_one`` left this job where it was."""
    row = connection.execute(sql("dead_letter"), {"queue": queue, "id": job_id}).fetchone()
    if row is None:
        return Skipped(job_id=job_id, reason=SkipReason.NOT_FOUND)
    state, dedupe_key = row
    if state != JobState.FAILED:
        return Skipped(job_id=job_id, reason=SkipReason.NOT_DEAD)
    taken = {"queue": to_queue, "id": job_id}
    if to_queue != queue and connection.execute(sql("find_id"), taken).fetchone():
        return Skipped(job_id=job_id, reason=SkipReason.ID_TAKEN)
    held = {"queue": to_queue, "dedupe_key": dedupe_key}
    (holder,) = connection.execute(sql("find_dedupe"), held).fetchone()
    return Skipped(job_id=job_id, reason=SkipReason.KEY_HELD, holder=holder)


def retry_failed_step(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    to_queue: str,
    cutoff: float,
    after: tuple[float, int],
) -> tuple[int, RetryResult, tuple[float, int]]:
    """One step of ``retry_failed(all)``: the next ``STEP_JOBS`` dead letters that failed by
    ``cutoff``, past the keyset ``after``, oldest first. Returns (found, what the step did,
    where the next step starts)."""
    params = {"queue": queue, "cutoff": cutoff, "after_at": after[0], "after_seq": after[1]}
    rows = connection.execute(sql("retry_failed_scan"), {**params, "step": STEP_JOBS}).fetchall()
    if not rows:
        return 0, RetryResult(moved=0), after
    result = retry_failed_ids(connection, now, queue, [row[0] for row in rows], to_queue)
    return len(rows), result, (rows[-1][1], rows[-1][2])


def purge_failed_ids(
    connection: sqlite3.Connection,
    _now: float,
    queue: str,
    job_ids: Sequence[str],
    cutoff: float,
) -> int:
    """Delete these dead letters (at most ``STEP_JOBS``) that failed by ``cutoff``."""
    params = [{"queue": queue, "id": job_id, "cutoff": cutoff} for job_id in job_ids]
    return connection.executemany(sql("purge_failed_one"), params).rowcount if params else 0


def set_paused(connection: sqlite3.Connection, _now: float, queue: str, paused: bool) -> None:
    """Set the queue's pause flag."""
    connection.execute(sql("set_paused"), {"queue": queue, "paused": int(paused)})


def set_rate_limit(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    max_jobs: int | None,
    per_seconds: float,
) -> None:
    """Set (or with ``max_jobs=None`` remove) the queue's token bucket, starting full."""
    params = {
        "queue": queue,
        "max_jobs": max_jobs,
        "per_seconds": None if max_jobs is None else per_seconds,
        "now": now,
    }
    connection.execute(sql("set_rate_limit"), params)
