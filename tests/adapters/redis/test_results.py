"""Redis adapter: ``wait`` is told by the script that ends the job, and leaves nothing behind.

The contract-level behaviour is in ``tests/conformance/test_results.py``; these tests check the
push path (a waiter returns long before its 5 s recheck) and the ``watched`` hash's upkeep.
"""

from __future__ import annotations

import time

import anyio
import pytest
import redis

from kmsg import JobState, WaitTimeout
from kmsg.adapters.redis import RedisJobQueue
from kmsg.waiting import RECHECK_SECONDS
from tests.adapters.redis.conftest import Note
from tests.backends import Store

pytestmark = pytest.mark.anyio


def watched(store: Store, queue: RedisJobQueue, qname: str) -> dict[bytes, bytes]:
    """The queue's ``watched`` hash as the server holds it."""
    with redis.Redis.from_url(store.url) as client:
        entries: dict[bytes, bytes] = client.hgetall(queue._keys(qname).watched)
    return entries


async def test_a_waiter_is_told_not_left_to_its_recheck(queue: RedisJobQueue, store: Store) -> None:
    other = await store.open()
    job_id = await queue.enqueue(Note("hi"), queue="q")
    ended_at: list[float] = []

    async def end_soon() -> None:
        await anyio.sleep(0.3)
        [claimed] = await other.claim("q")
        await other.complete(claimed.lease, result=b'"ok"')
        ended_at.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        tg.start_soon(end_soon)
        assert await queue.result("q", job_id, within=3 * RECHECK_SECONDS) == "ok"
        returned_at = time.monotonic()
    # Without the push the waiter would look again only RECHECK_SECONDS after it began.
    assert returned_at - ended_at[0] < RECHECK_SECONDS / 2
    assert watched(store, queue, "q") == {}


async def test_an_entry_left_by_a_timed_out_waiter_goes_when_the_job_ends(
    queue: RedisJobQueue, store: Store
) -> None:
    job_id = await queue.enqueue(Note("hi"), queue="q")
    with pytest.raises(WaitTimeout):
        await queue.wait("q", job_id, within=0.1)
    assert watched(store, queue, "q") == {job_id.encode(): b"1"}
    await queue.cancel("q", job_id)
    assert watched(store, queue, "q") == {}
    assert (await queue.wait("q", job_id, within=0)).state is JobState.CANCELLED


async def test_an_ended_job_is_never_marked_watched(queue: RedisJobQueue, store: Store) -> None:
    job_id = await queue.enqueue(Note("hi"), queue="q")
    [claimed] = await queue.claim("q")
    await queue.complete(claimed.lease)
    await queue.wait("q", job_id, within=1.0)
    assert watched(store, queue, "q") == {}


async def test_clear_drops_the_watched_entries(queue: RedisJobQueue, store: Store) -> None:
    job_id = await queue.enqueue(Note("hi"), queue="q")
    with pytest.raises(WaitTimeout):
        await queue.wait("q", job_id, within=0.1)
    assert await queue.clear("q") == 1
    assert watched(store, queue, "q") == {}
