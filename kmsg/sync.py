"""The synchronous queue: produce, read and manage jobs from plain threads, no event loop.

For code that is not async (Django and Flask views, management commands, scripts)::

    from kmsg.sync import open_queue

    with open_queue("redis://127.0.0.1:6379/0") as queue:  # or sqlite:///kmsg.db
        job_id = queue.enqueue(SendSms(to="01012345678", text="hi"), queue="sms")
        print(queue.get("sms", job_id).state)
        receipt = queue.result("sms", job_id, within=30)  # once a worker has run it

A :class:`SyncQueue` is thread-safe: open one per process and share it. It runs the very plans
the async adapters run (``kmsg.adapters.*.plans``: the same Lua scripts and SQL, the same
argument checks in :mod:`kmsg.operations`), through a blocking executor: on Redis, redis-py's
blocking client (one ``EVALSHA`` round trip per enqueue); on SQLite, the adapter's connection in
the calling thread. It offers the producer and admin side of :class:`kmsg.JobQueue`; claiming
and acknowledging jobs is the worker's, which is async. Its middleware is sync
(:class:`kmsg.middleware.SyncMiddleware`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, Self, TypeVar, overload

import msgspec

from kmsg import operations as ops
from kmsg.codec import PayloadCodec
from kmsg.errors import WaitTimeout
from kmsg.jobs import NewJob
from kmsg.middleware import SyncMiddleware, SyncNext, chain_sync
from kmsg.models import Backoff, Enqueued, Job, JobPage, JobState, QueueStats, RetryResult
from kmsg.plans import Plan, run_sync
from kmsg.queue import Capabilities
from kmsg.urls import DEFAULT_QUEUE_URL, QUEUE_URL_ENV, opener_for
from kmsg.validation import DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE
from kmsg.waiting import check_wait, poll_pauses, result_of

__all__ = ["SyncExecutor", "SyncPlanner", "SyncQueue", "open_queue"]

T = TypeVar("T")


class SyncPlanner(Protocol):
    """A backend's planner (``kmsg.adapters.*.plans``)."""

    def plan(self, operation: ops.Operation) -> Plan[Any, Any]:
        """The plan of ``operation``."""
        ...


class SyncExecutor(Protocol):
    """A backend's blocking executor (``kmsg.adapters.*.sync_executor``)."""

    def perform(self, step: Any) -> Any:
        """Perform one step and return its reply."""
        ...

    def close(self) -> None:
        """Close the connections."""
        ...


