"""arq: ``ArqRedis.enqueue_job`` and an arq ``Worker`` with its default settings."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Worker, create_pool
from arq.connections import RedisSettings

from benchmarks.sink import ahandle
from benchmarks.systems.base import CONCURRENCY, PAD, QUEUE_NAME, Env, NoBatch


async def noop(ctx: dict[str, Any], ts: float, pad: str) -> None:
    """The benchmark task."""
    await ahandle(ts)


class ArqSystem:
    """arq: a sorted-set queue polled every ``poll_delay`` (0.5 s default)."""

    name = "arq"
    settings = f"Worker(max_jobs={CONCURRENCY}, poll_delay=0.5 default)"
    has_batch = False

    def __init__(self) -> None:
        self._pool: Any = None

    async def open(self, env: Env) -> None:
        self._pool = await create_pool(RedisSettings(host=env.redis_host, port=env.redis_port))

    async def enqueue_one(self, ts: float) -> None:
        await self._pool.enqueue_job("noop", ts, PAD, _queue_name=QUEUE_NAME)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        await self._pool.aclose()

    def run_worker(self, env: Env) -> None:
        async def main() -> None:
            worker = Worker(
                functions=[noop],
                redis_settings=RedisSettings(host=env.redis_host, port=env.redis_port),
                queue_name=QUEUE_NAME,
                max_jobs=CONCURRENCY,
            )
            await worker.async_run()

        asyncio.run(main())


SYSTEM = ArqSystem()
