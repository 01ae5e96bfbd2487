"""What a handler raises to steer its job, and the error types the worker records.

A handler steers retries by raising:

* :class:`Retry` -- try again after ``after`` seconds (or the retry policy's delay). It counts as
  an attempt: a job out of attempts is dead-lettered all the same.
* :class:`NonRetryable` -- dead-letter the job now, whatever attempts remain.
* :class:`Snooze` -- run the job again after ``after`` seconds **without using an attempt**
  (a gateway's "too many requests, retry after 30 s"); a job has ``max_snoozes`` of these, and
  one past that counts as a failed attempt (see :meth:`kmsg.JobQueue.snooze`).

Any other ``Exception`` is a retryable failure. The worker itself records these error types in a
job's history (``JobError.type``): :class:`UnknownTask`, ``PayloadDecodeError`` (from
:mod:`kmsg.errors`), :class:`JobTimeout` and :class:`ResultError`.
"""

from __future__ import annotations

from kmsg.errors import KmsgError
from kmsg.rules import DEFAULT_MAX_SNOOZES

__all__ = [
    "JobTimeout",
    "NonRetryable",
    "RegistrationError",
    "ResultError",
    "Retry",
    "Snooze",
    "UnknownTask",
]


class Retry(Exception):
    """Raised by a handler: retry this job after ``after`` seconds (None: the retry policy's delay).

    The attempt counts; if none remain the job is dead-lettered. ``reason`` is recorded in the
    job's error history.
    """

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        if after is not None and not after >= 0:
            raise ValueError(f"Retry(after=...) must be 0 or more seconds, not {after!r}")
        super().__init__(reason if after is None else f"{reason} (after {after:g}s)")
        self.after = after
        self.reason = reason


class Snooze(Exception):
    """Raised by a handler: run this job again after ``after`` seconds without using an attempt.

    Recorded in the job's history as a ``Snoozed`` entry with ``reason``. A job may snooze
    ``max_snoozes`` times (1 to 50); a snooze past that counts as a failed attempt.
    """

    def __init__(
        self, after: float, reason: str = "", *, max_snoozes: int = DEFAULT_MAX_SNOOZES
    ) -> None:
        if not after >= 0:
            raise ValueError(f"Snooze(after=...) must be 0 or more seconds, not {after!r}")
        super().__init__(f"{reason or 'snoozed'} (for {after:g}s)")
        self.after = after
        self.reason = reason
        self.max_snoozes = max_snoozes


class NonRetryable(Exception):
    """Raised by a handler: the job can never succeed, so dead-letter it now."""


class UnknownTask(KmsgError):
    """A claimed job names a task no handler is registered for (dead-lettered at once)."""

    def __init__(self, task: str, known: list[str]) -> None:
        super().__init__(f"no handler for task {task!r}; registered: {known}")
        self.task = task


class JobTimeout(KmsgError, TimeoutError):
    """The handler ran longer than the worker's ``job_timeout`` (a retryable failure)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"handler ran longer than job_timeout={timeout:g}s")
        self.timeout = timeout


class ResultError(KmsgError):
    """The handler's return value cannot be stored: not msgspec-encodable, or too large.

    Dead-letters the job without retrying, since running the handler again (and repeating its side
    effects) would most likely return the same value.
    """


class RegistrationError(KmsgError, TypeError):
    """A handler cannot be registered: not async, no Struct-annotated first parameter, or a
    task name that is already taken."""
