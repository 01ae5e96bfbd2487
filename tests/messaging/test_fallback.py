"""AlimTalk that KakaoTalk cannot deliver falls back to one SMS/LMS job, on every backend.

The invariant checked throughout: every recipient gets exactly one AlimTalk or one fallback
text, never both and never two.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable

import anyio
import msgspec
import pytest

from kmsg import Backoff, JobNotFound, JobQueue, JobState, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    AlimTalk,
    Fail,
    FallbackResult,
    KMsg,
    Lms,
    Message,
    MessageJobProcessor,
    MockProvider,
    Scenario,
    SendBulkMessagesJob,
    SendMessageJob,
    SendResult,
    Sms,
    Succeed,
    enqueue_fallback,
    fallback_job_id,
    fan_out,
)
from kmsg.messaging.breaker import BreakerPolicy
from kmsg.messaging.delivery import DeliveryState, get_delivery_status
from kmsg.messaging.routing import RoutingProvider
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05)
NOT_KAKAO = ProviderErrorCode.NOT_KAKAO_USER
TEXT = "[kmsg] 주문이 접수되었습니다."


def talk(n: int = 1, *, fallback: str | None = TEXT, sender: str | None = None) -> AlimTalk:
    return AlimTalk(
        to=f"010-7777-{n:04d}",
        sender=sender,
        template_code="ORDER",
        variables={"name": f"user{n}"},
        fallback_text=fallback,
    )


def kakao_refuses(message: Message) -> Scenario:
    """A gateway for recipients without KakaoTalk: AlimTalk refused, texts accepted."""
    return Fail(NOT_KAKAO) if isinstance(message, AlimTalk) else Succeed()


async def gateway(
    handler: Callable[[Message], Scenario] | None = None, *, name: str = "mock"
) -> MockProvider:
    provider = MockProvider(handler, name=name)
    await provider.templates.create("ORDER", name="order", content="#{name}님 주문 접수")
    return provider


def worker_for(
    queue: JobQueue, qname: str, processor: MessageJobProcessor, *, concurrency: int = 4
) -> Worker:
    worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0, concurrency=concurrency)
    processor.register(worker)
    return worker


async def run(worker: Worker) -> None:
    with anyio.fail_after(60):
        await worker.run_until_idle()


def delivered(provider: MockProvider) -> Counter[tuple[str, str]]:
    """Successful sends per (recipient, type)."""
    return Counter(
        (call.message.to, type(call.message).__name__) for call in provider.history if call.ok
    )


def decode_result(data: bytes | None) -> FallbackResult:
    assert data is not None
    return msgspec.json.decode(data, type=FallbackResult)


@pytest.mark.parametrize("code", [NOT_KAKAO, ProviderErrorCode.OUTSIDE_SEND_WINDOW])
async def test_a_refused_alimtalk_falls_back_to_one_sms_job(
    queue: JobQueue, qname: str, code: ProviderErrorCode
) -> None:
    provider = await gateway()
    provider.mock_failure(1, code)
    message = talk(sender="02-1234-5678")
    job_id = await KMsg(provider, queue, queue_name=qname, backoff=FAST).enqueue(message)

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.COMPLETED, 1, ())
    result = decode_result(job.result)
    assert result.fallback_job_id == fallback_job_id(job_id) == f"{job_id}.fallback"
    assert (result.fallback_type, result.code) == ("SMS", code.value)
    fallback = await queue.get(qname, result.fallback_job_id)
    assert fallback.state is JobState.COMPLETED
    [kakao, sms] = provider.history
    assert not kakao.ok
    assert sms.message == Sms(to=message.to, sender=message.sender, text=TEXT)
    assert sms.idempotency_key == f"kmsg:{qname}:{job_id}.fallback"
    assert kakao.idempotency_key == f"kmsg:{qname}:{job_id}"
    status = await get_delivery_status(queue, job_id, queue_name=qname)
    assert (status.job_id, status.state) == (f"{job_id}.fallback", DeliveryState.SENT)


async def test_a_long_fallback_text_goes_as_lms(queue: JobQueue, qname: str) -> None:
    provider = await gateway(kakao_refuses)
    long_text = "가" * 46  # 92 bytes in CP949
    job_id = await KMsg(provider, queue, queue_name=qname).enqueue(talk(fallback=long_text))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    result = decode_result((await queue.get(qname, job_id)).result)
    assert result.fallback_type == "LMS"
    [sent] = provider.sent
    assert sent == Lms(to=talk().to, text=long_text)
    fallback = await queue.get(qname, result.fallback_job_id)
    assert fallback.result is not None
    assert msgspec.json.decode(fallback.result, type=SendResult).message_type == "LMS"


async def test_without_fallback_text_the_alimtalk_is_dead_lettered(
    queue: JobQueue, qname: str
) -> None:
    provider = await gateway()
    provider.mock_failure(1, NOT_KAKAO)
    job_id = await KMsg(provider, queue, queue_name=qname).enqueue(talk(fallback=None))

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert (await queue.stats(qname)).completed == 0
    assert len(provider.history) == 1


@pytest.mark.parametrize(
    "code", [ProviderErrorCode.TEMPLATE_NOT_FOUND, ProviderErrorCode.INVALID_RECIPIENT]
)
async def test_other_refusals_do_not_fall_back(
    queue: JobQueue, qname: str, code: ProviderErrorCode
) -> None:
    provider = await gateway()
    provider.mock_failure(1, code)
    job_id = await KMsg(provider, queue, queue_name=qname).enqueue(talk())

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert (await queue.get(qname, job_id)).state is JobState.FAILED
    assert len(provider.history) == 1
    with pytest.raises(JobNotFound):
        await queue.get(qname, fallback_job_id(job_id))


async def test_a_retried_alimtalk_that_then_falls_back_makes_one_fallback(
    queue: JobQueue, qname: str
) -> None:
    provider = await gateway()
    provider.script(Fail(ProviderErrorCode.NETWORK_ERROR), Fail(NOT_KAKAO))
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=5, backoff=FAST)
    job_id = await kmsg_.enqueue(talk())

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert decode_result(job.result).code == NOT_KAKAO.value
    assert delivered(provider) == {(talk().to, "Sms"): 1}
    assert (await queue.stats(qname)).completed == 2


async def test_a_rerun_after_the_fallback_was_queued_sends_nothing_more(
    queue: JobQueue, qname: str
) -> None:
    """The first worker got NOT_KAKAO_USER, queued the fallback and died before completing.
    The rerun must neither send the AlimTalk again (the recipient meanwhile became reachable by
    KakaoTalk, so it would be delivered: both!) nor queue a second fallback."""
    message = talk()
    job_id = await queue.enqueue(
        SendMessageJob(message=message), queue=qname, lease=0.3, max_attempts=3, backoff=FAST
    )
    [claimed] = await queue.claim(qname)
    assert await enqueue_fallback(queue, claimed.job, message) == (fallback_job_id(job_id), "SMS")
    provider = await gateway()  # now every AlimTalk would succeed

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert job.errors[0].type == "LeaseExpired"
    result = decode_result(job.result)
    assert (result.fallback_job_id, result.code) == (fallback_job_id(job_id), None)
    assert delivered(provider) == {(message.to, "Sms"): 1}
    assert len(provider.history) == 1
    assert (await queue.stats(qname)).completed == 2


async def test_enqueueing_the_fallback_twice_writes_one_job(queue: JobQueue, qname: str) -> None:
    message = talk()
    job_id = await queue.enqueue(SendMessageJob(message=message), queue=qname)
    [claimed] = await queue.claim(qname)
    first = await enqueue_fallback(queue, claimed.job, message)
    second = await enqueue_fallback(queue, claimed.job, message)
    assert first == second == (f"{job_id}.fallback", "SMS")
    assert (await queue.stats(qname)).pending == 1
    with pytest.raises(ValidationError, match="no fallback_text"):
        await enqueue_fallback(queue, claimed.job, talk(fallback=None))


async def test_a_failing_fallback_is_retried_on_its_own(queue: JobQueue, qname: str) -> None:
    provider = await gateway()
    provider.script(Fail(NOT_KAKAO), Fail(ProviderErrorCode.NETWORK_ERROR), Succeed())
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=3, backoff=FAST)
    job_id = await kmsg_.enqueue(talk())

    await run(worker_for(queue, qname, MessageJobProcessor(provider), concurrency=1))

    assert (await queue.get(qname, job_id)).attempts == 1
    fallback = await queue.get(qname, fallback_job_id(job_id))
    assert (fallback.state, fallback.attempts) == (JobState.COMPLETED, 2)
    assert [type(call.message).__name__ for call in provider.history] == ["AlimTalk", "Sms", "Sms"]


async def test_a_scheduled_alimtalk_falls_back_too(queue: JobQueue, qname: str) -> None:
    provider = await gateway()
    provider.mock_failure(1, ProviderErrorCode.OUTSIDE_SEND_WINDOW)
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    job_id = await kmsg_.enqueue(talk(), run_at=time.time() + 0.1)

    await run(worker_for(queue, qname, MessageJobProcessor(provider)))

    assert (await queue.get(qname, job_id)).task == "send_scheduled_message"
    assert decode_result((await queue.get(qname, job_id)).result).fallback_type == "SMS"
    assert delivered(provider) == {(talk().to, "Sms"): 1}


def test_a_fallback_text_is_checked_when_the_message_is_built() -> None:
    with pytest.raises(ValidationError, match="fallback_text"):
        talk(fallback="")
    with pytest.raises(ValidationError, match="fallback_text"):
        talk(fallback="가" * 1001)  # 2002 bytes
    with pytest.raises(ValidationError, match="fallback_text"):
        talk(fallback="😀")


async def test_routed_alimtalk_is_not_failed_over_but_falls_back_by_sms_route(
    queue: JobQueue, qname: str
) -> None:
    """NOT_KAKAO_USER is about the recipient: no other AlimTalk gateway is tried; the fallback
    SMS takes the SMS route."""
    nhn = await gateway(kakao_refuses, name="nhn")
    solapi = await gateway(name="solapi")
    aligo = await gateway(name="aligo")
    router = RoutingProvider({"ALIMTALK": [nhn, solapi], "SMS": [aligo, nhn]})
    job_id = await KMsg(router, queue, queue_name=qname).enqueue(talk())

    await run(worker_for(queue, qname, MessageJobProcessor(router)))

    assert decode_result((await queue.get(qname, job_id)).result).code == NOT_KAKAO.value
    assert (len(nhn.history), len(solapi.history)) == (1, 0)
    assert delivered(aligo) == {(talk().to, "Sms"): 1}


async def test_a_bulk_campaign_reaches_everyone_exactly_once(queue: JobQueue, qname: str) -> None:
    """200 recipients, a third not KakaoTalk users, a gateway failing 20% of sends at random
    and resting when it fails too often, some AlimTalk jobs' workers dying after queueing their
    fallback: each recipient gets exactly one AlimTalk or one SMS."""
    recipients = 200
    not_kakao = {talk(n).to for n in range(recipients) if n % 3 == 0}
    coin = random.Random(16)

    def handler(message: Message) -> Scenario:
        if coin.random() < 0.2:
            return Fail(ProviderErrorCode.NETWORK_ERROR, "flaky")
        if isinstance(message, AlimTalk) and message.to in not_kakao:
            return Fail(NOT_KAKAO)
        return Succeed()

    nhn = await gateway(handler, name="nhn")
    spare = await gateway(handler, name="spare")
    router = RoutingProvider(
        default=[nhn, spare],
        breaker=BreakerPolicy(failure_threshold=3, cool_down=0.05),
        min_retry_after=0.01,
    )
    messages = [talk(n) for n in range(recipients)]
    bulk_id = await queue.enqueue(
        SendBulkMessagesJob(messages=tuple(messages)),
        queue=qname,
        max_attempts=10,
        backoff=FAST,
        lease=0.5,
    )
    # A first worker fans out and, for some not-KakaoTalk recipients, gets as far as queueing
    # the fallback before dying (their AlimTalk jobs stay claimed until the lease ends).
    [bulk] = await queue.claim(qname)
    assert bulk.job.id == bulk_id
    await fan_out(queue, bulk.job, SendBulkMessagesJob(messages=tuple(messages)))
    crashed: list[str] = []
    for claimed in await queue.claim(qname, limit=30):
        message = msgspec.json.decode(claimed.job.payload, type=SendMessageJob).message
        assert isinstance(message, AlimTalk)
        if message.to in not_kakao:
            await enqueue_fallback(queue, claimed.job, message)
            crashed.append(claimed.job.id)
    assert len(crashed) >= 5

    await run(worker_for(queue, qname, MessageJobProcessor(router), concurrency=8))

    got = delivered(nhn) + delivered(spare)
    per_recipient = Counter(to for to, _ in got.elements())
    assert per_recipient == Counter({message.to: 1 for message in messages})
    kinds = Counter(kind for _, kind in got.elements())
    assert kinds == {"AlimTalk": recipients - len(not_kakao), "Sms": len(not_kakao)}
    for job_id in crashed:  # their reruns found the fallback and sent nothing
        assert decode_result((await queue.get(qname, job_id)).result).code is None
    stats = await queue.stats(qname)
    assert stats.failed == 0
    assert stats.completed == 1 + recipients + len(not_kakao)


async def test_a_fallback_result_that_points_back_is_refused_not_followed_forever(
    queue: JobQueue, qname: str
) -> None:
    job_id = await queue.enqueue(talk(), queue=qname)
    [claimed] = await queue.claim(qname)
    await queue.complete(claimed.lease, result=b'{"fallback_job_id": "%s"}' % job_id.encode())
    with pytest.raises(ValidationError, match="not a message send"):
        await get_delivery_status(queue, job_id, queue_name=qname)
