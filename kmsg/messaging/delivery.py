"""Delivery status: what became of a queued message, from its job and the carrier's report.

Two sources, read together by :func:`get_delivery_status`:

* **The send job.** A ``send_message`` or ``send_scheduled_message`` job completes with the
  provider's :class:`~kmsg.messaging.models.SendResult` as its result, so the queue itself says
  whether a message is queued, being sent, accepted by the provider, failed or cancelled.
* **Delivery reports.** Later the carrier reports whether the handset got it. Each report arrives
  as an ``update_delivery_status`` job whose handler records it in a :class:`DeliveryStore`, keyed
  by the provider's ``message_id``. :class:`InMemoryDeliveryStore` is the one kmsg ships (one
  process); a durable store implements the same two methods. Reports may arrive late, twice or out
  of order (their jobs run at least once), so a store keeps the newest by ``reported_at``.
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

import msgspec

from kmsg.errors import ValidationError
from kmsg.messaging.models import SendResult
from kmsg.models import JobState
from kmsg.queue import JobQueue

__all__ = [
    "DeliveryReport",
    "DeliveryState",
    "DeliveryStatus",
    "DeliveryStore",
    "InMemoryDeliveryStore",
    "get_delivery_status",
]


class DeliveryState(enum.StrEnum):
    """Where a message is: queued, sending, sent (accepted by the provider), delivered or not."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


_REPORTED = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED})
_FROM_JOB = {
    JobState.PENDING: DeliveryState.QUEUED,
    JobState.DELAYED: DeliveryState.QUEUED,
    JobState.PROCESSING: DeliveryState.SENDING,
    JobState.COMPLETED: DeliveryState.SENT,
    JobState.FAILED: DeliveryState.FAILED,
    JobState.CANCELLED: DeliveryState.CANCELLED,
}


class DeliveryReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A carrier's final word on one message: ``delivered`` or ``failed`` (with its code)."""

    message_id: str
    state: DeliveryState
    reported_at: float
    error_code: str | None = None

    def __post_init__(self) -> None:
        if self.state not in _REPORTED:
            raise ValidationError(f"a delivery report is delivered or failed, not {self.state}")
        if not self.message_id:
            raise ValidationError("a delivery report needs a message_id")


@runtime_checkable
class DeliveryStore(Protocol):
    """Keeps the newest delivery report per provider message id."""

    async def record(self, report: DeliveryReport) -> None:
        """Keep ``report`` unless a newer one for its message is already kept (idempotent)."""
        ...

    async def get(self, message_id: str) -> DeliveryReport | None:
        """The newest report for ``message_id``, or None."""
        ...


class InMemoryDeliveryStore:
    """A :class:`DeliveryStore` in a dict: for tests and single-process use."""

    def __init__(self) -> None:
        self._reports: dict[str, DeliveryReport] = {}

    async def record(self, report: DeliveryReport) -> None:
        """Keep ``report`` unless a newer one for its message is already kept."""
        kept = self._reports.get(report.message_id)
        if kept is None or report.reported_at >= kept.reported_at:
            self._reports[report.message_id] = report

    async def get(self, message_id: str) -> DeliveryReport | None:
        """The newest report for ``message_id``, or None."""
        return self._reports.get(message_id)


class DeliveryStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One message's status: its job's id and attempts, the provider's result and any report.

    ``error`` is the job's last error message, if it ever failed.
    """

    job_id: str
    state: DeliveryState
    attempts: int
    result: SendResult | None = None
    report: DeliveryReport | None = None
    error: str | None = None


_result_decoder = msgspec.json.Decoder(SendResult)


class _FellBack(msgspec.Struct):
    """The part of a fallen-back AlimTalk job's result (``FallbackResult``) read here."""

    fallback_job_id: str


_fallback_decoder = msgspec.json.Decoder(_FellBack)


async def get_delivery_status(
    queue: JobQueue,
    job_id: str,
    *,
    queue_name: str = "default",
    store: DeliveryStore | None = None,
) -> DeliveryStatus:
    """The status of the message sent by job ``job_id`` of ``queue_name``.

    A completed job's state is ``sent``, or the state of the newest report in ``store`` for its
    message. An AlimTalk job that fell back to SMS/LMS answers with the status of its fallback
    job (whose ``job_id`` the status then carries). Raises ``JobNotFound``, or
    ``ValidationError`` if the job's result is not a ``SendResult`` (it is not a message send).
    """
    return await _status(queue, job_id, queue_name, store, follow=True)


async def _status(
    queue: JobQueue, job_id: str, queue_name: str, store: DeliveryStore | None, *, follow: bool
) -> DeliveryStatus:
    """:func:`get_delivery_status`, following a fallback at most once (``follow``)."""
    job = await queue.get(queue_name, job_id)
    state = _FROM_JOB[job.state]
    result = report = None
    if job.result is not None:
        try:
            result = _result_decoder.decode(job.result)
        except (msgspec.ValidationError, msgspec.DecodeError):
            fallback = _fallback_job(job.result) if follow else None
            if fallback is None:
                why = f"job {job_id!r} ({job.task}) is not a message send"
                raise ValidationError(why) from None
            return await _status(queue, fallback, queue_name, store, follow=False)
    if result is not None and store is not None:
        report = await store.get(result.message_id)
        if report is not None:
            state = report.state
    last = job.last_error
    return DeliveryStatus(
        job_id=job.id,
        state=state,
        attempts=job.attempts,
        result=result,
        report=report,
        error=None if last is None else f"{last.type}: {last.message}",
    )


def _fallback_job(result: bytes) -> str | None:
    """The fallback job's id, if ``result`` is a fallen-back AlimTalk job's."""
    try:
        return _fallback_decoder.decode(result).fallback_job_id
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
