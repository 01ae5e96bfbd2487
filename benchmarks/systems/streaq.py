"""streaq: ``task.enqueue`` / ``Worker.enqueue_many`` and a streaq ``Worker``."""

from __future__ import annotations

from typing import Any

from streaq import Worker

from benchmarks.sink import ahandle
from benchmarks.systems.base import CONCURRENCY, PAD, QUEUE_NAME, Env


class StreaqSystem:
    """streaq on Redis streams with its defaults (pickle serializer, prefetch = concurrency)."""

    name = "streaq"
    settings = f"Worker(concurrency={CONCURRENCY}), defaults otherwise"
    has_batch = True

    def __init__(self) -> None:
        self._worker: Any = None
        self._task: Any = None

    def _build(self, env: Env) -> Any:
        worker = Worker(redis_url=env.redis_url, queue_name=QUEUE_NAME, concurrency=CONCURRENCY)

        @worker.task
        async def noop(ts: float, pad: str) -> None:
            await ahandle(ts)

        self._worker, self._task = worker, noop
        return worker

    async def open(self, env: Env) -> None:
        await self._build(env).__aenter__()

    async def enqueue_one(self, ts: float) -> None:
        await self._task.enqueue(ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        await self._worker.enqueue_many([self._task.enqueue(ts, PAD) for ts in stamps])

    async def close(self) -> None:
        await self._worker.__aexit__(None, None, None)

    def run_worker(self, env: Env) -> None:
        self._build(env).run_sync()


SYSTEM = StreaqSystem()
