"""Shared huey runner: one consumer process with thread workers."""

from __future__ import annotations

from typing import Any

from benchmarks.sink import handle
from benchmarks.systems.base import CONCURRENCY, PAD, Env, NoBatch


class HueySystem:
    """huey through ``@huey.task()`` and its consumer; ``make`` builds the Huey instance."""

    has_batch = False

    def __init__(self, name: str, settings: str, make: Any) -> None:
        self.name = name
        self.settings = settings
        self._make = make
        self._task: Any = None

    def _build(self, env: Env) -> Any:
        huey = self._make(env)

        @huey.task(name="noop")  # type: ignore[untyped-decorator]
        def noop(ts: float, pad: str) -> None:
            handle(ts)

        self._task = noop
        return huey

    async def open(self, env: Env) -> None:
        self._build(env)

    async def enqueue_one(self, ts: float) -> None:
        self._task(ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        return None

    def run_worker(self, env: Env) -> None:
        huey = self._build(env)
        huey.create_consumer(workers=CONCURRENCY, worker_type="thread").run()
