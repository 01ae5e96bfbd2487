"""dramatiq on Redis: ``actor.send`` and one ``dramatiq.Worker`` with 8 threads."""

from __future__ import annotations

import signal
import threading
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.sink import handle
from benchmarks.systems.base import PAD, QUEUE_NAME, Env, NoBatch

THREADS = 8


class DramatiqSystem:
    """dramatiq's RedisBroker with its default middleware."""

    name = "dramatiq"
    settings = f"RedisBroker, Worker(worker_threads={THREADS}) (the CLI default), 1 process"
    has_batch = False

    def __init__(self) -> None:
        self._actor: Any = None

    def _build(self, env: Env) -> Any:
        broker = RedisBroker(url=env.redis_url)  # type: ignore[no-untyped-call]
        dramatiq.set_broker(broker)

        @dramatiq.actor(queue_name=QUEUE_NAME, actor_name="noop", broker=broker)
        def noop(ts: float, pad: str) -> None:
            handle(ts)

        self._actor = noop
        return broker

    async def open(self, env: Env) -> None:
        self._build(env)

    async def enqueue_one(self, ts: float) -> None:
        self._actor.send(ts, PAD)

    async def enqueue_batch(self, stamps: list[float]) -> None:
        raise NoBatch

    async def close(self) -> None:
        self._actor.broker.close()

    def run_worker(self, env: Env) -> None:
        broker = self._build(env)
        worker = dramatiq.Worker(broker, worker_threads=THREADS)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker.start()
        stop.wait()
        worker.stop()


SYSTEM = DramatiqSystem()
