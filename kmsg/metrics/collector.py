"""Queue depth per state as Prometheus gauges, read from ``JobQueue.stats`` at scrape time, and
the store's own health: job records found missing, and (Redis) data losses this process noticed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kmsg.models import JobState, QueueStats
from kmsg.queue import JobQueue

__all__ = ["QueueDepthCollector", "scrape"]


class QueueDepthCollector(Collector):
    """Gauges for one snapshot of ``QueueStats``: jobs per state, oldest pending age, paused;
    the count of job records found missing; and ``data_losses`` (None: the store cannot tell)."""

    def __init__(self, snapshot: Sequence[QueueStats], data_losses: int | None = None) -> None:
        self._snapshot = tuple(snapshot)
        self._data_losses = data_losses

    def collect(self) -> Iterator[Metric]:
        """Yield the gauge families for the snapshot."""
        depth = GaugeMetricFamily(
            "kmsg_queue_jobs", "Jobs per queue and state.", labels=["queue", "state"]
        )
        age = GaugeMetricFamily(
            "kmsg_queue_oldest_pending_age_seconds",
            "Age of the oldest pending job (0 when none is pending).",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            "kmsg_queue_paused", "1 when the queue is paused.", labels=["queue"]
        )
        missing = CounterMetricFamily(
            "kmsg_queue_missing_records",
            "Index entries found pointing at a job record that was gone (dropped when found).",
            labels=["queue"],
        )
        for stats in self._snapshot:
            for state in JobState:
                depth.add_metric([stats.queue, state.value], stats.count(state))
            age.add_metric([stats.queue], stats.oldest_pending_age or 0.0)
            paused.add_metric([stats.queue], 1.0 if stats.paused else 0.0)
            missing.add_metric([stats.queue], stats.missing_records)
        yield from (depth, age, paused, missing)
        if self._data_losses is not None:
            lost = CounterMetricFamily(
                "kmsg_backend_data_losses",
                "Times this process found that the backend had lost its data (Redis restarted"
                " empty, failed over to an empty replica, or was flushed).",
            )
            lost.add_metric([], self._data_losses)
            yield lost


async def scrape(queue: JobQueue, registry: CollectorRegistry = REGISTRY) -> bytes:
    """The Prometheus text exposition of ``registry`` plus the depth of every queue, read now."""
    snapshot = [await queue.stats(name) for name in await queue.queues()]
    depth = CollectorRegistry(auto_describe=False)
    depth.register(QueueDepthCollector(snapshot, getattr(queue, "data_losses", None)))
    return generate_latest(registry) + generate_latest(depth)
