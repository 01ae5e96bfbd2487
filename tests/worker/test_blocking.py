"""Blocking handlers: plain def handlers run in threads; an async one that blocks is reported."""

from __future__ import annotations

import logging
import threading
import time

import anyio
import pytest
from prometheus_client import CollectorRegistry

from kmsg import JobQueue, JobState
from kmsg.metrics import WorkerMetrics
from kmsg.worker import EventKind, WorkerEvent, current_job
from tests.backends import Store
from tests.worker.support import QUICK_BACKOFF, WAIT_LIMIT, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio

WATCHDOG_THREAD = "kmsg loop watchdog"


async def test_a_def_handler_that_blocks_for_three_leases_runs_once_among_two_workers(
    store: Store, queue: JobQueue, qname: str
) -> None:
    lease = 1.0
    runs: list[tuple[int, str]] = []
    completed = anyio.Event()
    lost: list[WorkerEvent] = []

    def ping(msg: Ping) -> str:
        # blocking, in a worker thread; current_job() works here too
        runs.append((current_job().attempt, threading.current_thread().name))
        time.sleep(3 * lease)
        return "done"

    def on_event(event: WorkerEvent) -> None:
        if event.kind is EventKind.COMPLETED:
            completed.set()
        elif event.kind is EventKind.LEASE_LOST:
            lost.append(event)

    first = make_worker(queue, qname, lease=lease)
    second = make_worker(await store.open(), qname, lease=lease)
    for worker in (first, second):
        worker.register(ping)
        worker.add_listener(on_event)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3, backoff=QUICK_BACKOFF)
    async with running(first), running(second):
        with anyio.fail_after(WAIT_LIMIT):
            await completed.wait()
    ((attempt, thread_name),) = runs
    assert attempt == 1
    assert thread_name != threading.main_thread().name
    assert lost == []
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.COMPLETED, 1, ())


async def test_a_def_handler_past_its_timeout_is_let_go_at_once(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, job_timeout=0.2)
    let_go = threading.Event()
    returned = threading.Event()

    @worker.task
    def ping(msg: Ping) -> None:
        let_go.wait(WAIT_LIMIT)
        returned.set()

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    try:
        async with running(worker):
            (timed_out,) = await recorder.wait_for(EventKind.TIMED_OUT)
            # the worker did not wait for the thread, which is still blocked
            assert not returned.is_set()
            await recorder.wait_for(EventKind.DEAD)
    finally:
        let_go.set()
    assert timed_out.job.id == job_id
    job = await queue.get(qname, job_id)
    assert job.state is JobState.FAILED
    assert job.last_error is not None
    assert job.last_error.type == "JobTimeout"


async def test_an_async_handler_that_blocks_the_loop_is_reported_once(
    queue: JobQueue, qname: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(queue, qname, loop_block_threshold=0.2)
    registry = CollectorRegistry()
    WorkerMetrics(registry).attach(worker)

    @worker.task
    async def ping(msg: Ping) -> None:
        if msg.n == 1:
            time.sleep(1.0)  # noqa: ASYNC251 - the mistake the watchdog is for

    recorder = Recorder(worker)
    blocker = await queue.enqueue(Ping(n=1), queue=qname)
    with caplog.at_level(logging.WARNING, logger="kmsg.worker"):
        async with running(worker):
            (blocked,) = await recorder.wait_for(EventKind.LOOP_BLOCKED)
            await recorder.wait_for(EventKind.COMPLETED)
            await queue.enqueue(Ping(n=2), queue=qname)
            await recorder.wait_for(EventKind.COMPLETED, 2)
    warnings = [r for r in caplog.records if "event loop blocked" in r.getMessage()]
    naming = [r for r in warnings if blocker in r.getMessage()]
    assert len(naming) == 1
    (warning,) = naming
    message = warning.getMessage()
    assert "task Ping" in message
    assert "plain def handler" in message
    assert "anyio.to_thread" in message
    assert warning.job_id == blocker  # type: ignore[attr-defined]
    assert blocked.job.id == blocker
    assert blocked.duration is not None
    assert blocked.duration >= 0.5
    assert len(recorder.of(EventKind.LOOP_BLOCKED)) == 1
    labels = {"queue": qname, "task": "Ping"}
    assert registry.get_sample_value("kmsg_worker_loop_blocked_total", labels) == 1.0
    seconds = registry.get_sample_value("kmsg_worker_loop_blocked_seconds_total", labels)
    assert seconds == pytest.approx(blocked.duration)


async def test_the_watchdog_thread_stops_with_the_worker(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        """Nothing to do."""

    await queue.enqueue(Ping(n=1), queue=qname)
    await worker.run_until_idle()
    assert [t for t in threading.enumerate() if t.name == WATCHDOG_THREAD] == []
