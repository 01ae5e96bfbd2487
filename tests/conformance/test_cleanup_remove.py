"""Housekeeping: cleanup (terminal jobs only), remove and clear."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobNotFound, JobQueue, JobState, LeaseLost, RateLimit, ValidationError
from tests.conformance.support import Ping, claim_one, enqueue_pings

pytestmark = pytest.mark.anyio


async def complete_one(queue: JobQueue, qname: str) -> str:
    """Enqueue, claim and complete one job; return its id."""
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.complete(claimed.lease)
    return claimed.job.id


@pytest.mark.parametrize(
    "states",
    [[JobState.PENDING], [JobState.COMPLETED, JobState.DELAYED], [JobState.PROCESSING], []],
    ids=["pending", "with-delayed", "processing", "none"],
)
async def test_cleanup_refuses_live_states_and_deletes_nothing(
    queue: JobQueue, qname: str, states: list[JobState]
) -> None:
    await complete_one(queue, qname)
    await enqueue_pings(queue, qname, 2)
    await queue.enqueue(Ping(n=1), queue=qname, delay=60.0)
    before = await queue.stats(qname)
    with pytest.raises(ValidationError):
        await queue.cleanup(qname, states, older_than=0.0)
    after = await queue.stats(qname)
    assert (after.pending, after.delayed, after.completed) == (
        before.pending,
        before.delayed,
        before.completed,
    )


async def test_cleanup_deletes_only_old_jobs_in_the_given_states(
    queue: JobQueue, qname: str
) -> None:
    old = await complete_one(queue, qname)
    cancelled = await queue.enqueue(Ping(n=2), queue=qname)
    await queue.cancel(qname, cancelled)
    await anyio.sleep(1.2)
    recent = await complete_one(queue, qname)
    live = await queue.enqueue(Ping(n=3), queue=qname)
    assert await queue.cleanup(qname, [JobState.COMPLETED], older_than=0.6) == 1
    with pytest.raises(JobNotFound):
        await queue.get(qname, old)
    assert (await queue.get(qname, recent)).state is JobState.COMPLETED
    assert (await queue.get(qname, cancelled)).state is JobState.CANCELLED
    assert (await queue.get(qname, live)).state is JobState.PENDING
    assert await queue.cleanup(qname, [JobState.COMPLETED, JobState.CANCELLED], older_than=0.6) == 1


async def test_remove_deletes_a_job_in_any_state_and_its_holder_loses_the_lease(
    queue: JobQueue, qname: str
) -> None:
    waiting = await queue.enqueue(Ping(n=1), queue=qname)
    await queue.enqueue(Ping(n=2), queue=qname, priority=1)
    held = await claim_one(queue, qname)
    assert await queue.remove(qname, waiting)
    assert await queue.remove(qname, held.job.id)
    assert not await queue.remove(qname, waiting)
    with pytest.raises(JobNotFound):
        await queue.get(qname, held.job.id)
    with pytest.raises(LeaseLost):
        await queue.complete(held.lease)
    assert (await queue.stats(qname)).total == 0
    assert await queue.claim(qname) == []


async def test_clear_deletes_every_job_of_the_queue_and_keeps_its_settings(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    await complete_one(queue, qname)
    await enqueue_pings(queue, qname, 3)
    await queue.enqueue(Ping(n=1), queue=qname, delay=60.0)
    await claim_one(queue, qname)
    await queue.enqueue(Ping(n=1), queue=qname2)
    await queue.set_rate_limit(qname, 5, per_seconds=2.0)
    await queue.pause(qname)
    assert await queue.clear(qname) == 5
    stats = await queue.stats(qname)
    assert stats.total == 0
    assert (stats.paused, stats.rate_limit) == (True, RateLimit(max_jobs=5, per_seconds=2.0))
    assert (await queue.stats(qname2)).pending == 1
    assert await queue.clear(qname) == 0
