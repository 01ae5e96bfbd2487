"""Claiming with a wait: the adapter's ``claim_or_wait`` when it has one, else the fallback."""

from __future__ import annotations

from typing import Any, cast

import anyio
import pytest

from kmsg import JobQueue, JobState
from kmsg.models import ClaimedJob
from kmsg.worker import EventKind
from kmsg.worker.claiming import claim_or_wait_for, supports_claim_wait
from tests.worker.support import WAIT_LIMIT, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio


class Delegating:
    """A wrapper that delegates through ``__getattr__`` and counts the claims it sees."""

    def __init__(self, inner: JobQueue) -> None:
        self._inner = inner
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None
    ) -> list[ClaimedJob]:
        """Count, then claim."""
        self.claims += 1
        return await self._inner.claim(queue, limit=limit, lease=lease)


def as_queue(wrapper: Delegating) -> JobQueue:
    """The wrapper, typed as the queue it stands in for."""
    return cast(JobQueue, wrapper)


def test_a_wrapper_delegating_through_getattr_does_not_claim_and_wait_itself(
    queue: JobQueue,
) -> None:
    assert not supports_claim_wait(Delegating(queue))
    assert supports_claim_wait(queue) == hasattr(type(queue), "claim_or_wait")


async def test_the_fallback_claims_a_due_job(queue: JobQueue, qname: str) -> None:
    wrapper = Delegating(queue)
    claimer = claim_or_wait_for(as_queue(wrapper))
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    with anyio.fail_after(WAIT_LIMIT):
        (claimed,) = await claimer(qname, limit=5, lease=5.0, wait=60.0)
    assert (claimed.job.id, claimed.job.state) == (job_id, JobState.PROCESSING)
    assert wrapper.claims == 1


async def test_the_fallback_waits_then_returns_nothing(queue: JobQueue, qname: str) -> None:
    wrapper = Delegating(queue)
    claimer = claim_or_wait_for(as_queue(wrapper))
    with anyio.fail_after(WAIT_LIMIT):
        assert await claimer(qname, limit=1, lease=None, wait=0.1) == []
    assert wrapper.claims == 1


async def test_the_adapter_claims_and_waits_in_one_call(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    with anyio.fail_after(WAIT_LIMIT):
        (claimed,) = await claim_or_wait_for(queue)(qname, limit=2, lease=5.0, wait=60.0)
        assert claimed.job.id == job_id
        assert await claim_or_wait_for(queue)(qname, limit=2, lease=5.0, wait=0.1) == []


async def test_a_worker_claims_through_a_wrapper_that_intercepts_claim(
    queue: JobQueue, qname: str
) -> None:
    wrapper = Delegating(queue)
    worker = make_worker(as_queue(wrapper), qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        """No-op."""

    recorder = Recorder(worker)
    async with running(worker):
        await anyio.sleep(0.2)
        await queue.enqueue(Ping(n=1), queue=qname)
        await recorder.wait_for(EventKind.COMPLETED)
    assert wrapper.claims >= 2  # idle claims, then the one that took the job
