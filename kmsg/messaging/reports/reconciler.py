"""The polling reconciler: a ``reconcile_delivery`` job for gateways that do not push reports.

A provider that can look a message up implements :class:`DeliveryStatusLookup`
(``async delivery_status(message_id) -> DeliveryReport | None``: None while the gateway has no
final word). After a send, :func:`schedule_reconcile` enqueues round 0 of a
:class:`ReconcileDeliveryJob`; its handler (:class:`DeliveryReconciler`):

1. stops at once if the store already holds a final state for the message (a webhook, or an
   earlier round, got there first);
2. links the message to its send job in the store (a ``sent`` record: never overrides a report);
3. asks the provider; a report is upserted into the store, and a final one ends the chain;
4. otherwise enqueues the next round after the next delay of ``schedule`` (default 10 s, 30 s,
   2 min, 10 min, 30 min, then hourly), up to ``max_rounds`` rounds in all, then gives up
   (the record stays ``sent``).

Each round's job id is :func:`reconcile_job_id` (a digest of provider and message id, and the
round number), so a round enqueued twice (a handler that ran again after its worker died, or
two :func:`schedule_reconcile` calls) is written once: the queue keeps one job per id. A
retryable ``ProviderError`` from the lookup retries the same round (the job's own retries, with
the gateway's ``Retry-After``); a non-retryable one dead-letters it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import ClassVar, Final, Protocol, runtime_checkable

import msgspec

from kmsg.errors import ProviderError, ValidationError
from kmsg.messaging.delivery import DeliveryReport, DeliveryState
from kmsg.messaging.models import SendResult
from kmsg.messaging.reports.records import DeliveryRecord
from kmsg.messaging.reports.store import ReportStore
from kmsg.queue import JobQueue
from kmsg.worker import NonRetryable, Retry, Worker, current_job

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_SCHEDULE",
    "DeliveryReconciler",
    "DeliveryStatusLookup",
    "ReconcileDeliveryJob",
    "ReconcileOutcome",
    "reconcile_job_id",
    "schedule_reconcile",
]

DEFAULT_SCHEDULE: Final = (10.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
"""Seconds before round 0, 1, ...; rounds past the end wait the last delay."""
DEFAULT_MAX_ROUNDS: Final = 12
"""Rounds before the reconciler gives up (about six hours with the default schedule)."""


@runtime_checkable
class DeliveryStatusLookup(Protocol):
    """A provider that can ask its gateway what became of a message it sent."""

    async def delivery_status(self, message_id: str) -> DeliveryReport | None:
        """The gateway's final report on ``message_id``, or None while it has none yet.

        Raises ``ProviderError`` as ``send`` does (retryable or not).
        """
        ...


class ReconcileDeliveryJob(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Round ``round`` of polling ``provider`` for ``message_id`` (sent by job ``job_id``)."""

    __kmsg_task__: ClassVar[str] = "reconcile_delivery"
    provider: str
    message_id: str
    accepted_at: float
    job_id: str | None = None
    round: int = 0


class ReconcileOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a round found: the state, and the next round's job id if one was enqueued."""

    state: DeliveryState
    final: bool
    next_job_id: str | None = None


def reconcile_job_id(provider: str, message_id: str, round_: int) -> str:
    """The job id of round ``round_`` for a message: the same for the same inputs."""
    digest = hashlib.sha256(f"{provider}\0{message_id}".encode()).hexdigest()[:32]
    return f"dlr.{digest}.{round_}"


def _delay(schedule: Sequence[float], round_: int) -> float:
    return schedule[min(round_, len(schedule) - 1)]


def _check_schedule(schedule: Sequence[float]) -> tuple[float, ...]:
    delays = tuple(float(delay) for delay in schedule)
    if not delays or any(not 0 <= delay <= 86400 for delay in delays):
        raise ValidationError("a reconcile schedule is 1 or more delays of 0-86400 seconds")
    return delays


async def schedule_reconcile(
    queue: JobQueue,
    result: SendResult,
    *,
    queue_name: str = "default",
    job_id: str | None = None,
    schedule: Sequence[float] = DEFAULT_SCHEDULE,
) -> str:
    """Enqueue round 0 of polling for ``result``'s message; return its job id (idempotent)."""
    delays = _check_schedule(schedule)
    payload = ReconcileDeliveryJob(
        provider=result.provider,
        message_id=result.message_id,
        accepted_at=result.accepted_at,
        job_id=job_id,
    )
    return await queue.enqueue(
        payload,
        queue=queue_name,
        delay=delays[0],
        job_id=reconcile_job_id(result.provider, result.message_id, 0),
    )


class DeliveryReconciler:
    """The ``reconcile_delivery`` handler (module docstring): polls ``lookups[provider]``."""

    def __init__(
        self,
        lookups: Mapping[str, DeliveryStatusLookup],
        store: ReportStore,
        *,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
    ) -> None:
        if max_rounds < 1:
            raise ValidationError("max_rounds must be 1 or more")
        self.lookups = dict(lookups)
        self.store = store
        self.schedule = _check_schedule(schedule)
        self.max_rounds = max_rounds

    def register(self, worker: Worker) -> None:
        """Register the ``reconcile_delivery`` handler on ``worker``."""
        worker.register(self.reconcile_delivery)

    async def reconcile_delivery(self, job: ReconcileDeliveryJob) -> ReconcileOutcome:
        """Handler of ``reconcile_delivery``: one round (module docstring)."""
        kept = await self.store.lookup(job.provider, job.message_id)
        if kept is not None and kept.final:
            return ReconcileOutcome(state=kept.state, final=True)
        if job.job_id is not None and (kept is None or kept.job_id is None):
            await self.store.upsert(
                DeliveryRecord(
                    provider=job.provider,
                    message_id=job.message_id,
                    state=DeliveryState.SENT,
                    reported_at=job.accepted_at,
                    job_id=job.job_id,
                )
            )
        report = await self._ask(job)
        if report is not None:
            record = DeliveryRecord(
                provider=job.provider,
                message_id=job.message_id,  # the one asked about, whatever the reply says
                state=report.state,
                reported_at=report.reported_at,
                error_code=report.error_code,
                job_id=job.job_id,
            )
            await self.store.upsert(record)
            return ReconcileOutcome(state=record.state, final=True)
        state = DeliveryState.SENT if kept is None else kept.state
        following = job.round + 1
        if following >= self.max_rounds:
            return ReconcileOutcome(state=state, final=False)
        context = current_job()
        next_id = await context.queue.enqueue(
            msgspec.structs.replace(job, round=following),
            queue=context.job.queue,
            delay=_delay(self.schedule, following),
            max_attempts=context.job.max_attempts,
            backoff=context.job.backoff,
            job_id=reconcile_job_id(job.provider, job.message_id, following),
        )
        return ReconcileOutcome(state=state, final=False, next_job_id=next_id)

    async def _ask(self, job: ReconcileDeliveryJob) -> DeliveryReport | None:
        lookup = self.lookups.get(job.provider)
        if lookup is None:
            raise NonRetryable(f"no delivery-status lookup for provider {job.provider!r}")
        try:
            return await lookup.delivery_status(job.message_id)
        except ProviderError as exc:
            if exc.retryable:
                raise Retry(after=exc.retry_after, reason=str(exc)) from exc
            raise NonRetryable(str(exc)) from exc
