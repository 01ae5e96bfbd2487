"""Worker-side metrics: count Worker events, and serve them over HTTP on a port.

``WorkerMetrics`` needs only the shape of the worker's events (``kind``, ``job``, ``duration``),
so this module does not import the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from kmsg.metrics.families import KmsgMetrics, metrics_for
from kmsg.models import Job

__all__ = ["MetricsServer", "WorkerMetrics", "start_metrics_server"]


class _Event(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def job(self) -> Job: ...
    @property
    def duration(self) -> float | None: ...


class _Observable(Protocol):
    def add_listener(self, callback: Callable[[Any], None]) -> None: ...


class WorkerMetrics:
    """Turns ``kmsg.worker.WorkerEvent``s into the kmsg counters and duration histogram.

    ``WorkerMetrics().attach(worker)`` subscribes with ``worker.add_listener``. Completed,
    retried and dead events also observe the handler duration; a ``loop_blocked`` event counts
    one blocked event loop and adds the seconds it was blocked.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.metrics: KmsgMetrics = metrics_for(registry)

    def attach(self, worker: _Observable) -> Self:
        """Subscribe to ``worker``'s events; returns self."""
        worker.add_listener(self.observe)
        return self

    def observe(self, event: _Event) -> None:
        """Count one event (called synchronously by the worker; cheap and never raises)."""
        counters = {
            "completed": self.metrics.completed,
            "retried": self.metrics.retried,
            "dead": self.metrics.dead,
            "timed_out": self.metrics.timed_out,
            "released": self.metrics.released,
            "lease_lost": self.metrics.lease_lost,
            "loop_blocked": self.metrics.loop_blocked,
        }
        kind = str(event.kind).lower()
        labels = (event.job.queue, event.job.task)
        counter = counters.get(kind)
        if counter is not None:
            counter.labels(*labels).inc()
        if event.duration is None:
            return
        if kind in ("completed", "retried", "dead"):
            self.metrics.duration.labels(*labels).observe(event.duration)
        elif kind == "loop_blocked":
            self.metrics.loop_blocked_seconds.labels(*labels).inc(event.duration)


class MetricsServer:
    """A running metrics HTTP server; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The port it listens on (useful when started with port 0)."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


def start_metrics_server(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread.

    Binds to loopback by default: expose it wider only behind your own network controls.
    """
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
