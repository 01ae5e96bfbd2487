"""Prometheus metrics: scrape-time queue depth, worker events, enqueue counting, the server."""

from __future__ import annotations

import time

import httpx
import msgspec
from prometheus_client import CollectorRegistry
from starlette.testclient import TestClient

from kmsg import Backoff, Job, JobState, NewJob
from kmsg.metrics import WorkerMetrics, instrument, metrics_for, start_metrics_server
from tests.dashboard.conftest import Harness
from tests.dashboard.payloads import Ping, SendSms


class FakeEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The shape of ``kmsg.worker.WorkerEvent`` that WorkerMetrics reads."""

    kind: str
    job: Job
    duration: float | None = None


def _job(queue: str = "sms", task: str = "SendSms") -> Job:
    now = time.time()
    return Job(
        id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        queue=queue,
        task=task,
        payload=b"{}",
        state=JobState.PROCESSING,
        priority=0,
        run_at=now,
        created_at=now,
        attempts=1,
        max_attempts=3,
        backoff=Backoff(),
        lease=30.0,
    )


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_metrics_endpoint_reports_depth_per_state(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    harness.enqueue("sms")
    harness.complete_one("sms")
    text = client.get("/metrics").text
    assert 'kmsg_queue_jobs{queue="sms",state="pending"} 1.0' in text
    assert 'kmsg_queue_jobs{queue="sms",state="completed"} 1.0' in text
    assert 'kmsg_queue_paused{queue="sms"} 0.0' in text
    assert 'kmsg_queue_missing_records_total{queue="sms"} 0.0' in text
    harness.enqueue("sms")
    assert 'kmsg_queue_jobs{queue="sms",state="pending"} 2.0' in client.get("/metrics").text


def test_worker_metrics_count_events_by_queue_and_task() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    job = _job()
    for kind, duration in [
        ("started", None),
        ("completed", 0.2),
        ("retried", 0.1),
        ("dead", 0.3),
        ("lease_lost", None),
        ("timed_out", None),
        ("released", None),
        ("loop_blocked", 1.5),
    ]:
        metrics.observe(FakeEvent(kind=kind, job=job, duration=duration))
    labels = {"queue": "sms", "task": "SendSms"}
    for name in ("completed", "retried", "dead", "timed_out", "released"):
        assert _value(registry, f"kmsg_jobs_{name}_total", **labels) == 1.0
    assert _value(registry, "kmsg_lease_lost_total", **labels) == 1.0
    assert _value(registry, "kmsg_worker_loop_blocked_total", **labels) == 1.0
    assert _value(registry, "kmsg_worker_loop_blocked_seconds_total", **labels) == 1.5
    assert _value(registry, "kmsg_handler_duration_seconds_count", **labels) == 3.0
    assert abs((_value(registry, "kmsg_handler_duration_seconds_sum", **labels) or 0) - 0.6) < 1e-9


def test_worker_metrics_attach_subscribes_to_the_worker() -> None:
    class Subject:
        def __init__(self) -> None:
            self.listeners: list[object] = []

        def add_listener(self, callback: object) -> None:
            self.listeners.append(callback)

    subject = Subject()
    metrics = WorkerMetrics(CollectorRegistry()).attach(subject)
    assert subject.listeners == [metrics.observe]


def test_metrics_for_makes_one_set_per_registry() -> None:
    registry = CollectorRegistry()
    assert metrics_for(registry) is metrics_for(registry)
    assert metrics_for(registry) is not metrics_for(CollectorRegistry())


def test_instrumented_queue_counts_enqueues(harness: Harness) -> None:
    registry = CollectorRegistry()
    queue = instrument(harness.queue, metrics_for(registry))
    harness.run(queue.enqueue, SendSms("01012345678", "hi"), queue="sms")
    batch = [NewJob(payload=Ping(), queue="ops"), NewJob(payload=Ping(), queue="ops")]
    ids = harness.run(queue.enqueue_many, batch)
    assert len(ids) == 2
    assert _value(registry, "kmsg_jobs_enqueued_total", queue="sms", task="SendSms") == 1.0
    assert _value(registry, "kmsg_jobs_enqueued_total", queue="ops", task="Ping") == 2.0
    assert harness.run(queue.stats, "ops").pending == 2
    replayed = NewJob(payload=Ping(), queue="ops", job_id=ids[0])
    assert harness.run(queue.enqueue_many, [replayed]) == [ids[0]]
    assert _value(registry, "kmsg_jobs_enqueued_total", queue="ops", task="Ping") == 2.0
    assert _value(registry, "kmsg_jobs_deduplicated_total", queue="ops", task="Ping") == 1.0


def test_metrics_server_serves_the_registry() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).observe(FakeEvent(kind="completed", job=_job(), duration=0.01))
    server = start_metrics_server(0, registry=registry)
    try:
        body = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    finally:
        server.close()
    assert 'kmsg_jobs_completed_total{queue="sms",task="SendSms"} 1.0' in body


def test_worker_metrics_with_a_real_worker(harness: Harness) -> None:
    from kmsg.worker import NonRetryable, Worker

    registry = CollectorRegistry()
    worker = Worker(harness.queue, queues=("sms",), concurrency=2)
    WorkerMetrics(registry).attach(worker)

    @worker.task
    async def send(msg: SendSms) -> None:
        if msg.text == "bad":
            raise NonRetryable("refused")

    harness.enqueue("sms", "good")
    harness.enqueue("sms", "bad")
    harness.run(worker.run_until_idle)
    labels = {"queue": "sms", "task": "SendSms"}
    assert _value(registry, "kmsg_jobs_completed_total", **labels) == 1.0
    assert _value(registry, "kmsg_jobs_dead_total", **labels) == 1.0
    assert _value(registry, "kmsg_handler_duration_seconds_count", **labels) == 2.0
