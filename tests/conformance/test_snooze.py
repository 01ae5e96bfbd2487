"""Snooze: a held job runs again later without using an attempt, a bounded number of times."""

from __future__ import annotations

import math
import time

import pytest

from kmsg import JobQueue, JobState, LeaseLost, ValidationError
from tests.conformance.support import MARGIN, Ping, claim_one, claim_until

pytestmark = pytest.mark.anyio


async def test_a_snooze_refunds_the_attempt_and_is_in_the_history(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    claimed = await claim_one(queue, qname)
    before = time.time()
    state = await queue.snooze(claimed.lease, 60.0, reason="gateway said 429")
    assert state is JobState.DELAYED
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.lease_until) == (JobState.DELAYED, 0, None)
    assert before + 60.0 - MARGIN <= job.run_at <= time.time() + 60.0 + MARGIN
    [entry] = job.errors
    assert (entry.type, entry.message, entry.attempt) == ("Snoozed", "gateway said 429", 1)
    with pytest.raises(LeaseLost):  # the lease ended with the snooze
        await queue.complete(claimed.lease)


async def test_a_snoozed_job_runs_again_with_its_attempts_intact(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    for _ in range(3):
        claimed = await claim_until(queue, qname)
        assert (claimed.job.id, claimed.job.attempts) == (job_id, 1)
        assert await queue.snooze(claimed.lease, 0.0) is JobState.DELAYED
    claimed = await claim_until(queue, qname)
    await queue.complete(claimed.lease)
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert [e.message for e in job.errors] == ["snoozed for 0s"] * 3


async def test_a_snooze_past_the_maximum_counts_as_a_failed_attempt(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2)
    for _ in range(2):
        claimed = await claim_until(queue, qname)
        assert await queue.snooze(claimed.lease, 0.0, max_snoozes=2) is JobState.DELAYED
    claimed = await claim_until(queue, qname)
    assert await queue.snooze(claimed.lease, 0.0, max_snoozes=2) is JobState.DELAYED
    job = await queue.get(qname, job_id)
    assert job.attempts == 1  # this one was not refunded: one attempt left
    claimed = await claim_until(queue, qname)
    assert claimed.job.attempts == 2
    assert await queue.snooze(claimed.lease, 0.0, max_snoozes=2) is JobState.FAILED
    dead = await queue.get(qname, job_id)
    assert (dead.state, [e.type for e in dead.errors]) == (JobState.FAILED, ["Snoozed"] * 4)


async def test_a_stale_lease_or_a_requested_cancel_stops_the_snooze(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.cancel(qname, job_id)
    with pytest.raises(LeaseLost):
        await queue.snooze(claimed.lease, 5.0, reason="later")
    job = await queue.get(qname, job_id)
    assert (job.state, [e.type for e in job.errors]) == (JobState.CANCELLED, ["Snoozed"])
    with pytest.raises(LeaseLost):
        await queue.snooze(claimed.lease, 5.0)


@pytest.mark.parametrize(
    ("delay", "options"),
    [
        (-1.0, {}),
        (math.nan, {}),
        (1.0, {"max_snoozes": 0}),
        (1.0, {"max_snoozes": 51}),
        (1.0, {"reason": 7}),
    ],
    ids=["negative", "nan", "no-snoozes", "too-many", "reason-not-text"],
)
async def test_bad_snoozes_are_refused_and_change_nothing(
    queue: JobQueue, qname: str, delay: float, options: dict[str, object]
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    with pytest.raises(ValidationError):
        await queue.snooze(claimed.lease, delay, **options)  # type: ignore[arg-type]
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.PROCESSING, 1, ())
