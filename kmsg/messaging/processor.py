"""``MessageJobProcessor``: the worker handlers that turn queued message jobs into provider sends.

Four job types (payload Structs, named by ``__kmsg_task__``):

* ``send_message`` (:class:`SendMessageJob`): send one message; the job's result is the
  :class:`~kmsg.messaging.models.SendResult`.
* ``send_scheduled_message`` (:class:`SendScheduledMessageJob`): the same, enqueued with
  ``run_at=scheduled_at`` so the queue holds it ``delayed`` until then.
* ``send_bulk_messages`` (:class:`SendBulkMessagesJob`): **fans out**. The handler enqueues, in one
  atomic ``enqueue_many``, one ``send_message`` job per recipient with the id
  ``f"{bulk_job_id}.{index}"`` and the dedupe key ``f"{bulk_job_id}:{recipient}"``, and completes
  with their ids. Each recipient's send is then its own job, retried on its own, so a failure for
  one recipient never re-sends to another. If the bulk handler runs again (its worker died before
  completing it, or it was retried), the same ids are enqueued again and the queue writes nothing
  for an id it already holds: no recipient gets a second job, whatever state the first is in.
* ``update_delivery_status`` (:class:`UpdateDeliveryStatusJob`): record a carrier's delivery report
  in the processor's :class:`~kmsg.messaging.delivery.DeliveryStore`.

Every send carries the idempotency key :func:`send_key` (``kmsg:<queue>:<job id>``): the same for
every attempt of one job, and so of one recipient. A gateway that honours it delivers a message
once even when a worker dies after the gateway accepted the send and before the job was
acknowledged (the job then runs again).

**Long SMS.** Before the provider is called, a long SMS (an ``Sms`` over 90 CP949 bytes) is
promoted to an ``Lms`` (:func:`kmsg.messaging.sizing.promote`); with ``promote_long_sms=False``
it is refused instead (``NonRetryable``: dead-lettered at once, nothing sent). Promotion is
decided by the message alone, so every attempt of a job sends the same type under the same
idempotency key. The result's ``message_type`` says what was sent (the processor fills it in
when the provider left it None).

Provider errors steer the job: ``RATE_LIMIT_EXCEEDED`` with a ``Retry-After`` raises
``Snooze(retry_after)`` (the job waits without using an attempt, up to the worker's snooze
bound: being told to wait is not a failure); another retryable ``ProviderError`` raises
``Retry(after=retry_after)`` (the provider's ``Retry-After`` when it gave one, else the worker's
backoff); a non-retryable one raises ``NonRetryable`` and the job is dead-lettered at once.

**AlimTalk fallback to SMS/LMS.** An :class:`~kmsg.messaging.models.AlimTalk` with a
``fallback_text`` that the provider refuses with a code meaning KakaoTalk cannot deliver it
(``ProviderErrorCode.falls_back``: ``NOT_KAKAO_USER``, ``OUTSIDE_SEND_WINDOW``) is not
dead-lettered: the handler enqueues **one** fallback ``send_message`` job (:func:`enqueue_fallback`)
carrying the text as an ``Sms``, or an ``Lms`` when it is over 90 CP949 bytes
(:func:`kmsg.messaging.sizing.text_message`), to the same recipient from the same sender, and
completes the AlimTalk job with a :class:`FallbackResult` naming that job. A gateway that resends
by itself (NHN Cloud's ``resendParameter``, say) reports the send as accepted, so this runs only
when no resend happened. Without a ``fallback_text`` the job is dead-lettered as before.

* The fallback job's id is ``f"{job_id}.fallback"`` (:func:`fallback_job_id`), so enqueueing it
  again is a no-op: however often the AlimTalk job runs, there is at most one fallback job.
* It is its own job, so its send has its own idempotency key (``kmsg:<queue>:<id>.fallback``),
  retries and dead letter; it takes the AlimTalk job's priority, attempts, backoff and lease.
* **Never both.** A rerun of an AlimTalk job (its worker died after enqueueing the fallback and
  before completing, say) first looks for its fallback job and, when there is one, does not send
  the AlimTalk again: it completes with a ``FallbackResult``. So a recipient gets the AlimTalk or
  the fallback text, never both and never two of either (under the lease fencing's assumption
  that a worker whose lease ran out has stopped by the time its job runs again).
"""

from __future__ import annotations

from typing import ClassVar, Final

import msgspec

from kmsg.errors import JobNotFound, ProviderError, ProviderErrorCode, ValidationError
from kmsg.jobs import NewJob
from kmsg.messaging.delivery import DeliveryReport, DeliveryStore, InMemoryDeliveryStore
from kmsg.messaging.models import AlimTalk, Lms, Message, SendResult, Sms
from kmsg.messaging.provider import Provider
from kmsg.messaging.sizing import message_type, promote, require_sms_fits, text_message
from kmsg.models import Job
from kmsg.queue import JobQueue
from kmsg.validation import MAX_BATCH
from kmsg.worker import NonRetryable, Retry, Snooze, Worker, current_job

