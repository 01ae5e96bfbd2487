"""Dead-letter operations of the Redis adapter: retry (also to another queue) and purge.

Within a queue each operation is a sequence of bounded script steps (at most ``STEP_JOBS`` jobs
each): a given list of ids goes ``STEP_JOBS`` at a time, and "all" repeats a step that takes the
oldest dead letters up to a cut-off fixed by its first step, so jobs that die while it runs are
not chased.

A retry to another queue crosses Redis Cluster slots, so it runs in steps, at least once and
idempotent by job id: read a page of dead letters, write them into the target queue as pending
(ids already there are skipped and stay dead letters of the source, as on SQLite), then delete
the ones written from the source queue's dead letters. An
interruption between the steps leaves the job in both queues' records (failed in the source,
pending in the target) until the call is repeated; it never loses a job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from kmsg.adapters.base import chunks
from kmsg.models import JobState
from kmsg.validation import STEP_JOBS, check_job_ids, check_name, check_seconds

if TYPE_CHECKING:
    from kmsg.adapters.redis.queue import RedisJobQueue

__all__ = ["DeadLetters"]

_MAX_PAGES: Final = 10_000_000


class DeadLetters:
    """Retry and purge the dead letters of one adapter's queues."""

    def __init__(self, adapter: RedisJobQueue) -> None:
        self._adapter = adapter

    async def retry(
        self, queue: str, job_ids: Iterable[str] | None, *, to_queue: str | None
    ) -> int:
        """Back to pending with attempts reset; return how many moved."""
        check_name("queue", queue)
        ids = check_job_ids(job_ids)
        if to_queue is not None and check_name("queue", to_queue) != queue:
            return await self._move(queue, to_queue, ids)
        if ids is None:
            return await self._adapter._repeat(
                "retry_failed", queue, lambda cutoff, after: [cutoff, "all", *after]
            )
        moved = 0
        for step in chunks(ids):
            count, *_ = await self._adapter._run("retry_failed", queue, ["", "ids", *step])
            moved += int(count)
        return moved

    async def _move(self, queue: str, to_queue: str, ids: list[str] | None) -> int:
        if ids is not None:
            moved = 0
            for step in chunks(ids):
                moved += await self._move_jobs(queue, to_queue, list(step))
            return moved
        moved, cursor = 0, None
        for _ in range(_MAX_PAGES):  # each page is moved out of the dead letters
            page = await self._adapter.list_jobs(
                queue, JobState.FAILED, limit=STEP_JOBS, cursor=cursor
            )
            moved += await self._move_jobs(queue, to_queue, [job.id for job in page.jobs])
            cursor = page.next_cursor
            if cursor is None:
                break
        return moved

    async def _move_jobs(self, queue: str, to_queue: str, ids: list[str]) -> int:
        jobs = [
            job
            for job in await self._adapter._jobs_by_id(queue, ids)
            if job.state is JobState.FAILED
        ]
        if not jobs:
            return 0
        moved = await self._adapter._write_snapshots(to_queue, jobs, "retry")
        # Only what arrived leaves: a dead letter whose id the target holds already stays put.
        return await self.purge(queue, moved, older_than=None)

    async def purge(
        self, queue: str, job_ids: Iterable[str] | None, *, older_than: float | None
    ) -> int:
        """Delete dead letters (all, or these ids), optionally only older ones."""
        check_name("queue", queue)
        ids = check_job_ids(job_ids)
        age: float | str = "" if older_than is None else check_seconds("older_than", older_than)
        if ids is None:
            return await self._adapter._repeat(
                "purge_failed", queue, lambda cutoff, _: [cutoff, age, "all"]
            )
        purged = 0
        for step in chunks(ids):
            count, _, _ = await self._adapter._run("purge_failed", queue, ["", age, "ids", *step])
            purged += int(count)
        return purged
