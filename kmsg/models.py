"""The records kmsg stores and returns, as msgspec Structs.

All of them are frozen: a ``Job`` is a snapshot of what the backend held when it was read, never a
handle to live storage.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from kmsg.rules import backoff_delay

__all__ = [
    "Backoff",
    "ClaimedJob",
    "EnqueueOutcome",
    "Enqueued",
    "Job",
    "JobError",
    "JobPage",
    "JobState",
    "Lease",
    "QueueStats",
    "RateLimit",
    "MAX_SKIPS_LISTED",
    "RetryResult",
    "SkipReason",
    "Skipped",
    "skipped_result",
]


class JobState(enum.StrEnum):
    """Where a job is in its life.

    ``pending`` is due now and waiting; ``delayed`` is due later (scheduled, or backing off after a
    failure); ``processing`` is claimed under a lease; ``completed``, ``failed`` (the queue's dead
    letters) and ``cancelled`` are terminal.
    """

    PENDING = "pending"
    DELAYED = "delayed"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for completed, failed and cancelled: the job will never run again by itself."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class Backoff(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exponential retry delay kept with each job: ``min(maximum, initial * factor ** (n - 1))``.

    The queue applies it without jitter, so that Lua and SQL compute the same figure; the worker's
    retry policy adds jitter by passing ``retry_in`` to ``fail``.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return backoff_delay(self.initial, self.factor, self.maximum, attempt)


class EnqueueOutcome(enum.StrEnum):
    """What an enqueue of one job did."""

    CREATED = "created"
    """A new job was stored."""
    SAME_ID = "same_id"
    """A job with this id existed already (in any state, finished ones too): nothing written."""
    SAME_KEY = "same_key"
    """A live job held the dedupe key: nothing written, and its id is returned."""


class Enqueued(msgspec.Struct, frozen=True):
    """One job of an enqueue: the id to use for it, and what the enqueue did."""

    id: str
    outcome: EnqueueOutcome

    @property
    def created(self) -> bool:
        """Whether a new job was stored."""
        return self.outcome is EnqueueOutcome.CREATED


class JobError(msgspec.Struct, frozen=True, kw_only=True):
    """One failed attempt: when (epoch seconds), which attempt, the error type and its message."""

    at: float
    attempt: int
    type: str
    message: str


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one job.

    ``payload`` holds the encoded bytes (JSON) of a msgspec Struct whose type is named by ``task``.
    Times are epoch seconds (floats). ``attempts`` counts claims so far; ``max_attempts`` is the
    number of runs allowed in all. ``cancel_requested`` is set when a ``processing`` job was
    cancelled: it becomes ``cancelled`` when its holder finishes or its lease ends.
    """

    id: str
    queue: str
    task: str
    payload: bytes
    state: JobState
    priority: int
    run_at: float
    created_at: float
    attempts: int
    max_attempts: int
    backoff: Backoff
    lease: float
    dedupe_key: str | None = None
    errors: tuple[JobError, ...] = ()
    result: bytes | None = None
    progress: bytes | None = None
    trace_parent: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    completed_at: float | None = None
    failed_at: float | None = None
    cancelled_at: float | None = None

    @property
    def last_error(self) -> JobError | None:
        """The most recent failure, if any."""
        return self.errors[-1] if self.errors else None


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """What a holder shows to act on a claimed job: the job's address and its fencing token."""

    queue: str
    job_id: str
    token: str


class ClaimedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job handed to one claimer, with the fresh lease token that fences its acknowledgements."""

    job: Job
    token: str

    @property
    def lease(self) -> Lease:
        """The lease to pass to ``complete``, ``fail``, ``extend`` and ``release``."""
        return Lease(queue=self.job.queue, job_id=self.job.id, token=self.token)


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``max_jobs`` claims per ``per_seconds`` across every claimer of a queue."""

    max_jobs: int
    per_seconds: float


class QueueStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts per state and the queue's settings, read in one atomic step, in O(1) of the queue.

    ``oldest_pending_age`` is how long the longest-waiting pending job has been due (seconds
    since its ``run_at``), None when nothing is pending. ``missing_records`` counts index entries
    found pointing at a job record that no longer existed (deleted behind kmsg's back, or lost by
    the server), each dropped when found; it stays 0 on a healthy store and on SQLite, where a
    row is its own index.
    """

    queue: str
    pending: int
    delayed: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    oldest_pending_age: float | None
    paused: bool
    rate_limit: RateLimit | None
    missing_records: int = 0

    @property
    def total(self) -> int:
        """Jobs in every state."""
        return (
            self.pending
            + self.delayed
            + self.processing
            + self.completed
            + self.failed
            + self.cancelled
        )

    def count(self, state: JobState) -> int:
        """The count for one state."""
        count: int = getattr(self, state.value)
        return count


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing; pass ``next_cursor`` back to get the next page (None: no more)."""

    jobs: tuple[Job, ...]
    next_cursor: str | None


class SkipReason(enum.StrEnum):
    """Why ``retry_failed`` left a job where it was."""

    NOT_FOUND = "not_found"
    """No job with that id is in the queue."""
    NOT_DEAD = "not_dead"
    """The job is not a dead letter (it is pending, running, completed or cancelled)."""
    KEY_HELD = "key_held"
    """Another live job holds the dead letter's dedupe key (``holder``): redriving it would make
    two live jobs with one key. It stays dead; retry it once the holder is done."""
    ID_TAKEN = "id_taken"
    """The target queue already has a job with that id (a move to another queue)."""


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """A dead letter (or id) ``retry_failed`` did not move, and why."""

    job_id: str
    reason: SkipReason
    holder: str | None = None

    def describe(self) -> str:
        """One line for people: the job and why it was left (ids are plain name characters)."""
        why = {
            SkipReason.NOT_FOUND: "no such job",
            SkipReason.NOT_DEAD: "not a dead letter",
            SkipReason.KEY_HELD: f"its dedupe key is held by live job {self.holder}",
            SkipReason.ID_TAKEN: "the target queue already has a job with this id",
        }[self.reason]
        return f"{self.job_id}: {why}"


class RetryResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``retry_failed`` did: how many dead letters went back, and the ones it skipped.

    ``skipped`` lists at most ``MAX_SKIPS_LISTED`` of them (the first met); ``skipped_count``
    counts them all. A call that moved nothing always says why in ``skipped``, unless there was
    nothing to retry.
    """

    moved: int
    skipped: tuple[Skipped, ...] = ()
    skipped_count: int = 0

    def __add__(self, other: RetryResult) -> RetryResult:
        """Two steps' results as one (the list of skips kept to ``MAX_SKIPS_LISTED``)."""
        return RetryResult(
            moved=self.moved + other.moved,
            skipped=(*self.skipped, *other.skipped)[:MAX_SKIPS_LISTED],
            skipped_count=self.skipped_count + other.skipped_count,
        )


def skipped_result(skipped: list[Skipped], moved: int) -> RetryResult:
    """One step's :class:`RetryResult`."""
    return RetryResult(
        moved=moved, skipped=tuple(skipped[:MAX_SKIPS_LISTED]), skipped_count=len(skipped)
    )


MAX_SKIPS_LISTED: Final = 1000
"""The most skipped jobs a :class:`RetryResult` lists (it counts them all)."""
