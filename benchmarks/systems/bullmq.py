"""BullMQ for Python: ``Queue.add`` / ``Queue.addBulk`` and a ``Worker``."""

from __future__ import annotations

import asyncio
from typing import Any

from bullmq import Queue, Worker

from benchmarks.sink import ahandle
from benchmarks.systems.base import CONCURRENCY, PAD, QUEUE_NAME, Env


async def _process(job: Any, token: str) -> None:
    await ahandle(job.data["ts"])


class BullmqSystem:
    """BullMQ (Python port) with its default job options (completed jobs are kept)."""

    name = "bullmq"
    settings = f"Worker(concurrency={CONCURRENCY}), default job options"
    has_batch = True

    def __init__(self) -> None:
        self._queue: Any = None

    async def open(self, env: Env) -> None:
        self._queue = Queue(QUEUE_NAME, {"connection": env.redis_url})

    async def enqueue_one(self, ts: float) -> None:
        await self._queue.add("noop", {"ts": ts, "pad": PAD})

    async def enqueue_batch(self, stamps: list[float]) -> None:
        await self._queue.addBulk([{"name": "noop", "data": {"ts": t, "pad": PAD}} for t in stamps])

    async def close(self) -> None:
        await self._queue.close()

    def run_worker(self, env: Env) -> None:
        async def main() -> None:
            opts = {"connection": env.redis_url, "concurrency": CONCURRENCY}
            worker = Worker(QUEUE_NAME, _process, opts)
            try:
                await asyncio.Event().wait()
            finally:
                await worker.close()

        asyncio.run(main())


SYSTEM = BullmqSystem()
