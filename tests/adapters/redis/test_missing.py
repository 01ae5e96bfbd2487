"""Redis adapter: a job record deleted behind kmsg's back never wedges its queue.

An eviction, an operator's ``HDEL`` or a lost write can leave index entries pointing at a record
that is gone. Every script reads a record before it writes: such an entry is dropped where it is
met (and counted in ``QueueStats.missing_records``), never turned into a stub, and every other
job of the queue keeps flowing.
"""

from __future__ import annotations

import random

import anyio
import pytest

from kmsg import Backoff, JobNotFound, JobQueue, JobState, LeaseLost, NewJob
from kmsg.adapters.redis import RedisJobQueue
from tests.adapters.redis.conftest import Note
from tests.backends import Store
from tests.redis_tamper import delete_record

pytestmark = pytest.mark.anyio

HOLD = Backoff(initial=3600.0, factor=1.0, maximum=3600.0)


async def forget(store: Store, qname: str, job_id: str) -> None:
    """Delete the job's record, leaving whatever indexes it behind."""
    await delete_record(store.url, store.options["key_prefix"], qname, job_id)


async def one_in_each_state(queue: JobQueue, qname: str) -> dict[JobState, str]:
    """Job ids, one per state (and a spare pending job): claimed, finished, delayed..."""
    ids = await queue.enqueue_many(
        [NewJob(payload=Note(str(n)), queue=qname, max_attempts=1) for n in range(5)]
    )
    delayed = await queue.enqueue(Note("9"), queue=qname, delay=3600)
    done, dead, held = await queue.claim(qname, limit=3, lease=60)
    await queue.complete(done.lease)
    await queue.fail(dead.lease, "boom")
    cancelled = ids[3]
    await queue.cancel(qname, cancelled)
    assert held.job.id == ids[2]
    return {
        JobState.COMPLETED: ids[0],
        JobState.FAILED: ids[1],
        JobState.PROCESSING: ids[2],
        JobState.CANCELLED: cancelled,
        JobState.PENDING: ids[4],
        JobState.DELAYED: delayed,
    }


@pytest.mark.parametrize("state", list(JobState), ids=[state.value for state in JobState])
async def test_a_missing_record_in_any_state_is_dropped_and_the_queue_goes_on(
    store: Store, queue: RedisJobQueue, qname: str, state: JobState
) -> None:
    ids = await one_in_each_state(queue, qname)
    gone = ids[state]
    await forget(store, qname, gone)
    with pytest.raises(JobNotFound):
        await queue.get(qname, gone)
    with pytest.raises(JobNotFound):
        await queue.cancel(qname, gone)
    assert await queue.remove(qname, gone) is False
    # Every listing skips (and drops) the dangling entry; stats count it once found.
    for listed in JobState:
        page = await queue.list_jobs(qname, listed, limit=100)
        assert gone not in [job.id for job in page.jobs]
        assert all(job.state is listed for job in page.jobs)
    stats = await queue.stats(qname)
    assert stats.missing_records == 1
    assert stats.count(state) == 0  # it was the only job in that state
    # The rest of the queue works: a new job is claimed and completed, the dead letters and
    # the retention calls go through.
    fresh = await queue.enqueue(Note("7"), queue=qname)
    claimed = await queue.claim(qname, limit=10, lease=60)
    expected = {fresh} | ({ids[JobState.PENDING]} if state is not JobState.PENDING else set())
    assert {c.job.id for c in claimed} == expected
    assert await queue.complete_many([(c.lease, None) for c in claimed]) == [True] * len(claimed)
    await queue.retry_failed(qname)
    await queue.purge_failed(qname)
    await queue.cleanup(qname, [JobState.COMPLETED, JobState.CANCELLED], older_than=0)
    assert (await queue.stats(qname)).missing_records == 1


async def test_acks_of_a_job_whose_record_is_gone_are_lease_lost(
    store: Store, queue: RedisJobQueue, qname: str
) -> None:
    await queue.enqueue_many([NewJob(payload=Note(str(n)), queue=qname) for n in range(4)])
    a, b, c, d = await queue.claim(qname, limit=4, lease=60)
    for claimed in (a, b, c, d):
        await forget(store, qname, claimed.job.id)
    with pytest.raises(LeaseLost, match="no longer exists"):
        await queue.complete(a.lease)
    with pytest.raises(LeaseLost, match="no longer exists"):
        await queue.fail(b.lease, "boom")
    with pytest.raises(LeaseLost, match="no longer exists"):
        await queue.extend(c.lease, 60)
    with pytest.raises(LeaseLost, match="no longer exists"):
        await queue.release(d.lease)
    assert await queue.complete_many([(a.lease, None)]) == [False]
    (outcome,) = await queue.extend_many([c.lease], 60)
    assert isinstance(outcome, LeaseLost)
    # Nothing was written back for them: no stub record appeared.
    for claimed in (a, b, c, d):
        with pytest.raises(JobNotFound):
            await queue.get(qname, claimed.job.id)


async def test_expired_leases_of_missing_records_are_dropped_by_claim(
    store: Store, queue: RedisJobQueue, qname: str
) -> None:
    await queue.enqueue_many([NewJob(payload=Note(str(n)), queue=qname) for n in range(3)])
    held = await queue.claim(qname, limit=3, lease=0.05)
    for claimed in held[:2]:
        await forget(store, qname, claimed.job.id)
    await queue.enqueue(Note("3"), queue=qname)
    await anyio.sleep(0.2)
    claimed = await queue.claim(qname, limit=5, lease=60)
    # The surviving expired job went back to delayed (backoff); the new one was claimed.
    assert [c.job.payload for c in claimed] == [b'{"text":"3"}']
    stats = await queue.stats(qname)
    assert (stats.processing, stats.delayed, stats.missing_records) == (1, 1, 2)


async def test_a_queue_with_a_tenth_of_its_records_gone_drains_every_intact_job(
    store: Store, queue: RedisJobQueue, qname: str
) -> None:
    """What an evicting server did to a queue: before, claim failed for good after this."""
    ids = await queue.enqueue_many(
        [NewJob(payload=Note(str(n)), queue=qname, backoff=HOLD) for n in range(600)]
        + [NewJob(payload=Note(str(n)), queue=qname, delay=0.2) for n in range(600, 800)]
    )
    rng = random.Random(7)
    gone = set(rng.sample(ids, 80))
    for job_id in gone:
        await forget(store, qname, job_id)
    await anyio.sleep(0.3)
    done: set[str] = set()
    for _ in range(100):
        claimed = await queue.claim(qname, limit=50, lease=60)
        if not claimed:
            break
        assert await queue.complete_many([(c.lease, None) for c in claimed]) == [True] * len(
            claimed
        )
        done |= {c.job.id for c in claimed}
    assert done == set(ids) - gone
    stats = await queue.stats(qname)
    assert (stats.pending, stats.delayed, stats.processing) == (0, 0, 0)
    assert (stats.completed, stats.missing_records) == (800 - 80, 80)
