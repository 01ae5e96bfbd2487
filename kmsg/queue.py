"""The JobQueue contract that every kmsg backend keeps.

Design notes
------------
* **One atomic step per call, bounded.** Every method below is a single Lua script (Redis) or a
  single ``BEGIN IMMEDIATE`` transaction (SQLite), and no step's work grows with the queue: it
  touches at most :data:`~kmsg.validation.STEP_JOBS` jobs and about
  :data:`~kmsg.validation.STEP_BYTES` of new data, so the server keeps answering everyone else.
  A call whose work is larger (a bulk operation on every dead letter, ``cleanup``, a batch of
  more than ``STEP_JOBS`` jobs) runs as a sequence of such steps: each job's change is atomic,
  the call as a whole is not (a reader may see it half done; repeating an interrupted call is
  safe). Each method says which it is.
* **Memory is a budget.** A backend out of memory (Redis ``maxmemory``) or disk refuses new work
  with ``BackendFull`` and writes nothing, while the calls that drain and free (``claim``,
  ``complete``, ``fail``, ``extend``, ``release``, ``cancel``, ``remove``, the dead-letter purge,
  ``cleanup``, ``clear``) keep working.
* **A missing record never wedges a queue.** An index entry whose job record has vanished is
  dropped when a call meets it, and counted in ``QueueStats.missing_records``.
* **A job's address is (queue, id).** Redis Cluster keeps every key of a queue in one hash slot, so
  the queue is part of how a job is found; ``get``, ``cancel`` and ``remove`` take both, and a
  :class:`~kmsg.models.Lease` carries both.
* **At least once, fenced.** ``claim`` hands each job to one claimer with a fresh lease token and a
  deadline. ``complete``, ``fail``, ``extend`` and ``release`` act only while the job is still
  ``processing`` under that token, else raise ``LeaseLost`` and change nothing, so a worker whose
  lease ran out can never finish a job another worker now holds. A lease that ends without an
  acknowledgement counts as a failed attempt (error type ``LeaseExpired``): the job is retried with
  backoff while attempts remain, else dead-lettered. Nothing stays ``processing`` forever.
* **A lease holds until it is reclaimed.** Expired leases are ended inside ``claim`` (by any
  claimer of the queue). Until that happens the holder's token still works: completing a job
  whose deadline just passed, while nobody else can hold it, is harmless. Once the lease is
  reclaimed, the token is stale for good.
* **Ordering.** ``claim`` takes pending jobs by priority (higher first), then due time (``run_at``,
  kept to the millisecond), then enqueue order, on every backend and whatever the ids.
* **Validation first.** Bad input raises ``ValidationError`` before anything is written.
* **Time.** Durations are float seconds; instants are epoch seconds. Redis reads the server's
  ``TIME`` inside its scripts; SQLite uses the host clock.
* **Listing order.** ``pending`` in claim order, ``delayed`` by due time, ``processing`` by lease
  deadline, and the terminal states newest first (by the time they ended). A job that stays in its
  state while a listing is paged through appears exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, Self, TypeVar, overload, runtime_checkable

import msgspec

from kmsg.errors import LeaseLost
from kmsg.jobs import NewJob
from kmsg.middleware import Middleware
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
from kmsg.rules import DEFAULT_MAX_SNOOZES

__all__ = ["Capabilities", "JobQueue"]

T = TypeVar("T")


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What one adapter can do, so callers and tests branch on features, never on names.

    - ``backend``: a short name for humans (``"sqlite"``, ``"redis"``).
    - ``anyio_backends``: the anyio backends the adapter runs under (``"asyncio"``, ``"trio"``);
      under any other, opening it raises ``BackendUnavailable`` at once, naming that library.
    - ``multi_host``: workers on several machines may share the queue.
    - ``server_time``: leases and delays use the server's clock, not the caller's.
    - ``atomic_cross_queue_move``: ``retry_failed(..., to_queue=...)`` is one atomic step; when
      False the move is at-least-once and idempotent by job id.
    - ``push_wakeup``: ``wait_for_jobs`` is woken by a signal from enqueue, not by polling.
    - ``direct_handoff``: ``claim(wait=...)`` receives a job enqueued during the wait directly.
    """

    backend: str
    anyio_backends: frozenset[str]
    multi_host: bool
    server_time: bool
    atomic_cross_queue_move: bool
    push_wakeup: bool
    direct_handoff: bool = False


