"""The SQLite adapter: :class:`SQLiteJobQueue`, one file shared safely by many processes on a host.

Each call validates its input in the event loop, then runs one whole transaction in one anyio
worker thread (works under asyncio and trio); the SQL is in ``sql/*.sql``. The bulk calls
(``enqueue_many`` and ``import_jobs`` of big batches, ``complete_many``, ``clear``, ``cleanup``,
``purge_failed``, ``retry_failed``) run as a sequence of such transactions, each touching at most
``STEP_JOBS`` jobs and about ``STEP_BYTES`` of new data (``steps.py``). The one sqlite3 call
made on the event loop is ``wait_for_jobs``'s non-blocking ``PRAGMA data_version`` poll (see
``watch.py``). See ``database.py`` for locking and retries and ``__init__.py`` for durability
settings.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Self, TypeVar

import anyio
import anyio.to_thread

from kmsg.adapters.base import QueueBase, batch_steps, chunks, write_in_steps
from kmsg.adapters.sqlite import consuming, housekeeping, producing, reading
from kmsg.adapters.sqlite.batching import WriteBatcher
from kmsg.adapters.sqlite.database import Database, open_database
from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.steps import most_steps, sized_steps
from kmsg.adapters.sqlite.watch import CommitWatch, open_watch
from kmsg.codec import PayloadCodec
from kmsg.errors import LeaseLost, ValidationError
from kmsg.jobs import NewJob, PreparedJob, prepare_job
from kmsg.models import ClaimedJob, Job, JobPage, JobState, Lease, QueueStats
from kmsg.queue import Capabilities
from kmsg.validation import (
    MAX_LEASE,
    STEP_JOBS,
    check_batch,
    check_job_ids,
    check_lease,
    check_lease_arg,
    check_limit,
    check_name,
    check_rate_limit,
    check_result,
    check_seconds,
    check_states,
    describe_error,
)

__all__ = ["CAPABILITIES", "SQLiteJobQueue"]

T = TypeVar("T")

CAPABILITIES = Capabilities(
    backend="sqlite",
    anyio_backends=frozenset({"asyncio", "trio"}),
    multi_host=False,
    server_time=False,
    atomic_cross_queue_move=True,
    push_wakeup=False,
    direct_handoff=False,
)
_TERMINAL = frozenset(state for state in JobState if state.terminal)


def _close(database: Database, watching: sqlite3.Connection | None) -> None:
    """Blocking: close the main connection, then the watch connection if still open."""
    database.close()
    if watching is not None:
        watching.close()


class SQLiteJobQueue(QueueBase):
    """A :class:`kmsg.JobQueue` on one SQLite file. Open it with ``kmsg.open_queue``."""

    def __init__(self, database: Database, watch: CommitWatch, options: SQLiteOptions) -> None:
        self._database = database
        self._watch = watch
        self._options = options
        self._codec = PayloadCodec(max_bytes=options.max_payload_bytes)
        self._batcher = WriteBatcher(database)
        self._wakeup: anyio.Event | None = None

    @classmethod
    async def open(cls, options: SQLiteOptions) -> Self:
        """Open (creating and migrating if needed) the database named by ``options``."""
        database = await anyio.to_thread.run_sync(open_database, options)
        try:
            watch = await anyio.to_thread.run_sync(open_watch, options)
        except BaseException:
            await anyio.to_thread.run_sync(database.close)
            raise
        return cls(database, watch, options)

    def __repr__(self) -> str:
        return f"SQLiteJobQueue({str(self._options.path)!r})"

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""
        return CAPABILITIES

    async def _write(self, body: Callable[..., T], *args: object, weight: int = 1) -> T:
        """Run ``body(connection, now, *args)`` in a write transaction (maybe a shared one);
        ``weight`` is how many jobs it may touch (see ``batching.py``)."""
        return await self._batcher.write(lambda c, now: body(c, now, *args), weight)

    async def _read(self, body: Callable[..., T], *args: object) -> T:
        """Run ``body(connection, now, *args)`` in a read transaction (one snapshot)."""
        return await anyio.to_thread.run_sync(
            self._database.read, lambda c, now: body(c, now, *args)
        )

    async def _repeat(self, body: Callable[..., int], *args: object, jobs: int) -> int:
        """Run the bounded step ``body(connection, now, *args)`` (it returns how many jobs it
        found) as separate transactions until one finds fewer than ``STEP_JOBS``; ``jobs`` is
        how many could match when the call began, which bounds the loop. Returns the sum."""
        total = 0
        for _ in range(most_steps(jobs)):
            found = await self._write(body, *args, weight=STEP_JOBS)
            total += found
            if found < STEP_JOBS:
                break
        return total

    def _notify(self) -> None:
        """Wake this instance's ``wait_for_jobs`` callers (other connections see data_version)."""
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    # --- producing -----------------------------------------------------------------------------

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch; ids in input order (dedupe applied in order). One transaction per
        ``STEP_JOBS`` jobs and ``STEP_BYTES`` of payload; ``IncompleteBatch`` if a later one
        fails."""
        if not isinstance(jobs, Sequence):
            raise ValidationError(f"jobs must be a sequence of NewJob, not {type(jobs).__name__}")
        check_batch(len(jobs))
        prepared = [prepare_job(job, self._codec) for job in jobs]
        if not prepared:
            return []

        async def write(step: list[PreparedJob]) -> list[str]:
            return await self._write(
                producing.insert_jobs, step, self._options.path, weight=len(step)
            )

        try:
            return await write_in_steps(prepared, batch_steps(prepared, per_queue=False), write)
        finally:
            self._notify()

    async def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write snapshots as they are; existing ids are skipped. One transaction per step."""
        check_batch(len(jobs))
        for job in jobs:
            if not isinstance(job, Job):
                raise ValidationError(f"expected a kmsg.Job, not {type(job).__name__}")
            check_name("queue", job.queue)
            check_name("task", job.task)
            check_name("job id", job.id)
            check_states([job.state], allowed=JobState)
        written = 0
        try:
            for step in sized_steps(list(jobs), producing.import_size):
                written += await self._write(
                    producing.import_jobs, step, self._options.path, weight=len(step)
                )
        finally:
            self._notify()
        return written

    # --- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs in one transaction (see the contract); with ``wait``,
        claim again each time :meth:`wait_for_jobs` returns, until a job is claimed or the wait
        is over."""
        check_name("queue", queue)
        check_limit(limit)
        duration = None if lease is None else check_lease(lease)
        wait = check_seconds("wait", wait, high=MAX_LEASE)
        if wait > 0:
            return await self._claim_waiting(queue, limit, duration, wait)
        return await self._write(consuming.claim, queue, limit, duration, weight=limit)

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Complete the held job; ``LeaseLost`` on a stale token or a requested cancel."""
        held = check_lease_arg(lease)
        outcome = await self._write(consuming.complete, held, check_result(result))
        if outcome is not None:
            raise outcome

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch of held jobs, a transaction per step; False where a lease was lost."""
        checked = [(check_lease_arg(lease), check_result(result)) for lease, result in completions]
        check_batch(len(checked))
        outcomes: list[bool] = []
        for step in sized_steps(checked, lambda pair: len(pair[1] or b"")):
            outcomes += await self._write(consuming.complete_many, list(step), weight=len(step))
        return outcomes

    async def fail(
        self,
        lease: Lease,
        error: BaseException | str,
        *,
        retry_in: float | None = None,
        retryable: bool = True,
    ) -> JobState:
        """Record a failed attempt; return ``delayed`` (retrying) or ``failed`` (dead letter)."""
        held = check_lease_arg(lease)
        described = describe_error(error)
        delay = None if retry_in is None else check_seconds("retry_in", retry_in)
        outcome = await self._write(consuming.fail, held, described, delay, bool(retryable))
        if isinstance(outcome, LeaseLost):
            raise outcome
        self._notify()
        return outcome

    async def extend(self, lease: Lease, duration: float) -> float:
        """Heartbeat: the held job's lease now ends ``duration`` seconds from now."""
        held = check_lease_arg(lease)
        outcome = await self._write(consuming.extend, held, check_lease(duration))
        if isinstance(outcome, LeaseLost):
            raise outcome
        return outcome

    async def extend_many(
        self, leases: Sequence[Lease], duration: float
    ) -> list[float | LeaseLost]:
        """Heartbeat a batch: the new deadline per lease, or the LeaseLost extend would raise."""
        checked = [check_lease_arg(lease) for lease in leases]
        check_batch(len(checked))
        seconds = check_lease(duration)
        outcomes: list[float | LeaseLost] = []
        for step in chunks(checked):
            outcomes += await self._write(consuming.extend_many, step, seconds, weight=len(step))
        return outcomes

    async def release(self, lease: Lease) -> None:
        """Give the held job back to ``pending``, refunding the attempt."""
        outcome = await self._write(consuming.release, check_lease_arg(lease))
        if outcome is not None:
            raise outcome
        self._notify()

    async def wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable, or after ``max_wait`` seconds.

        Wakes at once on a commit by this instance; on a commit by another connection within
        about 1 ms while commits are frequent and within ``poll_interval`` at most (see
        :mod:`kmsg.adapters.sqlite.watch`); and when the next delayed job falls due or the next
        lease ends.
        """
        check_name("queue", queue)
        started = time.monotonic()
        deadline = started + check_seconds("max_wait", max_wait)
        if self._wakeup is None:
            self._wakeup = anyio.Event()
        wakeup = self._wakeup
        # The watch reads run on the event loop, unlike every other sqlite3 call: each reads the
        # WAL index in shared memory (~5 us) and never waits for a lock (busy timeout 0), while
        # the ~100 us thread hop would make a 1 ms poll too dear (see watch.py).
        # Read before the hint's snapshot, so a commit after that snapshot changes the version.
        version = self._watch.version()
        hint, now = await self._read(lambda c, now: (reading.wake_hint(c, now, queue), now))
        if hint is not None:
            deadline = min(deadline, started + max(hint - now, 0.0))
        while (remaining := deadline - time.monotonic()) > 0:
            with anyio.move_on_after(min(self._watch.interval(), remaining)):
                await wakeup.wait()
                return
            if self._watch.changed(version):
                return

    # --- reading -------------------------------------------------------------------------------

    async def get(self, queue: str, job_id: str) -> Job:
        """The job's current snapshot; ``JobNotFound`` if it does not exist."""
        return await self._read(
            reading.get, check_name("queue", queue), check_name("job id", job_id)
        )

    async def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Up to ``limit`` pending jobs in claim order, without claiming them."""
        return await self._read(reading.peek, check_name("queue", queue), check_limit(limit))

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state, oldest pending age and settings, from one read transaction."""
        return await self._read(reading.stats, check_name("queue", queue))

    async def queues(self) -> list[str]:
        """Names of the queues that have held jobs or settings, sorted."""
        return await self._read(reading.queue_names)

    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One keyset page of ``state``'s jobs in its listing order."""
        check_name("queue", queue)
        (parsed,) = check_states([state], allowed=JobState)
        check_limit(limit)
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError("cursor must be a string from a previous page")
        return await self._read(reading.list_jobs, queue, parsed, limit, cursor)

    # --- dead letters --------------------------------------------------------------------------

    async def retry_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        to_queue: str | None = None,
    ) -> int:
        """Send dead letters back to ``pending`` (optionally into ``to_queue``), in steps; each
        job's move is atomic. Without ids, those that failed before the call began."""
        check_name("queue", queue)
        target = queue if to_queue is None else check_name("queue", to_queue)
        ids = check_job_ids(job_ids)
        try:
            if ids is None:
                return await self._retry_every_dead_letter(queue, target)
            moved = 0
            for step in chunks(ids):
                moved += await self._write(
                    housekeeping.retry_failed_ids, queue, step, target, weight=len(step)
                )
            return moved
        finally:
            self._notify()

    async def _retry_every_dead_letter(self, queue: str, target: str) -> int:
        """``retry_failed(queue)``: every dead letter that failed by now, a step at a time,
        each step starting where the previous one stopped (skipped jobs stay dead letters)."""
        cutoff = self._options.clock()
        dead = (await self._read(reading.state_counts, queue))[JobState.FAILED]
        moved, after = 0, (-1.0, 0)
        for _ in range(most_steps(dead)):
            found, step_moved, after = await self._write(
                housekeeping.retry_failed_step, queue, target, cutoff, after, weight=STEP_JOBS
            )
            moved += step_moved
            if found < STEP_JOBS:
                break
        return moved

    async def purge_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        older_than: float | None = None,
    ) -> int:
        """Delete dead letters (without ids: those that failed before the call began, or
        ``older_than`` seconds before it) in steps; return how many."""
        check_name("queue", queue)
        age = None if older_than is None else check_seconds("older_than", older_than)
        ids = check_job_ids(job_ids)
        started = self._options.clock()
        if ids is None:
            dead = (await self._read(reading.state_counts, queue))[JobState.FAILED]
            cutoff = started - (age or 0.0)
            return await self._repeat(
                housekeeping.cleanup_step, queue, JobState.FAILED, cutoff, jobs=dead
            )
        cutoff = float("inf") if age is None else started - age  # named: whenever they failed
        purged = 0
        for step in chunks(ids):
            purged += await self._write(
                housekeeping.purge_failed_ids, queue, step, cutoff, weight=len(step)
            )
        return purged

    # --- housekeeping --------------------------------------------------------------------------

    async def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job (a held one when its holder finishes); return its state afterwards."""
        return await self._write(
            housekeeping.cancel, check_name("queue", queue), check_name("job id", job_id)
        )

    async def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state; return whether it existed."""
        return await self._write(
            housekeeping.remove, check_name("queue", queue), check_name("job id", job_id)
        )

    async def clear(self, queue: str) -> int:
        """Delete every job of the queue (settings kept) in steps; return how many. Jobs
        written after the call began may survive it."""
        check_name("queue", queue)
        newest = await self._read(housekeeping.newest_seq)
        total = sum((await self._read(reading.state_counts, queue)).values())
        return await self._repeat(housekeeping.clear_step, queue, newest, jobs=total)

    async def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Delete terminal jobs in ``states`` that ended ``older_than`` seconds before the call
        began, or earlier, in steps; return how many."""
        check_name("queue", queue)
        if isinstance(states, str):
            states = [states]  # type: ignore[list-item]
        allowed = check_states(states, allowed=_TERMINAL)
        cutoff = self._options.clock() - check_seconds("older_than", older_than)
        counts = await self._read(reading.state_counts, queue)
        deleted = 0
        for state in sorted(allowed):
            deleted += await self._repeat(
                housekeeping.cleanup_step, queue, state, cutoff, jobs=counts[state]
            )
        return deleted

    async def pause(self, queue: str) -> None:
        """Stop ``claim`` from handing out the queue's jobs."""
        await self._write(housekeeping.set_paused, check_name("queue", queue), True)

    async def resume(self, queue: str) -> None:
        """Undo :meth:`pause`."""
        await self._write(housekeeping.set_paused, check_name("queue", queue), False)
        self._notify()

    async def set_rate_limit(
        self, queue: str, max_jobs: int | None, per_seconds: float = 1.0
    ) -> None:
        """At most ``max_jobs`` claims per ``per_seconds`` (token bucket); None removes it."""
        check_name("queue", queue)
        limit, period = check_rate_limit(max_jobs, per_seconds)
        await self._write(housekeeping.set_rate_limit, queue, limit, period)
        self._notify()

    async def aclose(self) -> None:
        """Close the connections. Idempotent; later calls raise ``BackendUnavailable``."""
        await anyio.to_thread.run_sync(_close, self._database, self._watch.detach())
