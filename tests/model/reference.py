"""A reference model of the :class:`kmsg.JobQueue` contract: pure, in memory, no I/O.

:class:`ReferenceQueue` keeps what a backend keeps (every field of :class:`kmsg.Job` per
``(queue, id)``, an enqueue sequence, the dedupe index, pause flags and rate buckets) in plain
Python objects (:mod:`tests.model.records`), and implements each contract method as the
straightforward reading of its docstring in ``kmsg/queue.py``. Every number the contract
computes comes from :mod:`kmsg.rules` (due times, backoff, retry-or-dead-letter, the token
bucket, the claim allowance), so the model and the SQLite adapter share one definition and
the Redis scripts' copies are checked against both.

Time is injected: the model reads ``clock()`` once at the start of each call, and that instant
is the call's ``now`` (a call is one atomic step, as on a backend). :class:`ManualClock` is a
clock that moves only when told; the SQLite adapter accepts the same object (``open_queue(url,
clock=...)``), so both see the same instants.

Inputs are assumed valid (the tests validate nothing through the model); lease tokens are
``"m1"``, ``"m2"``, ... in claim order; a job enqueued without an id gets ``"model-1"``, ...

Choices the contract leaves open, taken as both adapters take them:

* Terminal listings put the most recently ended first, ties (one call ending several jobs) in
  reverse enqueue order; ``retry_failed`` with no ids goes oldest dead letter first (which
  decides who wins a dedupe key two dead letters share).
* A job sent back to ``pending`` by ``release`` or ``retry_failed`` keeps its enqueue sequence:
  among equal priorities and due times it goes back in its original place. A dead letter moved
  to another queue is enqueued there anew: it takes the next sequence number (one count over
  all queues, which within a queue is that queue's enqueue order), in the order moved.
* A token bucket is written back only when a claim takes jobs (refilling is a pure function of
  the elapsed time, so this only decides which float the next refill starts from).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from kmsg import (
    Backoff,
    ClaimedJob,
    Job,
    JobError,
    JobNotFound,
    JobPage,
    JobState,
    Lease,
    LeaseLost,
    NewJob,
    QueueStats,
    RateLimit,
    RetryResult,
    Skipped,
    SkipReason,
)
from kmsg.codec import PayloadCodec
from kmsg.models import skipped_result
from kmsg.outcomes import Lost, lease_lost
from kmsg.rules import (
    LEASE_EXPIRED_MESSAGE,
    MAX_ERRORS,
    SNOOZED,
    backoff_delay,
    claim_allowance,
    due_time,
    retry_at,
)
from kmsg.validation import STEP_JOBS, describe_error
from tests.model.records import LIVE, TERMINAL, Bucket, ModelJob, QueueState, listing_key

__all__ = ["LIVE", "TERMINAL", "ManualClock", "ReferenceQueue"]


class ManualClock:
    """A clock that moves only when told: call it for ``now`` (epoch seconds)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current instant."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds


