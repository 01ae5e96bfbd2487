"""cancel: at once for waiting jobs, after the holder for processing ones, never for finished."""

from __future__ import annotations

import contextlib

import pytest

from kmsg import ClaimedJob, JobNotFound, JobQueue, JobState, LeaseLost
from tests.conformance.support import HOLD, SHORT_LEASE, Ping, claim_one, wait_out_lease

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("delay", [None, 60.0], ids=["pending", "delayed"])
async def test_a_waiting_job_is_cancelled_at_once(
    queue: JobQueue, qname: str, delay: float | None
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, delay=delay)
    assert await queue.cancel(qname, job_id) is JobState.CANCELLED
    job = await queue.get(qname, job_id)
    assert job.state is JobState.CANCELLED
    assert job.cancelled_at is not None
    assert await queue.claim(qname) == []
    stats = await queue.stats(qname)
    assert (stats.pending, stats.delayed, stats.cancelled) == (0, 0, 1)


async def cancel_while_held(queue: JobQueue, qname: str, *, lease: float = 60.0) -> ClaimedJob:
    """Claim a job, cancel it, check the request is recorded; return the holder's claim."""
    await queue.enqueue(Ping(n=1), queue=qname, backoff=HOLD)
    claimed = await claim_one(queue, qname, lease=lease)
    assert await queue.cancel(qname, claimed.job.id) is JobState.PROCESSING
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.cancel_requested) == (JobState.PROCESSING, True)
    return claimed


async def test_a_processing_job_is_cancelled_when_its_holder_completes(
    queue: JobQueue, qname: str
) -> None:
    claimed = await cancel_while_held(queue, qname)
    with pytest.raises(LeaseLost):
        await queue.complete(claimed.lease)
    assert (await queue.get(qname, claimed.job.id)).state is JobState.CANCELLED


async def test_a_processing_job_is_cancelled_when_its_holder_fails(
    queue: JobQueue, qname: str
) -> None:
    claimed = await cancel_while_held(queue, qname)
    with pytest.raises(LeaseLost):
        await queue.fail(claimed.lease, "boom")
    assert (await queue.get(qname, claimed.job.id)).state is JobState.CANCELLED


async def test_extend_tells_the_holder_to_stop(queue: JobQueue, qname: str) -> None:
    claimed = await cancel_while_held(queue, qname)
    before = await queue.get(qname, claimed.job.id)
    with pytest.raises(LeaseLost):
        await queue.extend(claimed.lease, 60.0)
    assert await queue.get(qname, claimed.job.id) == before


async def test_a_released_cancelled_job_becomes_cancelled(queue: JobQueue, qname: str) -> None:
    claimed = await cancel_while_held(queue, qname)
    with contextlib.suppress(LeaseLost):
        await queue.release(claimed.lease)
    assert (await queue.get(qname, claimed.job.id)).state is JobState.CANCELLED
    assert await queue.claim(qname) == []


async def test_a_processing_job_is_cancelled_when_its_lease_ends(
    queue: JobQueue, qname: str
) -> None:
    claimed = await cancel_while_held(queue, qname, lease=SHORT_LEASE)
    await wait_out_lease()
    assert await queue.claim(qname) == []
    job = await queue.get(qname, claimed.job.id)
    assert job.state is JobState.CANCELLED
    with pytest.raises(LeaseLost):
        await queue.complete(claimed.lease)


@pytest.mark.parametrize("ending", ["complete", "fail", "cancel"])
async def test_a_finished_job_is_left_as_it_is(queue: JobQueue, qname: str, ending: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    if ending == "cancel":
        await queue.cancel(qname, job_id)
    else:
        claimed = await claim_one(queue, qname)
        if ending == "complete":
            await queue.complete(claimed.lease)
        else:
            await queue.fail(claimed.lease, "no")
    before = await queue.get(qname, job_id)
    assert await queue.cancel(qname, job_id) is before.state
    assert await queue.get(qname, job_id) == before


async def test_cancelling_an_unknown_job_raises_job_not_found(queue: JobQueue, qname: str) -> None:
    with pytest.raises(JobNotFound) as raised:
        await queue.cancel(qname, "no-such-job")
    assert (raised.value.queue, raised.value.job_id) == (qname, "no-such-job")
