"""Group commit of completions: one ``complete_many`` call for every job finished meanwhile.

A finished job's completion goes into a per-worker buffer and the job's task ends. One flusher
task sends the whole buffer in one :meth:`~kmsg.JobQueue.complete_many` call; completions that
arrive while that call is in flight wait for the next one, sent as soon as it returns. An idle
worker's lone completion is therefore sent at once, and a busy worker acknowledges many jobs per
round trip. Each completion's outcome (done, lease lost, or the call failed) is handed back
through a callback, so events and logs stay per job. Until then the job still counts as running:
a graceful shutdown waits for its acknowledgement as it waits for its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import anyio

from kmsg.models import Job, Lease
from kmsg.queue import JobQueue
from kmsg.validation import MAX_BATCH

__all__ = ["Completion", "CompletionBuffer", "Outcome"]


@dataclass(frozen=True, slots=True)
class Completion:
    """A job whose handler returned: its lease, encoded result, snapshot and run time."""

    lease: Lease
    result: bytes | None
    job: Job
    duration: float


Outcome: TypeAlias = bool | Exception
"""True: completed (or a harmless replay); False: the lease was lost; an exception: the call
failed, so the outcome is unknown and the job comes back when its lease ends."""


class CompletionBuffer:
    """Buffers completions and flushes them in batches from :meth:`flush_forever`."""

    def __init__(self, queue: JobQueue, on_outcome: Callable[[Completion, Outcome], None]) -> None:
        self._queue = queue
        self._on_outcome = on_outcome
        self._buffer: list[Completion] = []
        self._ready = anyio.Event()

    def add(self, completion: Completion) -> None:
        """Queue one completion for the next flush (never blocks)."""
        self._buffer.append(completion)
        self._ready.set()

    async def flush_forever(self) -> None:
        """Send buffered completions, one batch per call, until cancelled."""
        while True:
            if not self._buffer:
                self._ready = anyio.Event()
                await self._ready.wait()
            batch = self._buffer[:MAX_BATCH]
            del self._buffer[:MAX_BATCH]
            await self._flush(batch)

    async def _flush(self, batch: list[Completion]) -> None:
        outcomes: list[Outcome]
        try:
            outcomes = list(
                await self._queue.complete_many([(done.lease, done.result) for done in batch])
            )
        except Exception as exc:
            outcomes = [exc] * len(batch)
        for completion, outcome in zip(batch, outcomes, strict=True):
            self._on_outcome(completion, outcome)
