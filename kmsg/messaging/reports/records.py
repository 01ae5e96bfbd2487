"""Delivery records and the rule that merges them: pure data, no I/O.

A :class:`DeliveryRecord` is what a store keeps for one message: the gateway (``provider``) and
its ``message_id`` (together the key), the :class:`~kmsg.messaging.DeliveryState`, the gateway's
own time of the report (``reported_at``), an ``error_code`` and, when known, the ``job_id`` of
the send job.

**The merge rule** (:func:`merge`), the one every store applies inside one atomic step, so a
report recorded twice, late or out of order ends in the same record:

1. A final state (:data:`FINAL_STATES`: delivered, failed, cancelled) is never replaced by a
   non-final one (queued, sending, sent), whatever the timestamps say.
2. Otherwise the report with the later gateway timestamp (``reported_at``) wins; on a tie,
   the higher state in ``queued < sending < sent < cancelled < failed < delivered``, then the
   greater error code, so the outcome never depends on arrival order.
3. A report equal to the kept one changes nothing (a replay is a no-op), and ``job_id`` once
   known is kept.

The gateway's ``expired`` (a carrier gave up on a handset that stayed off) has no state of its
own in :class:`~kmsg.messaging.DeliveryState`: it is recorded as ``failed`` with the gateway's
code.
"""

from __future__ import annotations

import math
import re
from typing import Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.messaging.delivery import DeliveryReport, DeliveryState
from kmsg.validation import check_name

__all__ = [
    "FINAL_STATES",
    "DeliveryRecord",
    "check_provider",
    "decode_record",
    "encode_record",
    "merge",
    "record_from_report",
]

FINAL_STATES: Final = frozenset(
    {DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED}
)
"""States a message never leaves: a later non-final report cannot move it back."""

_RANK: Final = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENDING: 1,
    DeliveryState.SENT: 2,
    DeliveryState.CANCELLED: 3,
    DeliveryState.FAILED: 4,
    DeliveryState.DELIVERED: 5,
}
_PROVIDER: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_MESSAGE_ID: Final = 256
MAX_ERROR_CODE: Final = 128


def check_provider(name: object) -> str:
    """Return ``name`` if it is a valid provider name (1-64 of ``[A-Za-z0-9_.-]``)."""
    if not isinstance(name, str) or _PROVIDER.fullmatch(name) is None:
        raise ValidationError(
            f"invalid provider name {name!r}: use 1-64 characters of [A-Za-z0-9_.-]"
        )
    return name


def _check_text(field: str, value: str, limit: int) -> None:
    if not 1 <= len(value) <= limit or _CONTROL.search(value) is not None:
        raise ValidationError(f"{field} must be 1-{limit} characters without control characters")


class DeliveryRecord(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """What a delivery store keeps for one message (module docstring); checked when built."""

    provider: str
    message_id: str
    state: DeliveryState
    reported_at: float
    error_code: str | None = None
    job_id: str | None = None

    def __post_init__(self) -> None:
        check_provider(self.provider)
        _check_text("message_id", self.message_id, MAX_MESSAGE_ID)
        if not (math.isfinite(self.reported_at) and self.reported_at >= 0):
            raise ValidationError(f"reported_at must be epoch seconds, not {self.reported_at!r}")
        if self.error_code is not None:
            _check_text("error_code", self.error_code, MAX_ERROR_CODE)
        if self.job_id is not None:
            check_name("job id", self.job_id)

    @property
    def final(self) -> bool:
        """Whether the state is final (:data:`FINAL_STATES`)."""
        return self.state in FINAL_STATES

    def as_report(self) -> DeliveryReport | None:
        """This record as a :class:`~kmsg.messaging.DeliveryReport` (delivered or failed only)."""
        if self.state not in (DeliveryState.DELIVERED, DeliveryState.FAILED):
            return None
        return DeliveryReport(
            message_id=self.message_id,
            state=self.state,
            reported_at=self.reported_at,
            error_code=self.error_code,
        )


def record_from_report(
    report: DeliveryReport, provider: str, *, job_id: str | None = None
) -> DeliveryRecord:
    """The record of ``report`` from gateway ``provider``."""
    return DeliveryRecord(
        provider=provider,
        message_id=report.message_id,
        state=report.state,
        reported_at=report.reported_at,
        error_code=report.error_code,
        job_id=job_id,
    )


def _order(record: DeliveryRecord) -> tuple[bool, float, int, str]:
    return (record.final, record.reported_at, _RANK[record.state], record.error_code or "")


def merge(kept: DeliveryRecord | None, incoming: DeliveryRecord) -> DeliveryRecord:
    """The record to keep after ``incoming`` arrives where ``kept`` is (module docstring).

    Returns ``kept`` itself (the same object) when nothing changes, so a caller can skip the
    write with ``merged is kept``. ``ValidationError`` if the two are not for one message.
    """
    if kept is None:
        return incoming
    if (kept.provider, kept.message_id) != (incoming.provider, incoming.message_id):
        raise ValidationError("records of different messages cannot be merged")
    job_id = kept.job_id or incoming.job_id
    winner = incoming if _order(incoming) > _order(kept) else kept
    if winner.job_id != job_id:
        winner = msgspec.structs.replace(winner, job_id=job_id)
    return kept if winner == kept else winner


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeliveryRecord)


def encode_record(record: DeliveryRecord) -> bytes:
    """``record`` as compact JSON (absent fields left out)."""
    return _encoder.encode(record)


def decode_record(raw: bytes | str) -> DeliveryRecord:
    """The record encoded by :func:`encode_record` (checked again)."""
    return _decoder.decode(raw)
