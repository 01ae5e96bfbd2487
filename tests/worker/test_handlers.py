"""Typed handlers: payload decoding, results, the job context, concurrency and bad jobs."""

from __future__ import annotations

from typing import ClassVar

import anyio
import msgspec
import pytest

from kmsg import JobQueue, JobState, NewJob
from kmsg.worker import EventKind, JobContext, current_job
from tests.worker.support import Echo, Ping, Recorder, Reply, make_worker

pytestmark = pytest.mark.anyio


async def test_payload_is_decoded_to_the_annotated_type_and_result_stored(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    seen: list[tuple[Echo, JobContext]] = []

    @worker.task
    async def echo(msg: Echo) -> Reply:
        ctx = current_job()
        seen.append((msg, ctx))
        return Reply(text=msg.text.upper(), attempt=ctx.attempt)

    job_id = await queue.enqueue(Echo(text="hi"), queue=qname)
    await worker.run_until_idle()

    ((msg, ctx),) = seen
    assert msg == Echo(text="hi")
    assert (ctx.job.id, ctx.attempt, ctx.queue) == (job_id, 1, queue)
    job = await queue.get(qname, job_id)
    assert job.state is JobState.COMPLETED
    assert job.result is not None
    assert msgspec.json.decode(job.result, type=Reply) == Reply(text="HI", attempt=1)


async def test_a_none_result_stores_no_result(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        """Returns nothing."""

    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert (job.state, job.result) == (JobState.COMPLETED, None)


async def test_current_job_outside_a_handler_is_an_error() -> None:
    with pytest.raises(LookupError, match="only available inside"):
        current_job()


async def test_concurrency_limit_is_reached_and_never_exceeded(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname, concurrency=3)
    running_now = 0
    peak = 0

    @worker.task
    async def ping(msg: Ping) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await anyio.sleep(0.05)
        running_now -= 1

    await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(12)])
    recorder = Recorder(worker)
    await worker.run_until_idle()
    assert peak == 3
    assert len(recorder.of(EventKind.COMPLETED)) == 12


async def test_unknown_task_is_dead_lettered_and_the_worker_keeps_going(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    handled: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        handled.append(msg.n)

    recorder = Recorder(worker)
    orphan = await queue.enqueue(Echo(text="nobody handles me"), queue=qname, max_attempts=5)
    await queue.enqueue(Ping(n=7), queue=qname)
    await worker.run_until_idle()

    job = await queue.get(qname, orphan)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.last_error is not None
    assert job.last_error.type == "UnknownTask"
    assert "'Echo'" in job.last_error.message
    assert handled == [7]
    assert recorder.kinds(orphan) == [EventKind.DEAD]


class PingV2(msgspec.Struct):
    """Same task name as Ping, incompatible field type: old payloads no longer decode."""

    __kmsg_task__: ClassVar[str] = "Ping"
    n: str


async def test_undecodable_payload_is_dead_lettered_without_calling_the_handler(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    calls: list[PingV2] = []

    @worker.task
    async def ping(msg: PingV2) -> None:
        calls.append(msg)

    recorder = Recorder(worker)
    bad = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=5)
    await worker.run_until_idle()

    job = await queue.get(qname, bad)
    assert job.state is JobState.FAILED
    assert job.last_error is not None
    assert job.last_error.type == "PayloadDecodeError"
    assert calls == []
    assert recorder.kinds(bad) == [EventKind.DEAD]
    good = await queue.enqueue(PingV2(n="fine"), queue=qname)
    await worker.run_until_idle()
    assert calls == [PingV2(n="fine")]
    assert (await queue.get(qname, good)).state is JobState.COMPLETED


@pytest.mark.parametrize(
    ("result", "message"),
    [(object(), "cannot be encoded"), ("x" * 70_000, "the limit is 65536")],
    ids=["unencodable", "too-large"],
)
async def test_a_result_that_cannot_be_stored_dead_letters_the_job(
    queue: JobQueue, qname: str, result: object, message: str
) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> object:
        return result

    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=5)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.last_error is not None
    assert job.last_error.type == "ResultError"
    assert message in job.last_error.message


async def test_events_of_a_successful_job(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        await anyio.sleep(0.01)

    recorder = Recorder(worker)
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    await worker.run_until_idle()
    started, completed = recorder.events
    assert (started.kind, completed.kind) == (EventKind.STARTED, EventKind.COMPLETED)
    assert started.job.id == completed.job.id == job_id
    assert started.job.attempts == 1
    assert started.duration is None
    assert completed.duration is not None
    assert completed.duration >= 0.005
    assert completed.error is None
    assert started.at <= completed.at


async def test_jobs_of_every_listed_queue_are_run(queue: JobQueue, qname: str) -> None:
    worker = make_worker(queue, qname, queues=(qname, qname + "-b", qname + "-c"))
    seen: list[str] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        seen.append(current_job().job.queue)

    for suffix in ("", "-b", "-c", "-b"):
        await queue.enqueue(Ping(n=0), queue=qname + suffix)
    await worker.run_until_idle()
    assert sorted(seen) == sorted([qname, qname + "-b", qname + "-b", qname + "-c"])
