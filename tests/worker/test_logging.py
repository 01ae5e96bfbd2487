"""Every record of logger ``kmsg.worker`` carries job_id, queue, task and attempt."""

from __future__ import annotations

import logging

import pytest

from kmsg import JobQueue
from kmsg.worker import NonRetryable, Retry, current_job
from tests.worker.support import Ping, make_worker

pytestmark = pytest.mark.anyio

FIELDS = ("job_id", "queue", "task", "attempt")


async def test_job_records_carry_the_job_fields(
    queue: JobQueue, qname: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(queue, qname)

    @worker.task
    async def ping(msg: Ping) -> None:
        if msg.n == 1 and current_job().attempt == 1:
            raise Retry(after=0.0)
        if msg.n == 2:
            raise NonRetryable("no")

    retried = await queue.enqueue(Ping(n=1), queue=qname)
    dead = await queue.enqueue(Ping(n=2), queue=qname)
    with caplog.at_level(logging.DEBUG, logger="kmsg.worker"):
        await worker.run_until_idle()

    records = [r for r in caplog.records if r.name == "kmsg.worker"]
    assert records
    for record in records:
        assert all(hasattr(record, name) for name in FIELDS), record.getMessage()

    def fields(job_id: str) -> list[tuple[object, ...]]:
        return [
            tuple(getattr(r, name) for name in FIELDS)
            for r in records
            if getattr(r, "job_id", None) == job_id
        ]

    assert fields(retried) == [
        (retried, qname, "Ping", 1),  # started
        (retried, qname, "Ping", 1),  # retried
        (retried, qname, "Ping", 2),  # started
        (retried, qname, "Ping", 2),  # completed
    ]
    assert fields(dead) == [(dead, qname, "Ping", 1), (dead, qname, "Ping", 1)]
    (dead_record,) = [r for r in records if r.levelno == logging.ERROR]
    assert dead_record.job_id == dead  # type: ignore[attr-defined]
    assert "NonRetryable: no" in dead_record.getMessage()
    worker_records = [r for r in records if r.job_id is None]  # type: ignore[attr-defined]
    assert {r.getMessage() for r in worker_records} >= {"worker stopped"}
