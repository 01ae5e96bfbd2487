"""fail: retry after retry_in or the job's backoff, or dead-letter; the error is recorded."""

from __future__ import annotations

import time

import anyio
import pytest

from kmsg import Backoff, JobQueue, JobState
from tests.conformance.support import MARGIN, Ping, claim_one, claim_until

pytestmark = pytest.mark.anyio


async def test_fail_with_retry_in_delays_the_job_that_long(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3)
    claimed = await claim_one(queue, qname)
    before = time.time()
    state = await queue.fail(claimed.lease, ValueError("provider said no"), retry_in=0.4)
    assert state is JobState.DELAYED
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.attempts) == (JobState.DELAYED, 1)
    assert before + 0.3 <= job.run_at <= time.time() + 0.5
    assert len(job.errors) == 1
    error = job.errors[0]
    assert (error.type, error.message, error.attempt) == ("ValueError", "provider said no", 1)
    assert await queue.claim(qname) == []
    await anyio.sleep(0.4 + MARGIN)
    again = await claim_one(queue, qname)
    assert (again.job.id, again.job.attempts) == (claimed.job.id, 2)


async def test_fail_without_retry_in_applies_the_jobs_backoff(queue: JobQueue, qname: str) -> None:
    backoff = Backoff(initial=0.3, factor=100.0, maximum=20.0)
    await queue.enqueue(Ping(n=1), queue=qname, backoff=backoff)
    first = await claim_one(queue, qname)
    before = time.time()
    assert await queue.fail(first.lease, "timeout") is JobState.DELAYED
    job = await queue.get(qname, first.job.id)
    assert before + 0.2 <= job.run_at <= time.time() + 0.4
    second = await claim_until(queue, qname)
    before = time.time()
    assert await queue.fail(second.lease, "timeout") is JobState.DELAYED
    job = await queue.get(qname, first.job.id)
    assert before + 19.0 <= job.run_at <= time.time() + 21.0, "backoff exponent or cap ignored"
    assert [(e.attempt, e.message) for e in job.errors] == [(1, "timeout"), (2, "timeout")]


async def test_a_non_retryable_failure_dead_letters_at_once(queue: JobQueue, qname: str) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, max_attempts=5)
    claimed = await claim_one(queue, qname)
    state = await queue.fail(claimed.lease, KeyError("bad number"), retryable=False)
    assert state is JobState.FAILED
    job = await queue.get(qname, claimed.job.id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.failed_at is not None
    assert job.last_error is not None
    assert job.last_error.type == "KeyError"
    assert "bad number" in job.last_error.message
    assert await queue.claim(qname) == []
    assert (await queue.stats(qname)).failed == 1


async def test_the_last_failure_is_reported_as_dead_not_as_a_retry(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2)
    first = await claim_one(queue, qname)
    assert await queue.fail(first.lease, "try again", retry_in=0.0) is JobState.DELAYED
    second = await claim_until(queue, qname)
    assert await queue.fail(second.lease, "gave up", retry_in=0.0) is JobState.FAILED
    job = await queue.get(qname, first.job.id)
    assert job.state is JobState.FAILED
    assert [(e.attempt, e.message) for e in job.errors] == [(1, "try again"), (2, "gave up")]
    await anyio.sleep(0.2)
    assert await queue.claim(qname) == []
