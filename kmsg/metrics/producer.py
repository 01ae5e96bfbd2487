"""Producer-side enqueue counting, as middleware on the queue's one seam (:mod:`kmsg.middleware`).

``instrument(queue)`` adds an :class:`EnqueueCounter` to ``queue`` (``queue.use(...)``) and
returns it: after each successful ``enqueue`` / ``enqueue_many`` (an ``Enqueue`` operation) it
adds the jobs stored to ``kmsg_jobs_enqueued_total{queue,task}`` and the enqueues that matched
an existing job (a replayed id, a held dedupe key: nothing written) to
``kmsg_jobs_deduplicated_total{queue,task}``, on async and sync queues alike. Code that enqueues
otherwise can call ``metrics_for().count_enqueued(...)``.
"""

from __future__ import annotations

from typing import Any

from kmsg.metrics.families import KmsgMetrics, metrics_for
from kmsg.middleware import Next, SyncNext
from kmsg.operations import Enqueue, Operation
from kmsg.queue import JobQueue

__all__ = ["EnqueueCounter", "instrument"]


class EnqueueCounter:
    """Middleware counting the jobs of each successful ``Enqueue`` by queue and task."""

    def __init__(self, metrics: KmsgMetrics | None = None) -> None:
        self._metrics = metrics or metrics_for()

    async def __call__(self, operation: Operation, call_next: Next) -> Any:
        """Run the operation; count its jobs if it was an enqueue that succeeded."""
        result = await call_next(operation)
        self._count(operation, result)
        return result

    def sync_call(self, operation: Operation, call_next: SyncNext) -> Any:
        """The same, for a sync queue."""
        result = call_next(operation)
        self._count(operation, result)
        return result

    def _count(self, operation: Operation, results: Any) -> None:
        if not isinstance(operation, Enqueue):
            return
        tally: dict[tuple[str, str, bool], int] = {}
        for job, result in zip(operation.jobs, results, strict=True):
            key = (job.queue, job.task, result.created)
            tally[key] = tally.get(key, 0) + 1
        for (queue, task, created), count in tally.items():
            if created:
                self._metrics.count_enqueued(queue, task, count)
            else:
                self._metrics.count_deduplicated(queue, task, count)


def instrument(queue: JobQueue, metrics: KmsgMetrics | None = None) -> JobQueue:
    """``queue`` with an :class:`EnqueueCounter` added (on the default registry unless given)."""
    queue.use(EnqueueCounter(metrics))
    return queue
