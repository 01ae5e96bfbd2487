"""Leases: their length, their expiry, extend (heartbeat) and release."""

from __future__ import annotations

import time

import pytest

from kmsg import Backoff, JobQueue, JobState, LeaseLost
from tests.conformance.support import (
    HOLD,
    SHORT_LEASE,
    Ping,
    claim_one,
    claim_until,
    wait_out_lease,
)

pytestmark = pytest.mark.anyio


async def test_claim_uses_the_jobs_own_lease_by_default(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, lease=SHORT_LEASE, backoff=HOLD)
    before = time.time()
    claimed = await claim_one(queue, qname)
    after = time.time()
    assert claimed.job.lease_until is not None
    assert before + SHORT_LEASE - 0.1 <= claimed.job.lease_until <= after + SHORT_LEASE + 0.1
    await wait_out_lease()
    assert await queue.claim(qname) == []
    assert (await queue.get(qname, claimed.job.id)).state is JobState.DELAYED


async def test_an_explicit_lease_overrides_the_jobs_lease(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, lease=SHORT_LEASE, backoff=HOLD)
    before = time.time()
    claimed = await claim_one(queue, qname, lease=60.0)
    assert claimed.job.lease_until is not None
    assert claimed.job.lease_until >= before + 59.0
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.attempts, job.errors) == (JobState.PROCESSING, 1, ())
    await queue.complete(claimed.lease)


async def test_an_expired_lease_counts_as_a_failed_attempt_and_retries_with_backoff(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3, backoff=HOLD)
    claimed = await claim_one(queue, qname, lease=SHORT_LEASE)
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.attempts) == (JobState.DELAYED, 1)
    assert job.last_error is not None
    assert (job.last_error.type, job.last_error.attempt) == ("LeaseExpired", 1)
    assert job.run_at >= time.time() + 30.0
    stats = await queue.stats(qname)
    assert (stats.processing, stats.delayed) == (0, 1)


async def test_an_expired_lease_on_the_last_attempt_dead_letters_the_job(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    claimed = await claim_one(queue, qname, lease=SHORT_LEASE)
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, claimed.job.id)
    assert job.state is JobState.FAILED
    assert job.failed_at is not None
    assert [e.type for e in job.errors] == ["LeaseExpired"]
    page = await queue.list_failed(qname)
    assert [j.id for j in page.jobs] == [job.id]


async def test_an_expired_job_is_claimed_again_under_a_new_token(
    queue: JobQueue, qname: str
) -> None:
    backoff = Backoff(initial=0.0, factor=1.0, maximum=0.0)
    await queue.enqueue(Ping(n=1), queue=qname, backoff=backoff)
    first = await claim_one(queue, qname, lease=SHORT_LEASE)
    await wait_out_lease()
    second = await claim_until(queue, qname)
    assert second.job.id == first.job.id
    assert second.token != first.token
    assert second.job.attempts == 2
    await queue.complete(second.lease)
    assert (await queue.get(qname, first.job.id)).state is JobState.COMPLETED


async def test_extend_keeps_a_job_held_past_its_original_lease(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, lease=SHORT_LEASE, backoff=HOLD)
    claimed = await claim_one(queue, qname)
    before = time.time()
    deadline = await queue.extend(claimed.lease, 60.0)
    assert before + 59.0 <= deadline <= time.time() + 61.0
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.attempts, job.errors) == (JobState.PROCESSING, 1, ())
    assert job.lease_until == pytest.approx(deadline, abs=0.01)
    await queue.complete(claimed.lease)
    assert (await queue.get(qname, claimed.job.id)).state is JobState.COMPLETED


async def test_release_returns_the_job_to_pending_and_refunds_the_attempt(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    claimed = await claim_one(queue, qname)
    await queue.release(claimed.lease)
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.PENDING, 0, ())
    again = await claim_one(queue, qname)
    assert (again.job.id, again.job.attempts) == (job_id, 1)
    with pytest.raises(LeaseLost):
        await queue.complete(claimed.lease)
    await queue.complete(again.lease)
