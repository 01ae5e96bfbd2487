"""What a worker reports about each job it handles, for hooks, metrics and dashboards.

Listeners are plain callables ``callback(event) -> None`` run synchronously on the worker's event
loop, so they must be quick; a listener that raises is logged and skipped, never fatal.

Per job, in order: ``started`` (the handler is about to run), then one outcome: ``completed``,
``retried`` (failed, will run again), ``dead`` (dead-lettered), ``lease_lost`` (the worker no longer
holds the job; it did nothing more), or ``released`` (given back at shutdown, attempt refunded).
A job released before its handler started gets ``released`` alone.
``timed_out`` comes just before the ``retried`` or ``dead`` of a job that hit ``job_timeout``.
A job whose task is unknown or whose payload does not decode gets ``dead`` without ``started``.

``loop_blocked`` comes after a job's ``started`` (not always before its outcome) when its
``async def`` handler blocked the event loop for longer than the worker's
``loop_block_threshold``; ``duration`` is the time the loop was blocked, reported when the loop
runs again (see :mod:`kmsg.worker.watchdog`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec

from kmsg.models import Job
from kmsg.worker.log import job_extra, logger

__all__ = ["EventKind", "EventListener", "WorkerEvent", "emit"]


class EventKind(enum.StrEnum):
    """What happened to a job (see the module docstring for the order)."""

    STARTED = "started"
    COMPLETED = "completed"
    RETRIED = "retried"
    DEAD = "dead"
    LEASE_LOST = "lease_lost"
    RELEASED = "released"
    TIMED_OUT = "timed_out"
    LOOP_BLOCKED = "loop_blocked"


class WorkerEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened to a job.

    ``job`` is the snapshot taken at claim time (``job.attempts`` is this run's attempt number);
    ``duration`` is the handler's run time in seconds once it has run (for ``loop_blocked``: the
    seconds the event loop was blocked); ``error`` is
    ``"Type: message"`` for failures; ``at`` is the epoch time of the event.
    """

    kind: EventKind
    job: Job
    duration: float | None = None
    error: str | None = None
    at: float


EventListener = Callable[[WorkerEvent], None]


def emit(listeners: list[EventListener], event: WorkerEvent) -> None:
    """Call every listener with ``event``; a listener's exception is logged, not raised."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception(
                "worker event listener %r failed on %s",
                listener,
                event.kind.value,
                extra=job_extra(event.job),
            )
