"""``KMsg``: the one object an application holds to send messages, now or through a queue.

::

    kmsg_ = KMsg(MockProvider(), queue, hooks=Hooks(on_error=alert))
    await kmsg_.send(Sms(to="010-1234-5678", text="안녕하세요"))          # now, with hooks
    job_id = await kmsg_.enqueue(message, priority="high")                   # a worker sends it
    job_id = await kmsg_.enqueue(message, run_at=time.time() + 3600)         # scheduled

``KMsg`` is itself a :class:`~kmsg.messaging.provider.Provider`, so a
:class:`~kmsg.messaging.processor.MessageJobProcessor` built on it runs the same hooks for queued
sends. Hooks are async callables; ``before_send`` may refuse a message by raising. An exception
raised by a hook propagates to the caller (for ``on_error``, chained to the send's error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kmsg.errors import ValidationError
from kmsg.messaging.delivery import DeliveryStatus, DeliveryStore, get_delivery_status
from kmsg.messaging.models import Message, MessagePriority, SendResult
from kmsg.messaging.processor import SendBulkMessagesJob, SendMessageJob, SendScheduledMessageJob
from kmsg.messaging.provider import Provider
from kmsg.models import Backoff
from kmsg.queue import JobQueue

__all__ = ["Hooks", "KMsg"]


@dataclass(frozen=True, slots=True)
class Hooks:
    """Async callbacks around every send: before it, after a success, after a failure."""

    before_send: Callable[[Message], Awaitable[None]] | None = None
    on_success: Callable[[Message, SendResult], Awaitable[None]] | None = None
    on_error: Callable[[Message, Exception], Awaitable[None]] | None = None


class KMsg:
    """Send through ``provider`` directly, or enqueue on ``queue`` (queue name ``queue_name``).

    Enqueued jobs get ``max_attempts`` runs and ``backoff`` between them (the queue's default
    backoff when None).
    """

    def __init__(
        self,
        provider: Provider,
        queue: JobQueue | None = None,
        *,
        hooks: Hooks | None = None,
        queue_name: str = "default",
        max_attempts: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.provider = provider
        self.queue = queue
        self.hooks = Hooks() if hooks is None else hooks
        self.queue_name = queue_name
        self.max_attempts = max_attempts
        self.backoff = backoff

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.provider.name

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """Send ``message`` now, running the hooks; re-raise the provider's error after on_error.

        ``idempotency_key`` goes to the provider (see :mod:`kmsg.messaging.provider`)."""
        hooks = self.hooks
        if hooks.before_send is not None:
            await hooks.before_send(message)
        try:
            result = await self.provider.send(message, idempotency_key=idempotency_key)
        except Exception as exc:
            if hooks.on_error is not None:
                await hooks.on_error(message, exc)
            raise
        if hooks.on_success is not None:
            await hooks.on_success(message, result)
        return result

    async def enqueue(
        self,
        message: Message,
        *,
        priority: MessagePriority | str = MessagePriority.NORMAL,
        run_at: float | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        """Queue ``message`` for a worker; return the job id.

        ``priority`` is ``"high"``, ``"normal"`` or ``"low"``; with ``run_at`` (epoch seconds) the
        message is a ``send_scheduled_message`` job held until then. Raises ``ValidationError``.
        """
        payload: SendMessageJob | SendScheduledMessageJob = SendMessageJob(message=message)
        if run_at is not None:
            payload = SendScheduledMessageJob(message=message, scheduled_at=run_at)
        return await self._queue().enqueue(
            payload,
            queue=self.queue_name,
            priority=_priority(priority),
            run_at=run_at,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            dedupe_key=dedupe_key,
        )

    async def enqueue_bulk(
        self,
        messages: Sequence[Message],
        *,
        priority: MessagePriority | str = MessagePriority.NORMAL,
    ) -> str:
        """Queue one bulk job for ``messages`` (one per recipient); return its job id."""
        return await self._queue().enqueue(
            SendBulkMessagesJob(messages=tuple(messages)),
            queue=self.queue_name,
            priority=_priority(priority),
            max_attempts=self.max_attempts,
            backoff=self.backoff,
        )

    async def delivery_status(
        self, job_id: str, *, store: DeliveryStore | None = None
    ) -> DeliveryStatus:
        """The status of an enqueued message (see :func:`get_delivery_status`)."""
        return await get_delivery_status(
            self._queue(), job_id, queue_name=self.queue_name, store=store
        )

    def _queue(self) -> JobQueue:
        if self.queue is None:
            raise ValidationError("this KMsg has no queue: pass one to KMsg(provider, queue)")
        return self.queue


def _priority(priority: MessagePriority | str) -> int:
    try:
        return MessagePriority(priority).queue_priority
    except ValueError:
        choices = [p.value for p in MessagePriority]
        raise ValidationError(f"priority must be one of {choices}, not {priority!r}") from None
