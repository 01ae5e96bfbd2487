"""The running job, visible to its handler (and anything it calls) through a context variable."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from kmsg.models import Job
from kmsg.queue import JobQueue

__all__ = ["JobContext", "current_job"]


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler may want to know about the job it runs.

    ``job`` is the snapshot taken at claim time; ``attempt`` is this run's 1-based attempt number
    (``job.attempts``); ``queue`` is the worker's queue, e.g. to enqueue follow-up jobs.
    """

    job: Job
    queue: JobQueue

    @property
    def attempt(self) -> int:
        """This run's attempt number, 1 for the first run."""
        return self.job.attempts


_current: ContextVar[JobContext] = ContextVar("kmsg_current_job")


def current_job() -> JobContext:
    """The context of the job whose handler is running; ``LookupError`` outside a handler."""
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_job() is only available inside a worker's job handler") from None