class ReferenceQueue:
    """The JobQueue contract as a synchronous, in-memory model (see the module docstring).

    Method names, arguments, results and errors are those of :class:`kmsg.JobQueue`, minus
    ``async``; each method says which contract rule it follows where that is not obvious.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._queues: dict[str, QueueState] = {}
        self._codec = PayloadCodec()
        self._seq = itertools.count(1)
        self._tokens = (f"m{n}" for n in itertools.count(1))
        self._new_ids = (f"model-{n}" for n in itertools.count(1))

    def _queue(self, name: str) -> QueueState:
        return self._queues.setdefault(name, QueueState())

    # --- producing -----------------------------------------------------------------------------

    def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store jobs in order; each returns its id, or the id of the job it is a replay or a
        duplicate of (an existing id wins over a held dedupe key)."""
        now = self._clock()
        return [self._insert(job, now) for job in jobs]

    def enqueue(self, payload: msgspec.Struct, **options: Any) -> str:
        """One job (``options`` as :class:`kmsg.NewJob`'s)."""
        (job_id,) = self.enqueue_many([NewJob(payload=payload, **options)])
        return job_id

    def _insert(self, new: NewJob, now: float) -> str:
        job_id = next(self._new_ids) if new.job_id is None else new.job_id
        queue = self._queue(new.queue)
        if job_id in queue.jobs:
            return job_id
        holder = None if new.dedupe_key is None else queue.holder(new.dedupe_key)
        if holder is not None:
            return holder.id
        task, payload = self._codec.encode(new.payload)
        run_at = due_time(new.run_at if new.run_at is not None else now + (new.delay or 0.0))
        queue.jobs[job_id] = ModelJob(
            id=job_id,
            queue=new.queue,
            task=task,
            payload=payload,
            state=JobState.PENDING if run_at <= now else JobState.DELAYED,
            priority=new.priority,
            run_at=run_at,
            created_at=now,
            max_attempts=new.max_attempts,
            backoff=new.backoff or Backoff(),
            lease=new.lease,
            dedupe_key=new.dedupe_key,
            seq=next(self._seq),
        )
        return job_id

    # --- consuming -----------------------------------------------------------------------------

    def claim(self, queue: str, *, limit: int = 1, lease: float | None = None) -> list[ClaimedJob]:
        """End expired leases, promote due delayed jobs, then lease the best pending jobs (at
        most ``STEP_JOBS``; none while paused; at most the bucket's whole tokens)."""
        now = self._clock()
        state = self._queue(queue)
        self._end_expired_leases(state, now)
        self._promote_due(state, now)
        tokens = None if state.bucket is None else state.bucket.tokens_at(now)
        allowed = claim_allowance(min(limit, STEP_JOBS), paused=state.paused, tokens=tokens)
        if allowed <= 0:
            return []
        chosen = state.in_state(JobState.PENDING)[:allowed]
        if state.bucket is not None and tokens is not None and chosen:
            state.bucket.tokens, state.bucket.refilled_at = tokens - len(chosen), now
        return [self._lease(job, now, lease) for job in chosen]

    def _end_expired_leases(self, state: QueueState, now: float) -> None:
        """A lease that ended unacknowledged is a failed attempt (``LeaseExpired``), or a
        requested cancel completed."""
        for job in state.in_state(JobState.PROCESSING):
            assert job.lease_until is not None
            if job.lease_until > now:
                break
            if job.cancel_requested:
                self._finish(job, JobState.CANCELLED, now)
                continue
            self._record_error(job, now, "LeaseExpired", LEASE_EXPIRED_MESSAGE)
            self._after_failure(job, now, self._backoff(job), retryable=True)

    @staticmethod
    def _promote_due(state: QueueState, now: float) -> None:
        for job in state.in_state(JobState.DELAYED):
            if job.run_at > now:
                break
            job.state = JobState.PENDING

    def _lease(self, job: ModelJob, now: float, lease: float | None) -> ClaimedJob:
        job.attempts += 1
        job.progress = None
        job.state = JobState.PROCESSING
        job.lease_until = now + (job.lease if lease is None else lease)
        job.token = next(self._tokens)
        return ClaimedJob(job=job.snapshot(), token=job.token)

    def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Complete the held job; a replay with the token that completed it does nothing; a
        requested cancel turns it ``cancelled`` and raises ``LeaseLost``."""
        now = self._clock()
        job = self._find(lease)
        if job.state is JobState.COMPLETED and job.token == lease.token:
            return
        self._check_held(job, lease)
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED, now)
            raise lease_lost(lease, Lost.CANCELLED)
        job.result = result
        self._finish(job, JobState.COMPLETED, now)

    def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Each pair as :meth:`complete` would take it; False where that would raise."""
        outcomes = []
        for lease, result in completions:
            try:
                self.complete(lease, result=result)
            except LeaseLost:
                outcomes.append(False)
            else:
                outcomes.append(True)
        return outcomes

    def fail(
        self,
        lease: Lease,
        error: BaseException | str,
        *,
        retry_in: float | None = None,
        retryable: bool = True,
    ) -> JobState:
        """Record the failed attempt; retry after ``retry_in`` (default: the job's backoff) or
        dead-letter. A requested cancel wins (error kept, ``cancelled``, ``LeaseLost``)."""
        now = self._clock()
        job = self._held(lease)
        self._record_error(job, now, *describe_error(error))
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED, now)
            raise lease_lost(lease, Lost.CANCELLED)
        delay = self._backoff(job) if retry_in is None else retry_in
        return self._after_failure(job, now, delay, retryable=retryable)

    def snooze(
        self, lease: Lease, delay: float, *, reason: str = "", max_snoozes: int = 20
    ) -> JobState:
        """Back to ``delayed`` in ``delay`` with the attempt refunded and a ``Snoozed`` entry;
        past ``max_snoozes`` entries, a failed attempt retried in ``delay``; a requested cancel
        wins (entry kept, ``cancelled``, ``LeaseLost``)."""
        now = self._clock()
        job = self._held(lease)
        used = sum(error.type == SNOOZED for error in job.errors)
        self._record_error(job, now, SNOOZED, reason or f"snoozed for {delay:g}s")
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED, now)
            raise lease_lost(lease, Lost.CANCELLED)
        if used >= max_snoozes:
            return self._after_failure(job, now, delay, retryable=True)
        job.attempts = max(job.attempts - 1, 0)
        job.state, job.run_at, job.lease_until = JobState.DELAYED, due_time(now + delay), None
        return JobState.DELAYED

    def extend(self, lease: Lease, duration: float, *, progress: bytes | None = None) -> float:
        """Move the held job's deadline to ``now + duration`` and set its progress (unless
        None); ``LeaseLost`` (nothing changed) when the lease is lost or a cancel was
        requested."""
        now = self._clock()
        job = self._held(lease)
        if job.cancel_requested:
            raise lease_lost(lease, Lost.CANCEL_REQUESTED)
        job.lease_until = now + duration
        if progress is not None:
            job.progress = progress
        return job.lease_until

    def extend_many(
        self,
        leases: Sequence[Lease],
        duration: float,
        *,
        progress: Sequence[bytes | None] | None = None,
    ) -> list[float | LeaseLost]:
        """Each lease as :meth:`extend` would take it; the ``LeaseLost`` instead of raising."""
        values = list(progress) if progress is not None else [None] * len(leases)
        outcomes: list[float | LeaseLost] = []
        for lease, value in zip(leases, values, strict=True):
            try:
                outcomes.append(self.extend(lease, duration, progress=value))
            except LeaseLost as lost:
                outcomes.append(lost)
        return outcomes

    def release(self, lease: Lease) -> None:
        """Give the held job back to ``pending`` (attempt refunded, place in line kept); a
        requested cancel wins (``cancelled``, no error)."""
        now = self._clock()
        job = self._held(lease)
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED, now)
            return
        job.state = JobState.PENDING
        job.attempts = max(job.attempts - 1, 0)
        job.lease_until = None

    def _find(self, lease: Lease) -> ModelJob:
        job = self._queue(lease.queue).jobs.get(lease.job_id)
        if job is None:
            raise lease_lost(lease, Lost.GONE)
        return job

    @staticmethod
    def _check_held(job: ModelJob, lease: Lease) -> None:
        if job.state is not JobState.PROCESSING or job.token != lease.token:
            raise lease_lost(lease, Lost.STALE)

    def _held(self, lease: Lease) -> ModelJob:
        """The job ``lease`` still holds, else ``LeaseLost``."""
        job = self._find(lease)
        self._check_held(job, lease)
        return job

    # --- the rules of a failed attempt ---------------------------------------------------------

    @staticmethod
    def _backoff(job: ModelJob) -> float:
        """The job's own delay after its current attempt failed."""
        b = job.backoff
        return backoff_delay(b.initial, b.factor, b.maximum, job.attempts)

    @staticmethod
    def _record_error(job: ModelJob, now: float, error_type: str, message: str) -> None:
        """Add one entry to the error history, keeping the last ``MAX_ERRORS``."""
        job.errors.append(JobError(at=now, attempt=job.attempts, type=error_type, message=message))
        del job.errors[:-MAX_ERRORS]

    def _after_failure(
        self, job: ModelJob, now: float, delay: float, *, retryable: bool
    ) -> JobState:
        """Retry later (``delayed``) or dead-letter (``failed``): :func:`kmsg.rules.retry_at`."""
        at = retry_at(now, job.attempts, job.max_attempts, delay, retryable=retryable)
        if at is None:
            self._finish(job, JobState.FAILED, now)
            return JobState.FAILED
        job.state, job.run_at, job.lease_until = JobState.DELAYED, at, None
        return JobState.DELAYED

    @staticmethod
    def _finish(job: ModelJob, state: JobState, now: float) -> None:
        """Move a live job into a terminal state, which frees its dedupe key."""
        job.state = state
        job.lease_until = None
        if state is JobState.COMPLETED:
            job.completed_at = now
        elif state is JobState.FAILED:
            job.failed_at = now
        else:
            job.cancelled_at = now

    # --- reading -------------------------------------------------------------------------------

    def get(self, queue: str, job_id: str) -> Job:
        """The job's snapshot; ``JobNotFound`` if there is none."""
        job = self._queue(queue).jobs.get(job_id)
        if job is None:
            raise JobNotFound(queue, job_id)
        return job.snapshot()

    def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Up to ``limit`` pending jobs in claim order."""
        return [job.snapshot() for job in self._queue(queue).in_state(JobState.PENDING)[:limit]]

    def jobs(self, queue: str) -> list[Job]:
        """Every job of the queue (not a contract method: what the tests compare at the end)."""
        return [job.snapshot() for job in self._queue(queue).jobs.values()]

    def count(self, queue: str, states: Iterable[JobState]) -> int:
        """How many jobs of the queue are in ``states`` (test helper)."""
        wanted = set(states)
        return sum(job.state in wanted for job in self._queue(queue).jobs.values())

    def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` still holds its job (test helper)."""
        job = self._queue(lease.queue).jobs.get(lease.job_id)
        return job is not None and job.state is JobState.PROCESSING and job.token == lease.token

    def lease_deadlines(self) -> list[float]:
        """The lease deadlines of every processing job, soonest first (test helper)."""
        held = (s.in_state(JobState.PROCESSING) for s in self._queues.values())
        return sorted(job.lease_until or 0.0 for jobs in held for job in jobs)

    def stats(self, queue: str) -> QueueStats:
        """Counts per state, how long the earliest-due pending job has been due, settings."""
        now = self._clock()
        state = self._queue(queue)
        counts = {s.value: 0 for s in JobState}
        for job in state.jobs.values():
            counts[job.state.value] += 1
        pending = [job.run_at for job in state.jobs.values() if job.state is JobState.PENDING]
        bucket = state.bucket
        return QueueStats(
            queue=queue,
            oldest_pending_age=max(now - min(pending), 0.0) if pending else None,
            paused=state.paused,
            rate_limit=None
            if bucket is None
            else RateLimit(max_jobs=bucket.max_jobs, per_seconds=bucket.per_seconds),
            **counts,
        )

    def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of ``state``'s jobs in its listing order; the cursor is the last listed
        job's place (:func:`listing_key`), so a job that stays put is listed exactly once."""
        after = None if cursor is None else tuple(msgspec.json.decode(cursor, type=list[float]))
        ordered = [
            job
            for job in self._queue(queue).in_state(state)
            if after is None or listing_key(job) > after
        ]
        page = ordered[:limit]
        more = len(ordered) > limit
        next_cursor = msgspec.json.encode(list(listing_key(page[-1]))).decode() if more else None
        return JobPage(jobs=tuple(job.snapshot() for job in page), next_cursor=next_cursor)

    # --- dead letters --------------------------------------------------------------------------

    def retry_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, to_queue: str | None = None
    ) -> RetryResult:
        """Send dead letters back to ``pending`` (attempts 0, errors kept); say how many, and
        which were skipped, why, in the order met.

        Without ids: every dead letter, oldest first; with ids, in the order given. One whose
        dedupe key another live job holds is skipped and stays ``failed``; so is one whose id
        ``to_queue`` already has, an id with no job, and a job that is not a dead letter.
        """
        now = self._clock()
        source = self._queue(queue)
        if job_ids is None:
            chosen: list[ModelJob | str] = list(source.in_state(JobState.FAILED)[::-1])
        else:
            chosen = [source.jobs.get(job_id, job_id) for job_id in dict.fromkeys(job_ids)]
        moved, skipped = 0, []
        for job in chosen:
            skip = self._redrive(job, to_queue or queue, now)
            if skip is None:
                moved += 1
            else:
                skipped.append(skip)
        return skipped_result(skipped, moved)

    def _redrive(self, job: ModelJob | str, to_queue: str, now: float) -> Skipped | None:
        """Move one dead letter back to pending in ``to_queue``, or say why not (a bare id:
        no such job)."""
        if isinstance(job, str):
            return Skipped(job_id=job, reason=SkipReason.NOT_FOUND)
        if job.state is not JobState.FAILED:
            return Skipped(job_id=job.id, reason=SkipReason.NOT_DEAD)
        target = self._queue(to_queue)
        moving = to_queue != job.queue
        if moving and job.id in target.jobs:
            return Skipped(job_id=job.id, reason=SkipReason.ID_TAKEN)
        holder = None if job.dedupe_key is None else target.holder(job.dedupe_key)
        if holder is not None and holder is not job:
            return Skipped(job_id=job.id, reason=SkipReason.KEY_HELD, holder=holder.id)
        job.state, job.attempts, job.run_at = JobState.PENDING, 0, due_time(now)
        job.failed_at = job.lease_until = job.result = None
        job.cancel_requested = False
        if moving:
            del self._queue(job.queue).jobs[job.id]
            job.queue = to_queue
            job.seq = next(self._seq)
            target.jobs[job.id] = job
        return None

    def purge_failed(
        self, queue: str, job_ids: Iterable[str] | None = None, *, older_than: float | None = None
    ) -> int:
        """Delete dead letters (all, or these ids; with ``older_than``, only those that failed
        at least that many seconds ago); return how many."""
        now = self._clock()
        state = self._queue(queue)
        wanted = None if job_ids is None else set(job_ids)
        doomed = [
            job
            for job in state.in_state(JobState.FAILED)
            if (wanted is None or job.id in wanted)
            and (older_than is None or (job.failed_at or 0.0) <= now - older_than)
        ]
        for job in doomed:
            del state.jobs[job.id]
        return len(doomed)

    # --- housekeeping --------------------------------------------------------------------------

    def cancel(self, queue: str, job_id: str) -> JobState:
        """pending/delayed -> ``cancelled``; processing -> cancel requested (state returned
        ``processing``); terminal -> unchanged. ``JobNotFound`` if there is no such job."""
        now = self._clock()
        job = self._queue(queue).jobs.get(job_id)
        if job is None:
            raise JobNotFound(queue, job_id)
        if job.state in (JobState.PENDING, JobState.DELAYED):
            self._finish(job, JobState.CANCELLED, now)
        elif job.state is JobState.PROCESSING:
            job.cancel_requested = True
        return job.state

    def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state; return whether it existed."""
        return self._queue(queue).jobs.pop(job_id, None) is not None

    def clear(self, queue: str) -> int:
        """Delete every job of the queue, keeping its settings; return how many."""
        state = self._queue(queue)
        count = len(state.jobs)
        state.jobs.clear()
        return count

    def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Delete jobs in these terminal states that ended ``older_than`` seconds ago or more."""
        now = self._clock()
        state = self._queue(queue)
        chosen = set(states)
        assert chosen <= TERMINAL, "cleanup takes terminal states only"
        doomed = [
            job
            for job in state.jobs.values()
            if job.state in chosen and (job.ended_at or 0.0) <= now - older_than
        ]
        for job in doomed:
            del state.jobs[job.id]
        return len(doomed)

    def pause(self, queue: str) -> None:
        """Claims of the queue hand out nothing until :meth:`resume`."""
        self._queue(queue).paused = True

    def resume(self, queue: str) -> None:
        """Undo :meth:`pause`."""
        self._queue(queue).paused = False

    def set_rate_limit(self, queue: str, max_jobs: int | None, per_seconds: float = 1.0) -> None:
        """A token bucket of ``max_jobs`` per ``per_seconds``, starting full; None removes it."""
        state = self._queue(queue)
        if max_jobs is None:
            state.bucket = None
        else:
            state.bucket = Bucket(max_jobs, per_seconds, float(max_jobs), self._clock())
