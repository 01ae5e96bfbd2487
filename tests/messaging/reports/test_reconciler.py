"""The polling reconciler on a real queue and worker: rounds with backoff, stopping when final."""

from __future__ import annotations

import time

import anyio
import msgspec
import pytest

from kmsg import Backoff, JobNotFound, JobQueue, JobState
from kmsg.errors import ProviderError, ProviderErrorCode
from kmsg.messaging import DeliveryReport, DeliveryState, SendResult
from kmsg.messaging.reports import DeliveryRecord, ReportStore
from kmsg.messaging.reports.reconciler import (
    DeliveryReconciler,
    DeliveryStatusLookup,
    ReconcileDeliveryJob,
    ReconcileOutcome,
    reconcile_job_id,
    schedule_reconcile,
)
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

FAST = (0.01, 0.02, 0.05)
RUN_WITHIN = 60.0


class GatewayLookup:
    """A gateway without push: ``pending`` answers of None, then a final report (or errors)."""

    def __init__(self, pending: int, final: DeliveryState | None = DeliveryState.DELIVERED) -> None:
        self.pending = pending
        self.final = final
        self.calls: list[str] = []
        self.errors: list[ProviderError] = []

    async def delivery_status(self, message_id: str) -> DeliveryReport | None:
        self.calls.append(message_id)
        if self.errors:
            raise self.errors.pop(0)
        if len(self.calls) <= self.pending or self.final is None:
            return None
        return DeliveryReport(
            message_id=message_id, state=self.final, reported_at=time.time(), error_code=None
        )


def result(message_id: str = "gw-1") -> SendResult:
    return SendResult(message_id=message_id, provider="gw", to="01012345678", accepted_at=50.0)


async def run(queue: JobQueue, qname: str, reconciler: DeliveryReconciler) -> None:
    worker = Worker(queue, queues=(qname,), idle_wait=0.02, lease=10.0)
    reconciler.register(worker)
    with anyio.fail_after(RUN_WITHIN):
        await worker.run_until_idle()


async def outcome(queue: JobQueue, qname: str, round_: int) -> ReconcileOutcome:
    job = await queue.get(qname, reconcile_job_id("gw", "gw-1", round_))
    assert job.state is JobState.COMPLETED
    assert job.result is not None
    return msgspec.json.decode(job.result, type=ReconcileOutcome)


def test_a_provider_with_a_lookup_is_one() -> None:
    assert isinstance(GatewayLookup(0), DeliveryStatusLookup)


async def test_polls_with_backoff_until_final(
    queue: JobQueue, qname: str, reports: ReportStore
) -> None:
    lookup = GatewayLookup(pending=2)
    reconciler = DeliveryReconciler({"gw": lookup}, reports, schedule=FAST)
    first = await schedule_reconcile(
        queue, result(), queue_name=qname, job_id="send-1", schedule=FAST
    )
    assert first == reconcile_job_id("gw", "gw-1", 0)

    await run(queue, qname, reconciler)

    assert lookup.calls == ["gw-1"] * 3
    kept = await reports.lookup("gw", "gw-1")
    assert kept is not None
    assert (kept.state, kept.job_id) == (DeliveryState.DELIVERED, "send-1")
    assert await reports.by_job("send-1") == kept
    assert (await outcome(queue, qname, 0)).next_job_id == reconcile_job_id("gw", "gw-1", 1)
    assert (await outcome(queue, qname, 2)) == ReconcileOutcome(
        state=DeliveryState.DELIVERED, final=True
    )
    with pytest.raises(JobNotFound):
        await queue.get(qname, reconcile_job_id("gw", "gw-1", 3))


async def test_gives_up_after_max_rounds(queue: JobQueue, qname: str, reports: ReportStore) -> None:
    lookup = GatewayLookup(pending=0, final=None)
    reconciler = DeliveryReconciler({"gw": lookup}, reports, schedule=FAST, max_rounds=3)
    await schedule_reconcile(queue, result(), queue_name=qname, job_id="send-1", schedule=FAST)

    await run(queue, qname, reconciler)

    assert len(lookup.calls) == 3
    last = await outcome(queue, qname, 2)
    assert (last.final, last.next_job_id) == (False, None)
    kept = await reports.by_job("send-1")
    assert kept is not None
    assert (kept.state, kept.reported_at) == (DeliveryState.SENT, 50.0)


async def test_stops_at_once_when_a_webhook_got_there_first(
    queue: JobQueue, qname: str, reports: ReportStore
) -> None:
    await reports.upsert(
        DeliveryRecord(
            provider="gw", message_id="gw-1", state=DeliveryState.FAILED, reported_at=60.0
        )
    )
    lookup = GatewayLookup(pending=0)
    await schedule_reconcile(queue, result(), queue_name=qname, schedule=FAST)

    await run(queue, qname, DeliveryReconciler({"gw": lookup}, reports, schedule=FAST))

    assert lookup.calls == []
    assert (await outcome(queue, qname, 0)) == ReconcileOutcome(
        state=DeliveryState.FAILED, final=True
    )


async def test_scheduling_twice_is_one_job(
    queue: JobQueue, qname: str, reports: ReportStore
) -> None:
    ids = {
        await schedule_reconcile(queue, result(), queue_name=qname, schedule=FAST) for _ in range(3)
    }
    assert len(ids) == 1
    assert (await queue.stats(qname)).total == 1


async def test_a_retryable_lookup_error_retries_the_round(
    queue: JobQueue, qname: str, reports: ReportStore
) -> None:
    lookup = GatewayLookup(pending=0)
    lookup.errors.append(ProviderError(ProviderErrorCode.NETWORK_TIMEOUT, "gateway slow"))
    await queue.enqueue(
        _round0(),
        queue=qname,
        backoff=Backoff(initial=0.01, factor=1.0, maximum=0.01),
        job_id=reconcile_job_id("gw", "gw-1", 0),
    )

    await run(queue, qname, DeliveryReconciler({"gw": lookup}, reports, schedule=FAST))

    job = await queue.get(qname, reconcile_job_id("gw", "gw-1", 0))
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    kept = await reports.lookup("gw", "gw-1")
    assert kept is not None
    assert kept.state is DeliveryState.DELIVERED


async def test_an_unknown_provider_is_dead_lettered(
    queue: JobQueue, qname: str, reports: ReportStore
) -> None:
    await schedule_reconcile(queue, result(), queue_name=qname, schedule=FAST)
    await run(queue, qname, DeliveryReconciler({}, reports, schedule=FAST))
    job = await queue.get(qname, reconcile_job_id("gw", "gw-1", 0))
    assert job.state is JobState.FAILED


def _round0() -> ReconcileDeliveryJob:
    return ReconcileDeliveryJob(provider="gw", message_id="gw-1", accepted_at=50.0)
