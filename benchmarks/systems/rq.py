"""rq: ``Queue.enqueue`` / ``Queue.enqueue_many``, one ``SimpleWorker`` (no fork per job)."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker

from benchmarks.sink import handle
from benchmarks.systems.base import PAD, QUEUE_NAME, Env


def noop(ts: float, pad: str) -> None:
    """The benchmark task."""
    handle(ts)


class RqSystem:
    """rq with a SimpleWorker: the default forking Worker forks once per job and is far slower."""

    name = "rq"
    settings = "SimpleWorker (default Worker forks per job), with_scheduler=False"
    has_batch = True

    def __init__(self) -> None:
        self._queue: Any = None

    async def open(self, env: Env) -> None:
        self._queue = Queue(QUEUE_NAME, connection=Redis.from_url(env.redis_url))

    async def enqueue_one(self, ts: float) -> None:
        self._queue.enqueue(noop, ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        self._queue.enqueue_many([Queue.prepare_data(noop, (ts, PAD)) for ts in stamps])

    async def close(self) -> None:
        self._queue.connection.close()

    def run_worker(self, env: Env) -> None:
        connection = Redis.from_url(env.redis_url)
        queue = Queue(QUEUE_NAME, connection=connection)
        SimpleWorker([queue], connection=connection).work(with_scheduler=False)


SYSTEM = RqSystem()
