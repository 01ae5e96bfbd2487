"""An idle worker starts a newly enqueued job quickly: by signal where the backend pushes one."""

from __future__ import annotations

import time

import anyio
import pytest

from kmsg import JobQueue
from kmsg.worker import EventKind
from tests.backends import BackendUnderTest
from tests.worker.support import Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio


async def test_an_idle_worker_is_woken_by_enqueue_not_by_its_idle_wait(
    backend: BackendUnderTest, queue: JobQueue, qname: str
) -> None:
    if not backend.capabilities().push_wakeup:
        pytest.skip("capability push_wakeup is False: the backend polls")
    worker = make_worker(queue, qname, idle_wait=60.0)

    @worker.task
    async def ping(msg: Ping) -> None:
        """No-op."""

    recorder = Recorder(worker)
    async with running(worker):
        await anyio.sleep(0.3)  # let the worker claim nothing and go idle
        sent = time.monotonic()
        await queue.enqueue(Ping(n=1), queue=qname)
        await recorder.wait_for(EventKind.STARTED)
        latency = time.monotonic() - sent
    # an idle_wait of 60 s would have to time out first if the worker were not woken
    assert latency < 10.0


async def test_a_polling_worker_picks_up_jobs_within_its_idle_wait(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, idle_wait=0.2)

    @worker.task
    async def ping(msg: Ping) -> None:
        """No-op."""

    recorder = Recorder(worker)
    async with running(worker):
        for n in range(3):
            await anyio.sleep(0.3)
            await queue.enqueue(Ping(n=n), queue=qname)
            await recorder.wait_for(EventKind.COMPLETED, n + 1)
