"""What the reference model keeps: one record per job, a rate bucket and the state of a queue.

Plain mutable Python objects; :mod:`tests.model.reference` changes them, one contract call at a
time, and hands out frozen :class:`kmsg.Job` snapshots of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from kmsg import Backoff, Job, JobError, JobState
from kmsg.rules import refill

__all__ = ["LIVE", "TERMINAL", "Bucket", "ModelJob", "QueueState", "listing_key"]

LIVE: Final = frozenset({JobState.PENDING, JobState.DELAYED, JobState.PROCESSING})
"""States that hold a dedupe key and may still run."""
TERMINAL: Final = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
"""States a job never leaves by itself."""


@dataclass(slots=True)
class ModelJob:
    """One stored job: the fields of :class:`kmsg.Job`, its enqueue sequence and lease token.

    ``token`` is the token of the job's latest claim; it stays after the claim ends, which is
    what lets a replayed ``complete`` be recognised.
    """

    id: str
    queue: str
    task: str
    payload: bytes
    state: JobState
    priority: int
    run_at: float
    created_at: float
    max_attempts: int
    backoff: Backoff
    lease: float
    dedupe_key: str | None
    seq: int
    attempts: int = 0
    errors: list[JobError] = field(default_factory=list)
    result: bytes | None = None
    progress: bytes | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    completed_at: float | None = None
    failed_at: float | None = None
    cancelled_at: float | None = None
    token: str | None = None

    @property
    def ended_at(self) -> float | None:
        """When the job reached its terminal state (None while it is live)."""
        return {
            JobState.COMPLETED: self.completed_at,
            JobState.FAILED: self.failed_at,
            JobState.CANCELLED: self.cancelled_at,
        }.get(self.state)

    def snapshot(self) -> Job:
        """The :class:`kmsg.Job` a backend's ``get`` would return now."""
        return Job(
            id=self.id,
            queue=self.queue,
            task=self.task,
            payload=self.payload,
            state=self.state,
            priority=self.priority,
            run_at=self.run_at,
            created_at=self.created_at,
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            lease=self.lease,
            dedupe_key=self.dedupe_key,
            errors=tuple(self.errors),
            result=self.result,
            progress=self.progress,
            lease_until=self.lease_until,
            cancel_requested=self.cancel_requested,
            completed_at=self.completed_at,
            failed_at=self.failed_at,
            cancelled_at=self.cancelled_at,
        )


def listing_key(job: ModelJob) -> tuple[float, ...]:
    """Where ``job`` goes in its state's listing, ascending (``kmsg.queue``'s docstring).

    ``pending`` in claim order (priority desc, due time, enqueue order), ``delayed`` by due
    time, ``processing`` by lease deadline, terminal states newest first; ties in enqueue order
    (reversed for the newest-first listings).
    """
    if job.state is JobState.PENDING:
        return (-job.priority, job.run_at, job.seq)
    if job.state is JobState.DELAYED:
        return (job.run_at, job.seq)
    if job.state is JobState.PROCESSING:
        assert job.lease_until is not None
        return (job.lease_until, job.seq)
    ended = job.ended_at
    assert ended is not None
    return (-ended, -job.seq)


@dataclass(slots=True)
class Bucket:
    """A queue's token bucket: ``tokens`` as of ``refilled_at``."""

    max_jobs: int
    per_seconds: float
    tokens: float
    refilled_at: float

    def tokens_at(self, now: float) -> float:
        """The tokens at ``now`` (:func:`kmsg.rules.refill`)."""
        return refill(self.tokens, self.refilled_at, now, self.max_jobs, self.per_seconds)


@dataclass(slots=True)
class QueueState:
    """Everything the model keeps for one queue."""

    jobs: dict[str, ModelJob] = field(default_factory=dict)
    paused: bool = False
    bucket: Bucket | None = None

    def holder(self, dedupe_key: str) -> ModelJob | None:
        """The live job holding ``dedupe_key`` (the dedupe index), if any."""
        for job in self.jobs.values():
            if job.dedupe_key == dedupe_key and job.state in LIVE:
                return job
        return None

    def in_state(self, state: JobState) -> list[ModelJob]:
        """The jobs in ``state``, in that state's listing order."""
        return sorted((j for j in self.jobs.values() if j.state is state), key=listing_key)
