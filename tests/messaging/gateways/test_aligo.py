"""AligoProvider against the fake Aligo gateway (``fake_aligo``): request shape, replies, errors."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import msgspec
import pytest

from kmsg import JobQueue, JobState, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    AlimTalk,
    KMsg,
    Lms,
    MessageJobProcessor,
    Mms,
    Provider,
    Sms,
    load_settings,
)
from kmsg.messaging.providers.aligo import AligoBalance, AligoProvider, AligoSettings
from kmsg.messaging.providers.aligo_api import refusal_code, schedule_fields
from kmsg.worker import Worker
from tests.messaging.gateways.fake_aligo import KEY, USER_ID, Canned, FakeAligo

pytestmark = pytest.mark.anyio

TO = "010-1234-5678"
KST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
def fake() -> Iterator[FakeAligo]:
    with FakeAligo() as gateway:
        yield gateway


@pytest.fixture
async def aligo(fake: FakeAligo) -> AsyncIterator[AligoProvider]:
    async with AligoProvider(
        key=KEY, user_id=USER_ID, sender="02-1234-5678", base_url=fake.url, timeout=5.0
    ) as provider:
        yield provider


def provider_for(fake: FakeAligo, **options: object) -> AligoProvider:
    settings = {"key": KEY, "user_id": USER_ID, "sender": "02-1234-5678", "base_url": fake.url}
    return AligoProvider.from_settings(msgspec.convert({**settings, **options}, AligoSettings))


async def test_an_sms_is_one_form_post_with_the_documented_fields(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    result = await aligo.send(Sms(to=TO, text="인증번호 123456"), idempotency_key="kmsg:q:1")

    [request] = fake.requests
    assert request.path == "/send/"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == {
        "key": KEY,
        "user_id": USER_ID,
        "sender": "0212345678",
        "receiver": "01012345678",
        "msg": "인증번호 123456",
        "msg_type": "SMS",
    }
    assert not any("idempotency" in name for name in request.headers)  # Aligo has none
    assert result.provider == "aligo"
    assert result.to == "01012345678"
    assert result.message_type == "SMS"
    assert result.message_id.isdigit()
    assert fake.delivered == [("01012345678", "SMS", "인증번호 123456")]
    assert fake.violations == []


async def test_an_lms_carries_its_title_and_the_message_sender_wins(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    message = Lms(to=TO, sender="1588-1234", text="긴 안내문 " * 30, subject="공지")
    result = await aligo.send(message)
    form = fake.requests[0].form
    assert (form["msg_type"], form["title"], form["sender"]) == ("LMS", "공지", "15881234")
    assert result.message_type == "LMS"
    assert fake.violations == []


async def test_a_long_sms_sent_directly_goes_as_lms_without_title(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    result = await aligo.send(Sms(to=TO, text="가" * 45 + "a"))  # 91 bytes
    form = fake.requests[0].form
    assert form["msg_type"] == "LMS"
    assert "title" not in form
    assert result.message_type == "LMS"
    assert fake.violations == []


async def test_test_mode_sends_testmode_yn_and_delivers_nothing(fake: FakeAligo) -> None:
    async with provider_for(fake, testmode=True) as provider:
        result = await provider.send(Sms(to=TO, text="hi"))
    assert fake.requests[0].form["testmode_yn"] == "Y"
    assert result.message_id
    assert fake.delivered == []


async def test_a_scheduled_send_books_rdate_and_rtime_in_kst(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    at = time.time() + 3600 + 30
    await aligo.send(Sms(to=TO, text="later"), scheduled_at=at)
    form = fake.requests[0].form
    booked = dt.datetime.strptime(form["rdate"] + form["rtime"], "%Y%m%d%H%M")
    booked = booked.replace(tzinfo=KST).timestamp()
    assert at <= booked < at + 60  # the next whole minute, never earlier than asked
    assert fake.violations == []


async def test_a_schedule_under_ten_minutes_ahead_is_refused_before_any_request(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    with pytest.raises(ValidationError, match="10 minutes"):
        await aligo.send(Sms(to=TO, text="soon"), scheduled_at=time.time() + 300)
    assert fake.requests == []


def test_schedule_fields_convert_to_korean_time() -> None:
    now = dt.datetime(2025, 3, 1, 0, 0, tzinfo=dt.UTC).timestamp()
    at = dt.datetime(2025, 3, 1, 14, 59, 30, tzinfo=dt.UTC).timestamp()
    # 23:59:30 KST: the next whole minute is midnight, the next day
    assert schedule_fields(at, now=now) == {"rdate": "20250302", "rtime": "0000"}


async def test_send_many_joins_receivers_and_reports_counts(
    fake: FakeAligo, aligo: AligoProvider
) -> None:
    fake.rejected_numbers.add("01000000002")
    fake.balance["LMS_CNT"] = 5000
    numbers = [f"010-0000-{n:04d}" for n in range(1, 1001)]
    batch = await aligo.send_many(numbers, "공지입니다", subject="알림")
    form = fake.requests[0].form
    assert form["receiver"].split(",") == [n.replace("-", "") for n in numbers]
    assert (form["msg_type"], form["title"]) == ("LMS", "알림")
    assert (batch.success_count, batch.error_count, batch.message_type) == (999, 1, "LMS")
    assert fake.violations == []


@pytest.mark.parametrize(
    ("recipients", "match"),
    [
        ([], "1-1000"),
        ([TO, "01012345678"], "once"),
        ([f"010{n:08d}" for n in range(1001)], "1-1000"),
    ],
)
async def test_send_many_refuses_bad_receiver_lists(
    fake: FakeAligo, aligo: AligoProvider, recipients: list[str], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        await aligo.send_many(recipients, "x")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("setup", "code", "retryable"),
    [
        ("bad key", ProviderErrorCode.AUTHENTICATION_FAILED, False),
        ("unregistered sender", ProviderErrorCode.INVALID_REQUEST, False),
        ("no balance", ProviderErrorCode.INSUFFICIENT_BALANCE, False),
        ("refused receiver", ProviderErrorCode.INVALID_RECIPIENT, False),
    ],
)
async def test_refusals_map_to_codes(
    fake: FakeAligo, setup: str, code: ProviderErrorCode, retryable: bool
) -> None:
    options: dict[str, object] = {}
    message = Sms(to=TO, text="hi")
    if setup == "bad key":
        options["key"] = "wrong-key"
    elif setup == "unregistered sender":
        message = Sms(to=TO, sender="031-999-9999", text="hi")
    elif setup == "no balance":
        fake.balance["SMS_CNT"] = 0
    else:
        fake.rejected_numbers.add("01012345678")
    async with provider_for(fake, **options) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.send(message)
    assert (caught.value.code, caught.value.retryable) == (code, retryable)
    assert fake.violations == []


@pytest.mark.parametrize(
    ("result_code", "message", "code"),
    [
        (-101, "", ProviderErrorCode.AUTHENTICATION_FAILED),
        (-99, "인증오류입니다.-IP", ProviderErrorCode.AUTHENTICATION_FAILED),
        (-1, "잔액이 부족합니다", ProviderErrorCode.INSUFFICIENT_BALANCE),
        (-2, "수신번호 형식 오류", ProviderErrorCode.INVALID_RECIPIENT),
        (-3, "예약시간 오류", ProviderErrorCode.INVALID_REQUEST),
        (-4, "메시지 내용이 2000byte를 초과", ProviderErrorCode.INVALID_REQUEST),
        (0, "", ProviderErrorCode.PROVIDER_ERROR),
        (-500, "일시적인 장애", ProviderErrorCode.PROVIDER_ERROR),
    ],
)
def test_refusal_code_table(result_code: int, message: str, code: ProviderErrorCode) -> None:
    assert refusal_code(result_code, message) is code


async def test_an_unknown_refusal_is_retryable(fake: FakeAligo, aligo: AligoProvider) -> None:
    fake.script(Canned(200, {"result_code": -500, "message": "일시적인 장애"}))
    with pytest.raises(ProviderError) as caught:
        await aligo.send(Sms(to=TO, text="hi"))
    assert (caught.value.code, caught.value.retryable) == (ProviderErrorCode.PROVIDER_ERROR, True)


@pytest.mark.parametrize(
    ("canned", "code", "retry_after"),
    [
        (Canned(429, headers={"Retry-After": "30"}), ProviderErrorCode.RATE_LIMIT_EXCEEDED, 30.0),
        (Canned(429, headers={"Retry-After": "99999"}), ProviderErrorCode.RATE_LIMIT_EXCEEDED, 60),
        (Canned(503, headers={"Retry-After": "5"}), ProviderErrorCode.PROVIDER_ERROR, 5.0),
        (Canned(403), ProviderErrorCode.AUTHENTICATION_FAILED, None),
        (Canned(400), ProviderErrorCode.INVALID_REQUEST, None),
        (Canned(200, b"<html>maintenance</html>"), ProviderErrorCode.PROVIDER_ERROR, None),
        (Canned(200, {"message": "no code"}), ProviderErrorCode.PROVIDER_ERROR, None),
        (Canned(200, {"result_code": "1"}), ProviderErrorCode.PROVIDER_ERROR, None),  # no msg_id
        (Canned(200, b"{" + b" " * 5000 + b"}"), ProviderErrorCode.PROVIDER_ERROR, None),
    ],
)
async def test_http_answers_map_to_codes_and_retry_after_is_capped(
    fake: FakeAligo, canned: Canned, code: ProviderErrorCode, retry_after: float | None
) -> None:
    fake.script(canned)
    async with provider_for(fake, max_retry_after=60, max_reply_bytes=4096) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.send(Sms(to=TO, text="hi"))
    assert caught.value.code is code
    assert caught.value.retryable is code.retryable
    assert caught.value.retry_after == retry_after


async def test_a_gateway_that_hangs_is_a_timeout_within_the_deadline(fake: FakeAligo) -> None:
    fake.script(Canned(200, {"result_code": "1"}, hang=10))
    async with provider_for(fake, timeout=0.3) as provider:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            await provider.send(Sms(to=TO, text="hi"))
    assert caught.value.code is ProviderErrorCode.NETWORK_TIMEOUT
    assert caught.value.retryable
    assert time.monotonic() - started < 3


async def test_a_closed_port_is_a_network_error() -> None:
    with FakeAligo() as gone:
        url = gone.url
    async with AligoProvider(key=KEY, user_id=USER_ID, sender="0212345678", base_url=url) as p:
        with pytest.raises(ProviderError) as caught:
            await p.send(Sms(to=TO, text="hi"))
    assert caught.value.code is ProviderErrorCode.NETWORK_ERROR


async def test_the_key_never_shows(fake: FakeAligo, caplog: pytest.LogCaptureFixture) -> None:
    fake.script(Canned(200, {"result_code": -5, "message": f"bad request key={KEY}"}))
    caplog.set_level(logging.DEBUG)
    provider = provider_for(fake)
    settings = msgspec.convert(
        {"key": KEY, "user_id": USER_ID, "sender": "0212345678"}, AligoSettings
    )
    async with provider:
        with pytest.raises(ProviderError) as caught:
            await provider.send(Sms(to=TO, text="hi"))
    assert "[redacted]" in str(caught.value)
    for text in (str(caught.value), repr(provider), repr(settings), caplog.text):
        assert KEY not in text


@pytest.mark.parametrize(
    "message",
    [Mms(to=TO, text="x", images=("img-1",)), AlimTalk(to=TO, template_code="WELCOME")],
)
async def test_mms_and_kakao_messages_are_refused_without_a_request(
    fake: FakeAligo, aligo: AligoProvider, message: Mms | AlimTalk
) -> None:
    with pytest.raises(ProviderError) as caught:
        await aligo.send(message)
    assert (caught.value.code, caught.value.retryable) == (ProviderErrorCode.INVALID_REQUEST, False)
    assert fake.requests == []


async def test_balance_and_probe_ask_remain(fake: FakeAligo, aligo: AligoProvider) -> None:
    assert await aligo.balance() == AligoBalance(sms=1000, lms=300, mms=100)
    await aligo.send(Sms(to=TO, text="hi"))
    assert (await aligo.balance()).sms == 999
    assert "999 SMS, 300 LMS, 100 MMS" in await aligo.probe()
    assert [r.path for r in fake.requests] == ["/remain/", "/send/", "/remain/", "/remain/"]
    assert fake.requests[0].form == {"key": KEY, "user_id": USER_ID}
    assert fake.violations == []


async def test_balance_with_a_bad_key_is_an_auth_error(fake: FakeAligo) -> None:
    async with provider_for(fake, key="nope") as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.balance()
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED


def test_settings_come_from_the_environment() -> None:
    environ = {
        "K_MSG_ALIGO_KEY": KEY,
        "K_MSG_ALIGO_USER_ID": USER_ID,
        "K_MSG_ALIGO_SENDER": "02-1234-5678",
        "K_MSG_ALIGO_TESTMODE": "true",
        "K_MSG_ALIGO_TIMEOUT": "3",
    }
    settings = load_settings(AligoSettings, "aligo", environ=environ)
    assert settings.base_url == "https://apis.aligo.in/"
    assert (settings.testmode, settings.timeout) == (True, 3.0)
    provider = AligoProvider.from_settings(settings)
    assert isinstance(provider, Provider)
    assert provider.base_url == "https://apis.aligo.in/"
    assert provider.sender == "0212345678"
    with pytest.raises(ValidationError, match="K_MSG_ALIGO_USER_ID"):
        load_settings(AligoSettings, "aligo", environ={"K_MSG_ALIGO_KEY": KEY})


@pytest.mark.parametrize("url", ["ftp://apis.aligo.in/", "https://u:p@apis.aligo.in/", "nope"])
def test_a_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        AligoProvider(key=KEY, user_id=USER_ID, sender="0212345678", base_url=url)


async def test_through_the_queue_a_long_sms_is_sent_once_as_lms(
    fake: FakeAligo, aligo: AligoProvider, queue: JobQueue, qname: str
) -> None:
    kmsg_ = KMsg(aligo, queue, queue_name=qname)
    job_id = await kmsg_.enqueue(Sms(to=TO, text="가" * 60))
    worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0)
    MessageJobProcessor(aligo).register(worker)
    with anyio.fail_after(60):
        await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert job.state is JobState.COMPLETED
    assert fake.delivered == [("01012345678", "LMS", "가" * 60)]
    status = await kmsg_.delivery_status(job_id)
    assert status.result is not None
    assert status.result.message_type == "LMS"
    assert fake.violations == []
