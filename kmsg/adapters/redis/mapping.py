"""Job hashes <-> :class:`kmsg.Job`, script arguments for new jobs, and listing cursors."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.models import Backoff, Job, JobError, JobState
from kmsg.validation import PreparedJob

__all__ = [
    "decode_cursor",
    "encode_cursor",
    "import_fields",
    "job_from_flat",
    "new_job_args",
    "unpack_fields",
]

_ERRORS: Final = msgspec.json.Decoder(tuple[JobError, ...])
_ENCODER: Final = msgspec.json.Encoder()
_CURSOR: Final = msgspec.json.Decoder(tuple[str, str, str])
_OPTIONAL_TIMES: Final = ("lease_until", "completed_at", "failed_at", "cancelled_at")
_STATES: Final = {state.value.encode(): state for state in JobState}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _time(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def job_from_flat(flat: Sequence[bytes]) -> Job:
    """Build a Job from a flat ``HGETALL`` reply (field, value, field, value, ...)."""
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    errors = h.get(b"errors", b"[]")
    return Job(
        id=h[b"id"].decode(),
        queue=h[b"queue"].decode(),
        task=h[b"task"].decode(),
        payload=h[b"payload"],
        state=_STATES[h[b"state"]],
        priority=int(h[b"priority"]),
        run_at=float(h[b"run_at"]),
        created_at=float(h[b"created_at"]),
        attempts=int(h[b"attempts"]),
        max_attempts=int(h[b"max_attempts"]),
        backoff=Backoff(
            initial=float(h[b"backoff_initial"]),
            factor=float(h[b"backoff_factor"]),
            maximum=float(h[b"backoff_maximum"]),
        ),
        lease=float(h[b"lease"]),
        dedupe_key=_text(h.get(b"dedupe_key")),
        errors=() if errors == b"[]" else _ERRORS.decode(errors),
        result=h.get(b"result"),
        lease_until=_time(h.get(b"lease_until")),
        cancel_requested=h.get(b"cancel_requested") == b"1",
        completed_at=_time(h.get(b"completed_at")),
        failed_at=_time(h.get(b"failed_at")),
        cancelled_at=_time(h.get(b"cancelled_at")),
    )


def unpack_fields(packed: bytes) -> list[bytes]:
    """The flat field/value array a script packed (``pack_fields`` in lua/includes/common.lua:
    the items' lengths, comma-separated, a newline, then the items back to back)."""
    header, _, body = packed.partition(b"\n")
    flat: list[bytes] = []
    start = 0
    for size in map(int, header.split(b",")):
        end = start + size
        flat.append(body[start:end])
        start = end
    return flat


def _static_fields(
    job: PreparedJob | Job, priority: int, backoff: Backoff
) -> list[str | bytes | float]:
    return [
        "queue",
        job.queue,
        "task",
        job.task,
        "payload",
        job.payload,
        "priority",
        priority,
        "max_attempts",
        job.max_attempts,
        "backoff_initial",
        backoff.initial,
        "backoff_factor",
        backoff.factor,
        "backoff_maximum",
        backoff.maximum,
        "lease",
        job.lease,
    ]


def new_job_args(job: PreparedJob) -> list[str | bytes | float]:
    """The enqueue.lua block of one prepared job (12 values, in the order the script reads)."""
    backoff = job.backoff
    return [
        job.id,
        job.dedupe_key or "",
        "" if job.run_at is None else job.run_at,
        "" if job.delay is None else job.delay,
        job.task,
        job.payload,
        job.priority,
        job.max_attempts,
        backoff.initial,
        backoff.factor,
        backoff.maximum,
        job.lease,
    ]


def import_fields(job: Job, queue: str) -> list[str | bytes | float]:
    """The import.lua argument block (count, then field/value pairs) of a snapshot."""
    snapshot = msgspec.structs.replace(job, queue=queue)
    fields = _static_fields(snapshot, job.priority, job.backoff)
    fields += [
        "id",
        job.id,
        "state",
        job.state.value,
        "run_at",
        job.run_at,
        "created_at",
        job.created_at,
        "attempts",
        job.attempts,
        "errors",
        _ENCODER.encode(job.errors),
    ]
    optional: list[tuple[str, str | bytes | float | None]] = [
        ("dedupe_key", job.dedupe_key),
        ("result", job.result),
        ("cancel_requested", "1" if job.cancel_requested else None),
    ]
    optional += [(name, getattr(job, name)) for name in _OPTIONAL_TIMES]
    for name, value in optional:
        if value is not None:
            fields += [name, value]
    return [len(fields) // 2, *fields]


def encode_cursor(state: JobState, score: bytes, job_id: bytes) -> str:
    """An opaque cursor for the position right after (score, id) in ``state``'s listing."""
    raw = _ENCODER.encode((state.value, score.decode(), job_id.decode()))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, state: JobState) -> tuple[str, str]:
    """The (score, id) a cursor made by :func:`encode_cursor` for ``state`` points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, score, job_id = _CURSOR.decode(raw)
        finite = math.isfinite(float(score))
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError):
        raise ValidationError(f"invalid cursor {cursor[:40]!r}") from None
    if not finite:
        raise ValidationError(f"invalid cursor {cursor[:40]!r}")
    if made_for != state.value:
        raise ValidationError(f"this cursor pages {made_for!r} jobs, not {state.value!r}")
    return score, job_id
