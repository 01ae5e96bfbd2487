"""saq: ``Queue.enqueue`` and a saq ``Worker``."""

from __future__ import annotations

import asyncio
from typing import Any

from saq import Queue, Worker

from benchmarks.sink import ahandle
from benchmarks.systems.base import CONCURRENCY, PAD, QUEUE_NAME, Env, NoBatch


async def noop(ctx: Any, *, ts: float, pad: str) -> None:
    """The benchmark task."""
    await ahandle(ts)


class SaqSystem:
    """saq on Redis; ``Queue.map`` waits for results, so there is no fire-and-forget batch."""

    name = "saq"
    settings = f"Worker(concurrency={CONCURRENCY}), defaults otherwise"
    has_batch = False

    def __init__(self) -> None:
        self._queue: Any = None

    async def open(self, env: Env) -> None:
        self._queue = Queue.from_url(env.redis_url, name=QUEUE_NAME)
        await self._queue.connect()

    async def enqueue_one(self, ts: float) -> None:
        await self._queue.enqueue("noop", ts=ts, pad=PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        await self._queue.disconnect()

    def run_worker(self, env: Env) -> None:
        async def main() -> None:
            queue = Queue.from_url(env.redis_url, name=QUEUE_NAME)
            worker = Worker(queue, functions=[noop], concurrency=CONCURRENCY)
            await worker.start()

        asyncio.run(main())


SYSTEM = SaqSystem()
