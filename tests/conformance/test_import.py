"""import_jobs: write snapshots as they are, skipping ids that exist (safe to re-run)."""

from __future__ import annotations

import msgspec
import pytest

from kmsg import Backoff, Job, JobQueue, JobState
from tests.conformance.support import Ping, claim_one, ping_of

pytestmark = pytest.mark.anyio


async def one_job_per_state(queue: JobQueue, qname: str) -> list[Job]:
    """Jobs in pending, delayed, processing, completed, failed and cancelled; their snapshots."""
    backoff = Backoff(initial=5.0)
    ids = [
        await queue.enqueue(
            Ping(n=n), queue=qname, priority=10 - n, max_attempts=2, backoff=backoff
        )
        for n in range(4)
    ]
    ids.append(await queue.enqueue(Ping(n=4), queue=qname, delay=60.0))
    ids.append(await queue.enqueue(Ping(n=5), queue=qname))
    await queue.complete((await claim_one(queue, qname)).lease)
    failing = await claim_one(queue, qname)
    await queue.fail(failing.lease, "no", retryable=False)
    await claim_one(queue, qname)
    await queue.cancel(qname, ids[5])
    return [await queue.get(qname, job_id) for job_id in ids]


async def test_imported_jobs_keep_their_state_and_history(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    originals = await one_job_per_state(queue, qname)
    states = {job.state for job in originals}
    assert states == set(JobState)
    moved = [msgspec.structs.replace(job, queue=qname2) for job in originals]
    assert await queue.import_jobs(moved) == len(moved)
    for source in moved:
        copy = await queue.get(qname2, source.id)
        assert (copy.queue, copy.payload, copy.priority, copy.errors) == (
            qname2,
            source.payload,
            source.priority,
            source.errors,
        )
        if source.state is JobState.PROCESSING:
            assert (copy.state, copy.attempts) == (JobState.PENDING, source.attempts - 1)
        else:
            assert (copy.state, copy.attempts) == (source.state, source.attempts)
    stats = await queue.stats(qname2)
    assert (stats.pending, stats.delayed, stats.processing) == (2, 1, 0)
    assert (stats.completed, stats.failed, stats.cancelled) == (1, 1, 1)


async def test_import_skips_existing_ids_so_a_rerun_is_harmless(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    originals = await one_job_per_state(queue, qname)
    moved = [msgspec.structs.replace(job, queue=qname2) for job in originals]
    assert await queue.import_jobs(moved[2:4]) == 2
    claimed = await claim_one(queue, qname2)
    assert await queue.import_jobs(moved) == len(moved) - 2
    assert await queue.import_jobs(moved) == 0
    assert (await queue.get(qname2, claimed.job.id)).state is JobState.PROCESSING
    assert (await queue.stats(qname2)).total == len(moved)


async def test_imported_pending_jobs_are_claimed_in_order(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    originals = await one_job_per_state(queue, qname)
    moved = [msgspec.structs.replace(job, queue=qname2) for job in reversed(originals)]
    await queue.import_jobs(moved)
    claimed = await queue.claim(qname2, limit=10)
    assert [ping_of(item.job).n for item in claimed] == [2, 3]
