"""complete_many: each pair treated as complete would treat it, lost leases reported, not raised."""

from __future__ import annotations

import msgspec
import pytest

from kmsg import JobQueue, JobState, Lease, ValidationError
from tests.conformance.support import claim_one, enqueue_pings

pytestmark = pytest.mark.anyio

TOO_BIG = b"x" * (64 * 1024 + 1)


def forged(lease: Lease) -> Lease:
    """The same job under a token nobody holds."""
    return msgspec.structs.replace(lease, token="forged")


async def test_live_leases_complete_and_stale_ones_report_false(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 3)
    first, second, third = await queue.claim(qname, limit=3)
    stale_before = await queue.get(qname, second.job.id)
    done = await queue.complete_many(
        [(first.lease, b"one"), (forged(second.lease), b"stale"), (third.lease, None)]
    )
    assert done == [True, False, True]
    one = await queue.get(qname, first.job.id)
    assert (one.state, one.result) == (JobState.COMPLETED, b"one")
    assert one.completed_at is not None
    three = await queue.get(qname, third.job.id)
    assert (three.state, three.result) == (JobState.COMPLETED, None)
    assert await queue.get(qname, second.job.id) == stale_before


async def test_a_replay_is_harmless_and_reports_true(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 2)
    first, second = await queue.claim(qname, limit=2)
    pairs = [(first.lease, b"a"), (second.lease, b"b")]
    assert await queue.complete_many(pairs) == [True, True]
    after = [await queue.get(qname, c.job.id) for c in (first, second)]
    assert await queue.complete_many(pairs) == [True, True]
    assert [await queue.get(qname, c.job.id) for c in (first, second)] == after
    assert (await queue.stats(qname)).completed == 2


async def test_a_job_completed_already_is_not_completed_twice_by_a_replay_in_one_batch(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 1)
    claimed = await claim_one(queue, qname)
    done = await queue.complete_many([(claimed.lease, b"first"), (claimed.lease, b"second")])
    assert done == [True, True]
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.result) == (JobState.COMPLETED, b"first")


async def test_a_cancel_requested_job_is_cancelled_and_reports_false(
    queue: JobQueue, qname: str
) -> None:
    await enqueue_pings(queue, qname, 2)
    kept, cancelled = await queue.claim(qname, limit=2)
    assert await queue.cancel(qname, cancelled.job.id) is JobState.PROCESSING
    done = await queue.complete_many([(kept.lease, None), (cancelled.lease, b"late")])
    assert done == [True, False]
    assert (await queue.get(qname, kept.job.id)).state is JobState.COMPLETED
    job = await queue.get(qname, cancelled.job.id)
    assert job.state is JobState.CANCELLED
    assert job.result is None


async def test_leases_of_several_queues_in_one_batch(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    await enqueue_pings(queue, qname, 1)
    await enqueue_pings(queue, qname2, 1)
    here, there = await claim_one(queue, qname), await claim_one(queue, qname2)
    done = await queue.complete_many([(there.lease, b"2"), (forged(here.lease), None)])
    assert done == [True, False]
    assert (await queue.get(qname2, there.job.id)).state is JobState.COMPLETED
    assert (await queue.get(qname, here.job.id)).state is JobState.PROCESSING


async def test_an_empty_batch_does_nothing(queue: JobQueue) -> None:
    assert await queue.complete_many([]) == []


async def test_a_too_big_result_refuses_the_whole_batch(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 2)
    first, second = await queue.claim(qname, limit=2)
    with pytest.raises(ValidationError):
        await queue.complete_many([(first.lease, b"fine"), (second.lease, TOO_BIG)])
    for claimed in (first, second):
        assert (await queue.get(qname, claimed.job.id)).state is JobState.PROCESSING
    assert await queue.complete_many([(first.lease, b"fine"), (second.lease, None)]) == [
        True,
        True,
    ]


async def test_a_batch_over_the_limit_is_refused(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 1)
    claimed = await claim_one(queue, qname)
    with pytest.raises(ValidationError):
        await queue.complete_many([(claimed.lease, None)] * 10_001)
    assert (await queue.get(qname, claimed.job.id)).state is JobState.PROCESSING
