"""stats() counts stay equal to what a full listing of every state finds, whatever the writes."""

from __future__ import annotations

import pytest

from kmsg import JobQueue, JobState, NewJob
from tests.conformance.support import HOLD, Ping, enqueue_pings
from tests.conformance.test_stats_listing import list_all

pytestmark = pytest.mark.anyio


async def assert_counts_match_listings(queue: JobQueue, *qnames: str) -> dict[str, int]:
    """Check each queue's stats against its listings; return the first queue's counts."""
    first: dict[str, int] = {}
    for qname in qnames:
        stats = await queue.stats(qname)
        listed = {
            state.value: len(await list_all(queue, qname, state, page=7)) for state in JobState
        }
        assert {state.value: stats.count(state) for state in JobState} == listed, qname
        assert stats.total == sum(listed.values())
        first = first or listed
    return first


async def test_counts_follow_a_mix_of_every_write(
    queue: JobQueue, other: JobQueue, qname: str, qname2: str
) -> None:
    ids = await enqueue_pings(queue, qname, 14, max_attempts=2, backoff=HOLD)
    await queue.enqueue(Ping(n=99), queue=qname, delay=600.0)
    # A replayed id and a held dedupe key write nothing.
    await queue.enqueue(Ping(n=0), queue=qname, job_id=ids[0])
    keyed = [NewJob(payload=Ping(n=n), queue=qname, dedupe_key="k") for n in (100, 101)]
    await queue.enqueue_many(keyed)
    counts = await assert_counts_match_listings(queue, qname)
    assert (counts["pending"], counts["delayed"]) == (15, 1)

    held = await other.claim(qname, limit=10)
    await other.complete(held[0].lease)
    await other.complete_many([(held[1].lease, b"ok"), (held[2].lease, None)])
    await other.fail(held[3].lease, "try again")  # attempts left: delayed (backing off)
    for item in held[4:7]:
        await other.fail(item.lease, "dead", retryable=False)
    await other.release(held[7].lease)
    await queue.cancel(qname, held[8].job.id)  # held: stays processing, cancel requested
    await queue.remove(qname, held[9].job.id)
    pending = await queue.peek(qname, limit=2)
    await queue.cancel(qname, pending[0].id)
    await queue.remove(qname, pending[1].id)
    counts = await assert_counts_match_listings(queue, qname)
    assert (counts["completed"], counts["failed"], counts["cancelled"]) == (3, 3, 1)
    assert (counts["processing"], counts["delayed"]) == (1, 2)

    dead = [item.job.id for item in held[4:7]]
    assert (await queue.retry_failed(qname, [dead[0]])).moved == 1
    await queue.enqueue(Ping(n=7), queue=qname2)
    assert (await queue.retry_failed(qname, [dead[1]], to_queue=qname2)).moved == 1
    await assert_counts_match_listings(queue, qname, qname2)
    assert await queue.purge_failed(qname) == 1
    assert await queue.cleanup(qname, [JobState.COMPLETED, JobState.CANCELLED], 0.0) == 4
    counts = await assert_counts_match_listings(queue, qname, qname2)
    assert (counts["completed"], counts["failed"], counts["cancelled"]) == (0, 0, 0)

    assert await queue.clear(qname2) == 2
    assert await queue.clear(qname) == sum(counts.values())
    counts = await assert_counts_match_listings(queue, qname, qname2)
    assert sum(counts.values()) == 0
