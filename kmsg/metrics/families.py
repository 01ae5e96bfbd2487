"""The kmsg metric families, created once per Prometheus registry.

=======================================  =========  =============================================
name                                     type       labels
=======================================  =========  =============================================
``kmsg_jobs_enqueued_total``             counter    queue, task (jobs stored; producer side)
``kmsg_jobs_deduplicated_total``         counter    queue, task (enqueues of an existing id/key)
``kmsg_jobs_completed_total``            counter    queue, task
``kmsg_jobs_retried_total``              counter    queue, task (a failed attempt that will rerun)
``kmsg_jobs_dead_total``                 counter    queue, task (dead-lettered)
``kmsg_jobs_timed_out_total``            counter    queue, task (hit the worker's job timeout)
``kmsg_jobs_released_total``             counter    queue, task (given back on shutdown)
``kmsg_lease_lost_total``                counter    queue, task
``kmsg_handler_duration_seconds``        histogram  queue, task
``kmsg_worker_loop_blocked_total``       counter    queue, task (an async handler blocked the
                                                    event loop past the worker's threshold)
``kmsg_worker_loop_blocked_seconds``     counter    queue, task (seconds the loop was blocked;
                                                    exposed as ``..._seconds_total``)
``kmsg_queue_jobs``                      gauge      queue, state (read at scrape time)
``kmsg_queue_missing_records_total``     counter    queue (records found gone; at scrape time)
``kmsg_backend_data_losses_total``       counter    (Redis: lost data this process noticed)
=======================================  =========  =============================================
"""

from __future__ import annotations

import threading
import weakref
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["DURATION_BUCKETS", "KmsgMetrics", "metrics_for"]

LABELS: Final = ("queue", "task")
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class KmsgMetrics:
    """The kmsg counters and the handler-duration histogram, registered on ``registry``.

    A registry refuses a second family of the same name, so get the instance for a registry
    through :func:`metrics_for`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, LABELS, registry=registry)

        self.enqueued = counter("kmsg_jobs_enqueued", "Jobs stored by enqueue.")
        self.deduplicated = counter(
            "kmsg_jobs_deduplicated",
            "Enqueues that stored nothing: the job id, or a live job's dedupe key, existed.",
        )
        self.completed = counter("kmsg_jobs_completed", "Jobs completed by a worker.")
        self.retried = counter("kmsg_jobs_retried", "Failed attempts scheduled to run again.")
        self.dead = counter("kmsg_jobs_dead", "Jobs moved to the dead letters.")
        self.timed_out = counter("kmsg_jobs_timed_out", "Attempts that hit the job timeout.")
        self.released = counter("kmsg_jobs_released", "Jobs given back unstarted.")
        self.lease_lost = counter("kmsg_lease_lost", "Jobs whose lease a worker lost.")
        self.loop_blocked = counter(
            "kmsg_worker_loop_blocked",
            "Times an async handler blocked a worker's event loop past its threshold.",
        )
        self.loop_blocked_seconds = counter(
            "kmsg_worker_loop_blocked_seconds",
            "Seconds a worker's event loop was blocked by an async handler.",
        )
        self.duration = Histogram(
            "kmsg_handler_duration_seconds",
            "Seconds a handler ran, whatever its outcome.",
            LABELS,
            registry=registry,
            buckets=DURATION_BUCKETS,
        )

    def count_enqueued(self, queue: str, task: str, count: int = 1) -> None:
        """Producer-side hook: record ``count`` jobs of ``task`` enqueued on ``queue``."""
        self.enqueued.labels(queue, task).inc(count)

    def count_deduplicated(self, queue: str, task: str, count: int = 1) -> None:
        """Producer-side hook: record ``count`` enqueues that matched an existing job."""
        self.deduplicated.labels(queue, task).inc(count)


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, KmsgMetrics] = (
    weakref.WeakKeyDictionary()
)


def metrics_for(registry: CollectorRegistry = REGISTRY) -> KmsgMetrics:
    """The :class:`KmsgMetrics` of ``registry`` (the default registry unless given), made once."""
    with _lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = KmsgMetrics(registry)
        return metrics
