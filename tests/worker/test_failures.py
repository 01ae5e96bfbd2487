"""Failures: Retry(after), NonRetryable, plain exceptions, retry policies and job_timeout."""

from __future__ import annotations

import contextlib
import random
import time

import anyio
import pytest

from kmsg import Backoff, JobQueue, JobState
from kmsg.worker import EventKind, NonRetryable, Retry, RetryPolicy, current_job
from tests.worker.support import QUICK_BACKOFF, Ping, Recorder, make_worker

pytestmark = pytest.mark.anyio


async def test_retry_after_delays_the_next_attempt_and_counts_it(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    starts: list[tuple[int, float]] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        starts.append((current_job().attempt, time.monotonic()))
        if current_job().attempt == 1:
            raise Retry(after=0.4, reason="provider busy")

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3)
    await worker.run_until_idle()

    (first, t1), (second, t2) = starts
    assert (first, second) == (1, 2)
    assert t2 - t1 >= 0.35
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    (error,) = job.errors
    assert (error.type, error.attempt) == ("Retry", 1)
    assert "provider busy" in error.message
    assert recorder.kinds(job_id) == [
        EventKind.STARTED,
        EventKind.RETRIED,
        EventKind.STARTED,
        EventKind.COMPLETED,
    ]
    assert recorder.of(EventKind.RETRIED)[0].error == "Retry: provider busy (after 0.4s)"


async def test_retry_on_the_last_attempt_dead_letters(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        raise Retry(after=0.0)

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, len(job.errors)) == (JobState.FAILED, 2, 2)
    assert recorder.kinds(job_id)[-2:] == [EventKind.STARTED, EventKind.DEAD]


async def test_non_retryable_dead_letters_at_once(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        raise NonRetryable("bad number")

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=5)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.last_error is not None
    assert (job.last_error.type, job.last_error.message) == ("NonRetryable", "bad number")
    (dead,) = recorder.of(EventKind.DEAD)
    assert dead.error == "NonRetryable: bad number"


async def test_plain_exceptions_are_retried_until_attempts_run_out(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    attempts: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        attempts.append(current_job().attempt)
        raise ValueError(f"boom {current_job().attempt}")

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3, backoff=QUICK_BACKOFF)
    await worker.run_until_idle()
    assert attempts == [1, 2, 3]
    job = await queue.get(qname, job_id)
    assert job.state is JobState.FAILED
    assert [(e.type, e.message) for e in job.errors] == [
        ("ValueError", "boom 1"),
        ("ValueError", "boom 2"),
        ("ValueError", "boom 3"),
    ]
    outcomes = [k for k in recorder.kinds(job_id) if k is not EventKind.STARTED]
    assert outcomes == [EventKind.RETRIED, EventKind.RETRIED, EventKind.DEAD]


async def test_without_a_policy_the_jobs_own_backoff_sets_the_delay(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        raise RuntimeError("flaky")

    recorder = Recorder(worker)
    backoff = Backoff(initial=40.0, factor=2.0, maximum=100.0)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3, backoff=backoff)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await recorder.wait_for(EventKind.RETRIED)
        job = await queue.get(qname, job_id)
        worker.stop()
    assert (job.state, job.attempts) == (JobState.DELAYED, 1)
    # equal jitter on the first backoff step (40 s): due between 20 s and 40 s after the failure
    assert 20.0 - 0.05 <= job.run_at - job.errors[-1].at <= 40.0 + 0.05
    assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.RETRIED]


async def test_a_worker_retry_policy_sets_the_delay(queue: JobQueue, qname: str) -> None:
    policy = RetryPolicy(initial=0.6, jitter="none", rng=random.Random(0))
    worker = make_worker(queue, qname, retry_policy=policy)

    @worker.task
    async def ping(msg: Ping) -> None:
        raise RuntimeError("flaky")

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2, backoff=QUICK_BACKOFF)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await recorder.wait_for(EventKind.RETRIED)
        job = await queue.get(qname, job_id)
        worker.stop()
    assert job.state is JobState.DELAYED
    # the job's own backoff would give 0.05 s; the worker's policy asks for 0.6 s
    assert job.run_at - job.errors[-1].at == pytest.approx(0.6, abs=0.05)


async def test_job_timeout_cancels_the_handler_and_counts_as_a_failure(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname, job_timeout=0.2)
    cancelled: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        if current_job().attempt == 1:
            try:
                await anyio.sleep(60)
            except anyio.get_cancelled_exc_class():
                cancelled.append(1)
                raise

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2, backoff=QUICK_BACKOFF)
    with anyio.fail_after(20):
        await worker.run_until_idle()
    assert cancelled == [1]
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert job.errors[0].type == "JobTimeout"
    assert recorder.kinds(job_id) == [
        EventKind.STARTED,
        EventKind.TIMED_OUT,
        EventKind.RETRIED,
        EventKind.STARTED,
        EventKind.COMPLETED,
    ]
    timed_out = recorder.of(EventKind.TIMED_OUT)[0]
    assert timed_out.duration is not None
    assert 0.15 <= timed_out.duration < 10


@pytest.mark.parametrize("how", ["swallows-the-cancel", "blocks-past-the-deadline"])
async def test_a_handler_that_overruns_its_timeout_and_returns_still_timed_out(
    queue: JobQueue, qname: str, how: str
) -> None:
    worker = make_worker(queue, qname, job_timeout=0.2)
    returned: list[str] = []

    @worker.task
    async def ping(msg: Ping) -> str:
        if how == "swallows-the-cancel":
            with contextlib.suppress(BaseException):
                await anyio.sleep(60)
        else:
            time.sleep(0.5)  # noqa: ASYNC251 - never yields, so the deadline never fires
        returned.append(how)
        return "done"

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=1)
    with anyio.fail_after(20):
        await worker.run_until_idle()
    assert returned == [how]
    job = await queue.get(qname, job_id)
    assert (job.state, job.result) == (JobState.FAILED, None)
    assert [e.type for e in job.errors] == ["JobTimeout"]
    assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.TIMED_OUT, EventKind.DEAD]
