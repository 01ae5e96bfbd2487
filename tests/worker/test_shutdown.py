"""Graceful shutdown: stop claiming, let running jobs finish within the grace, release the rest."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

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


def deaf_handler(let_go: anyio.Event, ended: anyio.Event) -> Callable[[Ping], Awaitable[None]]:
    """A handler that swallows every cancellation until ``let_go`` is set."""

    async def ping(msg: Ping) -> None:
        try:
            while not let_go.is_set():
                with contextlib.suppress(BaseException):
                    await anyio.sleep(0.05)
        finally:
            ended.set()

    return ping


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_a_handler_that_swallows_cancellation_is_abandoned_to_its_lease(
    queue: JobQueue, qname: str, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    worker = make_worker(queue, qname, shutdown_grace=0.2)
    let_go, ended = anyio.Event(), anyio.Event()
    worker.register(deaf_handler(let_go, ended))
    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    caplog.set_level(logging.INFO, logger="kmsg.worker")
    try:
        # run() returns within the grace period plus ABANDON_AFTER; the bound here is generous
        with anyio.fail_after(WAIT_LIMIT):
            async with anyio.create_task_group() as group:
                group.start_soon(worker.run)
                await recorder.wait_for(EventKind.STARTED)
                if how == "stop":
                    worker.stop()
                else:
                    group.cancel_scope.cancel()
        assert not ended.is_set()  # still running in the background
        assert [job.id for job in worker.abandoned] == [job_id]
        (abandoned,) = [r for r in caplog.records if "abandoned" in r.getMessage()]
        assert job_id in abandoned.getMessage()
        assert "task Ping" in abandoned.getMessage()
        assert "left to its lease" in abandoned.getMessage()
    finally:
        let_go.set()
    with anyio.fail_after(WAIT_LIMIT):
        await ended.wait()
    # the handler's task settles without awaiting once it ends, so this is logged by now
    assert any("ended after the worker gave up" in r.getMessage() for r in caplog.records)
    # nothing was acknowledged, before or after: the job comes back when its lease ends
    assert recorder.kinds(job_id) == [EventKind.STARTED]
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.PROCESSING, 1, ())


async def test_cancelling_run_cancels_running_handlers_and_waits_for_them(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    cleaned_up = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        try:
            await anyio.sleep(60)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)  # well-behaved cleanup that takes a moment
            cleaned_up.set()

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    with anyio.fail_after(WAIT_LIMIT):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await recorder.wait_for(EventKind.STARTED)
            group.cancel_scope.cancel()
    assert cleaned_up.is_set()
    assert worker.abandoned == ()
    assert recorder.kinds(job_id) == [EventKind.STARTED]
    assert (await queue.get(qname, job_id)).state is JobState.PROCESSING
