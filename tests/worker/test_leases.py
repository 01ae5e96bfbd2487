"""Heartbeats keep long jobs held; a lost lease cancels the handler at once and nothing follows."""

from __future__ import annotations

import time
from collections.abc import Sequence

import anyio
import pytest

from kmsg import BackendUnavailable, JobQueue, JobState, Lease
from kmsg.worker import EventKind, current_job
from tests.worker.support import WAIT_LIMIT, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio

CANCELLED_WITHIN = 3.0
"""Seconds from a cancel request to the handler's cancellation (lease 0.6 s; heartbeats 0.2 s)."""


async def test_heartbeats_keep_a_job_longer_than_its_lease(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname, lease=0.4)
    runs: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        runs.append(current_job().attempt)
        await anyio.sleep(1.5)

    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3)
    other_claims = []
    async with running(worker):
        recorder = Recorder(worker)
        await recorder.wait_for(EventKind.STARTED)
        with anyio.fail_after(WAIT_LIMIT):
            while not recorder.of(EventKind.COMPLETED):
                # another claimer would take the job if its lease ever ran out
                other_claims += await queue.claim(qname, limit=1, lease=5.0)
                await anyio.sleep(0.1)
    assert other_claims == []
    assert runs == [1]
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.COMPLETED, 1, ())


async def test_losing_the_lease_cancels_the_handler_at_once(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname, lease=0.6)
    cancelled = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3)
    async with running(worker):
        await recorder.wait_for(EventKind.STARTED)
        # a cancel request makes the next heartbeat (extend) raise LeaseLost
        assert await queue.cancel(qname, job_id) is JobState.PROCESSING
        requested = time.monotonic()
        with anyio.fail_after(WAIT_LIMIT):
            await cancelled.wait()
        # the next heartbeat (a third of the lease away) finds the lease lost: "at once" is well
        # inside one lease plus a margin for a loaded machine, not the 60 s the handler would take
        assert time.monotonic() - requested < CANCELLED_WITHIN
        (lost,) = await recorder.wait_for(EventKind.LEASE_LOST)
    assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.LEASE_LOST]
    assert lost.error is not None
    assert "lease lost" in lost.error
    assert lost.duration is not None
    assert lost.duration < 10
    job = await queue.get(qname, job_id)
    # nothing was acknowledged: the job was not completed, failed or released by the worker
    assert job.state in (JobState.PROCESSING, JobState.CANCELLED)
    assert job.errors == ()
    assert job.cancel_requested or job.state is JobState.CANCELLED


async def test_a_lease_lost_at_completion_is_reported_not_raised(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, lease=30.0)
    removed = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        if msg.n == 1:
            # the job disappears under the worker (an operator removed it)
            await queue.remove(qname, current_job().job.id)
            removed.set()

    recorder = Recorder(worker)
    first = await queue.enqueue(Ping(n=1), queue=qname)
    async with running(worker):
        await recorder.wait_for(EventKind.LEASE_LOST)
        second = await queue.enqueue(Ping(n=2), queue=qname)
        await recorder.wait_for(EventKind.COMPLETED)
    assert removed.is_set()
    assert recorder.kinds(first) == [EventKind.STARTED, EventKind.LEASE_LOST]
    assert recorder.kinds(second) == [EventKind.STARTED, EventKind.COMPLETED]


class DeafQueue:
    """Delegates to a real queue, but every heartbeat fails as if the backend were unreachable."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> object:
        return getattr(self._queue, name)

    async def extend(self, lease: Lease, duration: float) -> float:
        raise BackendUnavailable("connection refused")

    async def extend_many(self, leases: Sequence[Lease], duration: float) -> list[float]:
        raise BackendUnavailable("connection refused")


async def test_a_lease_that_runs_out_while_heartbeats_fail_counts_as_lost(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(DeafQueue(queue), qname, lease=0.5)  # type: ignore[arg-type]
    cancelled = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    async with running(worker):
        (lost,) = await recorder.wait_for(EventKind.LEASE_LOST)
    assert cancelled.is_set()
    assert lost.error is not None
    assert "lease ran out while heartbeats failed" in lost.error
    # the worker recorded nothing: the expired lease is the backend's to settle (at next claim)
    errors = (await queue.get(qname, job_id)).errors
    assert [e.type for e in errors] in ([], ["LeaseExpired"])
