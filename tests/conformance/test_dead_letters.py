"""Dead letters: list_failed, retry_failed and purge_failed."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobNotFound, JobQueue, JobState, NewJob, RetryResult, Skipped, SkipReason
from kmsg.models import MAX_SKIPS_LISTED
from kmsg.validation import STEP_JOBS
from tests.conformance.support import Ping, claim_one, enqueue_pings

pytestmark = pytest.mark.anyio


async def dead_letter(queue: JobQueue, qname: str, count: int) -> list[str]:
    """Make ``count`` dead letters, failed one after another; return ids in failure order."""
    await enqueue_pings(queue, qname, count, max_attempts=1)
    ids = []
    for _ in range(count):
        claimed = await claim_one(queue, qname)
        await queue.fail(claimed.lease, RuntimeError("down"))
        ids.append(claimed.job.id)
        await anyio.sleep(0.01)
    return ids


async def test_list_failed_pages_newest_first(queue: JobQueue, qname: str) -> None:
    ids = await dead_letter(queue, qname, 5)
    first = await queue.list_failed(qname, limit=3)
    assert first.next_cursor is not None
    second = await queue.list_failed(qname, limit=3, cursor=first.next_cursor)
    assert second.next_cursor is None
    listed = [job.id for job in (*first.jobs, *second.jobs)]
    assert listed == ids[::-1]
    assert all(job.state is JobState.FAILED for job in (*first.jobs, *second.jobs))


async def test_retry_failed_by_id_resets_attempts_and_keeps_errors(
    queue: JobQueue, qname: str
) -> None:
    ids = await dead_letter(queue, qname, 3)
    assert (await queue.retry_failed(qname, [ids[0], ids[2]])).moved == 2
    for job_id in (ids[0], ids[2]):
        job = await queue.get(qname, job_id)
        assert (job.state, job.attempts) == (JobState.PENDING, 0)
        assert [(e.type, e.message) for e in job.errors] == [("RuntimeError", "down")]
    assert (await queue.get(qname, ids[1])).state is JobState.FAILED
    again = await claim_one(queue, qname)
    assert again.job.id in {ids[0], ids[2]}
    assert again.job.attempts == 1


async def test_retry_failed_without_ids_moves_every_dead_letter(
    queue: JobQueue, qname: str
) -> None:
    ids = await dead_letter(queue, qname, 4)
    await queue.enqueue(Ping(n=9), queue=qname)
    done = await claim_one(queue, qname)
    await queue.complete(done.lease)
    assert (await queue.retry_failed(qname)).moved == 4
    stats = await queue.stats(qname)
    assert (stats.failed, stats.pending, stats.completed) == (0, 4, 1)
    assert (await queue.get(qname, done.job.id)).state is JobState.COMPLETED
    for job_id in ids:
        job = await queue.get(qname, job_id)
        assert (job.state, job.attempts, len(job.errors)) == (JobState.PENDING, 0, 1)
    assert sorted(c.job.id for c in await queue.claim(qname, limit=10)) == sorted(ids)


async def test_retry_failed_skips_jobs_that_are_not_dead_letters(
    queue: JobQueue, qname: str
) -> None:
    [dead] = await dead_letter(queue, qname, 1)
    live = await queue.enqueue(Ping(n=9), queue=qname)
    held_id = await queue.enqueue(Ping(n=8), queue=qname, priority=5)
    held = await claim_one(queue, qname)
    assert held.job.id == held_id
    result = await queue.retry_failed(qname, [held_id, "no-such-job", live])
    assert result == RetryResult(
        moved=0,
        skipped=(
            Skipped(job_id=held_id, reason=SkipReason.NOT_DEAD),
            Skipped(job_id="no-such-job", reason=SkipReason.NOT_FOUND),
            Skipped(job_id=live, reason=SkipReason.NOT_DEAD),
        ),
        skipped_count=3,
    )
    assert (await queue.get(qname, held_id)).attempts == 1
    await queue.complete(held.lease)
    assert (await queue.get(qname, dead)).state is JobState.FAILED


async def test_retry_failed_to_another_queue_keeps_the_id(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    [job_id] = await dead_letter(queue, qname, 1)
    assert (await queue.retry_failed(qname, [job_id], to_queue=qname2)).moved == 1
    with pytest.raises(JobNotFound):
        await queue.get(qname, job_id)
    moved = await queue.get(qname2, job_id)
    assert (moved.queue, moved.state, moved.attempts) == (qname2, JobState.PENDING, 0)
    assert len(moved.errors) == 1
    assert (await queue.stats(qname)).total == 0
    claimed = await claim_one(queue, qname2)
    assert claimed.job.id == job_id
    await queue.complete(claimed.lease)


async def test_retry_to_a_queue_holding_the_same_id_keeps_both_jobs(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    """A dead letter whose id another job holds in the target queue is skipped, never lost."""
    (dead,) = await dead_letter(queue, qname, 1)
    await queue.enqueue(Ping(n=99), queue=qname2, job_id=dead)
    taken = Skipped(job_id=dead, reason=SkipReason.ID_TAKEN)
    expected = RetryResult(moved=0, skipped=(taken,), skipped_count=1)
    assert await queue.retry_failed(qname, [dead], to_queue=qname2) == expected
    assert await queue.retry_failed(qname, to_queue=qname2) == expected
    assert (await queue.get(qname, dead)).state is JobState.FAILED
    other = await queue.get(qname2, dead)
    assert (other.state, other.payload) == (JobState.PENDING, b'{"n":99}')


async def test_a_dead_letter_whose_dedupe_key_is_held_is_not_redriven(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    """Never two live jobs with one dedupe key: the dead letter stays dead while B holds it."""
    await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k", max_attempts=1)
    await queue.enqueue(Ping(n=1), queue=qname2, dedupe_key="k", max_attempts=1)
    dead = await claim_one(queue, qname)
    await queue.fail(dead.lease, "boom")
    holder = await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="k")
    assert holder != dead.job.id
    held = Skipped(job_id=dead.job.id, reason=SkipReason.KEY_HELD, holder=holder)
    expected = RetryResult(moved=0, skipped=(held,), skipped_count=1)
    assert await queue.retry_failed(qname, [dead.job.id]) == expected
    assert await queue.retry_failed(qname) == expected
    assert (await queue.get(qname, dead.job.id)).state is JobState.FAILED
    # Once the holder is done, the key is free and the dead letter goes back.
    assert await queue.cancel(qname, holder) is JobState.CANCELLED
    assert (await queue.retry_failed(qname)).moved == 1
    again = await queue.get(qname, dead.job.id)
    assert (again.state, again.dedupe_key) == (JobState.PENDING, "k")
    assert await queue.enqueue(Ping(n=3), queue=qname, dedupe_key="k") == dead.job.id


async def test_redrive_past_more_than_a_step_of_skipped_dead_letters(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    """Dead letters skipped for a held key do not stop "retry all" from reaching the rest."""
    skipped = STEP_JOBS + 20
    jobs = [
        NewJob(payload=Ping(n=n), queue=qname, max_attempts=1, dedupe_key=f"k{n}")
        for n in range(skipped)
    ]
    jobs += [NewJob(payload=Ping(n=n), queue=qname, max_attempts=1) for n in range(30)]
    await queue.enqueue_many(jobs)
    for _ in range(10):
        claimed = await queue.claim(qname, limit=STEP_JOBS)
        for held in claimed:
            await queue.fail(held.lease, "boom")
    assert (await queue.stats(qname)).failed == skipped + 30
    await queue.enqueue_many(
        [NewJob(payload=Ping(n=n), queue=qname, dedupe_key=f"k{n}") for n in range(skipped)]
    )
    result = await queue.retry_failed(qname)
    assert (result.moved, result.skipped_count) == (30, skipped)
    assert len(result.skipped) == min(skipped, MAX_SKIPS_LISTED)
    assert {skip.reason for skip in result.skipped} == {SkipReason.KEY_HELD}
    assert (await queue.stats(qname)).failed == skipped


async def test_a_move_skips_a_dead_letter_whose_key_a_live_job_of_the_target_holds(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    """The rule holds across queues: the key is checked in the queue the job would live in."""
    await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k", max_attempts=1)
    dead = await claim_one(queue, qname)
    await queue.fail(dead.lease, "boom")
    holder = await queue.enqueue(Ping(n=2), queue=qname2, dedupe_key="k")
    held = Skipped(job_id=dead.job.id, reason=SkipReason.KEY_HELD, holder=holder)
    expected = RetryResult(moved=0, skipped=(held,), skipped_count=1)
    assert await queue.retry_failed(qname, [dead.job.id], to_queue=qname2) == expected
    assert await queue.retry_failed(qname, to_queue=qname2) == expected
    assert (await queue.get(qname, dead.job.id)).state is JobState.FAILED
    await queue.cancel(qname2, holder)
    assert await queue.retry_failed(qname, to_queue=qname2) == RetryResult(moved=1)
    assert await queue.enqueue(Ping(n=3), queue=qname2, dedupe_key="k") == dead.job.id


async def test_a_redriven_job_holds_its_key_against_later_enqueues(
    queue: JobQueue, qname: str
) -> None:
    """The other way round: redriven first, the dead letter is the live holder of its key, so
    an enqueue with that key returns it instead of making a second job."""
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k", max_attempts=1)
    dead = await claim_one(queue, qname)
    await queue.fail(dead.lease, "boom")
    assert await queue.retry_failed(qname, [first]) == RetryResult(moved=1)
    assert await queue.enqueue(Ping(n=2), queue=qname, dedupe_key="k") == first
    assert (await queue.stats(qname)).pending == 1


async def test_dead_letters_moved_together_go_in_the_order_moved(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    """A move enqueues the jobs anew in the target, after the jobs there, in the order moved:
    oldest dead letter first for "all", else the order of the ids given."""
    first, second, third = await dead_letter(queue, qname, 3)
    assert await queue.retry_failed(qname, to_queue=qname2) == RetryResult(moved=3)
    claimed = await queue.claim(qname2, limit=3)
    assert [c.job.id for c in claimed] == [first, second, third]
    for held in claimed:
        await queue.fail(held.lease, "again")
    await queue.purge_failed(qname2, [first, second, third])
    fourth, fifth, sixth = await dead_letter(queue, qname, 3)
    assert await queue.retry_failed(qname, [sixth, fourth, fifth], to_queue=qname2) == (
        RetryResult(moved=3)
    )
    claimed = await queue.claim(qname2, limit=3)
    assert [c.job.id for c in claimed] == [sixth, fourth, fifth]


async def test_purge_failed_by_id(queue: JobQueue, qname: str) -> None:
    ids = await dead_letter(queue, qname, 3)
    live = await queue.enqueue(Ping(n=9), queue=qname)
    assert await queue.purge_failed(qname, [ids[1], live, "no-such-job"]) == 1
    with pytest.raises(JobNotFound):
        await queue.get(qname, ids[1])
    assert (await queue.get(qname, live)).state is JobState.PENDING
    assert (await queue.stats(qname)).failed == 2


async def test_purge_failed_without_ids_deletes_every_dead_letter(
    queue: JobQueue, qname: str
) -> None:
    await dead_letter(queue, qname, 3)
    await queue.enqueue(Ping(n=9), queue=qname)
    assert await queue.purge_failed(qname) == 3
    stats = await queue.stats(qname)
    assert (stats.failed, stats.pending) == (0, 1)
    assert (await queue.list_failed(qname)).jobs == ()


async def test_purge_failed_older_than_keeps_recent_dead_letters(
    queue: JobQueue, qname: str
) -> None:
    [old] = await dead_letter(queue, qname, 1)
    await anyio.sleep(1.2)
    [recent] = await dead_letter(queue, qname, 1)
    assert await queue.purge_failed(qname, older_than=0.6) == 1
    with pytest.raises(JobNotFound):
        await queue.get(qname, old)
    assert (await queue.get(qname, recent)).state is JobState.FAILED
