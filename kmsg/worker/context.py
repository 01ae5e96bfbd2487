"""The running job, visible to its handler (and anything it calls) through a context variable."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.models import Job
from kmsg.queue import JobQueue
from kmsg.validation import MAX_PROGRESS_BYTES

__all__ = ["JobContext", "current_job"]

_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler may want to know about the job it runs, and how it reports progress.

    ``job`` is the snapshot taken at claim time; ``attempt`` is this run's 1-based attempt number
    (``job.attempts``); ``queue`` is the worker's queue, e.g. to enqueue follow-up jobs.
    """

    job: Job
    queue: JobQueue
    report: Callable[[bytes], None] = lambda _: None
    """Where :meth:`progress` hands the encoded value (the worker's heartbeats)."""

    @property
    def attempt(self) -> int:
        """This run's attempt number, 1 for the first run."""
        return self.job.attempts

    def progress(self, value: Any) -> None:
        """Report how far the job has got: any JSON value of at most 1 KiB encoded, e.g.
        ``{"sent": 400, "total": 1000}``. Costs no round trip: the worker's next heartbeat
        carries the latest value (within about a third of the lease), ``get`` then shows it as
        ``job.progress`` (JSON bytes), and it stays on the job when it ends (a report made
        after the last heartbeat is not stored); a new attempt starts without it. Raises
        ``ValidationError`` for a value that cannot be encoded or is too big."""
        try:
            data = _ENCODER.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"progress cannot be encoded as JSON: {exc}") from None
        if len(data) > MAX_PROGRESS_BYTES:
            raise ValidationError(
                f"progress is {len(data)} bytes as JSON; the limit is {MAX_PROGRESS_BYTES}"
            )
        self.report(data)


_current: ContextVar[JobContext] = ContextVar("kmsg_current_job")


def current_job() -> JobContext:
    """The context of the job whose handler is running; ``LookupError`` outside a handler."""
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_job() is only available inside a worker's job handler") from None
