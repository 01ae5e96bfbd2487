"""wait and result: a caller waits for a job to end and gets its result or its final error."""

from __future__ import annotations

import math

import anyio
import msgspec
import pytest

from kmsg import (
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobQueue,
    JobState,
    ValidationError,
    WaitTimeout,
)
from tests.conformance.support import Ping, claim_one, ping_of

pytestmark = pytest.mark.anyio

PATIENCE = 10.0
"""Seconds a waiter is given for a job that ends during the test (never reached when it works)."""


class Receipt(msgspec.Struct, frozen=True):
    """A handler's result, as a caller would decode it."""

    message_id: str


async def test_a_waiter_gets_the_result_when_another_handle_completes_the_job(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    got: list[Receipt] = []

    async def waiter() -> None:
        got.append(await queue.result(qname, job_id, within=PATIENCE, type=Receipt))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.2)
        assert got == []  # still waiting: the job has not ended
        claimed = await claim_one(other, qname)
        await other.complete(claimed.lease, result=b'{"message_id": "m-1"}')
    assert got == [Receipt("m-1")]


async def test_many_waiters_each_get_their_own_job(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    ids = [await queue.enqueue(Ping(n=n), queue=qname) for n in range(30)]
    results: dict[str, int] = {}

    async def waiter(job_id: str) -> None:
        results[job_id] = await queue.result(qname, job_id, within=PATIENCE, type=int)

    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(waiter, job_id)
        await anyio.sleep(0.2)
        claimed = await other.claim(qname, limit=len(ids))
        done = await other.complete_many([(c.lease, b"%d" % ping_of(c.job).n) for c in claimed])
        assert all(done)
    assert results == {job_id: n for n, job_id in enumerate(ids)}


async def test_an_ended_job_is_returned_at_once_and_nothing_is_none(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    await queue.complete((await claim_one(queue, qname)).lease)
    job = await queue.wait(qname, job_id, within=0)
    assert (job.id, job.state) == (job_id, JobState.COMPLETED)
    assert await queue.result(qname, job_id, within=0) is None


async def test_a_dead_letter_raises_job_failed_with_its_history(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    async with anyio.create_task_group() as tg:

        async def fail_soon() -> None:
            await anyio.sleep(0.2)
            claimed = await claim_one(other, qname)
            await other.fail(claimed.lease, KeyError("no such template"), retryable=False)

        tg.start_soon(fail_soon)
        with pytest.raises(JobFailed) as raised:
            await queue.result(qname, job_id, within=PATIENCE)
    failed = raised.value.job
    assert (failed.id, failed.state) == (job_id, JobState.FAILED)
    assert failed.errors[-1].type == "KeyError"
    assert "no such template" in str(raised.value)
    assert (await queue.wait(qname, job_id, within=0)).state is JobState.FAILED


async def test_a_cancelled_job_raises_job_cancelled(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    async with anyio.create_task_group() as tg:

        async def cancel_soon() -> None:
            await anyio.sleep(0.2)
            await other.cancel(qname, job_id)

        tg.start_soon(cancel_soon)
        with pytest.raises(JobCancelled) as raised:
            await queue.result(qname, job_id, within=PATIENCE)
    assert raised.value.job.state is JobState.CANCELLED


async def test_a_job_that_does_not_end_in_time_raises_wait_timeout_and_is_left_alone(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    with pytest.raises(WaitTimeout) as raised:
        await queue.wait(qname, job_id, within=0.3)
    assert isinstance(raised.value, TimeoutError)
    assert (raised.value.job_id, raised.value.within) == (job_id, 0.3)
    assert (await queue.get(qname, job_id)).state is JobState.PENDING
    claimed = await claim_one(queue, qname)  # waiting changed nothing: it still runs
    await queue.complete(claimed.lease, result=b"7")
    assert await queue.result(qname, job_id, within=PATIENCE) == 7


async def test_a_job_removed_while_waited_for_raises_job_not_found(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    async with anyio.create_task_group() as tg:

        async def remove_soon() -> None:
            await anyio.sleep(0.2)
            assert await other.remove(qname, job_id)

        tg.start_soon(remove_soon)
        with pytest.raises(JobNotFound):
            await queue.wait(qname, job_id, within=PATIENCE)


async def test_a_redriven_dead_letter_is_waited_for_again(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    await queue.fail(claimed.lease, "down", retryable=False)
    assert (await queue.retry_failed(qname, [job_id])).moved == 1
    async with anyio.create_task_group() as tg:

        async def complete_soon() -> None:
            await anyio.sleep(0.2)
            await other.complete((await claim_one(other, qname)).lease, result=b'"ok"')

        tg.start_soon(complete_soon)
        assert await queue.result(qname, job_id, within=PATIENCE) == "ok"


@pytest.mark.parametrize(
    ("job_id", "within"),
    [("", 1.0), ("bad id!", 1.0), ("x", -1.0), ("x", math.nan), ("x", math.inf), ("x", "1")],
)
async def test_bad_arguments_are_refused(
    queue: JobQueue, qname: str, job_id: str, within: float
) -> None:
    with pytest.raises(ValidationError):
        await queue.wait(qname, job_id, within=within)


async def test_an_unknown_job_raises_job_not_found(queue: JobQueue, qname: str) -> None:
    with pytest.raises(JobNotFound):
        await queue.result(qname, "no-such-job", within=1.0)
