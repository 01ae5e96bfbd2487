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

Provider errors steer the job: a retryable ``ProviderError`` raises ``Retry(after=retry_after)``
(the provider's ``Retry-After`` when it gave one, else the worker's backoff), a non-retryable one
raises ``NonRetryable`` and the job is dead-lettered at once.
"""

from __future__ import annotations

from typing import ClassVar, Final

import msgspec

from kmsg.errors import ProviderError, ValidationError
from kmsg.jobs import NewJob
from kmsg.messaging.delivery import DeliveryReport, DeliveryStore, InMemoryDeliveryStore
from kmsg.messaging.models import Message, SendResult
from kmsg.messaging.provider import Provider
from kmsg.messaging.sizing import message_type, promote, require_sms_fits
from kmsg.models import Job
from kmsg.queue import JobQueue
from kmsg.validation import MAX_BATCH
from kmsg.worker import NonRetryable, Retry, Worker, current_job

__all__ = [
    "BulkSendResult",
    "MessageJobProcessor",
    "SendBulkMessagesJob",
    "SendMessageJob",
    "SendScheduledMessageJob",
    "UpdateDeliveryStatusJob",
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

    async def send_message(self, job: SendMessageJob) -> SendResult:
        """Handler of ``send_message``: send the message, return the provider's result."""
        return await self._send(job.message, send_key(current_job().job))

    async def send_scheduled_message(self, job: SendScheduledMessageJob) -> SendResult:
        """Handler of ``send_scheduled_message``: sends like ``send_message`` once due."""
        return await self._send(job.message, send_key(current_job().job))

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

    async def _send(self, message: Message, key: str) -> SendResult:
        try:
            outgoing = promote(message) if self.promote_long_sms else require_sms_fits(message)
        except ValidationError as exc:
            raise NonRetryable(str(exc)) from exc
        try:
            result = await self.provider.send(outgoing, idempotency_key=key)
        except ProviderError as exc:
            if exc.retryable:
                raise Retry(after=exc.retry_after, reason=str(exc)) from exc
            raise NonRetryable(str(exc)) from exc
        if result.message_type is None:
            result = msgspec.structs.replace(result, message_type=message_type(outgoing))
        return result