@runtime_checkable
class JobQueue(Protocol):
    """An async job queue with leases, fencing, retries, dead letters and dedupe.

    Open one with :func:`kmsg.open_queue`. Use it as an async context manager, or call
    :meth:`aclose` when done. Every method may raise ``BackendUnavailable`` when the backend cannot
    be reached; each lists the other errors it raises.
    """

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""
        ...

    async def __aenter__(self) -> Self:
        """Return the queue itself."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the queue (see :meth:`aclose`)."""
        ...

    def use(self, middleware: Middleware) -> None:
        """Run every later call of this handle through ``middleware`` (:mod:`kmsg.middleware`):
        it sees each operation and its result or error. Added middleware runs inside the
        middleware added before it."""
        ...

    # --- producing -----------------------------------------------------------------------------

    async def enqueue(
        self,
        payload: msgspec.Struct,
        *,
        queue: str = "default",
        priority: int = 0,
        delay: float | None = None,
        run_at: float | None = None,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        lease: float = 30.0,
        dedupe_key: str | None = None,
        job_id: str | None = None,
        trace_parent: str | None = None,
    ) -> str:
        """Store one job and return its id. Options are those of :class:`~kmsg.NewJob`.

        The job is ``pending`` if due now, else ``delayed``. With a ``dedupe_key``, while a
        non-terminal job with that key exists in the queue, nothing is written and that job's id is
        returned. If ``job_id`` already exists in the queue, nothing is written and it is returned
        (a replayed enqueue is harmless). Atomic. Raises ``ValidationError`` (nothing written).
        """
        ...

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch of jobs; return their ids in input order.

        Every job is validated before any is written: one bad job refuses the whole batch with
        ``ValidationError``. Dedupe and id rules are those of :meth:`enqueue`, applied in order (a
        later job in the batch may dedupe onto an earlier one). A batch holds at most 10,000 jobs.
        Up to ``STEP_JOBS`` jobs of one queue and ``STEP_BYTES`` of payload are one atomic step;
        a larger batch, or one naming several queues, is written in several steps, in input
        order. If a later step fails, ``IncompleteBatch`` says which jobs are stored (every id
        was chosen before the first write, so sending the rest again with those ids is safe).
        Raises ``BackendFull`` (nothing of that step written) when the backend is out of memory.
        """
        ...

    async def enqueue_results(self, jobs: Sequence[NewJob]) -> list[Enqueued]:
        """:meth:`enqueue_many`, saying for each job what happened (in input order).

        An :class:`~kmsg.Enqueued` holds the id to use for the job and its ``outcome``:
        ``created`` (a new job was stored), ``same_id`` (a job with that id existed already, in
        any state, finished ones too: nothing written) or ``same_key`` (a live job held the
        dedupe key: nothing written, its id returned).
        """
        ...

    # --- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs (at most ``STEP_JOBS``, 500, in one call); return
        ``[]`` when none is due.

        In one atomic step: end expired leases (each counts as a failed attempt with error type
        ``LeaseExpired``: retried with backoff if attempts remain, else ``failed``; a job whose
        cancel was requested becomes ``cancelled``); move due ``delayed`` jobs to ``pending``;
        then take the best pending jobs (priority desc, run_at, enqueue order), for each adding 1
        to ``attempts``, setting ``processing``, ``lease_until = now + lease`` (default: the job's
        own lease) and a fresh lease token. A paused queue returns ``[]``; a rate limit caps how
        many are taken. Raises ``ValidationError`` for a bad name, limit, lease or wait.

        With ``wait`` > 0 and nothing due, the call waits up to ``wait`` seconds for a job and
        returns ``[]`` when the wait ends, or early when other work may have become claimable
        (claim again). Adapters with ``direct_handoff`` give a job enqueued meanwhile straight to
        the waiting claimer (one hop less); the others wait with :meth:`wait_for_jobs`.
        Cancelling a waiting claim loses no job: one handed over meanwhile goes back to
        ``pending`` with its attempt refunded (or, if the cancel lands while the handover is on
        the wire, comes back when its lease ends, like a crashed worker's job).
        """
        ...

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Mark the held job ``completed``, keeping ``result`` (at most 64 KiB).

        Acts only if the job is ``processing`` under ``lease.token``; otherwise raises
        ``LeaseLost`` and changes nothing. If a cancel was requested meanwhile the job becomes
        ``cancelled`` and ``LeaseLost`` is raised. Completing again with the same token after it
        succeeded returns without a second effect (a replay is harmless). Atomic.
        """
        ...

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch of held jobs (``(lease, result)`` pairs), one round trip per step.

        Each pair is treated exactly as :meth:`complete` would treat it, except that a lost lease
        does not raise: the returned list holds, in input order, True where the job was completed
        (or the completion was a harmless replay) and False where the lease was lost (nothing
        changed for that job). A worker uses it to acknowledge many jobs in one round trip. Each
        step (up to ``STEP_JOBS`` leases of one queue) is atomic; if a call fails part way,
        repeating it is harmless. Raises ``ValidationError`` (nothing written) for a bad result
        or a batch over 10,000.
        """
        ...

    async def fail(
        self,
        lease: Lease,
        error: BaseException | str,
        *,
        retry_in: float | None = None,
        retryable: bool = True,
    ) -> JobState:
        """Record a failed attempt of the held job; return its new state.

        The error (type name and message) joins the job's error history. If ``retryable`` and
        attempts remain, the job becomes ``delayed`` until ``now + retry_in`` (default: the job's
        backoff for this attempt); otherwise it becomes ``failed`` (dead-lettered). Fenced as
        :meth:`complete` is: ``LeaseLost`` and no change on a stale token. Atomic.
        """
        ...

    async def snooze(
        self,
        lease: Lease,
        delay: float,
        *,
        reason: str = "",
        max_snoozes: int = DEFAULT_MAX_SNOOZES,
    ) -> JobState:
        """Put the held job back to run again in ``delay`` seconds **without using an attempt**
        (a gateway said "too many requests, retry after 30 s", say); return its new state.

        The job goes to ``delayed`` with its attempt refunded, and its history gets an entry of
        type ``Snoozed`` (message ``reason``, or "snoozed for Ns"). A job may snooze
        ``max_snoozes`` times (1 to 50; counted from its history); a snooze past that counts as a
        failed attempt retried in ``delay`` (so the job is dead-lettered when it has no attempts
        left, and a job can never snooze forever). Fenced like ``fail``: ``LeaseLost`` on a stale
        token, and a job whose cancel was requested becomes ``cancelled`` (entry kept) with
        ``LeaseLost``. Atomic.
        """
        ...

    async def extend(
        self, lease: Lease, duration: float, *, progress: bytes | None = None
    ) -> float:
        """Heartbeat: set the held job's lease to end ``duration`` seconds from now, and its
        ``progress`` to the given bytes (1 byte to 1 KiB; JSON by the worker's convention) unless
        it is None.

        Returns the new deadline (epoch seconds). Raises ``LeaseLost`` (nothing changed) if the job
        is no longer held under that token, or if its cancel was requested, so the holder learns
        to stop. Atomic. A job's progress is what its current (or last) attempt reported: a claim
        clears it, and an ended job keeps the last value.
        """
        ...

    async def extend_many(
        self,
        leases: Sequence[Lease],
        duration: float,
        *,
        progress: Sequence[bytes | None] | None = None,
    ) -> list[float | LeaseLost]:
        """Heartbeat a batch of held jobs in one round trip per step (``STEP_JOBS`` of a queue).

        ``progress``, if given, holds one value per lease (None: leave that job's progress as
        it is). Each lease is treated exactly as :meth:`extend` would treat it, except that a
        lost lease does not raise: the returned list holds, in input order, the new deadline
        (epoch seconds) where the lease was extended, else the ``LeaseLost`` that
        :meth:`extend` would have raised (its ``reason`` says why: stale token, cancel
        requested, job gone). Raises ``ValidationError`` (nothing changed) for a bad duration, a
        bad lease, a bad progress value or a batch over 10,000.
        """
        ...

    async def release(self, lease: Lease) -> None:
        """Give back a held job unstarted: it returns to ``pending`` and the attempt is refunded.

        For a worker shutting down with jobs it has not finished. A job whose cancel was requested
        becomes ``cancelled`` instead, and ``release`` returns normally (the holder was giving the
        job up anyway). Fenced: ``LeaseLost`` on a stale token. Atomic.
        """
        ...

    async def wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job of ``queue`` may have become claimable, or after ``max_wait`` seconds.

        May return early without a job (callers claim and wait again). It also returns when the
        next delayed job falls due or the next lease ends. Adapters with ``push_wakeup`` are woken
        by an enqueue within milliseconds; the others poll cheaply (SQLite: within about 1 ms
        while jobs flow, at most ``poll_interval``, 10 ms by default).
        """
        ...

    async def wait(self, queue: str, job_id: str, *, within: float) -> Job:
        """Wait until the job has ended (``completed``, ``failed`` or ``cancelled``) and return
        that snapshot; at once if it already has.

        Raises ``WaitTimeout`` (a ``TimeoutError``) when ``within`` seconds pass first (the job
        may still end later; waiting changes nothing), ``JobNotFound`` when the job is unknown
        or is removed meanwhile, ``ValidationError`` for bad arguments. Cancelling the call is
        always safe. The Redis adapter is told by the script that ends the job (pub/sub), so
        it returns within a round trip of the end, and looks again every 5 s in case a
        message was lost; SQLite looks at the job with pauses growing from 5 ms to 250 ms.
        """
        ...

    @overload
    async def result(self, queue: str, job_id: str, *, within: float) -> Any: ...

    @overload
    async def result(self, queue: str, job_id: str, *, within: float, type: type[T]) -> T: ...

    async def result(self, queue: str, job_id: str, *, within: float, type: Any = Any) -> Any:
        """:meth:`wait`, then the job's outcome: its result decoded from JSON as ``type``
        (``None`` if the handler returned nothing); ``JobFailed`` (with the job and its error
        history) for a dead letter; ``JobCancelled`` for a cancelled job. Raises as
        :meth:`wait` does otherwise."""
        ...

    # --- reading -------------------------------------------------------------------------------

    async def get(self, queue: str, job_id: str) -> Job:
        """The job's current snapshot. Raises ``JobNotFound``."""
        ...

    async def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Up to ``limit`` pending jobs in claim order, without claiming them."""
        ...

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state, the oldest pending job's age and the queue's settings. Atomic.

        Costs O(1) in the queue's size (O(log n) per distinct pending priority for the age), so a
        dashboard may poll it at a million jobs.
        """
        ...

    async def queues(self) -> list[str]:
        """Names of the queues that have held jobs or settings, sorted."""
        ...

    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the jobs in ``state``, in that state's listing order (module docstring).

        ``cursor`` is the previous page's ``next_cursor``; finding its place costs O(log n), so
        paging deep into a big state stays cheap. Raises ``ValidationError`` for a bad limit or a
        cursor this adapter did not make.
        """
        ...

    # --- dead letters --------------------------------------------------------------------------

    async def list_failed(
        self, queue: str, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the queue's dead letters, newest first (``list_jobs`` on ``failed``)."""
        ...

    async def retry_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        to_queue: str | None = None,
    ) -> RetryResult:
        """Send dead letters back to ``pending``; say how many moved and which were skipped, why.

        ``job_ids=None`` means every dead letter of the queue that failed before the call began
        (one that fails again meanwhile is not chased), oldest first; named ids go in the order
        given. Attempts are reset to 0; the error history is kept. With ``to_queue`` the jobs
        move to that queue, keeping their ids (see ``Capabilities.atomic_cross_queue_move``).
        Runs in bounded steps (module docstring).

        Never two live jobs with one dedupe key: a dead letter whose key a live job of the
        target queue holds is skipped (``SkipReason.KEY_HELD``, with the holder's id) and stays
        dead; retry it once the holder has finished. Also skipped, each with its reason: ids
        with no job (``NOT_FOUND``), jobs that are not dead letters (``NOT_DEAD``), and on a
        move, ids the target queue already has (``ID_TAKEN``). Within its queue a redriven job
        keeps its enqueue place among equals; moved to another queue it is enqueued there anew,
        after the jobs already there.
        """
        ...

    async def purge_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        older_than: float | None = None,
    ) -> int:
        """Delete dead letters; return how many were deleted.

        ``job_ids=None`` means all of them (that failed before the call began); ``older_than``
        (seconds) keeps those that failed more recently. Runs in bounded steps (module docstring).
        """
        ...

    # --- housekeeping --------------------------------------------------------------------------

    async def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job; return its state afterwards.

        ``pending``/``delayed`` become ``cancelled`` at once. A ``processing`` job stays
        ``processing`` with ``cancel_requested`` set and becomes ``cancelled`` when its holder
        finishes or its lease ends (the holder's ``complete``/``fail``/``extend`` raise
        ``LeaseLost``). A terminal job is left as it is. Raises ``JobNotFound``. Atomic.
        """
        ...

    async def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state; return whether it existed. A holder gets ``LeaseLost``."""
        ...

    async def clear(self, queue: str) -> int:
        """Delete every job of the queue (settings are kept); return how many were deleted.

        Holders of its jobs get ``LeaseLost``. Runs in bounded steps (or frees in the background,
        on Redis); a job enqueued while it runs may survive it.
        """
        ...

    async def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Delete terminal jobs in ``states`` that ended at least ``older_than`` seconds ago.

        Only terminal states are allowed (``ValidationError`` otherwise), so retention can never
        delete pending work. Returns how many were deleted. Runs in bounded steps (module
        docstring); the cut-off is fixed when the call begins.
        """
        ...

    async def pause(self, queue: str) -> None:
        """Stop ``claim`` from handing out jobs of the queue (enqueue still works)."""
        ...

    async def resume(self, queue: str) -> None:
        """Undo :meth:`pause`."""
        ...

    async def set_rate_limit(
        self, queue: str, max_jobs: int | None, per_seconds: float = 1.0
    ) -> None:
        """Rate-limit claims of the queue across every claimer with a token bucket.

        Enforced inside ``claim``: the bucket holds up to ``max_jobs`` tokens and refills evenly
        at ``max_jobs / per_seconds`` tokens a second; each claimed job takes one token (a claim
        takes at most the whole tokens there are). So up to ``max_jobs`` claims may come in a
        burst, and over a long stretch at most ``max_jobs`` per ``per_seconds`` on average; any
        one window of ``per_seconds`` can see up to ``2 * max_jobs`` (a full bucket plus what
        refills during the window). A new or changed limit starts with a full bucket.
        ``max_jobs=None`` removes the limit. Raises ``ValidationError`` if ``max_jobs < 1`` or
        ``per_seconds`` is not a positive number.
        """
        ...

    async def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write job snapshots as they are (for migration between backends); return how many.

        Ids that already exist in their queue are skipped, so a re-run after an interruption
        neither loses nor duplicates a job. A ``processing`` snapshot is stored as ``pending``
        (its lease belonged to another backend) with its attempt refunded. Runs in bounded steps
        (module docstring), each atomic.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and threads. Idempotent."""
        ...
