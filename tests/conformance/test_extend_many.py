"""extend_many: each lease treated as extend would treat it; lost leases reported, not raised."""

from __future__ import annotations

import time

import msgspec
import pytest

from kmsg import JobQueue, JobState, Lease, LeaseLost, ValidationError
from tests.conformance.support import (
    HOLD,
    SHORT_LEASE,
    claim_one,
    enqueue_pings,
    wait_out_lease,
)

pytestmark = pytest.mark.anyio


def forged(lease: Lease) -> Lease:
    """The same job under a token nobody holds."""
    return msgspec.structs.replace(lease, token="forged")


async def test_live_leases_move_their_deadline_and_lost_ones_say_why(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 4, backoff=HOLD)
    live, stale, cancelled, removed = await queue.claim(qname, limit=4, lease=SHORT_LEASE)
    assert await queue.cancel(qname, cancelled.job.id) is JobState.PROCESSING
    assert await queue.remove(qname, removed.job.id)
    before = time.time()
    outcomes = await queue.extend_many(
        [live.lease, forged(stale.lease), cancelled.lease, removed.lease], 60.0
    )
    after = time.time()
    deadline = outcomes[0]
    assert isinstance(deadline, float)
    assert before + 59.0 <= deadline <= after + 61.0
    for outcome, claimed in zip(outcomes[1:], (stale, cancelled, removed), strict=True):
        assert isinstance(outcome, LeaseLost), outcome
        assert (outcome.queue, outcome.job_id) == (qname, claimed.job.id)
    # The extended job outlives its first lease; the stale one does not.
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, live.job.id)
    assert (job.state, job.lease_until) == (JobState.PROCESSING, deadline)
    assert (await queue.get(qname, stale.job.id)).state is JobState.DELAYED
    await queue.complete(live.lease)


async def test_the_result_matches_what_extend_returns(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 1)
    claimed = await claim_one(queue, qname)
    (deadline,) = await queue.extend_many([claimed.lease], 30.0)
    assert deadline == (await queue.get(qname, claimed.job.id)).lease_until
    assert await queue.extend(claimed.lease, 30.0) >= deadline


async def test_leases_of_several_queues_in_one_batch(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    await enqueue_pings(queue, qname, 1)
    await enqueue_pings(queue, qname2, 1)
    here, there = await claim_one(queue, qname), await claim_one(queue, qname2)
    there_out, here_out = await queue.extend_many([there.lease, forged(here.lease)], 30.0)
    assert isinstance(there_out, float)
    assert isinstance(here_out, LeaseLost)
    assert (await queue.get(qname2, there.job.id)).lease_until == there_out


async def test_a_batch_larger_than_one_step_extends_every_lease(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 1201)
    claimed = []
    for _ in range(5):  # a claim takes at most STEP_JOBS (500) jobs
        claimed += await queue.claim(qname, limit=1201, lease=5.0)
    assert len(claimed) == 1201
    outcomes = await queue.extend_many([c.lease for c in claimed], 120.0)
    assert all(isinstance(outcome, float) for outcome in outcomes)
    last = await queue.get(qname, claimed[-1].job.id)
    assert last.lease_until == outcomes[-1]


async def test_an_empty_batch_does_nothing(queue: JobQueue) -> None:
    assert await queue.extend_many([], 30.0) == []


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan"), 8 * 24 * 3600.0])
async def test_a_bad_duration_changes_nothing(queue: JobQueue, qname: str, duration: float) -> None:
    await enqueue_pings(queue, qname, 1)
    claimed = await claim_one(queue, qname)
    before = await queue.get(qname, claimed.job.id)
    with pytest.raises(ValidationError):
        await queue.extend_many([claimed.lease], duration)
    assert await queue.get(qname, claimed.job.id) == before


async def test_a_bad_lease_or_an_oversized_batch_changes_nothing(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 1)
    claimed = await claim_one(queue, qname)
    before = await queue.get(qname, claimed.job.id)
    with pytest.raises(ValidationError):
        await queue.extend_many([claimed.lease, "not a lease"], 30.0)  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        await queue.extend_many([claimed.lease] * 10_001, 30.0)
    assert await queue.get(qname, claimed.job.id) == before
