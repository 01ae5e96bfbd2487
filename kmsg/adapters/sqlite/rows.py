"""Mapping between ``jobs`` rows and :class:`~kmsg.Job`, the error history, due times and
listing cursors.

Every ``SELECT``/``RETURNING`` of whole jobs lists the columns in table order (``JOB_COLUMNS``),
so a row is a plain tuple read by position.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.models import Backoff, Job, JobError, JobState
from kmsg.rules import MAX_ERRORS

__all__ = [
    "MAX_MESSAGE",
    "append_error",
    "claim_order",
    "decode_cursor",
    "decode_errors",
    "encode_cursor",
    "job_from_row",
]

JOB_COLUMNS: Final = (
    *("seq", "queue", "id", "task", "payload", "state", "priority", "run_at", "created_at"),
    *("attempts", "max_attempts", "backoff_initial", "backoff_factor", "backoff_maximum"),
    *("lease", "lease_until", "token", "dedupe_key", "errors", "result", "cancel_requested"),
    *("completed_at", "failed_at", "cancelled_at", "finished_at", "progress", "trace_parent"),
)
"""The columns of ``jobs`` in table order, which every whole-job read lists."""
FIRST_JOB_COLUMNS: Final = JOB_COLUMNS[: JOB_COLUMNS.index("progress")]
"""The columns of ``jobs`` as schema versions 1 and 2 made them (before ``progress``)."""
SEQ, PRIORITY, RUN_AT, TOKEN = (
    JOB_COLUMNS.index(n) for n in ("seq", "priority", "run_at", "token")
)
MAX_MESSAGE: Final = 2000

_errors_decoder: Final = msgspec.json.Decoder(tuple[JobError, ...])
_encoder: Final = msgspec.json.Encoder()


def job_from_row(row: tuple[Any, ...]) -> Job:
    """The :class:`Job` snapshot of one ``jobs`` row (columns in ``JOB_COLUMNS`` order)."""
    (
        _seq, queue, job_id, task, payload, state, priority, run_at, created_at, attempts,
        max_attempts, initial, factor, maximum, lease, lease_until, _token, dedupe_key, errors,
        result, cancel_requested, completed_at, failed_at, cancelled_at, _finished_at, progress,
        trace_parent,
    ) = row  # fmt: skip
    return Job(
        id=job_id,
        queue=queue,
        task=task,
        payload=payload,
        state=JobState(state),
        priority=priority,
        run_at=run_at,
        created_at=created_at,
        attempts=attempts,
        max_attempts=max_attempts,
        backoff=Backoff(initial=initial, factor=factor, maximum=maximum),
        lease=lease,
        dedupe_key=dedupe_key,
        errors=decode_errors(errors),
        result=result,
        progress=progress,
        trace_parent=trace_parent,
        lease_until=lease_until,
        cancel_requested=bool(cancel_requested),
        completed_at=completed_at,
        failed_at=failed_at,
        cancelled_at=cancelled_at,
    )


def claim_order(row: tuple[Any, ...]) -> tuple[int, float, int]:
    """Sort key putting rows in claim order: priority desc, run_at, enqueue order."""
    return (-row[PRIORITY], row[RUN_AT], row[SEQ])


def decode_errors(errors: str) -> tuple[JobError, ...]:
    """A job's stored error history (JSON) as :class:`~kmsg.JobError` values."""
    return _errors_decoder.decode(errors)


def append_error(errors: str, *, at: float, attempt: int, error_type: str, message: str) -> str:
    """``errors`` (stored JSON) with one entry added, keeping the last :data:`MAX_ERRORS`."""
    entry = JobError(at=at, attempt=attempt, type=error_type, message=message[:MAX_MESSAGE])
    history = (*_errors_decoder.decode(errors), entry)[-MAX_ERRORS:]
    return encode_errors(history)


def encode_errors(history: tuple[JobError, ...]) -> str:
    """The stored JSON form of an error history."""
    return _encoder.encode(history).decode()


class _Cursor(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    tag: str
    queue: str
    state: str
    key: list[float]


_CURSOR_TAG: Final = "kmsg-sqlite-1"
_cursor_decoder: Final = msgspec.json.Decoder(_Cursor)


def encode_cursor(queue: str, state: JobState, key: list[float]) -> str:
    """An opaque cursor: the sort key of the last row of a page, bound to its queue and state."""
    raw = _encoder.encode(_Cursor(tag=_CURSOR_TAG, queue=queue, state=state.value, key=key))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, queue: str, state: JobState, size: int) -> list[float]:
    """The sort key in ``cursor``; ``ValidationError`` unless made here for this listing."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = _cursor_decoder.decode(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (TypeError, ValueError, UnicodeError, binascii.Error, msgspec.DecodeError):
        decoded = None
    if (
        decoded is None
        or decoded.tag != _CURSOR_TAG
        or decoded.queue != queue
        or decoded.state != state.value
        or len(decoded.key) != size
    ):
        raise ValidationError("cursor was not made by this queue for this listing")
    return decoded.key