__all__ = [
    "BulkSendResult",
    "FallbackResult",
    "MessageJobProcessor",
    "SendBulkMessagesJob",
    "SendMessageJob",
    "SendScheduledMessageJob",
    "UpdateDeliveryStatusJob",
    "enqueue_fallback",
    "fallback_job_id",
    "fallback_message",
    "fan_out",
    "send_key",
]

MAX_BULK: Final = MAX_BATCH


class SendMessageJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Send one message now."""

    __kmsg_task__: ClassVar[str] = "send_message"
    message: Message


class SendScheduledMessageJob(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Send one message at ``scheduled_at`` (epoch seconds; enqueue with the same ``run_at``)."""

    __kmsg_task__: ClassVar[str] = "send_scheduled_message"
    message: Message
    scheduled_at: float


class SendBulkMessagesJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Send each of ``messages`` (1 to 10,000, one per recipient: recipients must differ)."""

    __kmsg_task__: ClassVar[str] = "send_bulk_messages"
    messages: tuple[Message, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.messages) <= MAX_BULK:
            raise ValidationError(f"a bulk send holds 1-{MAX_BULK} messages")
        recipients = [message.to for message in self.messages]
        if len(set(recipients)) != len(recipients):
            raise ValidationError("a bulk send names each recipient once")


class UpdateDeliveryStatusJob(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Record a carrier's delivery report."""

    __kmsg_task__: ClassVar[str] = "update_delivery_status"
    report: DeliveryReport


def send_key(job: Job) -> str:
    """The idempotency key of the send a job makes: ``kmsg:<queue>:<job id>``, the same for
    every attempt of the job (and per recipient: a bulk send has one job per recipient)."""
    return f"kmsg:{job.queue}:{job.id}"


class BulkSendResult(msgspec.Struct, frozen=True, kw_only=True):
    """A fanned-out bulk send: the ``send_message`` job ids, in the order of its messages."""

    job_ids: tuple[str, ...]


async def fan_out(queue: JobQueue, parent: Job, bulk: SendBulkMessagesJob) -> list[str]:
    """Enqueue one ``send_message`` job per message of ``bulk``; return their ids.

    The child jobs take the parent job's queue, priority, attempts, backoff and lease. Safe to
    repeat: the ids are derived from ``parent.id``, so a repeat writes nothing.
    """
    children = [
        NewJob(
            payload=SendMessageJob(message=message),
            queue=parent.queue,
            priority=parent.priority,
            max_attempts=parent.max_attempts,
            backoff=parent.backoff,
            lease=parent.lease,
            dedupe_key=f"{parent.id}:{message.to}",
            job_id=f"{parent.id}.{index}",
        )
        for index, message in enumerate(bulk.messages)
    ]
    return await queue.enqueue_many(children)


class MessageJobProcessor:
    """Binds the message job handlers to a worker, sending through ``provider``.

    ``provider`` may be a :class:`~kmsg.messaging.facade.KMsg`, so its hooks run for queued sends
    too. Delivery reports go to ``delivery_store`` (default: a new in-memory store). A long SMS
    is sent as LMS unless ``promote_long_sms`` is False, when it is refused (module docstring).
    """

    def __init__(
        self,
        provider: Provider,
        *,
        delivery_store: DeliveryStore | None = None,
        promote_long_sms: bool = True,
    ) -> None:
        self.provider = provider
        self.promote_long_sms = promote_long_sms
        self.delivery_store: DeliveryStore = (
            InMemoryDeliveryStore() if delivery_store is None else delivery_store
        )

    def register(self, worker: Worker) -> None:
        """Register the four handlers on ``worker``."""
        worker.register(self.send_message)
        worker.register(self.send_scheduled_message)
        worker.register(self.send_bulk_messages)
        worker.register(self.update_delivery_status)

    async def send_message(self, job: SendMessageJob) -> SendResult | FallbackResult:
        """Handler of ``send_message``: send the message, return the provider's result (or,
        for an AlimTalk that fell back to SMS/LMS, a :class:`FallbackResult`)."""
        return await self._deliver(job.message)

    async def send_scheduled_message(
        self, job: SendScheduledMessageJob
    ) -> SendResult | FallbackResult:
        """Handler of ``send_scheduled_message``: sends like ``send_message`` once due."""
        return await self._deliver(job.message)

    async def send_bulk_messages(self, job: SendBulkMessagesJob) -> BulkSendResult:
        """Handler of ``send_bulk_messages``: fan out one job per recipient (module docstring)."""
        context = current_job()
        try:
            ids = await fan_out(context.queue, context.job, job)
        except ValidationError as exc:
            raise NonRetryable(f"cannot fan out bulk job {context.job.id}: {exc}") from exc
        return BulkSendResult(job_ids=tuple(ids))

    async def update_delivery_status(self, job: UpdateDeliveryStatusJob) -> None:
        """Handler of ``update_delivery_status``: keep the report in the delivery store."""
        await self.delivery_store.record(job.report)

    async def _deliver(self, message: Message) -> SendResult | FallbackResult:
        """Send ``message`` for the running job, falling back to SMS/LMS (module docstring)."""
        context = current_job()
        if not (isinstance(message, AlimTalk) and message.fallback_text is not None):
            return await self._send(message, send_key(context.job))
        if context.attempt > 1:
            done = await _fallback_done(context.queue, context.job, message)
            if done is not None:
                return done
        try:
            return await self._send(message, send_key(context.job))
        except (Retry, NonRetryable) as exc:
            refusal = exc.__cause__
            if not (isinstance(refusal, ProviderError) and refusal.code.falls_back):
                raise
        return await _fall_back(context.queue, context.job, message, refusal)

    async def _send(self, message: Message, key: str) -> SendResult:
        try:
            outgoing = promote(message) if self.promote_long_sms else require_sms_fits(message)
        except ValidationError as exc:
            raise NonRetryable(str(exc)) from exc
        try:
            result = await self.provider.send(outgoing, idempotency_key=key)
        except ProviderError as exc:
            if exc.code is ProviderErrorCode.RATE_LIMIT_EXCEEDED and exc.retry_after is not None:
                raise Snooze(exc.retry_after, str(exc)) from exc
            if exc.retryable:
                raise Retry(after=exc.retry_after, reason=str(exc)) from exc
            raise NonRetryable(str(exc)) from exc
        if result.message_type is None:
            result = msgspec.structs.replace(result, message_type=message_type(outgoing))
        return result


