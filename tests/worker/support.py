"""Payload types and helpers shared by the worker tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec

from kmsg import Backoff, ClaimedJob, JobQueue
from kmsg.middleware import Next
from kmsg.operations import Claim, Operation
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


class ClaimWatch:
    """Middleware that notes every claim that may wait: when it started and what it returned.

    ``waiting`` is set once such a claim is under way, so a test can enqueue while a worker is
    in its wait instead of sleeping and hoping it got there.
    """

    def __init__(self) -> None:
        self.waiting = anyio.Event()
        self.claims: list[tuple[float, list[str]]] = []

    async def __call__(self, operation: Operation, call_next: Next) -> Any:
        if not isinstance(operation, Claim) or operation.wait <= 0:
            return await call_next(operation)
        started = time.monotonic()
        self.waiting.set()
        claimed: list[ClaimedJob] = await call_next(operation)
        self.claims.append((started, [c.job.id for c in claimed]))
        return claimed

    def started_at(self, job_id: str) -> float:
        """When the claim that returned ``job_id`` started."""
        (started,) = [at for at, ids in self.claims if job_id in ids]
        return started


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` in the background for the block; stop it gracefully afterwards."""
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        try:
            yield worker
        finally:
            worker.stop()
