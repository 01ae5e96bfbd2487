"""MessageJobProcessor on a real queue and worker, on every backend in ``tests.backends``."""

from __future__ import annotations

import time
from collections import Counter

import anyio
import msgspec
import pytest

from kmsg import Backoff, JobQueue, JobState, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    BulkSendResult,
    DeliveryReport,
    DeliveryState,
    Fail,
    KMsg,
    MessageJobProcessor,
    MockProvider,
    RateLimited,
    SendBulkMessagesJob,
    Sms,
    Succeed,
    UpdateDeliveryStatusJob,
    fan_out,
    get_delivery_status,
)
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

RUN_WITHIN = 60.0
FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05)


def sms(n: int) -> Sms:
    return Sms(to=f"010-5555-{n:04d}", text=f"hello {n}")


def worker_for(
    queue: JobQueue, qname: str, processor: MessageJobProcessor, *, concurrency: int = 10
) -> Worker:
    worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0, concurrency=concurrency)
    processor.register(worker)
    return worker


async def run(worker: Worker) -> None:
    with anyio.fail_after(RUN_WITHIN):
        await worker.run_until_idle()


async def test_a_failed_send_is_retried_then_succeeds(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    provider.mock_failure(2)
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=3, backoff=FAST)
    job_id = await kmsg_.enqueue(sms(1))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert [call.ok for call in provider.history] == [False, False, True]
    assert {call.message for call in provider.history} == {sms(1)}
    status = await kmsg_.delivery_status(job_id)
    assert (status.state, status.attempts) == (DeliveryState.SENT, 3)
    assert status.result == msgspec.structs.replace(provider.history[-1].result, message_type="SMS")


async def test_rate_limit_retry_after_is_honoured(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    provider.script(RateLimited(retry_after=0.5))
    job_id = await KMsg(provider, queue, queue_name=qname, backoff=FAST).enqueue(sms(1))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)  # the wait used no attempt
    [error] = job.errors
    assert error.type == "Snoozed"
    assert "RATE_LIMIT_EXCEEDED" in error.message
    assert job.completed_at is not None
    assert job.completed_at - error.at >= 0.4


async def test_a_gateway_that_keeps_saying_wait_does_not_burn_the_attempts(
    queue: JobQueue, qname: str
) -> None:
    provider = MockProvider()
    for _ in range(5):
        provider.script(RateLimited(retry_after=0.01))
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=2, backoff=FAST)
    job_id = await kmsg_.enqueue(sms(1))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert [e.type for e in job.errors] == ["Snoozed"] * 5


async def test_a_poison_job_is_dead_lettered_after_max_attempts(
    queue: JobQueue, qname: str
) -> None:
    provider = MockProvider(lambda message: Fail(ProviderErrorCode.PROVIDER_ERROR, "down"))
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=3, backoff=FAST)
    job_id = await kmsg_.enqueue(sms(1))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert len(provider.history) == 3
    assert provider.sent == []
    failed = await queue.list_failed(qname)
    assert [job.id for job in failed.jobs] == [job_id]
    assert len(failed.jobs[0].errors) == 3
    status = await kmsg_.delivery_status(job_id)
    assert status.state is DeliveryState.FAILED
    assert status.error is not None
    assert "PROVIDER_ERROR: down" in status.error


async def test_a_non_retryable_error_dead_letters_at_once(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    provider.mock_failure(1, ProviderErrorCode.INVALID_REQUEST)
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=5, backoff=FAST)
    job_id = await kmsg_.enqueue(sms(1))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert len(provider.history) == 1
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)


async def test_bulk_send_with_failures_mid_way_sends_each_recipient_once(
    queue: JobQueue, qname: str
) -> None:
    messages = [sms(n) for n in range(6)]
    provider = MockProvider()
    provider.script(Succeed(), Succeed(), Fail(), Fail(), Succeed(), Fail())
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=5, backoff=FAST)
    bulk_id = await kmsg_.enqueue_bulk(messages)

    await run(worker_for(queue, qname, MessageJobProcessor(provider), concurrency=3))

    sent = Counter(message.to for message in provider.sent)
    assert sent == Counter(message.to for message in messages)
    assert len(provider.history) == len(messages) + 3
    bulk = await queue.get(qname, bulk_id)
    assert bulk.state is JobState.COMPLETED
    assert bulk.result is not None
    children = msgspec.json.decode(bulk.result, type=BulkSendResult).job_ids
    assert children == tuple(f"{bulk_id}.{n}" for n in range(6))
    for child_id in children:
        assert (await queue.get(qname, child_id)).state is JobState.COMPLETED


