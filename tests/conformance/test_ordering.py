"""Ties in claim order: same priority and due millisecond go in enqueue order, whatever the ids.

Due times are kept to the millisecond (floored) on every backend. A job keeps its place in the
enqueue order for life: released, it goes back before the jobs enqueued after it.
"""

from __future__ import annotations

import json
import math
import sys
import time

import anyio
import pytest

from kmsg import JobQueue, NewJob
from tests.backends import Store
from tests.conformance.support import Blob, Ping, claim_one, ping_of

pytestmark = pytest.mark.anyio


async def claimed_ids(queue: JobQueue, qname: str, count: int) -> list[str]:
    """Claim ``count`` jobs one at a time; return their ids in claim order."""
    return [(await claim_one(queue, qname)).job.id for _ in range(count)]


async def test_ids_that_sort_against_enqueue_order_are_claimed_in_enqueue_order(
    queue: JobQueue, qname: str
) -> None:
    due = math.floor(time.time() * 1000) / 1000 - 1.0
    ids = ["y-p0-a", "x-p0-b", "u-p0-c", "a", "Z", "0"]
    for job_id in ids:
        await queue.enqueue(Ping(n=0), queue=qname, job_id=job_id, run_at=due)
    assert await claimed_ids(queue, qname, len(ids)) == ids


async def test_a_fan_out_of_more_than_ten_children_goes_out_in_order(
    queue: JobQueue, qname: str
) -> None:
    children = [
        NewJob(payload=Ping(n=n), queue=qname, job_id=f"bulk.{n}", run_at=time.time() - 1.0)
        for n in range(12)
    ]
    children.sort(key=lambda job: job.job_id or "")  # ids in text order: bulk.0, bulk.1, bulk.10
    await queue.enqueue_many(children)
    order = [ping_of((await claim_one(queue, qname)).job).n for _ in range(12)]
    assert order == [ping_of_new(job) for job in children]


def ping_of_new(job: NewJob) -> int:
    """The number of a NewJob's Ping payload."""
    assert isinstance(job.payload, Ping)
    return job.payload.n


async def test_due_time_is_kept_to_the_millisecond(queue: JobQueue, qname: str) -> None:
    due = math.floor(time.time()) - 10.0
    first = await queue.enqueue(Ping(n=0), queue=qname, run_at=due + 0.0019)
    second = await queue.enqueue(Ping(n=1), queue=qname, run_at=due + 0.0011)
    assert (await queue.get(qname, first)).run_at == math.floor((due + 0.0019) * 1000) / 1000
    assert (await queue.get(qname, second)).run_at == (await queue.get(qname, first)).run_at
    # The same millisecond: enqueue order decides, not the dropped fraction.
    assert await claimed_ids(queue, qname, 2) == [first, second]
    third = await queue.enqueue(Ping(n=2), queue=qname, run_at=due + 0.003)
    fourth = await queue.enqueue(Ping(n=3), queue=qname, run_at=due + 0.002)
    assert await claimed_ids(queue, qname, 2) == [fourth, third]


async def test_a_released_job_keeps_its_place_among_its_equals(queue: JobQueue, qname: str) -> None:
    due = time.time() - 1.0
    ids = [await queue.enqueue(Ping(n=n), queue=qname, run_at=due) for n in range(3)]
    claimed = await claim_one(queue, qname)
    assert claimed.job.id == ids[0]
    await queue.release(claimed.lease)
    assert await claimed_ids(queue, qname, 3) == ids


async def test_a_batch_of_several_steps_keeps_its_order(queue: JobQueue, qname: str) -> None:
    """More jobs than one step takes (STEP_JOBS), and more bytes (1 MiB), still in order."""
    due = time.time() - 1.0
    many = [NewJob(payload=Ping(n=n), queue=qname, run_at=due) for n in range(2500)]
    ids = await queue.enqueue_many(many)
    assert ids == [job.job_id or ids[n] for n, job in enumerate(many)]
    assert len(set(ids)) == 2500
    claimed = []
    for _ in range(10):  # a claim takes at most STEP_JOBS jobs
        claimed += await queue.claim(qname, limit=2500)
    assert [c.job.id for c in claimed] == ids
    big = [
        NewJob(payload=Blob(data=f"{n:03d}" + "x" * 200_000), queue=qname, run_at=due)
        for n in range(12)
    ]
    big_ids = await queue.enqueue_many(big)
    assert [c.job.id for c in await queue.claim(qname, limit=12)] == big_ids


async def test_jobs_from_several_producer_processes_go_in_enqueue_order(
    queue: JobQueue, store: Store, qname: str
) -> None:
    """Each process enqueues with ids that sort before the previous process's."""
    due = time.time() - 1.0
    expected: list[str] = []
    for producer in range(3):
        ids = [f"{'zyx'[producer]}{n:02d}" for n in range(5)]
        spec = json.dumps({"url": store.url, "options": store.options, "queue": qname})
        code = PRODUCER.format(spec=spec, ids=ids, due=due)
        await anyio.run_process([sys.executable, "-c", code], check=True)
        expected += ids
    assert await claimed_ids(queue, qname, 15) == expected


PRODUCER = """
import anyio, json
from kmsg import open_queue
from tests.conformance.support import Ping

spec = json.loads({spec!r})

async def main():
    async with await open_queue(spec["url"], **spec["options"]) as queue:
        for job_id in {ids!r}:
            await queue.enqueue(Ping(n=0), queue=spec["queue"], job_id=job_id, run_at={due!r})

anyio.run(main)
"""
