"""pause / resume and the fleet-wide rate limit, both enforced inside claim."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobQueue, RateLimit, ValidationError
from tests.conformance.support import MARGIN, Ping, claim_one, enqueue_pings

pytestmark = pytest.mark.anyio


async def test_a_paused_queue_hands_out_nothing_until_resumed(
    queue: JobQueue, other: JobQueue, qname: str, qname2: str
) -> None:
    await enqueue_pings(queue, qname, 2)
    await queue.enqueue(Ping(n=1), queue=qname2)
    await queue.pause(qname)
    assert (await queue.stats(qname)).paused
    assert await other.claim(qname, limit=10) == []
    await queue.enqueue(Ping(n=3), queue=qname)
    assert (await queue.stats(qname)).pending == 3
    assert len(await other.claim(qname2, limit=10)) == 1
    await queue.resume(qname)
    assert not (await queue.stats(qname)).paused
    assert len(await other.claim(qname, limit=10)) == 3


async def test_a_burst_claims_no_more_than_the_rate_limit(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    await queue.set_rate_limit(qname, 3, per_seconds=30.0)
    assert (await queue.stats(qname)).rate_limit == RateLimit(max_jobs=3, per_seconds=30.0)
    await enqueue_pings(queue, qname, 10)
    taken = 0
    for handle in (queue, other, queue, other, queue):
        taken += len(await handle.claim(qname, limit=10))
    assert 1 <= taken <= 3
    assert (await queue.stats(qname)).processing == taken


async def test_the_rate_limit_refills_over_time(queue: JobQueue, qname: str) -> None:
    await queue.set_rate_limit(qname, 2, per_seconds=1.0)
    await enqueue_pings(queue, qname, 10)
    assert len(await queue.claim(qname, limit=10)) <= 2
    await anyio.sleep(1.0 + MARGIN)
    refilled = await queue.claim(qname, limit=10)
    assert 1 <= len(refilled) <= 2


async def test_removing_the_rate_limit_lifts_the_cap(queue: JobQueue, qname: str) -> None:
    await queue.set_rate_limit(qname, 1, per_seconds=60.0)
    await enqueue_pings(queue, qname, 5)
    await claim_one(queue, qname)
    assert await queue.claim(qname, limit=10) == []
    await queue.set_rate_limit(qname, None)
    assert (await queue.stats(qname)).rate_limit is None
    assert len(await queue.claim(qname, limit=10)) == 4


@pytest.mark.parametrize(("max_jobs", "per_seconds"), [(-1, 1.0), (0, 1.0), (3, -1.0), (3, 0.0)])
async def test_a_nonsense_rate_limit_is_refused(
    queue: JobQueue, qname: str, max_jobs: int, per_seconds: float
) -> None:
    with pytest.raises(ValidationError):
        await queue.set_rate_limit(qname, max_jobs, per_seconds=per_seconds)
    assert (await queue.stats(qname)).rate_limit is None
