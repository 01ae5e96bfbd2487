"""Fencing: complete, fail, extend and release act only under the live lease token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
import pytest

from kmsg import Backoff, JobQueue, JobState, Lease, LeaseLost, NewJob, ValidationError
from tests.conformance.support import SHORT_LEASE, Ping, claim_one, claim_until, wait_out_lease

pytestmark = pytest.mark.anyio

Ack = Callable[[JobQueue, Lease], Awaitable[object]]

ACKS: dict[str, Ack] = {
    "complete": lambda queue, lease: queue.complete(lease, result=b"stale"),
    "fail": lambda queue, lease: queue.fail(lease, "stale", retryable=False),
    "extend": lambda queue, lease: queue.extend(lease, 60.0),
    "release": lambda queue, lease: queue.release(lease),
}


async def assert_fenced(queue: JobQueue, lease: Lease) -> None:
    """Every acknowledgement under ``lease`` raises LeaseLost and leaves the job as it was."""
    before = await queue.get(lease.queue, lease.job_id)
    for name, ack in ACKS.items():
        with pytest.raises(LeaseLost) as raised:
            await ack(queue, lease)
        assert (raised.value.queue, raised.value.job_id) == (lease.queue, lease.job_id)
        assert await queue.get(lease.queue, lease.job_id) == before, f"{name} changed the job"


async def test_a_worker_whose_lease_expired_cannot_touch_the_reclaimed_job(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    no_wait = Backoff(initial=0.0, factor=1.0, maximum=0.0)
    await queue.enqueue(Ping(n=1), queue=qname, backoff=no_wait)
    stale = await claim_one(queue, qname, lease=SHORT_LEASE)
    await wait_out_lease()
    fresh = await claim_until(other, qname, lease=60.0)
    assert fresh.job.id == stale.job.id
    await assert_fenced(queue, stale.lease)
    await other.complete(fresh.lease)
    assert (await queue.get(qname, fresh.job.id)).state is JobState.COMPLETED


async def test_a_forged_token_changes_nothing(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await assert_fenced(queue, msgspec.structs.replace(claimed.lease, token="forged"))
    await queue.complete(claimed.lease)


async def test_acknowledging_a_finished_job_raises_lease_lost(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.complete(claimed.lease, result=b"ok")
    before = await queue.get(qname, claimed.job.id)
    for name in ("fail", "extend", "release"):
        with pytest.raises(LeaseLost):
            await ACKS[name](queue, claimed.lease)
        assert await queue.get(qname, claimed.job.id) == before, f"{name} changed the job"


async def test_acknowledging_an_unknown_job_raises_lease_lost(queue: JobQueue, qname: str) -> None:
    ghost = Lease(queue=qname, job_id="no-such-job", token="t")
    for name, ack in ACKS.items():
        with pytest.raises(LeaseLost):
            await ack(queue, ghost)
        assert (await queue.stats(qname)).total == 0, f"{name} wrote something"


async def test_complete_keeps_the_result(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.complete(claimed.lease, result=b'{"sent":true}')
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.result) == (JobState.COMPLETED, b'{"sent":true}')
    assert job.completed_at is not None


async def test_replaying_complete_with_the_same_token_is_harmless(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.complete(claimed.lease, result=b"once")
    done = await queue.get(qname, claimed.job.id)
    await queue.complete(claimed.lease, result=b"once")
    assert await queue.get(qname, claimed.job.id) == done
    assert (await queue.stats(qname)).completed == 1


async def test_an_oversized_result_is_refused_and_the_job_stays_held(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    with pytest.raises(ValidationError):
        await queue.complete(claimed.lease, result=b"x" * (64 * 1024 + 1))
    assert (await queue.get(qname, claimed.job.id)).state is JobState.PROCESSING
    await queue.complete(claimed.lease, result=b"x" * (64 * 1024))


async def test_every_backend_says_why_a_lease_was_lost_in_the_same_words(
    queue: JobQueue, qname: str
) -> None:
    """One outcome table (kmsg.outcomes) gives every backend the same LeaseLost reasons."""
    await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(4)])
    stale, gone, cancelled, asked = await queue.claim(qname, limit=4)
    await queue.complete(stale.lease)
    await queue.remove(qname, gone.job.id)
    await queue.cancel(qname, cancelled.job.id)
    await queue.cancel(qname, asked.job.id)
    reasons = []
    for call in (
        queue.fail(stale.lease, "late"),
        queue.complete(gone.lease),
        queue.complete(cancelled.lease),
        queue.extend(asked.lease, 30.0),
    ):
        with pytest.raises(LeaseLost) as lost:
            await call
        reasons.append(lost.value.reason)
    assert reasons == [
        "the lease token is stale",
        "the job no longer exists",
        "the job was cancelled",
        "the job's cancel was requested",
    ]
