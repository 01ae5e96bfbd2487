"""SQLite adapter: lease expiry, heartbeats, rate limits and retention under an injected clock."""

from __future__ import annotations

import math
import time

import pytest

from kmsg import Backoff, JobState, LeaseLost, NewJob
from kmsg.adapters.sqlite import SQLiteJobQueue
from tests.adapters.sqlite.conftest import FakeClock, Ping

pytestmark = pytest.mark.anyio


async def test_an_expired_lease_is_retried_with_the_jobs_backoff(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    job_id = await queue.enqueue(Ping(1), queue="q", lease=10.0, max_attempts=2)
    (first,) = await queue.claim("q")
    assert first.job.lease_until == clock.now + 10.0
    clock.now += 9.9
    assert await queue.claim("q") == []
    clock.now += 0.2
    assert await queue.claim("q") == []  # reclaimed, but backing off for Backoff().initial = 1 s
    job = await queue.get("q", job_id)
    assert (job.state, job.run_at) == (JobState.DELAYED, _ms(clock.now + 1.0))
    assert [(e.type, e.attempt) for e in job.errors] == [("LeaseExpired", 1)]
    with pytest.raises(LeaseLost):
        await queue.complete(first.lease)
    clock.now += 1.0
    (second,) = await queue.claim("q")
    assert (second.job.id, second.job.attempts) == (job_id, 2)
    assert second.token != first.token


async def test_an_expired_last_attempt_is_dead_lettered(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    job_id = await queue.enqueue(Ping(1), queue="q", lease=5.0, max_attempts=1)
    await queue.claim("q")
    clock.now += 5.0
    assert await queue.claim("q") == []
    job = await queue.get("q", job_id)
    assert (job.state, job.failed_at) == (JobState.FAILED, clock.now)
    assert (await queue.list_failed("q")).jobs[0].id == job_id


async def test_extend_moves_the_deadline_on_the_injected_clock(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    await queue.enqueue(Ping(1), queue="q", lease=5.0)
    (held,) = await queue.claim("q")
    clock.now += 4.0
    assert await queue.extend(held.lease, 5.0) == clock.now + 5.0
    clock.now += 4.0
    assert await queue.claim("q") == []
    await queue.complete(held.lease)


async def test_rate_limit_refills_by_the_clock(queue: SQLiteJobQueue, clock: FakeClock) -> None:
    await queue.enqueue_many([NewJob(payload=Ping(n), queue="q") for n in range(10)])
    await queue.set_rate_limit("q", 2, per_seconds=1.0)
    assert len(await queue.claim("q", limit=10)) == 2
    assert await queue.claim("q", limit=10) == []
    clock.now += 0.5
    assert len(await queue.claim("q", limit=10)) == 1
    clock.now += 100.0
    assert len(await queue.claim("q", limit=10)) == 2  # the bucket holds at most max_jobs


async def test_cleanup_uses_the_end_time(queue: SQLiteJobQueue, clock: FakeClock) -> None:
    await queue.enqueue(Ping(1), queue="q")
    (held,) = await queue.claim("q")
    await queue.complete(held.lease)
    clock.now += 60.0
    assert await queue.cleanup("q", [JobState.COMPLETED], older_than=61.0) == 0
    assert await queue.cleanup("q", [JobState.COMPLETED], older_than=60.0) == 1


async def test_wait_ends_when_the_rate_limit_allows_the_next_claim(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    await queue.enqueue_many([NewJob(payload=Ping(n), queue="q") for n in range(2)])
    await queue.set_rate_limit("q", 1, per_seconds=0.05)
    assert len(await queue.claim("q", limit=2)) == 1
    started = time.monotonic()
    await queue.wait_for_jobs("q", 30.0)
    assert time.monotonic() - started < 15.0


async def test_wait_on_a_paused_queue_lasts_until_max_wait(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    await queue.enqueue(Ping(1), queue="q")
    await queue.pause("q")
    started = time.monotonic()
    await queue.wait_for_jobs("q", 0.5)
    assert time.monotonic() - started >= 0.45


def _ms(t: float) -> float:
    """``t`` floored to a whole millisecond, the way due times are stored."""
    return math.floor(t * 1000) / 1000


async def test_due_times_are_kept_to_the_millisecond(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    due = clock.now - 10.0
    late = await queue.enqueue(Ping(1), queue="q", run_at=due + 0.0007)
    early = await queue.enqueue(Ping(2), queue="q", run_at=due + 0.0002)
    assert [(await queue.get("q", i)).run_at for i in (late, early)] == [due, due]
    # Same priority and due millisecond: enqueue order, whatever the microseconds said.
    assert [c.job.id for c in await queue.claim("q", limit=2)] == [late, early]
    clock.now += 0.1234567
    delayed = await queue.enqueue(Ping(3), queue="q", delay=1.0000009)
    assert (await queue.get("q", delayed)).run_at == _ms(clock.now + 1.0000009)


async def test_new_due_times_of_retries_are_whole_milliseconds(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    clock.now += 0.0004321
    steady = Backoff(initial=1.0, factor=1.0, maximum=1.0)
    job_id = await queue.enqueue(Ping(1), queue="q", lease=1.0, max_attempts=3, backoff=steady)
    (held,) = await queue.claim("q")
    await queue.fail(held.lease, "boom", retry_in=0.5000007)
    assert (await queue.get("q", job_id)).run_at == _ms(clock.now + 0.5000007)
    clock.now += 0.6
    (held,) = await queue.claim("q")
    clock.now += 1.0000003  # the lease ends: retried after the backoff's 1 s
    assert await queue.claim("q") == []
    assert (await queue.get("q", job_id)).run_at == _ms(clock.now + 1.0)
    clock.now += 1.0
    (held,) = await queue.claim("q")
    await queue.fail(held.lease, "dead", retryable=False)
    clock.now += 0.0000777
    assert (await queue.retry_failed("q")).moved == 1
    assert (await queue.get("q", job_id)).run_at == _ms(clock.now)
