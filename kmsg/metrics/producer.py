"""Producer-side enqueue counting: a JobQueue wrapper that counts what it enqueues.

``instrument(queue)`` returns a queue that behaves exactly like ``queue`` (every other method is
the wrapped one's) and adds to ``kmsg_jobs_enqueued_total{queue,task}`` after each successful
``enqueue`` / ``enqueue_many``. It counts accepted calls: a dedupe hit or a replayed job id, which
writes nothing, still counts, since the producer cannot tell them apart from the returned id.
Code that does not go through the wrapper can call ``metrics_for().count_enqueued(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import msgspec

from kmsg.codec import task_name_of
from kmsg.jobs import NewJob
from kmsg.metrics.families import KmsgMetrics, metrics_for
from kmsg.queue import JobQueue
from kmsg.validation import DEFAULT_QUEUE

__all__ = ["InstrumentedQueue", "instrument"]


class InstrumentedQueue:
    """A :class:`~kmsg.JobQueue` that counts enqueued jobs; use :func:`instrument` to make one."""

    def __init__(self, queue: JobQueue, metrics: KmsgMetrics) -> None:
        self.wrapped = queue
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.wrapped.aclose()

    async def enqueue(self, payload: msgspec.Struct, **options: Any) -> str:
        """``JobQueue.enqueue``, then count one job of the payload's task."""
        job_id = await self.wrapped.enqueue(payload, **options)
        queue = options.get("queue", DEFAULT_QUEUE)
        self._metrics.count_enqueued(queue, task_name_of(type(payload)))
        return job_id

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """``JobQueue.enqueue_many``, then count each job by queue and task."""
        ids = await self.wrapped.enqueue_many(jobs)
        tally: dict[tuple[str, str], int] = {}
        for job in jobs:
            key = (job.queue, task_name_of(type(job.payload)))
            tally[key] = tally.get(key, 0) + 1
        for (queue, task), count in tally.items():
            self._metrics.count_enqueued(queue, task, count)
        return ids


def instrument(queue: JobQueue, metrics: KmsgMetrics | None = None) -> JobQueue:
    """``queue`` wrapped so that enqueues are counted (on the default registry unless given)."""
    return InstrumentedQueue(queue, metrics or metrics_for())
