"""Graceful shutdown: stop claiming, let running jobs finish within the grace, release the rest."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobQueue, JobState, NewJob
from kmsg.worker import EventKind
from tests.worker.support import WAIT_LIMIT, Ping, Recorder, make_worker

pytestmark = pytest.mark.anyio


async def test_stop_drains_running_jobs_and_claims_no_more(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname, concurrency=2, shutdown_grace=WAIT_LIMIT)
    finished: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        await anyio.sleep(0.3)
        finished.append(msg.n)

    ids = await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(5)])
    recorder = Recorder(worker)
    with anyio.fail_after(WAIT_LIMIT):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await recorder.wait_for(EventKind.STARTED, 2)
            worker.stop()
    assert sorted(finished) == [0, 1]
    states = [(await queue.get(qname, job_id)).state for job_id in ids]
    assert states == [JobState.COMPLETED] * 2 + [JobState.PENDING] * 3
    assert worker.in_flight == 0


async def test_jobs_still_running_after_the_grace_period_are_released(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, shutdown_grace=0.2)
    cancelled = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    recorder = Recorder(worker)
    with anyio.fail_after(WAIT_LIMIT):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await recorder.wait_for(EventKind.STARTED)
            worker.stop()
    assert cancelled.is_set()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.PENDING, 0, ())
    assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.RELEASED]


async def test_a_stopped_worker_can_run_again(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)
    seen: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        seen.append(msg.n)

    for n in (1, 2):
        await queue.enqueue(Ping(n=n), queue=qname)
        await worker.run_until_idle()
    assert seen == [1, 2]


async def test_running_twice_at_once_is_refused(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)
    with anyio.fail_after(WAIT_LIMIT):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await anyio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already running"):
                await worker.run()
            worker.stop()
