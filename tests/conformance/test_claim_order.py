"""claim and peek: which jobs come out, in what order, and how many."""

from __future__ import annotations

import time

import anyio
import pytest

from kmsg import JobQueue, JobState, NewJob
from kmsg.validation import STEP_JOBS
from tests.conformance.support import MARGIN, Ping, claim_one, enqueue_pings, ping_of

pytestmark = pytest.mark.anyio


async def claim_order(queue: JobQueue, qname: str, count: int) -> list[int]:
    """Claim ``count`` jobs one at a time; return their payload numbers in claim order."""
    return [ping_of((await claim_one(queue, qname)).job).n for _ in range(count)]


async def test_higher_priority_is_claimed_first(queue: JobQueue, qname: str) -> None:
    for n, priority in enumerate([0, 5, -3, 1000, 5, -1000, 1]):
        await queue.enqueue(Ping(n=n), queue=qname, priority=priority)
    assert await claim_order(queue, qname, 7) == [3, 1, 4, 6, 0, 2, 5]
    assert await queue.claim(qname) == []


async def test_equal_priority_is_claimed_by_due_time(queue: JobQueue, qname: str) -> None:
    now = time.time()
    for n, age in enumerate([10.0, 30.0, 20.0, 0.0]):
        await queue.enqueue(Ping(n=n), queue=qname, run_at=now - age)
    assert await claim_order(queue, qname, 4) == [1, 2, 0, 3]


async def test_ties_are_claimed_in_enqueue_order(queue: JobQueue, qname: str) -> None:
    due = time.time() - 5.0
    for n in range(5):
        await queue.enqueue(Ping(n=n), queue=qname, run_at=due)
    await enqueue_pings(queue, qname, 5, start=5, run_at=due)
    assert await claim_order(queue, qname, 10) == list(range(10))


async def test_a_due_delayed_job_takes_its_place_by_due_time(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=0), queue=qname, delay=0.3)
    await queue.enqueue(Ping(n=1), queue=qname, delay=0.3, priority=2)
    await queue.enqueue(Ping(n=2), queue=qname)
    await queue.enqueue(Ping(n=3), queue=qname, priority=1)
    await anyio.sleep(0.3 + MARGIN)
    assert await claim_order(queue, qname, 4) == [1, 3, 2, 0]


async def test_claim_takes_at_most_limit_distinct_jobs(queue: JobQueue, qname: str) -> None:
    ids = await enqueue_pings(queue, qname, 10)
    first = await queue.claim(qname, limit=4)
    assert len(first) == 4
    stats = await queue.stats(qname)
    assert (stats.pending, stats.processing) == (6, 4)
    rest = await queue.claim(qname, limit=100)
    claimed = [c.job.id for c in [*first, *rest]]
    assert sorted(claimed) == sorted(ids)
    assert await queue.claim(qname, limit=100) == []


async def test_a_batch_claim_takes_the_best_jobs(queue: JobQueue, qname: str) -> None:
    jobs = [NewJob(payload=Ping(n=n), queue=qname, priority=n % 4) for n in range(12)]
    await queue.enqueue_many(jobs)
    best = await queue.claim(qname, limit=3)
    assert sorted(ping_of(c.job).n for c in best) == [3, 7, 11]


async def test_claim_with_nothing_due_returns_nothing(queue: JobQueue, qname: str) -> None:
    assert await queue.claim(qname, limit=5) == []
    await queue.enqueue(Ping(n=1), queue=qname, delay=60.0)
    assert await queue.claim(qname, limit=5) == []
    assert await queue.peek(qname, limit=5) == []


async def test_a_claimed_job_is_processing_under_a_fresh_token(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, lease=20.0)
    before = time.time()
    claimed = await claim_one(queue, qname)
    assert claimed.token
    assert (claimed.lease.queue, claimed.lease.job_id) == (qname, job_id)
    assert (claimed.job.state, claimed.job.attempts) == (JobState.PROCESSING, 1)
    assert claimed.job.lease_until is not None
    assert before + 19.0 <= claimed.job.lease_until <= time.time() + 21.0
    stored = await queue.get(qname, job_id)
    assert (stored.state, stored.attempts) == (JobState.PROCESSING, 1)
    await queue.release(claimed.lease)
    again = await claim_one(queue, qname)
    assert again.token != claimed.token


async def test_peek_shows_pending_jobs_in_claim_order_without_claiming(
    queue: JobQueue, qname: str
) -> None:
    for n, priority in enumerate([0, 2, 1]):
        await queue.enqueue(Ping(n=n), queue=qname, priority=priority)
    await queue.enqueue(Ping(n=9), queue=qname, priority=100, delay=60.0)
    peeked = await queue.peek(qname, limit=10)
    assert [ping_of(job).n for job in peeked] == [1, 2, 0]
    assert all(job.state is JobState.PENDING for job in peeked)
    assert [ping_of(job).n for job in await queue.peek(qname)] == [1]
    assert (await queue.stats(qname)).pending == 3
    assert await claim_order(queue, qname, 3) == [1, 2, 0]


async def test_one_claim_takes_at_most_one_step_of_jobs(queue: JobQueue, qname: str) -> None:
    """A claim is one bounded step (STEP_JOBS jobs), however large its limit."""
    await enqueue_pings(queue, qname, STEP_JOBS + 100)
    assert len(await queue.claim(qname, limit=5000)) == STEP_JOBS
    assert len(await queue.claim(qname, limit=5000)) == 100
