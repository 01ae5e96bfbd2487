"""What every adapter shares: the calls of the contract that reduce to other calls.

An adapter subclasses :class:`QueueBase` and implements the rest of :class:`kmsg.JobQueue`; the
base gives it ``enqueue`` (a batch of one), ``list_failed`` (a listing of ``failed``), the async
context manager and the waiting loop of ``claim(wait=...)`` (:meth:`QueueBase._claim_waiting`), so
these behave the same on every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Self, TypeVar

import anyio
import msgspec

from kmsg.errors import IncompleteBatch
from kmsg.jobs import NewJob, PreparedJob
from kmsg.models import Backoff, ClaimedJob, JobPage, JobState
from kmsg.validation import (
    DEFAULT_LEASE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE,
    STEP_BYTES,
    STEP_JOBS,
)

__all__ = ["QueueBase", "batch_steps", "chunks", "write_in_steps"]

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = STEP_JOBS) -> list[Sequence[T]]:
    """``items`` cut into consecutive slices of at most ``size`` (none for an empty sequence)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def batch_steps(jobs: Sequence[PreparedJob], *, per_queue: bool) -> list[list[int]]:
    """The indexes of ``jobs`` grouped into atomic steps of an ``enqueue_many``.

    A step holds at most ``STEP_JOBS`` jobs and about ``STEP_BYTES`` of payload (a single bigger
    job is a step of its own); with ``per_queue`` every step holds jobs of one queue only. Input
    order is kept within each queue, so dedupe between jobs of a batch applies in order.
    """
    groups: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(job.queue if per_queue else "", []).append(index)
    steps: list[list[int]] = []
    for indexes in groups.values():
        step: list[int] = []
        size = 0
        for index in indexes:
            payload = len(jobs[index].payload)
            if step and (len(step) >= STEP_JOBS or size + payload > STEP_BYTES):
                steps.append(step)
                step, size = [], 0
            step.append(index)
            size += payload
        if step:
            steps.append(step)
    return steps


async def write_in_steps(
    jobs: Sequence[PreparedJob],
    steps: list[list[int]],
    write: Callable[[list[PreparedJob]], Awaitable[list[str]]],
) -> list[str]:
    """Run ``write`` on each step's jobs in turn; return every job's id in input order.

    If a step fails after an earlier one stored its jobs, ``IncompleteBatch`` (caused by the
    step's error) says which ids are stored; if the first step fails, its error is raised as is.
    """
    ids = [job.id for job in jobs]
    stored: set[str] = set()
    for number, step in enumerate(steps):
        try:
            written = await write([jobs[index] for index in step])
        except Exception as exc:
            if number == 0:
                raise
            raise IncompleteBatch(
                f"enqueue_many stored {len(stored)} of {len(jobs)} jobs before step"
                f" {number + 1} of {len(steps)} failed ({type(exc).__name__}: {exc}); send the"
                " rest again with the same job ids",
                ids=ids,
                stored=frozenset(stored),
            ) from exc
        for index, job_id in zip(step, written, strict=True):
            ids[index] = job_id
        stored.update(written)
    return ids


class QueueBase(ABC):
    """The shared half of a :class:`kmsg.JobQueue` adapter."""

    async def __aenter__(self) -> Self:
        """Return the queue itself."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the queue."""
        await self.aclose()

    async def enqueue(
        self,
        payload: msgspec.Struct,
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        delay: float | None = None,
        run_at: float | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: Backoff | None = None,
        lease: float = DEFAULT_LEASE,
        dedupe_key: str | None = None,
        job_id: str | None = None,
    ) -> str:
        """Store one job and return its id (see :meth:`kmsg.JobQueue.enqueue`)."""
        new = NewJob(
            payload=payload,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            max_attempts=max_attempts,
            backoff=backoff,
            lease=lease,
            dedupe_key=dedupe_key,
            job_id=job_id,
        )
        return (await self.enqueue_many([new]))[0]

    async def list_failed(
        self, queue: str, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the queue's dead letters, newest first."""
        return await self.list_jobs(queue, JobState.FAILED, limit=limit, cursor=cursor)

    async def _claim_waiting(
        self, queue: str, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        """``claim(wait=...)`` with its arguments checked: rounds of :meth:`_claim_round` until a
        job is claimed or ``wait`` seconds have passed (``[]`` then)."""
        deadline = anyio.current_time() + wait
        remaining = wait
        while True:  # bounded by the deadline: each round waits out what is left of it at most
            claimed = await self._claim_round(queue, limit, lease, remaining)
            remaining = deadline - anyio.current_time()
            if claimed or remaining <= 0:
                return claimed
            await anyio.lowlevel.checkpoint()

    async def _claim_round(
        self, queue: str, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        """One round of a waiting claim: claim; when nothing is due, :meth:`wait_for_jobs` up to
        ``wait`` seconds and return ``[]``. The claim is shielded from cancellation, so a job it
        takes is returned, never lost with a cancelled caller. Adapters with a direct handoff
        override this."""
        with anyio.CancelScope(shield=True):
            claimed = await self.claim(queue, limit=limit, lease=lease)
        if not claimed:
            await self.wait_for_jobs(queue, wait)
        return claimed

    @abstractmethod
    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs, waiting up to ``wait`` seconds (see the contract)."""

    @abstractmethod
    async def wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable, or after ``max_wait`` seconds."""

    @abstractmethod
    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch of jobs in one atomic step (see :meth:`kmsg.JobQueue.enqueue_many`)."""

    @abstractmethod
    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the jobs in ``state`` (see :meth:`kmsg.JobQueue.list_jobs`)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads. Idempotent."""