class SyncQueue:
    """A blocking handle on a queue store; open it with :func:`open_queue`.

    Each method does what the :class:`kmsg.JobQueue` method of the same name does (same
    arguments, checks, errors and guarantees; see its docstring), and blocks until done.
    """

    def __init__(
        self,
        planner: SyncPlanner,
        executor: SyncExecutor,
        codec: PayloadCodec,
        capabilities: Capabilities,
    ) -> None:
        self._planner = planner
        self._executor = executor
        self._codec = codec
        self.capabilities = capabilities
        self._middleware: list[SyncMiddleware] = []
        self._execute: SyncNext = self._perform

    def __repr__(self) -> str:
        return f"SyncQueue({self.capabilities.backend})"

    def _perform(self, operation: ops.Operation) -> Any:
        return run_sync(self._planner.plan(operation), self._executor.perform)

    def use(self, middleware: SyncMiddleware) -> None:
        """Run every later call through ``middleware`` too (see :mod:`kmsg.middleware`)."""
        self._middleware.append(middleware)
        self._execute = chain_sync(self._middleware, self._perform)

    def __enter__(self) -> Self:
        """Return the queue itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the queue."""
        self.close()

    def close(self) -> None:
        """Close the connections. Later calls raise ``BackendUnavailable``."""
        self._executor.close()

    # --- producing -----------------------------------------------------------------------------

    def enqueue(
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
        """Store one job; return its id (see :meth:`kmsg.JobQueue.enqueue`)."""
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
        results: list[Enqueued] = self._execute(ops.enqueue([new], self._codec))
        return results[0].id

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch of jobs (see :meth:`kmsg.JobQueue.enqueue_many`)."""
        return [result.id for result in self.enqueue_results(jobs)]

    def enqueue_results(self, jobs: Sequence[NewJob]) -> list[Enqueued]:
        """Store a batch; what each enqueue did (see :meth:`kmsg.JobQueue.enqueue_results`)."""
        results: list[Enqueued] = self._execute(ops.enqueue(jobs, self._codec))
        return results

    def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write job snapshots as they are (see :meth:`kmsg.JobQueue.import_jobs`)."""
        written: int = self._execute(ops.import_jobs(jobs))
        return written

    # --- waiting -------------------------------------------------------------------------------

    def wait(self, queue: str, job_id: str, *, within: float) -> Job:
        """The job's snapshot once it has ended (see :meth:`kmsg.JobQueue.wait`).

        Looks at the job with pauses growing from 5 ms to 250 ms on every backend (the async
        Redis adapter is told instead); the calling thread sleeps meanwhile.
        """
        queue, job_id, within = check_wait(queue, job_id, within)
        deadline = time.monotonic() + within
        for pause in poll_pauses():
            job = self.get(queue, job_id)
            remaining = deadline - time.monotonic()
            if job.state.terminal or remaining <= 0:
                break
            time.sleep(min(pause, remaining))
        if not job.state.terminal:
            raise WaitTimeout(queue, job_id, within)
        return job

    @overload
    def result(self, queue: str, job_id: str, *, within: float) -> Any: ...

    @overload
    def result(self, queue: str, job_id: str, *, within: float, type: type[T]) -> T: ...

    def result(self, queue: str, job_id: str, *, within: float, type: Any = Any) -> Any:
        """The ended job's result, or its final error (see :meth:`kmsg.JobQueue.result`)."""
        return result_of(self.wait(queue, job_id, within=within), type)

    # --- reading -------------------------------------------------------------------------------

    def get(self, queue: str, job_id: str) -> Job:
        """The job's snapshot (see :meth:`kmsg.JobQueue.get`)."""
        job: Job = self._execute(ops.get(queue, job_id))
        return job

    def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Pending jobs in claim order (see :meth:`kmsg.JobQueue.peek`)."""
        jobs: list[Job] = self._execute(ops.peek(queue, limit))
        return jobs

    def stats(self, queue: str) -> QueueStats:
        """Counts per state and settings (see :meth:`kmsg.JobQueue.stats`)."""
        stats: QueueStats = self._execute(ops.stats(queue))
        return stats

    def queues(self) -> list[str]:
        """The known queues' names (see :meth:`kmsg.JobQueue.queues`)."""
        names: list[str] = self._execute(ops.queues())
        return names

    def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of a state's jobs (see :meth:`kmsg.JobQueue.list_jobs`)."""
        page: JobPage = self._execute(ops.list_jobs(queue, state, limit, cursor))
        return page

    def list_failed(self, queue: str, *, limit: int = 100, cursor: str | None = None) -> JobPage:
        """One page of the queue's dead letters, newest first."""
        return self.list_jobs(queue, JobState.FAILED, limit=limit, cursor=cursor)

    # --- dead letters and housekeeping ---------------------------------------------------------

    def retry_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, to_queue: str | None = None
    ) -> RetryResult:
        """Send dead letters back to pending (see :meth:`kmsg.JobQueue.retry_failed`)."""
        result: RetryResult = self._execute(ops.retry_failed(queue, job_ids, to_queue))
        return result

    def purge_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, older_than: float | None = None
    ) -> int:
        """Delete dead letters (see :meth:`kmsg.JobQueue.purge_failed`)."""
        purged: int = self._execute(ops.purge_failed(queue, job_ids, older_than))
        return purged

    def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job (see :meth:`kmsg.JobQueue.cancel`)."""
        state: JobState = self._execute(ops.cancel(queue, job_id))
        return state

    def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state (see :meth:`kmsg.JobQueue.remove`)."""
        existed: bool = self._execute(ops.remove(queue, job_id))
        return existed

    def clear(self, queue: str) -> int:
        """Delete every job of the queue (see :meth:`kmsg.JobQueue.clear`)."""
        deleted: int = self._execute(ops.clear(queue))
        return deleted

    def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Retention of terminal jobs (see :meth:`kmsg.JobQueue.cleanup`)."""
        deleted: int = self._execute(ops.cleanup(queue, states, older_than))
        return deleted

    def pause(self, queue: str) -> None:
        """Stop claims on the queue (see :meth:`kmsg.JobQueue.pause`)."""
        self._execute(ops.pause(queue, True))

    def resume(self, queue: str) -> None:
        """Undo :meth:`pause`."""
        self._execute(ops.pause(queue, False))

    def set_rate_limit(self, queue: str, max_jobs: int | None, per_seconds: float = 1.0) -> None:
        """Set or remove the queue's rate limit (see :meth:`kmsg.JobQueue.set_rate_limit`)."""
        self._execute(ops.set_rate_limit(queue, max_jobs, per_seconds))


def open_queue(url: str | None = None, **options: Any) -> SyncQueue:
    """Open a :class:`SyncQueue` on the store named by ``url`` (the schemes and options of
    :func:`kmsg.open_queue`; ``K_MSG_QUEUE_URL``, else ``sqlite:///kmsg.db``, when omitted).

    Raises ``ValidationError`` for a bad URL or option, ``MissingDependencyError`` when the
    backend's extra is not installed, ``BackendUnavailable`` when it cannot be reached.
    """
    resolved = url or os.environ.get(QUEUE_URL_ENV) or DEFAULT_QUEUE_URL
    opener: Callable[..., SyncQueue] = opener_for(resolved, "open_sync_url")
    return opener(resolved, **options)
