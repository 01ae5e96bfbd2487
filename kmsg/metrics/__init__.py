"""Prometheus metrics for kmsg (``pip install "kmsg[metrics]"``).

- Workers: ``WorkerMetrics().attach(worker)`` counts completed / retried / dead / lease-lost jobs,
  handler durations and event loops blocked by async handlers; ``start_metrics_server(9464)``
  serves them on 127.0.0.1.
- Producers: ``instrument(queue)`` adds the :class:`EnqueueCounter` middleware, which counts
  enqueued jobs (or call ``count_enqueued`` yourself).
- Queue depth: ``scrape(queue)`` (the dashboard's ``/metrics``) reads ``stats()`` per queue at
  scrape time through :class:`QueueDepthCollector`.

The families are listed in :mod:`kmsg.metrics.families`.
"""

from kmsg.metrics.collector import QueueDepthCollector, scrape
from kmsg.metrics.families import KmsgMetrics, metrics_for
from kmsg.metrics.producer import EnqueueCounter, instrument
from kmsg.metrics.worker import MetricsServer, WorkerMetrics, start_metrics_server

__all__ = [
    "EnqueueCounter",
    "KmsgMetrics",
    "MetricsServer",
    "QueueDepthCollector",
    "WorkerMetrics",
    "instrument",
    "metrics_for",
    "scrape",
    "start_metrics_server",
]
