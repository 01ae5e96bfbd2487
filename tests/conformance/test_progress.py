"""Progress: a heartbeat carries the handler's progress; readers see it; a claim clears it."""

from __future__ import annotations

import pytest

from kmsg import JobQueue, JobState, LeaseLost, ValidationError
from kmsg.validation import MAX_PROGRESS_BYTES
from tests.conformance.support import Ping, claim_one, claim_until

pytestmark = pytest.mark.anyio


async def test_extend_sets_progress_and_readers_see_it(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    assert claimed.job.progress is None
    await queue.extend(claimed.lease, 30.0, progress=b'{"sent": 40, "total": 100}')
    assert (await queue.get(qname, job_id)).progress == b'{"sent": 40, "total": 100}'
    [listed] = (await queue.list_jobs(qname, JobState.PROCESSING)).jobs
    assert listed.progress == b'{"sent": 40, "total": 100}'
    await queue.extend(claimed.lease, 30.0)  # None: left as it is
    assert (await queue.get(qname, job_id)).progress == b'{"sent": 40, "total": 100}'
    await queue.complete(claimed.lease)
    done = await queue.get(qname, job_id)
    assert (done.state, done.progress) == (JobState.COMPLETED, b'{"sent": 40, "total": 100}')


async def test_extend_many_sets_each_jobs_own_progress(queue: JobQueue, qname: str) -> None:
    ids = [await queue.enqueue(Ping(n=n), queue=qname) for n in range(3)]
    claimed = await queue.claim(qname, limit=3)
    by_id = {c.job.id: c.lease for c in claimed}
    leases = [by_id[job_id] for job_id in ids]
    outcomes = await queue.extend_many(leases, 30.0, progress=[b"0.5", None, b'"half"'])
    assert not any(isinstance(outcome, LeaseLost) for outcome in outcomes)
    assert [(await queue.get(qname, job_id)).progress for job_id in ids] == [
        b"0.5",
        None,
        b'"half"',
    ]


async def test_a_new_attempt_starts_without_the_last_ones_progress(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.extend(claimed.lease, 30.0, progress=b"0.9")
    assert await queue.fail(claimed.lease, "gateway down", retry_in=0) is JobState.DELAYED
    assert (await queue.get(qname, job_id)).progress == b"0.9"  # kept until the next claim
    again = await claim_until(queue, qname)
    assert (again.job.id, again.job.attempts, again.job.progress) == (job_id, 2, None)
    assert (await queue.get(qname, job_id)).progress is None


async def test_a_stale_lease_sets_no_progress(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.extend(claimed.lease, 30.0, progress=b"1")
    await queue.cancel(qname, job_id)
    with pytest.raises(LeaseLost):
        await queue.extend(claimed.lease, 30.0, progress=b"2")
    outcomes = await queue.extend_many([claimed.lease], 30.0, progress=[b"3"])
    assert isinstance(outcomes[0], LeaseLost)
    assert (await queue.get(qname, job_id)).progress == b"1"


@pytest.mark.parametrize(
    "progress",
    [b"", b"x" * (MAX_PROGRESS_BYTES + 1), "0.5", 0.5],
    ids=["empty", "too-big", "str", "float"],
)
async def test_bad_progress_is_refused_and_nothing_changes(
    queue: JobQueue, qname: str, progress: object
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.extend(claimed.lease, 30.0, progress=b"1")
    with pytest.raises(ValidationError):
        await queue.extend(claimed.lease, 30.0, progress=progress)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await queue.extend_many([claimed.lease], 30.0, progress=[progress])  # type: ignore[list-item]
    with pytest.raises(ValidationError):  # one value per lease, or none at all
        await queue.extend_many([claimed.lease], 30.0, progress=[b"1", b"2"])
    assert (await queue.get(qname, job_id)).progress == b"1"


async def test_the_largest_progress_is_kept_whole(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    largest = b'"' + b"\xea\xb0\x80" * ((MAX_PROGRESS_BYTES - 2) // 3) + b'"'
    await queue.extend(claimed.lease, 30.0, progress=largest)
    assert (await queue.get(qname, job_id)).progress == largest
