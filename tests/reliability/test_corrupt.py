"""Corrupted stored payload bytes: the job is dead-lettered with a decode error, the worker goes on.

The bytes are overwritten behind kmsg's back, where each adapter keeps them: the ``payload``
column of SQLite's ``jobs`` table, the payload field of the job's record in Redis (see the adapters'
schema and ``keys.py``).
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec
import pytest

from kmsg import JobQueue, JobState
from kmsg.worker import Worker
from tests.backends import Store
from tests.redis_tamper import set_payload
from tests.reliability.worker_main import Work

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

GARBAGE = [b"\xff\xfe\x00garbage", b'{"n": "not a number"}', b"", b"[" * 5000]


async def _corrupt(store: Store, qname: str, job_id: str, data: bytes) -> None:
    if store.url.startswith("sqlite"):
        path = urlsplit(store.url).path[1:]

        def update() -> None:
            with sqlite3.connect(path) as db:
                db.execute(
                    "UPDATE jobs SET payload = ? WHERE queue = ? AND id = ?", (data, qname, job_id)
                )

        await anyio.to_thread.run_sync(update)
        return
    await set_payload(store.url, store.options["key_prefix"], qname, job_id, data)


async def _run_worker(queue: JobQueue, qname: str) -> list[int]:
    done: list[int] = []
    worker = Worker(queue, queues=(qname,), lease=5.0, idle_wait=0.05)

    @worker.task
    async def work(msg: Work) -> None:
        done.append(msg.n)

    with anyio.fail_after(60):
        await worker.run_until_idle()
    return done


@pytest.mark.parametrize("garbage", GARBAGE, ids=["binary", "wrong-type", "empty", "deep"])
async def test_corrupted_payload_is_dead_lettered_and_the_worker_goes_on(
    store: Store, garbage: bytes
) -> None:
    queue = await store.open()
    qname = "corrupt"
    first = await queue.enqueue(Work(1), queue=qname, max_attempts=5)
    bad = await queue.enqueue(Work(2), queue=qname, max_attempts=5)
    last = await queue.enqueue(Work(3), queue=qname, max_attempts=5)
    await _corrupt(store, qname, bad, garbage)
    assert sorted(await _run_worker(queue, qname)) == [1, 3]
    dead = await queue.get(qname, bad)
    assert dead.state is JobState.FAILED
    assert dead.attempts == 1
    assert dead.last_error is not None
    assert dead.last_error.type == "PayloadDecodeError"
    for job_id in (first, last):
        assert (await queue.get(qname, job_id)).state is JobState.COMPLETED


class Anything(msgspec.Struct, frozen=True):
    """A payload whose one field takes any JSON value, so nesting reaches the decoder."""

    value: Any


async def test_deeply_nested_stored_payload_is_dead_lettered(store: Store) -> None:
    queue = await store.open()
    qname = "corrupt-deep"
    bad = await queue.enqueue(Anything([]), queue=qname, max_attempts=1, lease=1.0)
    await _corrupt(store, qname, bad, b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    worker = Worker(queue, queues=(qname,), lease=1.0, idle_wait=0.05)

    @worker.task
    async def anything(msg: Anything) -> None:
        raise AssertionError("a payload that cannot decode reached its handler")

    with anyio.fail_after(60):
        await worker.run_until_idle()
    dead = await queue.get(qname, bad)
    assert dead.state is JobState.FAILED
    assert dead.last_error is not None
    assert dead.last_error.type == "PayloadDecodeError"
