"""claim(wait=...): a waiting claim takes a job that comes during the wait, else returns [] when
the wait is over; it never takes what a plain claim would refuse, and cancelling it loses no job.
"""

from __future__ import annotations

import math
import time

import anyio
import pytest

from kmsg import ClaimedJob, JobQueue, JobState, ValidationError
from kmsg.validation import MAX_LEASE
from tests.conformance.support import Ping

pytestmark = pytest.mark.anyio

LONG_WAIT = 60.0
"""A wait no test should sit out: the job it waits for comes long before."""

SOON = 5.0
"""Seconds within which a waiting claim must take a job that became claimable."""

SHORT_WAIT = 0.5
"""A wait that is sat out to its end."""

RACE_ROUNDS = 5
"""Rounds of each enqueue-versus-cancel race."""


async def test_a_waiting_claim_takes_a_job_another_handle_enqueues(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    got: list[ClaimedJob] = []
    returned: list[float] = []
    enqueued_at = 0.0

    async def claim() -> None:
        got.extend(await other.claim(qname, limit=5, lease=7.0, wait=LONG_WAIT))
        returned.append(time.monotonic())

    with anyio.fail_after(SOON + 10.0):
        async with anyio.create_task_group() as group:
            group.start_soon(claim)
            await anyio.sleep(0.3)
            assert returned == []  # still waiting: the job below reaches a claim already waiting
            enqueued_at = time.monotonic()
            job_id = await queue.enqueue(Ping(n=1), queue=qname)
    assert time.monotonic() - enqueued_at < SOON
    (claimed,) = got
    assert (claimed.job.id, claimed.job.state, claimed.job.attempts) == (
        job_id,
        JobState.PROCESSING,
        1,
    )
    await queue.complete(claimed.lease)
    assert (await queue.get(qname, job_id)).state is JobState.COMPLETED


async def test_a_job_due_now_is_claimed_without_waiting(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    with anyio.fail_after(SOON):
        (claimed,) = await queue.claim(qname, limit=5, wait=LONG_WAIT)
    assert claimed.job.id == job_id


async def test_a_waiting_claim_returns_nothing_when_the_wait_is_over(
    queue: JobQueue, qname: str
) -> None:
    started = time.monotonic()
    with anyio.fail_after(SHORT_WAIT + SOON + 5.0):
        assert await queue.claim(qname, wait=SHORT_WAIT) == []
    elapsed = time.monotonic() - started
    assert SHORT_WAIT * 0.8 <= elapsed < SHORT_WAIT + SOON


async def test_a_paused_queue_hands_no_job_to_a_waiting_claim(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    await queue.pause(qname)
    first = await queue.enqueue(Ping(n=1), queue=qname)
    started = time.monotonic()
    with anyio.fail_after(SHORT_WAIT + SOON + 5.0):
        async with anyio.create_task_group() as group:

            async def claim() -> None:
                assert await other.claim(qname, wait=SHORT_WAIT) == []

            group.start_soon(claim)
            await anyio.sleep(0.1)
            second = await queue.enqueue(Ping(n=2), queue=qname)
    assert time.monotonic() - started >= SHORT_WAIT * 0.8
    for job_id in (first, second):
        assert (await queue.get(qname, job_id)).state is JobState.PENDING
    await queue.resume(qname)
    assert len(await queue.claim(qname, limit=5)) == 2


async def test_a_delayed_job_is_claimed_once_due_within_the_wait(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, delay=0.3)
    started = time.monotonic()
    with anyio.fail_after(SOON + 5.0):
        (claimed,) = await queue.claim(qname, wait=LONG_WAIT)
    assert claimed.job.id == job_id
    assert time.monotonic() - started < 0.3 + SOON


async def test_cancelling_a_waiting_claim_loses_no_job(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    with anyio.move_on_after(0.3) as scope:
        await other.claim(qname, wait=LONG_WAIT)
    assert scope.cancelled_caught
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    (claimed,) = await queue.claim(qname)
    assert claimed.job.id == job_id


@pytest.mark.parametrize("enqueue_after", [0.0, 0.02, 0.3])
async def test_a_job_enqueued_while_a_waiting_claim_is_cancelled_is_not_lost(
    queue: JobQueue, other: JobQueue, qname: str, enqueue_after: float
) -> None:
    """The enqueue and the cancel race: the job is either held by the claim (which returned
    first) or claimable at once with its attempt refunded, never held by nobody."""
    for _ in range(RACE_ROUNDS):
        got: list[ClaimedJob] = []

        async def claim(into: list[ClaimedJob]) -> None:
            into.extend(await other.claim(qname, limit=1, wait=LONG_WAIT))

        with anyio.fail_after(SOON + 5.0):
            async with anyio.create_task_group() as group:
                group.start_soon(claim, got)
                await anyio.sleep(enqueue_after)
                job_id = await queue.enqueue(Ping(n=1), queue=qname)
                group.cancel_scope.cancel()
        job = await queue.get(qname, job_id)
        if got:
            (held,) = got
            assert (held.job.id, job.state, job.attempts) == (job_id, JobState.PROCESSING, 1)
            await other.complete(held.lease)
        else:
            assert (job.state, job.attempts) == (JobState.PENDING, 0)
            (claimed,) = await queue.claim(qname)
            assert claimed.job.id == job_id
            await queue.complete(claimed.lease)
        assert (await queue.stats(qname)).processing == 0


@pytest.mark.parametrize("wait", [-1.0, math.nan, math.inf, MAX_LEASE * 2, "1"])
async def test_a_bad_wait_is_refused(queue: JobQueue, qname: str, wait: object) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    with pytest.raises(ValidationError):
        await queue.claim(qname, wait=wait)  # type: ignore[arg-type]
    assert (await queue.stats(qname)).pending == 1
