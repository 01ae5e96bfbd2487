"""Job records and script arguments: pure conversions, no I/O.

A job's record is a MessagePack array written by the Lua scripts (field order: ``FIELDS`` in
lua/includes/common.lua, trailing nils cut). Redis's Lua MessagePack writes every string as a
``str``, even binary ones, so the byte fields (payload, result) are taken raw and their header
stripped here, which also keeps them from being checked as UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.jobs import PreparedJob
from kmsg.models import Backoff, Job, JobError, JobState

__all__ = [
    "claimed_pairs",
    "decode_cursor",
    "encode_cursor",
    "import_args",
    "job_from_record",
    "new_job_args",
    "SEQ_DIGITS",
]

SEQ_DIGITS: Final = 12
"""The hex digits of the enqueue sequence that start every index member (then the job id)."""

_STATES: Final = {state.value: state for state in JobState}
_ENCODER: Final = msgspec.json.Encoder()
_CURSOR: Final = msgspec.json.Decoder(tuple[str, str, str])
_NIL: Final = b"\xc0"


class _Record(msgspec.Struct, array_like=True, frozen=True):
    """The stored record, field for field (see lua/includes/common.lua)."""

    state: str
    task: str
    payload: msgspec.Raw
    priority: int
    run_at: float
    created_at: float
    attempts: int
    max_attempts: int
    backoff_initial: float
    backoff_factor: float
    backoff_maximum: float
    lease: float
    seq: int
    dedupe_key: str | None = None
    token: str | None = None
    lease_until: float | None = None
    cancel_requested: bool | None = None
    errors: tuple[tuple[float, int, str, str], ...] | None = None
    result: msgspec.Raw = msgspec.Raw(_NIL)
    completed_at: float | None = None
    failed_at: float | None = None
    cancelled_at: float | None = None
    progress: msgspec.Raw = msgspec.Raw(_NIL)
    trace_parent: str | None = None


_DECODER: Final = msgspec.msgpack.Decoder(_Record)


def _raw_bytes(raw: msgspec.Raw) -> bytes | None:
    """The bytes of a MessagePack ``str`` (or nil: None), header stripped, not UTF-8-checked."""
    data = memoryview(raw)
    tag = data[0]
    if tag == 0xC0:
        return None
    if 0xA0 <= tag <= 0xBF:
        return bytes(data[1:])
    skip = {0xD9: 2, 0xDA: 3, 0xDB: 5, 0xC4: 2, 0xC5: 3, 0xC6: 5}[tag]
    return bytes(data[skip:])


def job_from_record(job_id: str, queue: str, blob: bytes) -> Job:
    """The :class:`Job` snapshot of one stored record."""
    r = _DECODER.decode(blob)
    errors = (
        ()
        if r.errors is None
        else tuple(JobError(at=e[0], attempt=e[1], type=e[2], message=e[3]) for e in r.errors)
    )
    return Job(
        id=job_id,
        queue=queue,
        task=r.task,
        payload=_raw_bytes(r.payload) or b"",
        state=_STATES[r.state],
        priority=r.priority,
        run_at=r.run_at,
        created_at=r.created_at,
        attempts=r.attempts,
        max_attempts=r.max_attempts,
        backoff=Backoff(
            initial=r.backoff_initial, factor=r.backoff_factor, maximum=r.backoff_maximum
        ),
        lease=r.lease,
        dedupe_key=r.dedupe_key,
        errors=errors,
        result=_raw_bytes(r.result),
        progress=_raw_bytes(r.progress),
        trace_parent=r.trace_parent,
        lease_until=r.lease_until,
        cancel_requested=bool(r.cancel_requested),
        completed_at=r.completed_at,
        failed_at=r.failed_at,
        cancelled_at=r.cancelled_at,
    )


def claimed_pairs(reply: Sequence[Any]) -> list[tuple[str, bytes]]:
    """``(id, record)`` pairs from a flat ``id1, record1, id2, record2, ...`` reply."""
    return [(reply[i].decode(), reply[i + 1]) for i in range(0, len(reply), 2)]


def new_job_args(job: PreparedJob) -> list[str | bytes | float]:
    """The enqueue.lua block of one prepared job (13 values, in the order the script reads)."""
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
        job.trace_parent or "",
    ]


def _optional(value: float | str | None) -> float | str:
    return "" if value is None else value


def import_args(job: Job) -> list[str | bytes | float]:
    """The import.lua block of one snapshot (23 values, in the order the script reads)."""
    return [
        job.id,
        job.state.value,
        job.task,
        job.payload,
        job.priority,
        job.run_at,
        job.created_at,
        job.attempts,
        job.max_attempts,
        job.backoff.initial,
        job.backoff.factor,
        job.backoff.maximum,
        job.lease,
        _optional(job.dedupe_key),
        _ENCODER.encode(job.errors),
        "0" if job.result is None else "1",
        job.result or b"",
        "1" if job.cancel_requested else "0",
        _optional(job.completed_at),
        _optional(job.failed_at),
        _optional(job.cancelled_at),
        job.progress or b"",
        job.trace_parent or "",
    ]


def encode_cursor(state: JobState, score: bytes, member: bytes) -> str:
    """An opaque cursor for the position right after (score, member) in ``state``'s listing."""
    raw = _ENCODER.encode((state.value, score.decode(), member.decode()))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, state: JobState) -> tuple[str, str]:
    """The (score, member) a cursor made by :func:`encode_cursor` for ``state`` points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, score, member = _CURSOR.decode(raw)
        finite = math.isfinite(float(score))
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError):
        raise ValidationError(f"invalid cursor {cursor[:40]!r}") from None
    if not finite or len(member) <= SEQ_DIGITS:
        raise ValidationError(f"invalid cursor {cursor[:40]!r}")
    if made_for != state.value:
        raise ValidationError(f"this cursor pages {made_for!r} jobs, not {state.value!r}")
    return score, member
