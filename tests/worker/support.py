"""Payload types and helpers shared by the worker tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec

from kmsg import Backoff, JobQueue
from kmsg.worker import EventKind, Worker, WorkerEvent

WAIT_LIMIT = 30.0
"""Generous bound on any wait in these tests (the box is shared and loaded)."""

QUICK_BACKOFF = Backoff(initial=0.05, factor=1.0, maximum=0.05)


class Ping(msgspec.Struct):
    """A small payload."""

    n: int


class Echo(msgspec.Struct):
    """A payload whose handler returns a value."""

    text: str


class Reply(msgspec.Struct):
    """A handler's result."""

    text: str
    attempt: int


def make_worker(queue: JobQueue, qname: str, **options: Any) -> Worker:
    """A worker on one queue with test-friendly defaults (no signal handlers, short idle waits)."""
    defaults: dict[str, Any] = {
        "queues": (qname,),
        "install_signal_handlers": False,
        "idle_wait": 0.05,
        "lease": 5.0,
    }
    return Worker(queue, **{**defaults, **options})


class Recorder:
    """Collects a worker's events; tests wait on it instead of sleeping."""

    def __init__(self, worker: Worker) -> None:
        self.events: list[WorkerEvent] = []
        self._arrived = anyio.Event()
        worker.add_listener(self._on_event)

    def _on_event(self, event: WorkerEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    def kinds(self, job_id: str | None = None) -> list[EventKind]:
        """Event kinds in order, optionally for one job."""
        return [e.kind for e in self.events if job_id is None or e.job.id == job_id]

    def of(self, kind: EventKind) -> list[WorkerEvent]:
        """The events of one kind."""
        return [e for e in self.events if e.kind is kind]

    async def wait_for(self, kind: EventKind, count: int = 1) -> list[WorkerEvent]:
        """Wait (bounded) until ``count`` events of ``kind`` arrived; return them."""
        with anyio.fail_after(WAIT_LIMIT):
            while len(self.of(kind)) < count:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        return self.of(kind)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` in the background for the block; stop it gracefully afterwards."""
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        try:
            yield worker
        finally:
            worker.stop()
