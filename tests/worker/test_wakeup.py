"""An idle worker starts a newly enqueued job quickly: by signal where the backend pushes one."""

from __future__ import annotations

import time

import anyio
import pytest

from kmsg import JobQueue
from kmsg.worker import EventKind
from tests.backends import BackendUnderTest
from tests.worker.support import ClaimWatch, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio

SETTLE = 0.2
"""Seconds between a waiting claim's start and the enqueue, for it to register with the server."""

WOKEN_WITHIN = 5.0
"""Seconds within which a woken worker starts the job (typically milliseconds)."""


async def test_an_idle_worker_is_woken_by_enqueue_not_by_its_idle_wait(
    backend: BackendUnderTest, queue: JobQueue, qname: str
) -> None:
    if not backend.capabilities().push_wakeup:
        pytest.skip("capability push_wakeup is False: the backend polls")
    watch = ClaimWatch()
    queue.use(watch)
    # a long lease too: a worker waits in claim at most a sixth of its lease
    worker = make_worker(queue, qname, idle_wait=60.0, lease=600.0)

    @worker.task
    async def ping(msg: Ping) -> None:
        """No-op."""

    recorder = Recorder(worker)
    async with running(worker):
        with anyio.fail_after(WOKEN_WITHIN):
            await watch.waiting.wait()
        await anyio.sleep(SETTLE)
        sent = time.monotonic()
        job_id = await queue.enqueue(Ping(n=1), queue=qname)
        await recorder.wait_for(EventKind.STARTED)
        latency = time.monotonic() - sent
    # the job came out of a wait that began before it was enqueued, long before its 60 s end
    assert watch.started_at(job_id) < sent
    assert latency < WOKEN_WITHIN


async def test_a_polling_worker_picks_up_jobs_within_its_idle_wait(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, idle_wait=0.2, lease=600.0)

    @worker.task
    async def ping(msg: Ping) -> None:
        """No-op."""

    recorder = Recorder(worker)
    latencies: list[float] = []
    job_ids: list[str] = []
    async with running(worker):
        for n in range(3):
            await anyio.sleep(0.3)  # idle for longer than one wait
            sent = time.monotonic()
            job_ids.append(await queue.enqueue(Ping(n=n), queue=qname))
            await recorder.wait_for(EventKind.COMPLETED, n + 1)
            latencies.append(time.monotonic() - sent)
    assert [event.job.id for event in recorder.of(EventKind.COMPLETED)] == job_ids
    assert recorder.of(EventKind.RETRIED) == []
    # within the 0.2 s wait plus a margin for a loaded machine; a 60 s wait would fail this
    assert max(latencies) < WOKEN_WITHIN
