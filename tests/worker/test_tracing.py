"""OpenTelemetry tracing: one trace from the enqueueing request, through the stored traceparent,
to the handler and what it calls; on every backend, with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kmsg import JobQueue, NewJob, ValidationError
from kmsg.tracing import Tracing
from kmsg.worker import NonRetryable
from tests.backends import Store
from tests.worker.support import Ping, make_worker

pytestmark = pytest.mark.anyio

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The exporter of the SDK provider, installed globally once (workers use the global one)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(_PROVIDER)
    assert trace.get_tracer_provider() is _PROVIDER
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def named(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one finished span called ``name``."""
    [span] = [span for span in spans.get_finished_spans() if span.name == name]
    return span


async def test_enqueue_makes_a_producer_span_and_the_job_carries_its_traceparent(
    queue: JobQueue, qname: str, spans: InMemorySpanExporter
) -> None:
    queue.use(Tracing())
    with _PROVIDER.get_tracer("web").start_as_current_span("POST /orders") as request:
        job_id = await queue.enqueue(Ping(n=1), queue=qname)
    send = named(spans, f"send {qname}")
    assert send.kind is SpanKind.PRODUCER
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id
    assert dict(send.attributes or {}) == {
        "messaging.system": "kmsg",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": qname,
        "messaging.message.id": job_id,
    }
    job = await queue.get(qname, job_id)
    context = send.get_span_context()
    assert job.trace_parent is not None
    assert job.trace_parent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert b"trace" not in job.payload


async def test_a_batch_is_one_span_and_a_given_traceparent_is_kept(
    queue: JobQueue, qname: str, spans: InMemorySpanExporter
) -> None:
    queue.use(Tracing())
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ids = await queue.enqueue_many(
        [
            NewJob(payload=Ping(n=1), queue=qname),
            NewJob(payload=Ping(n=2), queue=qname, trace_parent=mine),
            NewJob(payload=Ping(n=3), queue=qname),
        ]
    )
    send = named(spans, f"send {qname}")
    assert (send.attributes or {})["messaging.batch.message_count"] == 3
    parents = [(await queue.get(qname, job_id)).trace_parent for job_id in ids]
    assert parents[1] == mine
    assert parents[0] == parents[2] != mine
    assert parents[0] is not None
    assert f"{send.get_span_context().trace_id:032x}" in parents[0]


async def test_the_handler_runs_in_a_consumer_span_of_the_producers_trace(
    queue: JobQueue, qname: str, spans: InMemorySpanExporter
) -> None:
    queue.use(Tracing())
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        with trace.get_tracer("provider").start_as_current_span("POST gateway"):
            pass

    with _PROVIDER.get_tracer("web").start_as_current_span("POST /orders"):
        job_id = await queue.enqueue(Ping(n=1), queue=qname)
    await worker.run_until_idle()
    send, process = named(spans, f"send {qname}"), named(spans, f"process {qname}")
    call = named(spans, "POST gateway")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == send.context.trace_id == call.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert call.parent is not None
    assert call.parent.span_id == process.context.span_id
    attributes = dict(process.attributes or {})
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.name"] == qname
    assert attributes["messaging.message.id"] == job_id
    assert (attributes["kmsg.job.task"], attributes["kmsg.job.attempt"]) == ("Ping", 1)
    assert process.status.status_code is not StatusCode.ERROR


async def test_a_failing_handler_marks_its_span(
    queue: JobQueue, qname: str, spans: InMemorySpanExporter
) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    def ping(msg: Ping) -> None:  # a plain def handler: its thread sees the span too
        with trace.get_tracer("provider").start_as_current_span("POST gateway"):
            raise NonRetryable("number blocked")

    await queue.enqueue(Ping(n=1), queue=qname)  # no Tracing middleware: no traceparent
    await worker.run_until_idle()
    process, call = named(spans, f"process {qname}"), named(spans, "POST gateway")
    assert process.parent is None  # nothing to continue: a trace of its own
    assert call.parent is not None
    assert call.parent.span_id == process.context.span_id
    assert process.status.status_code is StatusCode.ERROR
    assert [event.name for event in process.events] == ["exception"]


async def test_the_sync_queue_traces_too(
    queue: JobQueue, store: Store, qname: str, spans: InMemorySpanExporter
) -> None:
    from kmsg.sync import open_queue

    def produce() -> str:
        with open_queue(store.url, **store.options) as sync:
            sync.use(Tracing())
            return sync.enqueue(Ping(n=1), queue=qname)

    job_id = await anyio.to_thread.run_sync(produce)
    assert named(spans, f"send {qname}").kind is SpanKind.PRODUCER
    assert (await queue.get(qname, job_id)).trace_parent is not None


async def test_a_malformed_traceparent_is_refused(queue: JobQueue, qname: str) -> None:
    with pytest.raises(ValidationError, match="traceparent"):
        await queue.enqueue_many([NewJob(payload=Ping(n=1), queue=qname, trace_parent="nope")])
