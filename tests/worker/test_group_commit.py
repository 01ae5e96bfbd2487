"""Group commit: finished jobs are acknowledged together in complete_many calls."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import pytest

from kmsg import BackendUnavailable, JobQueue, JobState, Lease, NewJob
from kmsg.worker import EventKind
from tests.worker.support import WAIT_LIMIT, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio


class CountingQueue:
    """Delegates to a real queue and records the size of every complete_many batch."""

    def __init__(self, queue: JobQueue, *, failures: int = 0, delay: float = 0.0) -> None:
        self._queue = queue
        self._failures = failures
        self._delay = delay
        self.batches: list[int] = []
        self.called = anyio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._queue, name)

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        raise AssertionError("the worker acknowledges through complete_many only")

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        self.batches.append(len(completions))
        self.called.set()
        await anyio.sleep(self._delay)
        if self._failures:
            self._failures -= 1
            raise BackendUnavailable("connection refused")
        return await self._queue.complete_many(completions)


async def enqueue_pings(queue: JobQueue, qname: str, count: int) -> list[str]:
    """Enqueue Ping(0) .. Ping(count - 1) in one batch."""
    return await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(count)])


async def test_jobs_that_finish_together_share_one_call(queue: JobQueue, qname: str) -> None:
    counting = CountingQueue(queue)
    worker = make_worker(counting, qname, concurrency=20)  # type: ignore[arg-type]
    all_started = anyio.Event()
    started = 0

    @worker.task
    async def ping(msg: Ping) -> None:
        nonlocal started
        started += 1
        if started == 20:
            all_started.set()
        await all_started.wait()

    recorder = Recorder(worker)
    ids = await enqueue_pings(queue, qname, 20)
    async with running(worker):
        await recorder.wait_for(EventKind.COMPLETED, 20)
    assert sum(counting.batches) == 20
    assert len(counting.batches) < 20
    for job_id in ids:
        assert (await queue.get(qname, job_id)).state is JobState.COMPLETED


async def test_a_lone_completion_is_sent_at_once(queue: JobQueue, qname: str) -> None:
    counting = CountingQueue(queue)
    worker = make_worker(counting, qname)  # type: ignore[arg-type]

    @worker.task
    async def ping(msg: Ping) -> None:
        pass

    recorder = Recorder(worker)
    async with running(worker):
        for n in range(3):
            await queue.enqueue(Ping(n=n), queue=qname)
            await recorder.wait_for(EventKind.COMPLETED, n + 1)
    assert counting.batches == [1, 1, 1]


async def test_a_lost_lease_in_a_batch_is_reported_for_that_job_only(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, concurrency=4)
    all_started, cancelled = anyio.Event(), anyio.Event()
    started = 0

    @worker.task
    async def ping(msg: Ping) -> None:
        nonlocal started
        started += 1
        if started == 4:
            all_started.set()
        await cancelled.wait()

    recorder = Recorder(worker)
    ids = await enqueue_pings(queue, qname, 4)
    async with running(worker):
        with anyio.fail_after(WAIT_LIMIT):
            await all_started.wait()
        assert await queue.cancel(qname, ids[1]) is JobState.PROCESSING
        cancelled.set()
        await recorder.wait_for(EventKind.COMPLETED, 3)
        await recorder.wait_for(EventKind.LEASE_LOST)
    assert recorder.kinds(ids[1]) == [EventKind.STARTED, EventKind.LEASE_LOST]
    assert (await queue.get(qname, ids[1])).state is JobState.CANCELLED
    for job_id in (ids[0], ids[2], ids[3]):
        assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.COMPLETED]


async def test_a_failed_call_is_logged_and_the_worker_carries_on(
    queue: JobQueue, qname: str, caplog: pytest.LogCaptureFixture
) -> None:
    counting = CountingQueue(queue, failures=1)
    worker = make_worker(counting, qname)  # type: ignore[arg-type]

    @worker.task
    async def ping(msg: Ping) -> None:
        pass

    recorder = Recorder(worker)
    first = await queue.enqueue(Ping(n=1), queue=qname)
    with caplog.at_level(logging.ERROR, logger="kmsg.worker"):
        async with running(worker):
            with anyio.fail_after(WAIT_LIMIT):
                await counting.called.wait()
            second = await queue.enqueue(Ping(n=2), queue=qname)
            await recorder.wait_for(EventKind.COMPLETED)
    assert any("could not acknowledge job" in r.getMessage() for r in caplog.records)
    assert recorder.kinds(first) == [EventKind.STARTED]
    # unacknowledged: the job stays held until its lease ends, then runs again
    assert (await queue.get(qname, first)).state is JobState.PROCESSING
    assert recorder.kinds(second) == [EventKind.STARTED, EventKind.COMPLETED]


async def test_stopping_waits_for_completions_being_sent(queue: JobQueue, qname: str) -> None:
    slow = CountingQueue(queue, delay=0.5)
    worker = make_worker(slow, qname)  # type: ignore[arg-type]

    @worker.task
    async def ping(msg: Ping) -> None:
        pass

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    async with running(worker):
        with anyio.fail_after(WAIT_LIMIT):
            await slow.called.wait()
        worker.stop()
    assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.COMPLETED]
    assert (await queue.get(qname, job_id)).state is JobState.COMPLETED
