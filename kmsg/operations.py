"""Every queue operation as a small frozen value, built only from checked arguments.

The public methods of a queue (async :class:`kmsg.JobQueue`, sync :class:`kmsg.sync.SyncQueue`)
do one thing each: turn their arguments into an operation here (each builder validates them and
raises ``ValidationError`` before anything happens), and hand it to the middleware and then the
backend. A backend's planner turns an operation into the steps it takes (a Lua script call, a
SQLite transaction body) and their replies into the result (``kmsg.adapters.*.plans``); its
executors are the only code that does I/O. So the rules for arguments live here once, for every
backend and for both I/O styles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kmsg.codec import PayloadCodec
from kmsg.errors import ValidationError
from kmsg.jobs import NewJob, PreparedJob, prepare_job
from kmsg.models import Job, JobState, Lease
from kmsg.rules import MAX_ERRORS
from kmsg.validation import (
    MAX_ERROR_MESSAGE,
    MAX_LEASE,
    check_batch,
    check_int,
    check_job_ids,
    check_lease,
    check_lease_arg,
    check_limit,
    check_name,
    check_progress,
    check_rate_limit,
    check_result,
    check_seconds,
    check_states,
    describe_error,
)

__all__ = [
    "Cancel",
    "Claim",
    "Cleanup",
    "Clear",
    "Complete",
    "CompleteMany",
    "Enqueue",
    "Extend",
    "ExtendMany",
    "Fail",
    "Get",
    "Import",
    "ListJobs",
    "Operation",
    "Pause",
    "Peek",
    "PurgeFailed",
    "Queues",
    "Release",
    "Remove",
    "RetryFailed",
    "SetRateLimit",
    "Snooze",
    "Stats",
    "WaitForJobs",
    "cancel",
    "claim",
    "cleanup",
    "clear",
    "complete",
    "complete_many",
    "enqueue",
    "extend",
    "extend_many",
    "fail",
    "get",
    "import_jobs",
    "list_jobs",
    "pause",
    "peek",
    "purge_failed",
    "queues",
    "release",
    "remove",
    "retry_failed",
    "set_rate_limit",
    "snooze",
    "stats",
    "wait_for_jobs",
]

_TERMINAL = frozenset(state for state in JobState if state.terminal)


# --- producing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Store these prepared jobs (``enqueue``, ``enqueue_many``)."""

    jobs: tuple[PreparedJob, ...]


def enqueue(jobs: Sequence[NewJob], codec: PayloadCodec) -> Enqueue:
    """Check and encode a batch of new jobs (at most ``MAX_BATCH``)."""
    if not isinstance(jobs, Sequence):
        raise ValidationError(f"jobs must be a sequence of NewJob, not {type(jobs).__name__}")
    check_batch(len(jobs))
    return Enqueue(tuple(prepare_job(job, codec) for job in jobs))


@dataclass(frozen=True, slots=True)
class Import:
    """Write job snapshots as they are (``import_jobs``)."""

    jobs: tuple[Job, ...]


def import_jobs(jobs: Sequence[Job]) -> Import:
    """Check a batch of snapshots: Jobs with valid names and states."""
    check_batch(len(jobs))
    for job in jobs:
        if not isinstance(job, Job):
            raise ValidationError(f"expected a kmsg.Job, not {type(job).__name__}")
        check_name("queue", job.queue)
        check_name("task", job.task)
        check_name("job id", job.id)
        check_states([job.state], allowed=JobState)
    return Import(tuple(jobs))


# --- consuming ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """Claim up to ``limit`` due jobs, under ``lease`` seconds (None: each job's own), waiting
    up to ``wait`` seconds for one when none is due."""

    queue: str
    limit: int
    lease: float | None
    wait: float = 0.0


def claim(queue: str, limit: int, lease: float | None, wait: float = 0.0) -> Claim:
    """Check a claim's queue, limit, lease and wait (seconds, up to ``MAX_LEASE``)."""
    return Claim(
        check_name("queue", queue),
        check_limit(limit),
        None if lease is None else check_lease(lease),
        check_seconds("wait", wait, high=MAX_LEASE),
    )


@dataclass(frozen=True, slots=True)
class WaitForJobs:
    """Return when a job of ``queue`` may have become claimable, or after ``max_wait``."""

    queue: str
    max_wait: float


def wait_for_jobs(queue: str, max_wait: float) -> WaitForJobs:
    """Check a wait's queue and length (seconds, up to ``MAX_LEASE``)."""
    return WaitForJobs(
        check_name("queue", queue), check_seconds("max_wait", max_wait, high=MAX_LEASE)
    )


