"""Dead-letter operations of the Redis adapter: retry (also to another queue) and purge.

A retry within a queue is one script. A retry to another queue crosses Redis Cluster slots, so it
runs in steps, at least once and idempotent by job id: read a batch of dead letters, write them
into the target queue as pending (ids already there are skipped), then delete them from the source
queue's dead letters. An interruption between the steps leaves the job in both queues' records
(failed in the source, pending in the target) until the call is repeated; it never loses a job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from kmsg.models import JobState
from kmsg.validation import MAX_BATCH, check_job_ids, check_name, check_seconds

if TYPE_CHECKING:
    from kmsg.adapters.redis.queue import RedisJobQueue

__all__ = ["DeadLetters"]

_MOVE_BATCH: Final = 500


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
        if to_queue is None or check_name("queue", to_queue) == queue:
            args = ["all"] if ids is None else ["ids", *ids]
            return int(await self._adapter._run("retry_failed", queue, args))
        if ids is not None:
            moved = 0
            for start in range(0, len(ids), _MOVE_BATCH):
                moved += await self._move(queue, to_queue, ids[start : start + _MOVE_BATCH])
            return moved
        return await self._move_all(queue, to_queue)

    async def _move_all(self, queue: str, to_queue: str) -> int:
        moved = 0
        for _ in range(MAX_BATCH):  # bounded: each round empties a page of the dead letters
            page = await self._adapter.list_jobs(queue, JobState.FAILED, limit=_MOVE_BATCH)
            if not page.jobs:
                break
            done = await self._move(queue, to_queue, [job.id for job in page.jobs])
            moved += done
            if done == 0:
                break
        return moved

    async def _move(self, queue: str, to_queue: str, ids: list[str]) -> int:
        jobs = [
            job
            for job in await self._adapter._jobs_by_id(queue, ids)
            if job.state is JobState.FAILED
        ]
        if not jobs:
            return 0
        await self._adapter._write_snapshots(to_queue, jobs, "retry")
        return await self.purge(queue, [job.id for job in jobs], older_than=None)

    async def purge(
        self, queue: str, job_ids: Iterable[str] | None, *, older_than: float | None
    ) -> int:
        """Delete dead letters (all, or these ids), optionally only older ones."""
        ids = check_job_ids(job_ids)
        age: float | str = "" if older_than is None else check_seconds("older_than", older_than)
        args = [age, "all"] if ids is None else [age, "ids", *ids]
        return int(await self._adapter._run("purge_failed", queue, args))
