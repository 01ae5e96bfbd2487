"""The async front every adapter shares: each contract method is an operation, then middleware.

:class:`QueueBase` implements every method of :class:`kmsg.JobQueue` the same way: it turns the
arguments into an operation (:mod:`kmsg.operations`, which checks them), runs it through the
queue's middleware (:mod:`kmsg.middleware`) and hands it to the adapter's :meth:`_perform`. An
adapter only implements :meth:`_perform` (its planner and executor: ``plans.py`` and the
executor module of each backend), ``capabilities`` and ``aclose``. So argument checks, defaults,
``enqueue`` as a batch of one, ``list_failed`` as a listing of ``failed``, and the waiting loop
of ``claim(wait=...)`` for adapters without a direct handoff (:meth:`_claim_waiting`) are the
same on every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar, overload

import anyio
import msgspec

from kmsg import operations as ops
from kmsg.codec import PayloadCodec
from kmsg.errors import LeaseLost, WaitTimeout
from kmsg.jobs import NewJob
from kmsg.middleware import Middleware, Next, chain
from kmsg.models import (
    Backoff,
    ClaimedJob,
    Enqueued,
    Job,
    JobPage,
    JobState,
    Lease,
    QueueStats,
    RetryResult,
)
from kmsg.queue import Capabilities
from kmsg.rules import DEFAULT_MAX_SNOOZES
from kmsg.validation import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE
from kmsg.waiting import check_wait, poll_pauses, result_of

__all__ = ["QueueBase"]

T = TypeVar("T")

Pause = Callable[[float], Awaitable[None]]
"""Wait at most the given seconds for a sign that a watched job may have ended."""


class QueueBase(ABC):
    """The shared front of a :class:`kmsg.JobQueue` adapter (see the module docstring)."""

    def __init__(self, codec: PayloadCodec) -> None:
        self._codec = codec
        self._middleware: list[Middleware] = []
        self._execute: Next = self._perform

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""

    @abstractmethod
    async def _perform(self, operation: ops.Operation) -> Any:
        """Run one checked operation on the backend and return its result."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads. Idempotent."""

    def use(self, middleware: Middleware) -> None:
        """Run every later operation through ``middleware`` too (added last: innermost)."""
        self._middleware.append(middleware)
        self._execute = chain(self._middleware, self._perform)

    async def __aenter__(self) -> Self:
        """Return the queue itself."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the queue."""
        await self.aclose()

    # --- producing -----------------------------------------------------------------------------

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
        trace_parent: str | None = None,
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
            trace_parent=trace_parent,
        )
        results: list[Enqueued] = await self._execute(ops.enqueue([new], self._codec))
        return results[0].id

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch of jobs (see :meth:`kmsg.JobQueue.enqueue_many`)."""
        return [result.id for result in await self.enqueue_results(jobs)]

    async def enqueue_results(self, jobs: Sequence[NewJob]) -> list[Enqueued]:
        """Store a batch; what each enqueue did (see :meth:`kmsg.JobQueue.enqueue_results`)."""
        results: list[Enqueued] = await self._execute(ops.enqueue(jobs, self._codec))
        return results

    async def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write job snapshots as they are (see :meth:`kmsg.JobQueue.import_jobs`)."""
        written: int = await self._execute(ops.import_jobs(jobs))
        return written

    # --- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs (see :meth:`kmsg.JobQueue.claim`)."""
        claimed: list[ClaimedJob] = await self._execute(ops.claim(queue, limit, lease, wait))
        return claimed

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Complete the held job (see :meth:`kmsg.JobQueue.complete`)."""
        await self._execute(ops.complete(lease, result))

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch of held jobs (see :meth:`kmsg.JobQueue.complete_many`)."""
        done: list[bool] = await self._execute(ops.complete_many(completions))
        return done

    async def fail(
        self,
        lease: Lease,
        error: BaseException | str,
        *,
        retry_in: float | None = None,
        retryable: bool = True,
    ) -> JobState:
        """Record a failed attempt (see :meth:`kmsg.JobQueue.fail`)."""
        state: JobState = await self._execute(ops.fail(lease, error, retry_in, retryable))
        return state

    async def snooze(
        self,
        lease: Lease,
        delay: float,
        *,
        reason: str = "",
        max_snoozes: int = DEFAULT_MAX_SNOOZES,
    ) -> JobState:
        """Run the held job again later without using an attempt (see
        :meth:`kmsg.JobQueue.snooze`)."""
        state: JobState = await self._execute(ops.snooze(lease, delay, reason, max_snoozes))
        return state

    async def extend(
        self, lease: Lease, duration: float, *, progress: bytes | None = None
    ) -> float:
        """Heartbeat one held job (see :meth:`kmsg.JobQueue.extend`)."""
        deadline: float = await self._execute(ops.extend(lease, duration, progress))
        return deadline

    async def extend_many(
        self,
        leases: Sequence[Lease],
        duration: float,
        *,
        progress: Sequence[bytes | None] | None = None,
    ) -> list[float | LeaseLost]:
        """Heartbeat a batch of held jobs (see :meth:`kmsg.JobQueue.extend_many`)."""
        operation = ops.extend_many(leases, duration, progress)
        outcomes: list[float | LeaseLost] = await self._execute(operation)
        return outcomes

    async def release(self, lease: Lease) -> None:
        """Give a held job back unstarted (see :meth:`kmsg.JobQueue.release`)."""
        await self._execute(ops.release(lease))

    async def wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable (see :meth:`kmsg.JobQueue.wait_for_jobs`)."""
        await self._execute(ops.wait_for_jobs(queue, max_wait))

    async def wait(self, queue: str, job_id: str, *, within: float) -> Job:
        """The job's snapshot once it has ended (see :meth:`kmsg.JobQueue.wait`)."""
        queue, job_id, within = check_wait(queue, job_id, within)
        deadline = anyio.current_time() + within
        async with self._job_signals(queue, job_id) as pause:
            for _ in range(100_000_000):  # bounded by the deadline; the count only guards it
                job = await self.get(queue, job_id)
                if job.state.terminal:
                    return job
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    break
                await pause(remaining)
        raise WaitTimeout(queue, job_id, within)

    @overload
    async def result(self, queue: str, job_id: str, *, within: float) -> Any: ...

    @overload
    async def result(self, queue: str, job_id: str, *, within: float, type: type[T]) -> T: ...

    async def result(self, queue: str, job_id: str, *, within: float, type: Any = Any) -> Any:
        """The ended job's result, or its final error (see :meth:`kmsg.JobQueue.result`)."""
        return result_of(await self.wait(queue, job_id, within=within), type)

    @asynccontextmanager
    async def _job_signals(self, queue: str, job_id: str) -> AsyncIterator[Pause]:
        """How :meth:`wait` learns that a job may have ended: by default, pauses that grow
        from 5 ms to 250 ms (:func:`kmsg.waiting.poll_pauses`); adapters that are told
        override this."""
        pauses = poll_pauses()

        async def pause(most: float) -> None:
            await anyio.sleep(min(next(pauses), most))

        yield pause

    # --- reading -------------------------------------------------------------------------------

    async def get(self, queue: str, job_id: str) -> Job:
        """The job's snapshot (see :meth:`kmsg.JobQueue.get`)."""
        job: Job = await self._execute(ops.get(queue, job_id))
        return job

    async def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Pending jobs in claim order (see :meth:`kmsg.JobQueue.peek`)."""
        jobs: list[Job] = await self._execute(ops.peek(queue, limit))
        return jobs

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state and settings (see :meth:`kmsg.JobQueue.stats`)."""
        stats: QueueStats = await self._execute(ops.stats(queue))
        return stats

    async def queues(self) -> list[str]:
        """The known queues' names (see :meth:`kmsg.JobQueue.queues`)."""
        names: list[str] = await self._execute(ops.queues())
        return names

    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of a state's jobs (see :meth:`kmsg.JobQueue.list_jobs`)."""
        page: JobPage = await self._execute(ops.list_jobs(queue, state, limit, cursor))
        return page

    async def list_failed(
        self, queue: str, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the queue's dead letters, newest first."""
        return await self.list_jobs(queue, JobState.FAILED, limit=limit, cursor=cursor)

    # --- dead letters and housekeeping ---------------------------------------------------------

    async def retry_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, to_queue: str | None = None
    ) -> RetryResult:
        """Send dead letters back to pending (see :meth:`kmsg.JobQueue.retry_failed`)."""
        result: RetryResult = await self._execute(ops.retry_failed(queue, job_ids, to_queue))
        return result

    async def purge_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, older_than: float | None = None
    ) -> int:
        """Delete dead letters (see :meth:`kmsg.JobQueue.purge_failed`)."""
        purged: int = await self._execute(ops.purge_failed(queue, job_ids, older_than))
        return purged

    async def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job (see :meth:`kmsg.JobQueue.cancel`)."""
        state: JobState = await self._execute(ops.cancel(queue, job_id))
        return state

    async def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state (see :meth:`kmsg.JobQueue.remove`)."""
        existed: bool = await self._execute(ops.remove(queue, job_id))
        return existed

    async def clear(self, queue: str) -> int:
        """Delete every job of the queue (see :meth:`kmsg.JobQueue.clear`)."""
        deleted: int = await self._execute(ops.clear(queue))
        return deleted

    async def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Retention of terminal jobs (see :meth:`kmsg.JobQueue.cleanup`)."""
        deleted: int = await self._execute(ops.cleanup(queue, states, older_than))
        return deleted

    async def pause(self, queue: str) -> None:
        """Stop claims on the queue (see :meth:`kmsg.JobQueue.pause`)."""
        await self._execute(ops.pause(queue, True))

    async def resume(self, queue: str) -> None:
        """Undo :meth:`pause`."""
        await self._execute(ops.pause(queue, False))

    async def set_rate_limit(
        self, queue: str, max_jobs: int | None, per_seconds: float = 1.0
    ) -> None:
        """Set or remove the queue's rate limit (see :meth:`kmsg.JobQueue.set_rate_limit`)."""
        await self._execute(ops.set_rate_limit(queue, max_jobs, per_seconds))

    # --- waiting -------------------------------------------------------------------------------

    async def _claim_waiting(self, claim: ops.Claim) -> list[ClaimedJob]:
        """``claim(wait=...)`` for adapters without a direct handoff: claim (shielded from
        cancellation, so a job it takes is returned, never lost with a cancelled caller); when
        nothing is due, :meth:`wait_for_jobs` and claim again, until a job is claimed or the
        wait is over (``[]`` then)."""
        deadline = anyio.current_time() + claim.wait
        now_only = ops.Claim(claim.queue, claim.limit, claim.lease)
        for _ in range(1_000_000):  # bounded by the deadline; the count only guards the loop
            with anyio.CancelScope(shield=True):
                claimed: list[ClaimedJob] = await self._perform(now_only)
            remaining = deadline - anyio.current_time()
            if claimed or remaining <= 0:
                return claimed
            await self._perform(ops.WaitForJobs(claim.queue, remaining))
        return []
