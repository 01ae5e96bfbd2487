"""celery on Redis: ``task.delay`` and one solo-pool worker."""

from __future__ import annotations

from typing import Any

from celery import Celery

from benchmarks.sink import handle
from benchmarks.systems.base import PAD, QUEUE_NAME, Env, NoBatch


class CelerySystem:
    """celery with no result backend, prefetch multiplier 4 (default), solo pool."""

    name = "celery"
    settings = (
        "no result backend, --pool=solo (one process), "
        "--without-gossip --without-mingle --without-heartbeat"
    )
    has_batch = False

    def __init__(self) -> None:
        self._app: Any = None
        self._task: Any = None

    def _build(self, env: Env) -> Any:
        app = Celery("bench", broker=env.redis_url)
        app.conf.task_default_queue = QUEUE_NAME

        @app.task(name="noop")  # type: ignore[untyped-decorator]
        def noop(ts: float, pad: str) -> None:
            handle(ts)

        self._app, self._task = app, noop
        return app

    async def open(self, env: Env) -> None:
        self._build(env)

    async def enqueue_one(self, ts: float) -> None:
        self._task.delay(ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        self._app.close()

    def run_worker(self, env: Env) -> None:
        app = self._build(env)
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--queues={QUEUE_NAME}",
            ]
        )


SYSTEM = CelerySystem()
