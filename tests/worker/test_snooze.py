"""A handler that raises Snooze runs again later without using an attempt."""

from __future__ import annotations

import pytest

from kmsg import JobQueue, JobState
from kmsg.worker import EventKind, Snooze
from tests.worker.support import Ping, Recorder, make_worker

pytestmark = pytest.mark.anyio


async def test_a_snoozing_handler_keeps_its_attempts_until_it_succeeds(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    recorder = Recorder(worker)
    runs: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        runs.append(msg.n)
        if len(runs) < 3:
            raise Snooze(0, "gateway busy")

    job_id = await queue.enqueue(Ping(n=7), queue=qname, max_attempts=1)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert runs == [7, 7, 7]
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert [(e.type, e.message) for e in job.errors] == [("Snoozed", "gateway busy")] * 2
    assert recorder.kinds(job_id).count(EventKind.RETRIED) == 2


async def test_a_handler_that_snoozes_forever_is_dead_lettered_in_the_end(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        raise Snooze(0, max_snoozes=2)

    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=2)
    await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, len(job.errors)) == (JobState.FAILED, 2, 4)


def test_snooze_refuses_a_negative_delay() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Snooze(-1)
