"""Reading: get, stats, queues and list_jobs paging in each state's documented order."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobNotFound, JobQueue, JobState, NewJob, ValidationError
from tests.conformance.support import Ping, claim_one, enqueue_pings, ping_of

pytestmark = pytest.mark.anyio


async def list_all(queue: JobQueue, qname: str, state: JobState, *, page: int) -> list[str]:
    """Every id listed in ``state``, page by page, in listing order."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        result = await queue.list_jobs(qname, state, limit=page, cursor=cursor)
        assert len(result.jobs) <= page
        assert all(job.state is state for job in result.jobs)
        ids.extend(job.id for job in result.jobs)
        cursor = result.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("listing never ended")


async def test_get_of_an_unknown_job_raises_job_not_found(queue: JobQueue, qname: str) -> None:
    with pytest.raises(JobNotFound):
        await queue.get(qname, "no-such-job")


async def test_stats_of_an_empty_queue(queue: JobQueue, qname: str) -> None:
    stats = await queue.stats(qname)
    assert stats.queue == qname
    assert stats.total == 0
    assert stats.oldest_pending_age is None
    assert (stats.paused, stats.rate_limit) == (False, None)


async def test_stats_count_every_state(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 6, max_attempts=1)
    await queue.enqueue(Ping(n=9), queue=qname, delay=60.0)
    done, dead, held = [await claim_one(queue, qname) for _ in range(3)]
    await queue.complete(done.lease)
    await queue.fail(dead.lease, "no")
    assert held.job.state is JobState.PROCESSING
    pending = await queue.peek(qname)
    await queue.cancel(qname, pending[0].id)
    stats = await queue.stats(qname)
    counts = (stats.pending, stats.delayed, stats.processing)
    assert counts == (2, 1, 1)
    assert (stats.completed, stats.failed, stats.cancelled) == (1, 1, 1)
    assert stats.total == 7
    for state in JobState:
        assert stats.count(state) == len(await list_all(queue, qname, state, page=100))


async def test_oldest_pending_age_grows_with_the_oldest_job(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    await anyio.sleep(0.5)
    await queue.enqueue(Ping(n=2), queue=qname)
    age = (await queue.stats(qname)).oldest_pending_age
    assert age is not None
    assert 0.4 <= age < 30.0


async def test_queues_lists_queues_with_jobs_or_settings(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    await queue.pause(qname2)
    names = await queue.queues()
    assert names == sorted(names)
    assert {qname, qname2} <= set(names)


async def test_pending_pages_cover_each_job_once_in_claim_order(
    queue: JobQueue, qname: str
) -> None:
    jobs = [NewJob(payload=Ping(n=n), queue=qname, priority=n % 3) for n in range(23)]
    ids = await queue.enqueue_many(jobs)
    expected = [ids[n] for n in sorted(range(23), key=lambda n: (-(n % 3), n))]
    assert await list_all(queue, qname, JobState.PENDING, page=5) == expected
    assert [job.id for job in await queue.peek(qname, limit=23)] == expected


async def test_a_job_that_stays_put_is_listed_once_while_others_arrive(
    queue: JobQueue, qname: str
) -> None:
    ids = await enqueue_pings(queue, qname, 30)
    seen: list[str] = []
    page = await queue.list_jobs(qname, JobState.PENDING, limit=10)
    for round_ in range(10):
        seen.extend(job.id for job in page.jobs)
        if page.next_cursor is None:
            break
        await enqueue_pings(queue, qname, 3, start=100 + 10 * round_, priority=5)
        page = await queue.list_jobs(qname, JobState.PENDING, limit=10, cursor=page.next_cursor)
    originals = [job_id for job_id in seen if job_id in set(ids)]
    assert originals == ids


async def test_delayed_jobs_are_listed_by_due_time(queue: JobQueue, qname: str) -> None:
    ids = [await queue.enqueue(Ping(n=n), queue=qname, delay=100.0 - n) for n in range(7)]
    assert await list_all(queue, qname, JobState.DELAYED, page=3) == ids[::-1]


async def test_processing_jobs_are_listed_by_lease_deadline(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 3)
    leases = [50.0, 30.0, 40.0]
    held = [await claim_one(queue, qname, lease=lease) for lease in leases]
    expected = [held[1].job.id, held[2].job.id, held[0].job.id]
    assert await list_all(queue, qname, JobState.PROCESSING, page=2) == expected


async def test_finished_jobs_are_listed_newest_first(queue: JobQueue, qname: str) -> None:
    await enqueue_pings(queue, qname, 4)
    finished = []
    for _ in range(4):
        claimed = await claim_one(queue, qname)
        await queue.complete(claimed.lease)
        finished.append(claimed.job.id)
        await anyio.sleep(0.01)
    assert await list_all(queue, qname, JobState.COMPLETED, page=3) == finished[::-1]
    cancelled = [await queue.enqueue(Ping(n=n), queue=qname) for n in range(3)]
    for job_id in cancelled:
        await queue.cancel(qname, job_id)
        await anyio.sleep(0.01)
    assert await list_all(queue, qname, JobState.CANCELLED, page=2) == cancelled[::-1]


async def test_listed_jobs_are_full_snapshots(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=4), queue=qname, priority=3)
    page = await queue.list_jobs(qname, JobState.PENDING)
    assert page.jobs == (await queue.get(qname, job_id),)
    assert ping_of(page.jobs[0]) == Ping(n=4)
    assert page.next_cursor is None


@pytest.mark.parametrize(("limit", "cursor"), [(0, None), (-5, None), (10, "not-a-cursor")])
async def test_a_bad_limit_or_cursor_is_refused(
    queue: JobQueue, qname: str, limit: int, cursor: str | None
) -> None:
    await enqueue_pings(queue, qname, 2)
    with pytest.raises(ValidationError):
        await queue.list_jobs(qname, JobState.PENDING, limit=limit, cursor=cursor)