class FallbackResult(msgspec.Struct, frozen=True, kw_only=True):
    """An AlimTalk job's result when KakaoTalk could not deliver and a fallback job took over.

    ``fallback_job_id`` names the ``send_message`` job, in the same queue, that sends the text as
    ``fallback_type`` (``"SMS"`` or ``"LMS"``); its own result says how that went. ``code`` (a
    ``ProviderErrorCode`` value) and ``reason`` are the provider's refusal; ``code`` is None on
    a rerun that found the fallback job already queued (the AlimTalk was not sent again).
    """

    fallback_job_id: str
    fallback_type: str
    code: str | None
    reason: str


def fallback_job_id(job_id: str) -> str:
    """The id of the fallback job of AlimTalk job ``job_id``: ``f"{job_id}.fallback"``."""
    return f"{job_id}.fallback"


def fallback_message(message: AlimTalk) -> Sms | Lms:
    """The SMS (or LMS, over 90 CP949 bytes) carrying ``message.fallback_text``, to the same
    recipient from the same sender. Raises ``ValidationError`` when there is no fallback text."""
    if message.fallback_text is None:
        raise ValidationError("this AlimTalk has no fallback_text")
    return text_message(message.to, message.fallback_text, sender=message.sender)


async def enqueue_fallback(queue: JobQueue, job: Job, message: AlimTalk) -> tuple[str, str]:
    """Enqueue the fallback job of AlimTalk job ``job``; return its id and message type.

    The ``send_message`` job carries ``message.fallback_text`` as an ``Sms`` (an ``Lms`` over 90
    CP949 bytes) to the same recipient and sender, with ``job``'s queue, priority, attempts,
    backoff and lease, under the id :func:`fallback_job_id`: a repeat writes nothing. Raises
    ``ValidationError`` when the message has no fallback text, or it or the id is invalid.
    """
    fallback = fallback_message(message)
    job_id = await queue.enqueue(
        SendMessageJob(message=fallback),
        queue=job.queue,
        priority=job.priority,
        max_attempts=job.max_attempts,
        backoff=job.backoff,
        lease=job.lease,
        job_id=fallback_job_id(job.id),
    )
    return job_id, message_type(fallback)


async def _fall_back(
    queue: JobQueue, job: Job, message: AlimTalk, refusal: ProviderError
) -> FallbackResult:
    try:
        fallback_id, kind = await enqueue_fallback(queue, job, message)
    except ValidationError as exc:
        raise NonRetryable(f"{refusal}; and its fallback cannot be queued: {exc}") from exc
    return FallbackResult(
        fallback_job_id=fallback_id,
        fallback_type=kind,
        code=refusal.code.value,
        reason=str(refusal),
    )


async def _fallback_done(queue: JobQueue, job: Job, message: AlimTalk) -> FallbackResult | None:
    """The result of an earlier run of ``job`` that already handed it to its fallback job."""
    try:
        fallback = await queue.get(job.queue, fallback_job_id(job.id))
    except JobNotFound:
        return None
    return FallbackResult(
        fallback_job_id=fallback.id,
        fallback_type=message_type(fallback_message(message)),
        code=None,
        reason="an earlier run of this job fell back; the AlimTalk was not sent again",
    )
