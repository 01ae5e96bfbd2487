"""Dedupe keys: one live job per key and queue, so no message is sent twice."""

from __future__ import annotations

import pytest

from kmsg import JobQueue, JobState, NewJob
from tests.conformance.support import Ping, claim_one, ping_of

pytestmark = pytest.mark.anyio


async def test_the_same_key_returns_the_live_jobs_id_and_writes_nothing(
    queue: JobQueue, qname: str
) -> None:
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="user-7")
    second = await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="user-7", priority=9)
    assert second == first
    job = await queue.get(qname, first)
    assert (ping_of(job), job.priority) == (Ping(n=1), 0)
    assert (await queue.stats(qname)).total == 1


async def test_a_delayed_or_processing_job_still_holds_its_key(queue: JobQueue, qname: str) -> None:
    delayed = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="a", delay=60.0)
    assert await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="a") == delayed
    held = await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="b")
    claimed = await claim_one(queue, qname)
    assert claimed.job.id == held
    assert await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="b") == held
    assert (await queue.stats(qname)).total == 2


@pytest.mark.parametrize("ending", ["complete", "fail", "cancel"])
async def test_after_the_job_ends_the_key_makes_a_new_job(
    queue: JobQueue, qname: str, ending: str
) -> None:
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k", max_attempts=1)
    if ending == "cancel":
        await queue.cancel(qname, first)
    else:
        claimed = await claim_one(queue, qname)
        if ending == "complete":
            await queue.complete(claimed.lease)
        else:
            await queue.fail(claimed.lease, "no")
    assert (await queue.get(qname, first)).state.terminal
    second = await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="k")
    assert second != first
    assert (await queue.get(qname, second)).state is JobState.PENDING
    assert await queue.enqueue(Ping(n=3), queue=qname, dedupe_key="k") == second


async def test_keys_are_scoped_to_their_queue(queue: JobQueue, qname: str, qname2: str) -> None:
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k")
    second = await queue.enqueue(Ping(n=1), queue=qname2, dedupe_key="k")
    assert first != second
    assert (await queue.get(qname2, second)).queue == qname2


async def test_a_later_job_in_a_batch_dedupes_onto_an_earlier_one(
    queue: JobQueue, qname: str
) -> None:
    existing = await queue.enqueue(Ping(n=0), queue=qname, dedupe_key="old")
    jobs = [
        NewJob(payload=Ping(n=1), queue=qname, dedupe_key="new"),
        NewJob(payload=Ping(n=2), queue=qname),
        NewJob(payload=Ping(n=3), queue=qname, dedupe_key="new"),
        NewJob(payload=Ping(n=4), queue=qname, dedupe_key="old"),
    ]
    ids = await queue.enqueue_many(jobs)
    assert ids[2] == ids[0]
    assert ids[3] == existing
    assert len({*ids, existing}) == 3
    assert ping_of(await queue.get(qname, ids[0])) == Ping(n=1)
    assert (await queue.stats(qname)).total == 3
