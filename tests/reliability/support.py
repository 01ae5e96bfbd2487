"""Steps shared by the scenarios: produce into the ledger, wait for the queue to drain, check."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio

from kmsg import Backoff, JobQueue, JobState, NewJob
from tests.reliability.checker import Report, check
from tests.reliability.ledger import Ledger, read_ledger
from tests.reliability.worker_main import Work

__all__ = ["FAST_BACKOFF", "drain", "final_states", "produce", "verdict"]

FAST_BACKOFF = Backoff(initial=0.02, factor=2.0, maximum=0.5)


async def produce(
    queue: JobQueue,
    qname: str,
    count: int,
    ledger: Ledger,
    *,
    batch: int = 100,
    max_attempts: int = 25,
    lease: float = 1.0,
) -> list[str]:
    """Enqueue ``count`` jobs in batches, writing each acknowledged id to the ledger."""
    ids: list[str] = []
    for start in range(0, count, batch):
        jobs = [
            NewJob(
                payload=Work(n),
                queue=qname,
                max_attempts=max_attempts,
                backoff=FAST_BACKOFF,
                lease=lease,
            )
            for n in range(start, min(start + batch, count))
        ]
        done = await queue.enqueue_many(jobs)
        for job_id in done:
            ledger.write("enq", job=job_id)
        ids += done
    return ids


async def drain(
    queue: JobQueue, qname: str, total: int, within: float, tick: Callable[[], None] | None = None
) -> float:
    """Wait until ``total`` jobs are completed or failed (calling ``tick`` each round); seconds."""
    started = time.monotonic()
    deadline = started + within
    while time.monotonic() < deadline:
        stats = await queue.stats(qname)
        if stats.completed + stats.failed >= total:
            return time.monotonic() - started
        if tick is not None:
            tick()
        await anyio.sleep(0.1)
    stats = await queue.stats(qname)
    raise AssertionError(f"queue did not drain within {within}s: {stats}")


async def final_states(queue: JobQueue, qname: str) -> dict[str, str]:
    """Job id -> state value, for every job of the queue."""
    states: dict[str, str] = {}
    for state in JobState:
        cursor: str | None = None
        for _ in range(10_000):
            page = await queue.list_jobs(qname, state, limit=1000, cursor=cursor)
            states.update((job.id, state.value) for job in page.jobs)
            cursor = page.next_cursor
            if cursor is None:
                break
    return states


async def verdict(queue: JobQueue, qname: str, ledger_dir: Path) -> Report:
    """Check the ledger in ``ledger_dir`` against the queue's final states."""
    return check(read_ledger(ledger_dir), await final_states(queue, qname))
