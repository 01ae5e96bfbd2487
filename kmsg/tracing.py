"""OpenTelemetry tracing: one trace from the code that enqueues a message to the provider call.

Install the extra (``pip install "kmsg[otel]"``, which brings ``opentelemetry-api``), configure an
OpenTelemetry SDK as usual, and add the producer side to the queues that enqueue::

    from kmsg.tracing import Tracing

    queue.use(Tracing())  # an async JobQueue, or a kmsg.sync.SyncQueue

- **Producer.** Every ``enqueue`` / ``enqueue_many`` runs in a ``PRODUCER`` span named
  ``send <queue>`` (``send`` for a batch over several queues), a child of whatever span is current
  (the web request, say). Its W3C ``traceparent`` is stored in each new job's ``trace_parent``
  field, beside the payload, never inside it (a job that already carries one keeps it).
- **Consumer.** A worker runs each handler inside a ``CONSUMER`` span named ``process <queue>``,
  whose parent is the job's stored ``traceparent``; so the provider's HTTP call (with httpx
  instrumented) and anything else the handler traces land in the producer's trace. A handler that
  raises marks the span as an error and records the exception. This needs nothing but the extra:
  workers do it whenever ``opentelemetry`` can be imported and an SDK has set the global tracer
  provider (otherwise the worker skips the span: about 3 us a job, where the API's do-nothing
  spans would cost 20 to 35 us; measured on this project's 2-core machine).

Attributes follow the OpenTelemetry semantic conventions for messaging spans:
``messaging.system`` ("kmsg"), ``messaging.operation.name`` ("send" / "process"),
``messaging.operation.type`` ("send" / "process"), ``messaging.destination.name`` (the queue),
``messaging.message.id`` (the job id; for a batch, ``messaging.batch.message_count`` instead),
plus ``kmsg.job.task`` and ``kmsg.job.attempt`` on a consumer span. Without the extra this module
still imports and every hook is a no-op, so tracing costs nothing when it is not installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import msgspec

from kmsg import __version__
from kmsg import operations as ops
from kmsg.errors import MissingDependencyError
from kmsg.middleware import Next, SyncNext

if TYPE_CHECKING:
    from kmsg.models import Job

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _PROPAGATOR = TraceContextTextMapPropagator()
except ImportError:  # the extra is not installed: every hook below is a no-op
    trace = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "Tracing", "handler_span", "mark_failed"]

AVAILABLE: Final = trace is not None
"""Whether ``opentelemetry-api`` is installed (the ``otel`` extra)."""

SYSTEM: Final = "kmsg"
_TRACER_NAME: Final = "kmsg"


class Tracing:
    """Middleware that wraps every enqueue in a producer span and stores its ``traceparent`` in
    the new jobs (see the module docstring). ``tracer_provider`` defaults to the global one."""

    def __init__(self, tracer_provider: Any = None) -> None:
        if not AVAILABLE:
            raise MissingDependencyError("OpenTelemetry tracing", "otel")
        self._tracer = trace.get_tracer(_TRACER_NAME, __version__, tracer_provider=tracer_provider)
        self._propagator = _PROPAGATOR

    async def __call__(self, operation: ops.Operation, call_next: Next) -> Any:
        """Run an ``Enqueue`` inside its producer span; pass anything else through."""
        if not isinstance(operation, ops.Enqueue):
            return await call_next(operation)
        with self._send_span(operation) as traced:
            return await call_next(traced)

    def sync_call(self, operation: ops.Operation, call_next: SyncNext) -> Any:
        """The same for :class:`kmsg.sync.SyncQueue`."""
        if not isinstance(operation, ops.Enqueue):
            return call_next(operation)
        with self._send_span(operation) as traced:
            return call_next(traced)

    @contextlib.contextmanager
    def _send_span(self, operation: ops.Enqueue) -> Iterator[ops.Enqueue]:
        jobs = operation.jobs
        queues = sorted({job.queue for job in jobs})
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
        }
        if len(queues) == 1:
            attributes["messaging.destination.name"] = queues[0]
        if len(jobs) == 1:
            attributes["messaging.message.id"] = jobs[0].id
        else:
            attributes["messaging.batch.message_count"] = len(jobs)
        name = f"send {queues[0]}" if len(queues) == 1 else "send"
        with self._tracer.start_as_current_span(name, kind=SpanKind.PRODUCER) as span:
            span.set_attributes(attributes)
            carrier: dict[str, str] = {}
            self._propagator.inject(carrier)
            parent = carrier.get("traceparent")
            traced = tuple(
                job
                if job.trace_parent is not None or parent is None
                else msgspec.structs.replace(job, trace_parent=parent)
                for job in jobs
            )
            yield ops.Enqueue(traced)


def handler_span(job: Job) -> contextlib.AbstractContextManager[object]:
    """The consumer span a worker runs ``job``'s handler in (module docstring); a do-nothing
    context manager without the extra, or while no SDK has set a tracer provider (the API's
    do-nothing spans still cost some 20-35 us a job, measured, which a worker need not pay)."""
    if not AVAILABLE:
        return _NO_SPAN
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return _NO_SPAN
    return _process_span(job, provider)


_NO_SPAN: Final = contextlib.nullcontext()


@contextlib.contextmanager
def _process_span(job: Job, provider: Any) -> Iterator[object]:
    carrier = {"traceparent": job.trace_parent} if job.trace_parent else {}
    parent = _PROPAGATOR.extract(carrier)
    tracer = trace.get_tracer(_TRACER_NAME, __version__, tracer_provider=provider)
    attributes: dict[str, str | int] = {
        "messaging.system": SYSTEM,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.queue,
        "messaging.message.id": job.id,
        "kmsg.job.task": job.task,
        "kmsg.job.attempt": job.attempts,
    }
    with tracer.start_as_current_span(
        f"process {job.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=True,
        set_status_on_exception=True,
    ) as span:
        yield span


def mark_failed(span: object, error: BaseException) -> None:
    """Record a handler's exception on its span (the worker catches it before the span ends)."""
    if AVAILABLE and isinstance(span, trace.Span):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