async def test_a_bulk_rerun_after_a_crash_sends_nothing_twice(queue: JobQueue, qname: str) -> None:
    messages = [sms(n) for n in range(4)]
    bulk = SendBulkMessagesJob(messages=tuple(messages))
    bulk_id = await queue.enqueue(bulk, queue=qname, lease=0.5, max_attempts=3, backoff=FAST)
    [claimed] = await queue.claim(qname)
    # The first worker fans out, then dies before completing the bulk job.
    first_ids = await fan_out(queue, claimed.job, bulk)
    provider = MockProvider()
    provider.mock_failure(1)

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert Counter(message.to for message in provider.sent) == Counter(m.to for m in messages)
    job = await queue.get(qname, bulk_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert job.errors[0].type == "LeaseExpired"
    assert job.result is not None
    assert list(msgspec.json.decode(job.result, type=BulkSendResult).job_ids) == first_ids
    assert (await queue.stats(qname)).completed == len(messages) + 1


async def test_priorities_order_the_sends(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    await kmsg_.enqueue(sms(1), priority="low")
    await kmsg_.enqueue(sms(2))
    await kmsg_.enqueue(sms(3), priority="high")

    await run(worker_for(queue, qname, MessageJobProcessor(provider), concurrency=1))

    assert provider.sent == [sms(3), sms(2), sms(1)]


async def test_a_scheduled_send_waits_for_run_at(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    run_at = time.time() + 0.5
    job_id = await kmsg_.enqueue(sms(1), run_at=run_at)
    job = await queue.get(qname, job_id)
    assert (job.task, job.state) == ("send_scheduled_message", JobState.DELAYED)
    assert (await kmsg_.delivery_status(job_id)).state is DeliveryState.QUEUED

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    [call] = provider.history
    assert call.result is not None
    assert call.result.accepted_at >= run_at - 0.1


async def test_delivery_reports_update_the_status(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    processor = MessageJobProcessor(provider)
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    delivered_id = await kmsg_.enqueue(sms(1))
    failed_id = await kmsg_.enqueue(sms(2))
    await run(worker_for(queue, qname, processor))
    store = processor.delivery_store
    assert (await kmsg_.delivery_status(delivered_id, store=store)).state is DeliveryState.SENT

    ids = {call.message.to: call.result.message_id for call in provider.history if call.result}
    reports = [
        DeliveryReport(message_id=ids[sms(1).to], state=DeliveryState.DELIVERED, reported_at=1.0),
        DeliveryReport(
            message_id=ids[sms(2).to], state=DeliveryState.FAILED, reported_at=1.0, error_code="E"
        ),
    ]
    for report in reports:
        await queue.enqueue(UpdateDeliveryStatusJob(report=report), queue=qname)
    await run(worker_for(queue, qname, processor))

    delivered = await kmsg_.delivery_status(delivered_id, store=store)
    failed = await kmsg_.delivery_status(failed_id, store=store)
    assert (delivered.state, delivered.report) == (DeliveryState.DELIVERED, reports[0])
    assert (failed.state, failed.report) == (DeliveryState.FAILED, reports[1])


async def test_the_status_of_a_non_send_job_is_refused(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    bulk_id = await kmsg_.enqueue_bulk([sms(1)])
    await run(worker_for(queue, qname, MessageJobProcessor(provider)))
    with pytest.raises(ValidationError, match="not a message send"):
        await get_delivery_status(queue, bulk_id, queue_name=qname)


def test_a_bulk_names_each_recipient_once() -> None:
    with pytest.raises(ValidationError, match="each recipient once"):
        SendBulkMessagesJob(messages=(sms(1), Sms(to="+82 10-5555-0001", text="again")))
    with pytest.raises(ValidationError, match="1-10000"):
        SendBulkMessagesJob(messages=())


async def test_every_attempt_of_a_send_carries_one_idempotency_key(
    queue: JobQueue, qname: str
) -> None:
    """Retries of one job send under one key; a bulk send gives each recipient its own."""
    provider = MockProvider()
    provider.mock_failure(2)
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=3, backoff=FAST)
    job_id = await kmsg_.enqueue(sms(1))
    await run(worker_for(queue, qname, MessageJobProcessor(provider)))
    bulk = await queue.enqueue(
        SendBulkMessagesJob(messages=(sms(2), sms(3))), queue=qname, backoff=FAST
    )
    await run(worker_for(queue, qname, MessageJobProcessor(provider)))
    keys = Counter(call.idempotency_key for call in provider.history)
    assert keys[f"kmsg:{qname}:{job_id}"] == 3
    assert keys[f"kmsg:{qname}:{bulk}.0"] == keys[f"kmsg:{qname}:{bulk}.1"] == 1
