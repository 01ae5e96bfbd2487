"""The synchronous queue (kmsg.sync): the same store, the same rules, from plain threads.

Every test opens a :class:`kmsg.sync.SyncQueue` on the backend's store beside the async handle
and checks that what one side writes the other reads, with the contract's rules (dedupe, ids,
validation, dead letters) holding for the sync side too. Blocking calls run in worker threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import pytest

from kmsg import JobFailed, JobNotFound, JobQueue, JobState, NewJob, ValidationError, WaitTimeout
from kmsg.sync import SyncQueue, open_queue
from tests.backends import Store
from tests.conformance.support import Ping, claim_one, ping_of

pytestmark = pytest.mark.anyio

T = TypeVar("T")


@pytest.fixture
async def sync(queue: JobQueue, store: Store) -> AsyncIterator[SyncQueue]:
    """A blocking handle on the same store as ``queue``."""
    opened = await anyio.to_thread.run_sync(lambda: open_queue(store.url, **store.options))
    yield opened
    await anyio.to_thread.run_sync(opened.close)


async def blocking(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call in a worker thread."""
    return await anyio.to_thread.run_sync(lambda: call(*args, **kwargs))


async def test_what_the_sync_queue_enqueues_the_async_one_claims(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    job_id = await blocking(sync.enqueue, Ping(n=7), queue=qname, priority=3)
    claimed = await claim_one(queue, qname)
    assert (claimed.job.id, ping_of(claimed.job).n, claimed.job.priority) == (job_id, 7, 3)
    await queue.complete(claimed.lease, result=b'"sent"')
    job = await blocking(sync.get, qname, job_id)
    assert (job.state, job.result) == (JobState.COMPLETED, b'"sent"')
    stats = await blocking(sync.stats, qname)
    assert (stats.completed, stats.total) == (1, 1)
    assert qname in await blocking(sync.queues)


async def test_dedupe_and_replayed_ids_hold_across_both(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k")
    assert await blocking(sync.enqueue, Ping(n=2), queue=qname, dedupe_key="k") == first
    again = await blocking(sync.enqueue, Ping(n=3), queue=qname, job_id="fixed")
    assert await queue.enqueue(Ping(n=4), queue=qname, job_id="fixed") == again
    ids = await blocking(
        sync.enqueue_many, [NewJob(payload=Ping(n=n), queue=qname) for n in range(5)]
    )
    assert len(set(ids)) == 5
    assert (await queue.stats(qname)).pending == 7


async def test_bad_input_is_refused_before_anything_is_written(
    sync: SyncQueue, queue: JobQueue, qname: str
) -> None:
    with pytest.raises(ValidationError):
        await blocking(sync.enqueue, Ping(n=-1), queue=qname)
    with pytest.raises(ValidationError):
        await blocking(sync.enqueue, Ping(n=1), queue="no spaces")
    with pytest.raises(ValidationError):
        await blocking(sync.cleanup, qname, [JobState.PENDING], 0)
    with pytest.raises(JobNotFound):
        await blocking(sync.get, qname, "nope")
    assert (await queue.stats(qname)).total == 0


async def test_cancel_listing_and_dead_letters_from_the_sync_side(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    ids = await queue.enqueue_many(
        [NewJob(payload=Ping(n=n), queue=qname, max_attempts=1) for n in range(4)]
    )
    assert await blocking(sync.cancel, qname, ids[3]) is JobState.CANCELLED
    for _ in range(3):
        claimed = await claim_one(queue, qname)
        await queue.fail(claimed.lease, "boom")
    dead = await blocking(sync.list_failed, qname, limit=10)
    assert sorted(job.id for job in dead.jobs) == sorted(ids[:3])
    assert (await blocking(sync.retry_failed, qname, [ids[0]])).moved == 1
    assert await blocking(sync.purge_failed, qname) == 2
    assert [job.id for job in await blocking(sync.peek, qname, limit=5)] == [ids[0]]
    assert await blocking(sync.remove, qname, ids[0]) is True
    assert await blocking(sync.cleanup, qname, [JobState.CANCELLED], 0) == 1
    stats = await queue.stats(qname)
    assert stats.total == 0


async def test_pause_and_rate_limit_from_the_sync_side(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    await blocking(sync.pause, qname)
    assert await queue.claim(qname) == []
    await blocking(sync.resume, qname)
    await blocking(sync.set_rate_limit, qname, 5, 60.0)
    stats = await queue.stats(qname)
    assert (stats.paused, stats.rate_limit is not None) == (False, True)
    assert len(await queue.claim(qname)) == 1


async def test_one_sync_queue_serves_many_threads(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    def produce(start: int) -> list[str]:
        return [sync.enqueue(Ping(n=start + n), queue=qname) for n in range(25)]

    def all_threads() -> list[str]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [job_id for ids in pool.map(produce, range(0, 200, 25)) for job_id in ids]

    ids = await anyio.to_thread.run_sync(all_threads)
    assert len(set(ids)) == 200
    assert (await queue.stats(qname)).pending == 200


async def test_the_sync_queue_waits_for_a_result_from_a_plain_thread(
    queue: JobQueue, sync: SyncQueue, qname: str
) -> None:
    job_id = await blocking(sync.enqueue, Ping(n=3), queue=qname)
    got: list[int] = []

    async def waiter() -> None:
        got.append(await blocking(sync.result, qname, job_id, within=10.0, type=int))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.2)
        assert got == []
        claimed = await claim_one(queue, qname)
        await queue.complete(claimed.lease, result=b"42")
    assert got == [42]
    with pytest.raises(WaitTimeout):
        await blocking(sync.wait, qname, await queue.enqueue(Ping(n=4), queue=qname), within=0.2)
    failed_id = await queue.enqueue(Ping(n=5), queue=qname, priority=9)
    await queue.fail((await claim_one(queue, qname)).lease, "down", retryable=False)
    with pytest.raises(JobFailed):
        await blocking(sync.result, qname, failed_id, within=1.0)