@dataclass(frozen=True, slots=True)
class Complete:
    """Complete the held job, keeping ``result``."""

    lease: Lease
    result: bytes | None


def complete(lease: Lease, result: bytes | None) -> Complete:
    """Check a lease and a result (at most 64 KiB)."""
    return Complete(check_lease_arg(lease), check_result(result))


@dataclass(frozen=True, slots=True)
class CompleteMany:
    """Complete a batch of held jobs."""

    items: tuple[tuple[Lease, bytes | None], ...]


def complete_many(completions: Sequence[tuple[Lease, bytes | None]]) -> CompleteMany:
    """Check every lease and result, and the batch's size."""
    items = tuple((check_lease_arg(lease), check_result(result)) for lease, result in completions)
    check_batch(len(items))
    return CompleteMany(items)


@dataclass(frozen=True, slots=True)
class Fail:
    """Record a failed attempt of the held job (error type and message already described)."""

    lease: Lease
    error_type: str
    message: str
    retry_in: float | None
    retryable: bool


def fail(lease: Lease, error: BaseException | str, retry_in: float | None, retryable: bool) -> Fail:
    """Check a failure: its lease, error (an exception or a string) and retry delay."""
    held = check_lease_arg(lease)
    error_type, message = describe_error(error)
    delay = None if retry_in is None else check_seconds("retry_in", retry_in)
    return Fail(held, error_type, message, delay, bool(retryable))


@dataclass(frozen=True, slots=True)
class Snooze:
    """Put the held job back, due in ``delay`` seconds, without using an attempt (while it has
    snoozes left: ``max_snoozes``)."""

    lease: Lease
    delay: float
    message: str
    max_snoozes: int


def snooze(lease: Lease, delay: float, reason: str, max_snoozes: int) -> Snooze:
    """Check a snooze: its lease, delay (seconds), reason (text) and bound (1 to 50)."""
    held = check_lease_arg(lease)
    if not isinstance(reason, str):
        raise ValidationError(f"reason must be a string, not {type(reason).__name__}")
    delay = check_seconds("delay", delay)
    message = reason[:MAX_ERROR_MESSAGE] or f"snoozed for {delay:g}s"
    return Snooze(held, delay, message, check_int("max_snoozes", max_snoozes, 1, MAX_ERRORS))


@dataclass(frozen=True, slots=True)
class Extend:
    """Move the held job's lease to end ``duration`` seconds from now; set its ``progress``
    (None: leave it)."""

    lease: Lease
    duration: float
    progress: bytes | None = None


def extend(lease: Lease, duration: float, progress: bytes | None = None) -> Extend:
    """Check a heartbeat's lease, duration and progress."""
    return Extend(check_lease_arg(lease), check_lease(duration), check_progress(progress))


@dataclass(frozen=True, slots=True)
class ExtendMany:
    """Heartbeat a batch of held jobs; ``progress[i]`` (None: leave it) goes with ``leases[i]``."""

    leases: tuple[Lease, ...]
    duration: float
    progress: tuple[bytes | None, ...]


def extend_many(
    leases: Sequence[Lease], duration: float, progress: Sequence[bytes | None] | None = None
) -> ExtendMany:
    """Check every lease, the batch's size, the duration and the progress values (one per lease,
    or none at all)."""
    checked = tuple(check_lease_arg(lease) for lease in leases)
    check_batch(len(checked))
    if progress is None:
        values: tuple[bytes | None, ...] = (None,) * len(checked)
    elif isinstance(progress, Sequence) and len(progress) == len(checked):
        values = tuple(check_progress(value) for value in progress)
    else:
        raise ValidationError("progress must be a sequence with one value (or None) per lease")
    return ExtendMany(checked, check_lease(duration), values)


@dataclass(frozen=True, slots=True)
class Release:
    """Give the held job back unstarted."""

    lease: Lease


def release(lease: Lease) -> Release:
    """Check a lease."""
    return Release(check_lease_arg(lease))


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Get:
    """One job's snapshot."""

    queue: str
    job_id: str


def get(queue: str, job_id: str) -> Get:
    """Check a job's address."""
    return Get(check_name("queue", queue), check_name("job id", job_id))


@dataclass(frozen=True, slots=True)
class Peek:
    """Up to ``limit`` pending jobs in claim order."""

    queue: str
    limit: int


def peek(queue: str, limit: int) -> Peek:
    """Check a peek's queue and limit."""
    return Peek(check_name("queue", queue), check_limit(limit))


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts per state, the oldest pending age and the queue's settings."""

    queue: str


def stats(queue: str) -> Stats:
    """Check a queue name."""
    return Stats(check_name("queue", queue))


@dataclass(frozen=True, slots=True)
class Queues:
    """The names of the known queues."""


