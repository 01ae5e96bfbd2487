"""pause / resume and the fleet-wide rate limit, both enforced inside claim."""

from __future__ import annotations

import pytest

from kmsg import JobQueue, RateLimit, ValidationError
from tests.conformance.support import Ping, TimePasses, claim_one, enqueue_pings

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


async def test_a_burst_claims_exactly_the_rate_limit(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    await queue.set_rate_limit(qname, 3, per_seconds=30.0)
    assert (await queue.stats(qname)).rate_limit == RateLimit(max_jobs=3, per_seconds=30.0)
    await enqueue_pings(queue, qname, 10)
    taken = [len(await handle.claim(qname, limit=10)) for handle in (queue, other, queue, other)]
    # the bucket starts full (3 tokens) and earns one every 10 s: the first claim takes all three
    assert taken == [3, 0, 0, 0]
    assert (await queue.stats(qname)).processing == 3


async def test_the_bucket_refills_at_max_jobs_per_per_seconds(
    queue: JobQueue, qname: str, let_time_pass: TimePasses
) -> None:
    await queue.set_rate_limit(qname, 2, per_seconds=4.0)  # one token every 2 s
    await enqueue_pings(queue, qname, 10)
    assert len(await queue.claim(qname, limit=10)) == 2
    await let_time_pass(1.0)  # half a token (two tokens if per_seconds were ignored)
    assert await queue.claim(qname, limit=10) == []
    await let_time_pass(1.2)  # 1.1 tokens in all: one claim (a sleep may overrun by 1.8 s)
    assert len(await queue.claim(qname, limit=10)) == 1
    assert (await queue.stats(qname)).processing == 3


async def test_an_idle_bucket_holds_at_most_max_jobs(
    queue: JobQueue, qname: str, let_time_pass: TimePasses
) -> None:
    await queue.set_rate_limit(qname, 2, per_seconds=0.1)  # 20 tokens a second, 2 at most
    await enqueue_pings(queue, qname, 30)
    assert len(await queue.claim(qname, limit=30)) == 2
    await let_time_pass(1.0)  # 20 tokens earned, 2 kept
    assert len(await queue.claim(qname, limit=30)) == 2


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
