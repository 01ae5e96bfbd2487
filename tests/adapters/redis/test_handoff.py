"""Redis adapter: ``claim(wait=...)`` and the direct handoff of a new job to an idle claimer.

The tests of what one round of a waiting claim returns (``Handoff.claim``: one registration,
one ``BLPOP``) reach into the adapter; the contract-level behaviour is in
``tests/conformance/test_claim_wait.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable

import anyio
import pytest
import redis
from redis.crc import key_slot

from kmsg import ClaimedJob, JobState, LeaseLost
from kmsg.adapters.redis import RedisJobQueue
from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.records import job_from_record
from tests.adapters.redis.conftest import Note
from tests.backends import Store

pytestmark = pytest.mark.anyio

LONG_WAIT = 30.0
"""A wait no test should sit out: a handoff or a wake-up must end it long before."""


async def wait_then(
    queue: RedisJobQueue, qname: str, action: Awaitable[object], lease: float | None = None
) -> list[ClaimedJob]:
    """What one round of a waiting claim returns when ``action`` runs once it is waiting."""
    got: list[ClaimedJob] = []

    async def claimer() -> None:
        got.extend(await queue._handoff.claim(qname, limit=1, lease=lease, wait=LONG_WAIT))

    with anyio.fail_after(LONG_WAIT / 2):
        async with anyio.create_task_group() as group:
            group.start_soon(claimer)
            await until_registered(queue, qname)
            await action
    return got


async def until_registered(queue: RedisJobQueue, qname: str) -> None:
    """Wait until a claimer of ``qname`` is registered for a handoff."""
    for _ in range(500):
        if await queue._command("ZCARD", queue._keys(qname).base + "waiters"):
            return
        await anyio.sleep(0.01)
    raise AssertionError("the claimer never registered")


async def test_a_new_job_is_handed_to_the_waiting_claimer_already_claimed(
    queue: RedisJobQueue,
) -> None:
    job_id = "J" * 26
    got = await wait_then(queue, "q", queue.enqueue(Note("a"), queue="q", job_id=job_id), lease=7.0)
    (claimed,) = got
    job = claimed.job
    assert (job.id, job.state, job.attempts) == (job_id, JobState.PROCESSING, 1)
    assert job.lease_until is not None
    assert job.lease_until == pytest.approx(job.created_at + 7.0, abs=1.0)
    stats = await queue.stats("q")
    assert (stats.pending, stats.processing) == (0, 1)
    await queue.complete(claimed.lease, result=b"done")
    assert (await queue.get("q", job_id)).state is JobState.COMPLETED


async def test_a_job_due_now_is_claimed_without_waiting(queue: RedisJobQueue) -> None:
    await queue.enqueue(Note("a"), queue="q")
    with anyio.fail_after(LONG_WAIT / 2):
        (claimed,) = await queue.claim("q", wait=LONG_WAIT)
    assert claimed.job.attempts == 1
    assert await queue._command("ZCARD", queue._keys("q").base + "waiters") == 0


async def test_a_wait_that_ends_leaves_no_registration_or_reply(
    queue: RedisJobQueue, store: Store
) -> None:
    assert await queue.claim("q", wait=0.1) == []
    with redis.Redis.from_url(store.url) as client:
        left = list(client.scan_iter(match=queue._keys("q").base + "waiters*"))
    assert left == []


async def test_no_handoff_to_a_paused_queue(queue: RedisJobQueue) -> None:
    await queue.pause("q")
    job_id = await queue.enqueue(Note("first"), queue="q")
    got = await wait_then(queue, "q", queue.enqueue(Note("b"), queue="q"))
    assert got == []  # woken to claim again, which a paused queue refuses
    assert (await queue.get("q", job_id)).state is JobState.PENDING
    assert (await queue.stats("q")).pending == 2


async def test_no_handoff_when_the_rate_bucket_is_empty(queue: RedisJobQueue) -> None:
    await queue.set_rate_limit("q", 1, 3600.0)
    await queue.enqueue(Note("a"), queue="q")
    assert len(await queue.claim("q")) == 1  # the one token
    got = await wait_then(queue, "q", queue.enqueue(Note("b"), queue="q"))
    assert got == []
    stats = await queue.stats("q")
    assert (stats.pending, stats.processing) == (1, 1)


async def test_a_rate_limited_handoff_takes_a_token(queue: RedisJobQueue) -> None:
    await queue.set_rate_limit("q", 1, 3600.0)
    got = await wait_then(queue, "q", queue.enqueue(Note("a"), queue="q"))
    assert len(got) == 1
    await queue.enqueue(Note("b"), queue="q")
    assert await queue.claim("q") == []  # the token went with the handoff


async def test_a_claimer_waits_only_until_the_next_delayed_job_is_due(
    queue: RedisJobQueue,
) -> None:
    job_id = await queue.enqueue(Note("later"), queue="q", delay=0.5)
    with anyio.fail_after(LONG_WAIT / 2):
        claimed = await queue.claim("q", wait=LONG_WAIT)
    assert [c.job.id for c in claimed] == [job_id]


async def test_a_delayed_job_enqueued_meanwhile_shortens_the_wait(queue: RedisJobQueue) -> None:
    got = await wait_then(queue, "q", queue.enqueue(Note("later"), queue="q", delay=0.2))
    assert got == []  # woken to register again until the job is due


async def register(queue: RedisJobQueue, qname: str, lease: float) -> str:
    """Register a waiter as a waiting claim does, without blocking; return its entry."""
    base = secrets.token_urlsafe(16)
    reply = await queue._run("claim", qname, [1, repr(lease), base, "30.0"])
    assert isinstance(reply, int)
    return f"{base} {lease!r}"


async def test_unwait_takes_a_job_handed_over_after_the_claimer_stopped_blocking(
    queue: RedisJobQueue,
) -> None:
    entry = await register(queue, "q", 5.0)
    job_id = await queue.enqueue(Note("raced"), queue="q")
    (pushed,) = await queue._run("unwait", "q", [entry, "take"])
    pushed_id, _, record = pushed.partition(b" ")
    job = job_from_record(pushed_id.decode(), "q", record)
    assert (job.id, job.state) == (job_id, JobState.PROCESSING)
    base = entry.split()[0]
    await queue.complete(ClaimedJob(job=job, token=f"{base}.1").lease)
    assert await queue._command("EXISTS", queue._keys("q").reply(base)) == 0


async def test_unwait_releases_a_job_handed_to_a_claimer_going_away(
    queue: RedisJobQueue,
) -> None:
    entry = await register(queue, "q", 5.0)
    job_id = await queue.enqueue(Note("raced"), queue="q")
    assert await queue._run("unwait", "q", [entry, "release"]) == []
    job = await queue.get("q", job_id)
    assert (job.state, job.attempts, job.lease_until) == (JobState.PENDING, 0, None)
    (claimed,) = await queue.claim("q")
    assert claimed.job.id == job_id


async def test_unwait_releases_a_job_whose_reply_was_popped_but_never_read(
    queue: RedisJobQueue,
) -> None:
    """The claimer's BLPOP took the reply, then it was cancelled (or its connection dropped)
    before reading it: the receipt left in the list lets its unwait release the job."""
    entry = await register(queue, "q", 5.0)
    job_id = await queue.enqueue(Note("raced"), queue="q")
    reply_key = queue._keys("q").reply(entry.split()[0])
    popped = await queue._command("LPOP", reply_key)
    assert popped.partition(b" ")[0].decode() == job_id
    assert await queue._run("unwait", "q", [entry, "release"]) == []
    job = await queue.get("q", job_id)
    assert (job.state, job.attempts, job.lease_until) == (JobState.PENDING, 0, None)
    assert await queue._command("EXISTS", reply_key) == 0


async def test_a_job_handed_to_a_dead_claimer_is_reclaimed_when_its_lease_ends(
    queue: RedisJobQueue,
) -> None:
    await register(queue, "q", 0.3)  # and never blocks nor unwaits: it died
    job_id = await queue.enqueue(Note("orphan"), queue="q")
    assert (await queue.get("q", job_id)).state is JobState.PROCESSING
    await anyio.sleep(0.6)
    assert await queue.claim("q") == []  # ends the expired lease: retried after its backoff
    job = await queue.get("q", job_id)
    assert (job.state, job.attempts) == (JobState.DELAYED, 1)
    assert [error.type for error in job.errors] == ["LeaseExpired"]


async def test_a_handed_off_job_can_be_cancelled_like_any_processing_job(
    queue: RedisJobQueue,
) -> None:
    (claimed,) = await wait_then(queue, "q", queue.enqueue(Note("a"), queue="q"))
    assert await queue.cancel("q", claimed.job.id) is JobState.PROCESSING
    with pytest.raises(LeaseLost):
        await queue.complete(claimed.lease)
    assert (await queue.get("q", claimed.job.id)).state is JobState.CANCELLED


async def test_cancelling_a_waiting_claimer_leaves_no_registration(queue: RedisJobQueue) -> None:
    with anyio.move_on_after(0.3):
        await queue.claim("q", wait=LONG_WAIT)
    assert await queue._command("ZCARD", queue._keys("q").base + "waiters") == 0
    job_id = await queue.enqueue(Note("after"), queue="q")
    assert (await queue.get("q", job_id)).state is JobState.PENDING


def test_reply_lists_share_the_queue_slot() -> None:
    keys = QueueKeys("kmsg", "sms")
    reply = keys.reply(secrets.token_urlsafe(16))
    assert key_slot(reply.encode()) == key_slot(b"sms")
    assert reply.startswith(keys.base + "waiters:")
