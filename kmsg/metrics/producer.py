"""Producer-side enqueue counting, as middleware on the queue's one seam (:mod:`kmsg.middleware`).

``instrument(queue)`` adds an :class:`EnqueueCounter` to ``queue`` (``queue.use(...)``) and
returns it: after each successful ``enqueue`` / ``enqueue_many`` (an ``Enqueue`` operation) it
adds to ``kmsg_jobs_enqueued_total{queue,task}``, on async and sync queues alike. It counts
accepted jobs: a dedupe hit or a replayed job id, which writes nothing, still counts, since the
producer cannot tell them apart from the returned id. Code that enqueues otherwise can call
``metrics_for().count_enqueued(...)``.
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
        self._count(operation)
        return result

    def sync_call(self, operation: Operation, call_next: SyncNext) -> Any:
        """The same, for a sync queue."""
        result = call_next(operation)
        self._count(operation)
        return result

    def _count(self, operation: Operation) -> None:
        if not isinstance(operation, Enqueue):
            return
        tally: dict[tuple[str, str], int] = {}
        for job in operation.jobs:
            tally[(job.queue, job.task)] = tally.get((job.queue, job.task), 0) + 1
        for (queue, task), count in tally.items():
            self._metrics.count_enqueued(queue, task, count)


def instrument(queue: JobQueue, metrics: KmsgMetrics | None = None) -> JobQueue:
    """``queue`` with an :class:`EnqueueCounter` added (on the default registry unless given)."""
    queue.use(EnqueueCounter(metrics))
    return queue
