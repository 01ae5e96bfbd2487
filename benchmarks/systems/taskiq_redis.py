"""taskiq with taskiq-redis's ``RedisStreamBroker`` (acknowledged delivery)."""

from __future__ import annotations

import asyncio
from typing import Any

from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from benchmarks.sink import ahandle
from benchmarks.systems.base import PAD, QUEUE_NAME, Env, NoBatch


class TaskiqSystem:
    """taskiq: ``task.kiq`` and the receiver run in-process (what ``taskiq worker`` runs)."""

    name = "taskiq"
    settings = "RedisStreamBroker, receiver max_async_tasks=100 (default), no result backend"
    has_batch = False

    def __init__(self) -> None:
        self._broker: Any = None
        self._task: Any = None

    def _build(self, env: Env) -> Any:
        broker = RedisStreamBroker(env.redis_url, queue_name=QUEUE_NAME)

        @broker.task(task_name="noop")
        async def noop(ts: float, pad: str) -> None:
            await ahandle(ts)

        self._broker, self._task = broker, noop
        return broker

    async def open(self, env: Env) -> None:
        await self._build(env).startup()

    async def enqueue_one(self, ts: float) -> None:
        await self._task.kiq(ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        await self._broker.shutdown()

    def run_worker(self, env: Env) -> None:
        async def main() -> None:
            broker = self._build(env)
            broker.is_worker_process = True
            await broker.startup()
            await run_receiver_task(broker)

        asyncio.run(main())


SYSTEM = TaskiqSystem()
