"""Waiting for a job to end: the rules ``wait`` and ``result`` share on every backend and I/O style.

A waiter looks at the job, and while it is live, waits for a sign that it may have ended, then
looks again, until it ends or the wait is over. Where the sign comes from is the adapter's
business: the Redis adapter is told by the script that ends the job (pub/sub, see
``watch.lua``) and still looks every :data:`RECHECK_SECONDS` in case a message was lost; the
others poll with a growing pause (:func:`poll_pauses`), so a job that ends soon is seen soon and
one that runs long costs a read about every :data:`MAX_POLL_PAUSE` seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgspec

from kmsg.errors import JobCancelled, JobFailed
from kmsg.models import Job, JobState
from kmsg.validation import MAX_LEASE, check_name, check_seconds

__all__ = [
    "MAX_POLL_PAUSE",
    "RECHECK_SECONDS",
    "check_wait",
    "poll_pauses",
    "result_of",
]

FIRST_POLL_PAUSE: Final = 0.005
MAX_POLL_PAUSE: Final = 0.25
RECHECK_SECONDS: Final = 5.0


def check_wait(queue: str, job_id: str, within: float) -> tuple[str, str, float]:
    """Check a wait's queue, job id and length (``within`` seconds, at most ``MAX_LEASE``)."""
    return (
        check_name("queue", queue),
        check_name("job id", job_id),
        check_seconds("within", within, high=MAX_LEASE),
    )


def poll_pauses() -> Iterator[float]:
    """The pauses between two looks at a job: 5 ms, doubling up to :data:`MAX_POLL_PAUSE`."""
    pause = FIRST_POLL_PAUSE
    while True:
        yield pause
        pause = min(pause * 2, MAX_POLL_PAUSE)


def result_of(job: Job, result_type: Any = Any) -> Any:
    """The ended job's result decoded from JSON as ``result_type`` (``None`` if it returned
    nothing); raises :class:`JobFailed` for a dead letter and :class:`JobCancelled`."""
    if job.state is JobState.FAILED:
        raise JobFailed(job)
    if job.state is JobState.CANCELLED:
        raise JobCancelled(job)
    if job.result is None:
        return None
    return msgspec.json.decode(job.result, type=result_type)
