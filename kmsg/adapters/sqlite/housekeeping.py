"""Transaction bodies for cancel, removal, dead letters, retention and queue settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from kmsg.adapters.sqlite.consuming import settle_params
from kmsg.adapters.sqlite.rows import due_time
from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import JobNotFound
from kmsg.models import JobState

__all__ = [
    "cancel",
    "cleanup",
    "clear",
    "purge_failed",
    "remove",
    "retry_failed",
    "set_paused",
    "set_rate_limit",
]


def cancel(connection: sqlite3.Connection, now: float, queue: str, job_id: str) -> JobState:
    """Cancel a waiting job now, flag a held one, leave a terminal one; return the state."""
    row = connection.execute(sql("job_state"), {"queue": queue, "id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(queue, job_id)
    seq, state = row[0], JobState(row[1])
    if state in (JobState.PENDING, JobState.DELAYED):
        connection.execute(sql("settle"), settle_params(seq, JobState.CANCELLED, now))
        return JobState.CANCELLED
    if state is JobState.PROCESSING:
        connection.execute(sql("request_cancel"), {"seq": seq})
    return state


def remove(connection: sqlite3.Connection, _now: float, queue: str, job_id: str) -> bool:
    """Delete one job in any state; return whether it existed."""
    return connection.execute(sql("remove"), {"queue": queue, "id": job_id}).rowcount > 0


def clear(connection: sqlite3.Connection, _now: float, queue: str) -> int:
    """Delete every job of the queue; its settings stay."""
    return connection.execute(sql("clear"), {"queue": queue}).rowcount


def cleanup(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    states: Iterable[JobState],
    older_than: float,
) -> int:
    """Delete jobs of the given terminal states that ended at least ``older_than`` s ago."""
    cutoff = now - older_than
    params = [{"queue": queue, "state": s.value, "cutoff": cutoff} for s in states]
    return connection.executemany(sql("cleanup"), params).rowcount


def retry_failed(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    job_ids: Sequence[str] | None,
    to_queue: str,
) -> int:
    """Move dead letters back to pending (in ``to_queue``), attempts reset, errors kept."""
    connection.execute(sql("touch_queue"), {"queue": to_queue})
    base = {"queue": queue, "to_queue": to_queue, "run_at": due_time(now)}
    if job_ids is None:
        return connection.execute(sql("retry_failed_all"), base).rowcount
    params = [{**base, "id": job_id} for job_id in dict.fromkeys(job_ids)]
    return connection.executemany(sql("retry_failed_one"), params).rowcount if params else 0


def purge_failed(
    connection: sqlite3.Connection,
    now: float,
    queue: str,
    job_ids: Sequence[str] | None,
    older_than: float | None,
) -> int:
    """Delete dead letters (all, or the given ids), keeping those newer than ``older_than``."""
    cutoff = now - older_than if older_than is not None else float("inf")
    base = {"queue": queue, "cutoff": cutoff}
    if job_ids is None:
        return connection.execute(sql("purge_failed_all"), base).rowcount
    params = [{**base, "id": job_id} for job_id in dict.fromkeys(job_ids)]
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
