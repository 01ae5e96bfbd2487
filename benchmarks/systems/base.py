"""The small interface every benchmarked system implements, and the settings they share."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final, Protocol

QUEUE_NAME: Final = "bench"
PAD: Final = "x" * 72  # with the timestamp the payload is about 100 bytes of JSON
CONCURRENCY: Final = 10


@dataclass(frozen=True)
class Env:
    """Where a run's system keeps its jobs: the private Redis and a SQLite file."""

    redis_url: str
    redis_host: str
    redis_port: int
    sqlite_path: str

    @classmethod
    def from_environ(cls) -> Env:
        """Read the settings the harness passes to its subprocesses."""
        return cls(
            redis_url=os.environ["BENCH_REDIS_URL"],
            redis_host=os.environ["BENCH_REDIS_HOST"],
            redis_port=int(os.environ["BENCH_REDIS_PORT"]),
            sqlite_path=os.environ["BENCH_SQLITE_PATH"],
        )


class System(Protocol):
    """One job queue under test, driven through its own public API.

    Producer side: ``open``, then ``enqueue_one`` / ``enqueue_batch``, then ``close`` (all async;
    a synchronous library simply blocks inside them, there is nothing else on the loop).
    Worker side: ``run_worker`` blocks for the life of the worker process; its task calls
    :func:`benchmarks.sink.handle` (synchronous libraries) or awaits
    :func:`benchmarks.sink.ahandle` (asyncio ones) with the enqueue timestamp from the payload,
    which records the start and, in W2io, makes the handler's network round trip.
    """

    name: str
    settings: str
    has_batch: bool

    async def open(self, env: Env) -> None:
        """Connect the producer."""
        ...

    async def enqueue_one(self, ts: float) -> None:
        """Enqueue one no-op job whose payload carries ``ts`` and the padding."""
        ...

    async def enqueue_batch(self, stamps: list[float]) -> None:
        """Enqueue one job per stamp with the library's batch API."""
        ...

    async def close(self) -> None:
        """Disconnect the producer."""
        ...

    def run_worker(self, env: Env) -> None:
        """Run one worker process until it is terminated."""
        ...


class NoBatch(Exception):
    """The system has no batch-enqueue API (W1b is reported as n/a)."""
