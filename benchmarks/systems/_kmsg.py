"""Shared kmsg runner: ``JobQueue.enqueue`` / ``enqueue_many`` and one ``kmsg.worker.Worker``."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
import msgspec

from benchmarks.sink import ahandle
from benchmarks.systems.base import CONCURRENCY, PAD, QUEUE_NAME


class Noop(msgspec.Struct, frozen=True):
    """The benchmark payload: the enqueue timestamp and padding (about 100 bytes of JSON)."""

    __kmsg_task__: ClassVar[str] = "noop"
    ts: float
    pad: str


class KmsgSystem:
    """kmsg through its public API; ``url`` maps the run's Env to the queue URL."""

    has_batch = True

    def __init__(self, name: str, url: Any) -> None:
        self.name = name
        self.settings = f"Worker(concurrency={CONCURRENCY}), defaults otherwise"
        self._url = url
        self._queue: Any = None

    async def open(self, env: Any) -> None:
        from kmsg import open_queue

        self._queue = await open_queue(self._url(env))

    async def enqueue_one(self, ts: float) -> None:
        await self._queue.enqueue(Noop(ts, PAD), queue=QUEUE_NAME)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        from kmsg import NewJob

        await self._queue.enqueue_many(
            [NewJob(payload=Noop(ts, PAD), queue=QUEUE_NAME) for ts in stamps]
        )

    async def close(self) -> None:
        await self._queue.aclose()

    def run_worker(self, env: Any) -> None:
        anyio.run(self._work, env)

    async def _work(self, env: Any) -> None:
        from kmsg import open_queue
        from kmsg.worker import Worker

        async with open_queue(self._url(env)) as queue:
            worker = Worker(queue, queues=(QUEUE_NAME,), concurrency=CONCURRENCY)

            @worker.task
            async def noop(msg: Noop) -> None:
                await ahandle(msg.ts)

            await worker.run()
