"""What ``enqueue`` takes (:class:`NewJob`) and what an adapter stores (:class:`PreparedJob`).

:func:`prepare_job` validates every option of a ``NewJob`` and encodes its payload with a
:class:`~kmsg.codec.PayloadCodec`, before anything is written; an adapter only ever sees a
``PreparedJob``.
"""

from __future__ import annotations

import msgspec

from kmsg.codec import PayloadCodec
from kmsg.errors import ValidationError
from kmsg.ids import new_job_id
from kmsg.models import Backoff
from kmsg.validation import (
    DEFAULT_LEASE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE,
    MAX_ATTEMPTS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    check_backoff,
    check_dedupe_key,
    check_int,
    check_lease,
    check_name,
    check_number,
    check_seconds,
    check_trace_parent,
)

__all__ = ["NewJob", "PreparedJob", "prepare_job"]


class NewJob(msgspec.Struct, frozen=True, kw_only=True):
    """One job to enqueue, with its options; ``JobQueue.enqueue`` takes the same as keywords.

    - ``payload``: a msgspec Struct instance; its type names the task.
    - ``queue``: the queue name (default ``"default"``).
    - ``priority``: -1000 to 1000, higher runs first (default 0).
    - ``delay`` (seconds from now) or ``run_at`` (epoch seconds), not both: when the job is due.
    - ``max_attempts``: runs allowed in all, 1 to 1000 (default 3).
    - ``backoff``: the retry delay after a failure (default ``Backoff()``).
    - ``lease``: seconds a claim lasts unless extended (default 30).
    - ``dedupe_key``: while a non-terminal job with this key exists in the queue, enqueue returns
      that job's id and writes nothing.
    - ``job_id``: the id to use (default: a new ULID); enqueueing an id that exists is a no-op that
      returns the id, which makes a replayed enqueue safe.
    - ``trace_parent``: the W3C ``traceparent`` of the producer's span, carried to the handler's
      span (set by :mod:`kmsg.tracing`; rarely by hand).
    """

    payload: msgspec.Struct
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    delay: float | None = None
    run_at: float | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: Backoff | None = None
    lease: float = DEFAULT_LEASE
    dedupe_key: str | None = None
    job_id: str | None = None
    trace_parent: str | None = None


class PreparedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A validated, encoded job, ready for an adapter to store.

    Exactly one of ``delay`` and ``run_at`` may be set; with neither the job is due now. The adapter
    resolves ``delay`` against its own clock (the Redis server's, for Redis).
    """

    id: str
    queue: str
    task: str
    payload: bytes
    priority: int
    delay: float | None
    run_at: float | None
    max_attempts: int
    backoff: Backoff
    lease: float
    dedupe_key: str | None
    trace_parent: str | None = None


def prepare_job(new: NewJob, codec: PayloadCodec) -> PreparedJob:
    """Validate every option of ``new`` and encode its payload; raise ``ValidationError`` if bad."""
    if not isinstance(new, NewJob):
        raise ValidationError(f"expected a kmsg.NewJob, not {type(new).__name__}")
    queue = check_name("queue", new.queue)
    job_id = new_job_id() if new.job_id is None else check_name("job id", new.job_id)
    if new.delay is not None and new.run_at is not None:
        raise ValidationError("give delay or run_at, not both")
    delay = None if new.delay is None else check_seconds("delay", new.delay)
    run_at = None if new.run_at is None else check_number("run_at", new.run_at, 0.0, 1e11)
    task, payload = codec.encode(new.payload)
    return PreparedJob(
        id=job_id,
        queue=queue,
        task=task,
        payload=payload,
        priority=check_int("priority", new.priority, MIN_PRIORITY, MAX_PRIORITY),
        delay=delay,
        run_at=run_at,
        max_attempts=check_int("max_attempts", new.max_attempts, 1, MAX_ATTEMPTS),
        backoff=check_backoff(Backoff() if new.backoff is None else new.backoff),
        lease=check_lease(new.lease),
        dedupe_key=check_dedupe_key(new.dedupe_key),
        trace_parent=check_trace_parent(new.trace_parent),
    )