def queues() -> Queues:
    """The one value of :class:`Queues`."""
    return Queues()


@dataclass(frozen=True, slots=True)
class ListJobs:
    """One page of the jobs in ``state``, after ``cursor``."""

    queue: str
    state: JobState
    limit: int
    cursor: str | None


def list_jobs(queue: str, state: JobState, limit: int, cursor: str | None) -> ListJobs:
    """Check a listing's queue, state, page size and cursor (a string from a previous page)."""
    (parsed,) = check_states([state], allowed=JobState)
    if cursor is not None and not isinstance(cursor, str):
        raise ValidationError("cursor must be a string from a previous page")
    return ListJobs(check_name("queue", queue), parsed, check_limit(limit), cursor)


# --- dead letters and housekeeping -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryFailed:
    """Send dead letters (all when ``job_ids`` is None) back to pending in ``to_queue``."""

    queue: str
    job_ids: tuple[str, ...] | None
    to_queue: str


def retry_failed(queue: str, job_ids: Iterable[str] | None, to_queue: str | None) -> RetryFailed:
    """Check a redrive's queues and ids (None: every dead letter)."""
    source = check_name("queue", queue)
    target = source if to_queue is None else check_name("queue", to_queue)
    ids = check_job_ids(job_ids)
    return RetryFailed(source, None if ids is None else tuple(ids), target)


@dataclass(frozen=True, slots=True)
class PurgeFailed:
    """Delete dead letters (all when ``job_ids`` is None), keeping the newer ones."""

    queue: str
    job_ids: tuple[str, ...] | None
    older_than: float | None


def purge_failed(
    queue: str, job_ids: Iterable[str] | None, older_than: float | None
) -> PurgeFailed:
    """Check a purge's queue, ids and age."""
    age = None if older_than is None else check_seconds("older_than", older_than)
    ids = check_job_ids(job_ids)
    return PurgeFailed(check_name("queue", queue), None if ids is None else tuple(ids), age)


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel one job."""

    queue: str
    job_id: str


def cancel(queue: str, job_id: str) -> Cancel:
    """Check a job's address."""
    return Cancel(check_name("queue", queue), check_name("job id", job_id))


@dataclass(frozen=True, slots=True)
class Remove:
    """Delete one job in any state."""

    queue: str
    job_id: str


def remove(queue: str, job_id: str) -> Remove:
    """Check a job's address."""
    return Remove(check_name("queue", queue), check_name("job id", job_id))


@dataclass(frozen=True, slots=True)
class Clear:
    """Delete every job of a queue."""

    queue: str


def clear(queue: str) -> Clear:
    """Check a queue name."""
    return Clear(check_name("queue", queue))


@dataclass(frozen=True, slots=True)
class Cleanup:
    """Delete terminal jobs of ``states`` that ended ``older_than`` seconds ago or earlier."""

    queue: str
    states: tuple[JobState, ...]
    older_than: float


def cleanup(queue: str, states: Iterable[JobState], older_than: float) -> Cleanup:
    """Check a retention call: only terminal states are allowed."""
    if isinstance(states, str):
        states = [states]  # type: ignore[list-item]
    chosen = tuple(sorted(check_states(states, allowed=_TERMINAL)))
    return Cleanup(check_name("queue", queue), chosen, check_seconds("older_than", older_than))


@dataclass(frozen=True, slots=True)
class Pause:
    """Set (or clear) a queue's paused flag."""

    queue: str
    paused: bool


def pause(queue: str, paused: bool) -> Pause:
    """Check a queue name."""
    return Pause(check_name("queue", queue), paused)


@dataclass(frozen=True, slots=True)
class SetRateLimit:
    """Set (``max_jobs`` None: remove) a queue's token-bucket rate limit."""

    queue: str
    max_jobs: int | None
    per_seconds: float


def set_rate_limit(queue: str, max_jobs: int | None, per_seconds: float) -> SetRateLimit:
    """Check a rate limit: 1 to 1,000,000 jobs (or None) per a positive number of seconds."""
    name = check_name("queue", queue)
    limit, period = check_rate_limit(max_jobs, per_seconds)
    return SetRateLimit(name, limit, period)


Operation = (
    Enqueue
    | Import
    | Claim
    | WaitForJobs
    | Complete
    | CompleteMany
    | Fail
    | Snooze
    | Extend
    | ExtendMany
    | Release
    | Get
    | Peek
    | Stats
    | Queues
    | ListJobs
    | RetryFailed
    | PurgeFailed
    | Cancel
    | Remove
    | Clear
    | Cleanup
    | Pause
    | SetRateLimit
)
"""Any queue operation."""
