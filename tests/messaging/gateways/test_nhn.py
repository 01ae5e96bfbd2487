"""NhnProvider against the fake NHN Cloud gateway (tests/messaging/gateways/fake_nhn.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from kmsg import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import AlimTalk, FriendTalk, Lms, Mms, Sms
from kmsg.messaging.config import load_settings
from kmsg.messaging.provider import Provider, SupportsProbe
from kmsg.messaging.providers import nhn_api as api
from kmsg.messaging.providers.nhn import NhnProvider, NhnSettings
from tests.messaging.gateways.fake_nhn import FakeNhn, Scripted, running

pytestmark = pytest.mark.anyio

TO = "01012345678"


class Clock:
    """A settable clock shared by the fake and the provider."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeNhn]:
    with running(FakeNhn(clock=clock)) as served:
        yield served


def make(fake: FakeNhn, clock: Clock | None = None, **options: Any) -> NhnProvider:
    settings: dict[str, Any] = {
        "sms_app_key": fake.sms_app_key,
        "alimtalk_app_key": fake.alimtalk_app_key,
        "secret_key": fake.secret_key,
        "sender_no": "02-1234-5678",
        "sender_key": fake.sender_key,
        "sms_url": fake.url,
        "alimtalk_url": fake.url,
        "timeout": 5.0,
    }
    settings.update(options)
    if clock is not None:
        settings["clock"] = clock
    return NhnProvider(**settings)


async def refused(provider: NhnProvider, message: Any, **kw: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.send(message, **kw)
    return caught.value


# --- SMS / LMS / MMS ------------------------------------------------------------------------


async def test_sms_request_shape_and_result(fake: FakeNhn) -> None:
    async with make(fake) as provider:
        assert isinstance(provider, Provider)
        result = await provider.send(Sms(to="010-1234-5678", text="안녕"), idempotency_key="k:1")
    method, path, headers, body = fake.requests[-1]
    assert (method, path) == ("POST", f"/sms/v3.0/appKeys/{fake.sms_app_key}/sender/sms")
    assert headers["x-secret-key"] == fake.secret_key
    assert headers["content-type"] == "application/json;charset=UTF-8"
    assert body == {
        "body": "안녕",
        "sendNo": "0212345678",
        "recipientList": [{"recipientNo": TO, "recipientGroupingKey": "k:1"}],
    }
    (delivery,) = fake.deliveries
    assert (delivery.channel, delivery.to, delivery.content) == ("SMS", TO, "안녕")
    assert result.message_id == f"sms:{delivery.request_id}:1"
    assert (result.provider, result.to) == ("nhn", TO)
    assert api.NhnMessageId.parse(result.message_id) == api.NhnMessageId(
        "sms", delivery.request_id, 1
    )


async def test_lms_and_mms_go_to_the_mms_endpoint(fake: FakeNhn) -> None:
    async with make(fake) as provider:
        await provider.send(Lms(to=TO, text="긴 " * 100, subject="제목", sender="1588-1234"))
        await provider.send(Mms(to=TO, text="사진", subject="s", images=("7", "8")))
        bad = await refused(provider, Mms(to=TO, text="x", images=("photo.jpg",)))
    lms, mms = fake.requests
    assert lms[1].endswith("/sender/mms")
    assert mms[1].endswith("/sender/mms")
    assert lms[3]["title"] == "제목"
    assert lms[3]["sendNo"] == "15881234"
    assert "attachFileIdList" not in lms[3]
    assert mms[3]["attachFileIdList"] == [7, 8]
    assert [d.channel for d in fake.deliveries] == ["LMS", "MMS"]
    assert bad.code is ProviderErrorCode.INVALID_REQUEST
    assert not bad.retryable
    assert len(fake.requests) == 2  # the bad MMS never left


async def test_scheduled_send_uses_korean_time(fake: FakeNhn) -> None:
    when = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    async with make(fake) as provider:
        await provider.send(Sms(to=TO, text="later"), when=when)
        naive = await refused(provider, Sms(to=TO, text="x"), when=datetime(2030, 1, 1))
    kst = when + timedelta(hours=9)
    assert fake.requests[-1][3]["requestDate"] == kst.strftime("%Y-%m-%d %H:%M")
    assert fake.deliveries[0].request_date == kst.strftime("%Y-%m-%d %H:%M")
    assert naive.code is ProviderErrorCode.INVALID_REQUEST


# --- AlimTalk -------------------------------------------------------------------------------


async def test_alimtalk_request_shape(fake: FakeNhn) -> None:
    message = AlimTalk(to=TO, template_code="WELCOME", variables={"name": "민수"})
    async with make(fake) as provider:
        assert not provider.resends_alimtalk
        result = await provider.send(message, idempotency_key="kmsg:q:job-1")
    method, path, headers, body = fake.requests[-1]
    assert (method, path) == ("POST", f"/alimtalk/v2.3/appkeys/{fake.alimtalk_app_key}/messages")
    assert headers["x-secret-key"] == fake.secret_key
    assert headers["x-nc-api-idempotency-key"] == "kmsg:q:job-1"
    assert body == {
        "senderKey": fake.sender_key,
        "templateCode": "WELCOME",
        "recipientList": [
            {
                "recipientNo": TO,
                "templateParameter": {"name": "민수"},
                "resendParameter": {"isResend": False},
                "recipientGroupingKey": "kmsg:q:job-1",
            }
        ],
    }
    (delivery,) = fake.deliveries
    assert (delivery.channel, delivery.content) == ("ALIMTALK", "민수님, 가입을 환영합니다.")
    assert result.message_id == f"alimtalk:{delivery.request_id}:1"


async def test_long_idempotency_keys_are_hashed_stably() -> None:
    key = "kmsg:" + "q" * 120 + ":job"
    assert api.grouping_key(key) == api.grouping_key(key)
    assert api.grouping_key(key).startswith("kmsg-")
    assert len(api.grouping_key(key)) <= 100
    assert api.grouping_key("kmsg:q:1") == "kmsg:q:1"


@pytest.mark.parametrize(
    ("text", "kind"), [("짧은 안내", "SMS"), ("긴 안내 " * 20, "LMS")], ids=["sms", "lms"]
)
async def test_gateway_resend_for_a_non_kakao_user(fake: FakeNhn, text: str, kind: str) -> None:
    fake.not_kakao.add(TO)
    message = AlimTalk(to=TO, template_code="WELCOME", variables={"name": "민수"})
    async with make(fake, resend=True, resend_text=lambda m: text) as provider:
        assert provider.resends_alimtalk
        await provider.send(message, idempotency_key="fallback-1")
    resend = fake.requests[-1][3]["recipientList"][0]["resendParameter"]
    assert resend == {
        "isResend": True,
        "resendType": kind,
        "resendContent": text,
        "resendSendNo": "0212345678",
    }
    (delivery,) = fake.deliveries  # the SMS/LMS fallback only, never both
    assert (delivery.channel, delivery.fallback, delivery.content) == (kind, True, text)


async def test_no_resend_means_no_delivery_for_a_non_kakao_user(fake: FakeNhn) -> None:
    fake.not_kakao.add(TO)
    async with make(fake) as provider:
        await provider.send(AlimTalk(to=TO, template_code="WELCOME", variables={"name": "a"}))
    assert fake.deliveries == []  # NHN said 3019 later; kmsg's own fallback may now send
    assert api.alimtalk_delivery_error(fake.messages[0]["resultCode"]) is (
        ProviderErrorCode.NOT_KAKAO_USER
    )


# --- idempotency ----------------------------------------------------------------------------


async def test_replay_after_a_lost_reply_returns_the_first_message(fake: FakeNhn) -> None:
    message = AlimTalk(to=TO, template_code="WELCOME", variables={"name": "a"})
    fake.script(Scripted(502, b"bad gateway", deliver=True))  # delivered, reply lost
    async with make(fake) as provider:
        lost = await refused(provider, message, idempotency_key="kmsg:q:7")
        assert lost.code is ProviderErrorCode.PROVIDER_ERROR
        assert lost.retryable
        again = await provider.send(message, idempotency_key="kmsg:q:7")
        third = await provider.send(message, idempotency_key="kmsg:q:7")
    (delivery,) = fake.deliveries
    assert again.message_id == third.message_id == f"alimtalk:{delivery.request_id}:1"
    assert [r[0] for r in fake.requests] == ["POST", "POST", "GET", "POST", "GET"]
    lookup = fake.requests[2]
    assert lookup[1] == f"/alimtalk/v2.3/appkeys/{fake.alimtalk_app_key}/messages"


async def test_a_burnt_key_without_a_message_waits_out_the_window(
    fake: FakeNhn, clock: Clock
) -> None:
    message = AlimTalk(to=TO, template_code="WELCOME", variables={"name": "a"})
    fake._keys["kmsg:q:8"] = clock.now  # an earlier request with this key, refused
    async with make(fake, clock=clock) as provider:
        waiting = await refused(provider, message, idempotency_key="kmsg:q:8")
        assert waiting.code is ProviderErrorCode.PROVIDER_ERROR
        assert waiting.retryable
        assert waiting.retry_after == 600
        assert fake.deliveries == []
        clock.now += 601
        await provider.send(message, idempotency_key="kmsg:q:8")
    assert len(fake.deliveries) == 1


# --- errors ---------------------------------------------------------------------------------


def nhn_error(code: int, message: str = "no", status: int = 200) -> Scripted:
    header = {"isSuccessful": False, "resultCode": code, "resultMessage": message}
    return Scripted(status, {"header": header})


SMS_CASES = [
    (-1000, ProviderErrorCode.AUTHENTICATION_FAILED),
    (-1004, ProviderErrorCode.AUTHENTICATION_FAILED),
    (-2019, ProviderErrorCode.INVALID_RECIPIENT),
    (-6001, ProviderErrorCode.INVALID_RECIPIENT),
    (-2052, ProviderErrorCode.INSUFFICIENT_BALANCE),
    (-2312, ProviderErrorCode.INVALID_REQUEST),
    (-2015, ProviderErrorCode.INVALID_REQUEST),
    (-2021, ProviderErrorCode.PROVIDER_ERROR),
    (-9999, ProviderErrorCode.PROVIDER_ERROR),
]
ALIMTALK_CASES = [
    (-1001, ProviderErrorCode.AUTHENTICATION_FAILED),
    (-3003, ProviderErrorCode.TEMPLATE_NOT_FOUND),
    (-3005, ProviderErrorCode.TEMPLATE_NOT_FOUND),
    (-4019, ProviderErrorCode.INVALID_RECIPIENT),
    (-3004, ProviderErrorCode.INVALID_REQUEST),
    (-7000, ProviderErrorCode.PROVIDER_ERROR),
    (-9999, ProviderErrorCode.PROVIDER_ERROR),
]


@pytest.mark.parametrize(("nhn_code", "code"), SMS_CASES)
async def test_sms_result_codes(fake: FakeNhn, nhn_code: int, code: ProviderErrorCode) -> None:
    fake.script(nhn_error(nhn_code))
    async with make(fake) as provider:
        error = await refused(provider, Sms(to=TO, text="x"))
    assert error.code is code
    assert error.retryable is code.retryable
    assert str(nhn_code) in error.message


@pytest.mark.parametrize(("nhn_code", "code"), ALIMTALK_CASES)
async def test_alimtalk_result_codes(fake: FakeNhn, nhn_code: int, code: ProviderErrorCode) -> None:
    fake.script(nhn_error(nhn_code))
    async with make(fake) as provider:
        error = await refused(provider, AlimTalk(to=TO, template_code="WELCOME"))
    assert error.code is code
    assert error.retryable is code.retryable


async def test_the_fake_refuses_what_nhn_refuses(fake: FakeNhn) -> None:
    async with make(fake) as provider:
        missing = await refused(provider, AlimTalk(to=TO, template_code="NOPE"))
        pending = await refused(provider, AlimTalk(to=TO, template_code="PENDING"))
        values = await refused(provider, AlimTalk(to=TO, template_code="WELCOME"))
        caller = await refused(provider, Sms(to=TO, text="x", sender="031-123-4567"))
    async with make(fake, secret_key="wrong") as provider:
        sms_auth = await refused(provider, Sms(to=TO, text="x"))
        at_auth = await refused(provider, AlimTalk(to=TO, template_code="WELCOME"))
    assert missing.code is ProviderErrorCode.TEMPLATE_NOT_FOUND
    assert pending.code is ProviderErrorCode.TEMPLATE_NOT_FOUND
    assert values.code is ProviderErrorCode.INVALID_REQUEST
    assert caller.code is ProviderErrorCode.INVALID_REQUEST
    assert "-2312" in caller.message
    assert sms_auth.code is at_auth.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert not sms_auth.retryable
    assert "wrong" not in str(sms_auth) + str(at_auth)
    assert fake.deliveries == []


async def test_per_recipient_failure_in_a_successful_reply(fake: FakeNhn) -> None:
    result = {"recipientNo": TO, "recipientSeq": 1, "resultCode": -2019, "resultMessage": "bad"}
    body = {
        "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
        "body": {"data": {"requestId": "r1", "sendResultList": [result]}},
    }
    fake.script(Scripted(200, body))
    async with make(fake) as provider:
        error = await refused(provider, Sms(to=TO, text="x"))
    assert error.code is ProviderErrorCode.INVALID_RECIPIENT
    assert not error.retryable


@pytest.mark.parametrize(
    ("answer", "code", "retry_after"),
    [
        (Scripted(429, b"", {"Retry-After": "30"}), ProviderErrorCode.RATE_LIMIT_EXCEEDED, 30),
        (Scripted(429, b"", {"Retry-After": "99999"}), ProviderErrorCode.RATE_LIMIT_EXCEEDED, 60),
        (Scripted(503, b"down", {"Retry-After": "5"}), ProviderErrorCode.PROVIDER_ERROR, 5),
        (Scripted(500, b"oops"), ProviderErrorCode.PROVIDER_ERROR, None),
        (Scripted(403, b"no"), ProviderErrorCode.AUTHENTICATION_FAILED, None),
        (Scripted(400, b"no"), ProviderErrorCode.INVALID_REQUEST, None),
        (Scripted(200, b"<html>"), ProviderErrorCode.PROVIDER_ERROR, None),
        (nhn_error(-9999, status=500), ProviderErrorCode.PROVIDER_ERROR, None),
    ],
)
async def test_http_answers(
    fake: FakeNhn, answer: Scripted, code: ProviderErrorCode, retry_after: float | None
) -> None:
    fake.script(answer)
    async with make(fake, max_retry_after=60) as provider:
        error = await refused(provider, Sms(to=TO, text="x"))
    assert error.code is code
    assert error.retryable is code.retryable
    assert error.retry_after == retry_after


async def test_unreachable_gateway_is_a_retryable_network_error() -> None:
    provider = NhnProvider(
        sms_app_key="a",
        secret_key="b",
        sender_no="0212345678",
        sms_url="http://127.0.0.1:9",
        timeout=2,
    )
    async with provider:
        error = await refused(provider, Sms(to=TO, text="x"))
    assert error.code is ProviderErrorCode.NETWORK_ERROR
    assert error.retryable


async def test_secrets_stay_out_of_errors_and_reprs(fake: FakeNhn) -> None:
    fake.script(nhn_error(-9999, f"echo {fake.secret_key} {fake.sms_app_key}"))
    async with make(fake) as provider:
        error = await refused(provider, Sms(to=TO, text="x"))
        shown = repr(provider)
    settings = NhnSettings(sms_app_key="app-1", secret_key="sek-2", sender_no="0212345678")
    for text in (str(error), shown, repr(settings)):
        assert fake.secret_key not in text
        assert fake.sms_app_key not in text
        assert "sek-2" not in text
        assert "app-1" not in text
    assert "[redacted]" in str(error)


async def test_unsupported_or_unconfigured_types(fake: FakeNhn) -> None:
    only_sms = NhnProvider(sms_app_key="a", secret_key="b", sms_url=fake.url)
    async with only_sms:
        alimtalk = await refused(only_sms, AlimTalk(to=TO, template_code="WELCOME"))
        friend = await refused(only_sms, FriendTalk(to=TO, text="hi"))
        no_caller = await refused(only_sms, Sms(to=TO, text="x"))
    for error in (alimtalk, friend, no_caller):
        assert error.code is ProviderErrorCode.INVALID_REQUEST
        assert not error.retryable
    assert fake.requests == []


def test_construction_checks() -> None:
    with pytest.raises(ValidationError, match="sms_app_key or alimtalk_app_key"):
        NhnProvider()
    with pytest.raises(ValidationError, match="secret key"):
        NhnProvider(sms_app_key="a")
    with pytest.raises(ValidationError, match="sender_key"):
        NhnProvider(alimtalk_app_key="a", secret_key="b")
    with pytest.raises(ValidationError, match="http"):
        NhnProvider(sms_app_key="a", secret_key="b", sms_url="ftp://x")


# --- settings and probe ---------------------------------------------------------------------


async def test_settings_from_the_environment(fake: FakeNhn) -> None:
    environ = {
        "K_MSG_NHN_SMS_APP_KEY": fake.sms_app_key,
        "K_MSG_NHN_ALIMTALK_APP_KEY": fake.alimtalk_app_key,
        "K_MSG_NHN_SECRET_KEY": fake.secret_key,
        "K_MSG_NHN_SENDER_NO": "0212345678",
        "K_MSG_NHN_SENDER_KEY": fake.sender_key,
        "K_MSG_NHN_SMS_URL": fake.url,
        "K_MSG_NHN_ALIMTALK_URL": fake.url,
        "K_MSG_NHN_TIMEOUT": "3",
        "K_MSG_NHN_RESEND": "true",
    }
    settings = load_settings(NhnProvider.Settings, "nhn", environ=environ)
    assert settings.timeout == 3.0
    assert settings.resend is True
    async with NhnProvider.from_settings(settings) as provider:
        assert provider.resends_alimtalk
        assert isinstance(provider, SupportsProbe)
        detail = await provider.probe()
    assert "caller id 0212345678 registered" in detail
    assert "@kmsg" in detail
    paths = [(r[0], r[1]) for r in fake.requests]
    assert paths == [
        ("GET", f"/sms/v3.0/appKeys/{fake.sms_app_key}/sendNos"),
        ("GET", f"/alimtalk/v2.3/appkeys/{fake.alimtalk_app_key}/senders/{fake.sender_key}"),
    ]


async def test_probe_refuses_an_unregistered_caller_id_and_bad_keys(fake: FakeNhn) -> None:
    async with make(fake, sender_no="031-123-4567") as provider:
        with pytest.raises(ProviderError) as caller:
            await provider.probe()
    async with make(fake, secret_key="nope") as provider:
        with pytest.raises(ProviderError) as keys:
            await provider.probe()
    assert caller.value.code is ProviderErrorCode.INVALID_REQUEST
    assert keys.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert fake.deliveries == []


# --- the wire format without a server -------------------------------------------------------


def test_batch_builders() -> None:
    messages = [Sms(to=f"0101234{i:04d}", text="같은 글") for i in range(1000)]
    endpoint, body = api.sms_request(messages, send_no="0212345678")
    assert endpoint == "sms"
    assert len(body.recipient_list) == 1000
    with pytest.raises(ValidationError, match="1-1000"):
        api.sms_request([*messages, Sms(to=TO, text="같은 글")], send_no="0212345678")
    with pytest.raises(ValidationError, match="differ"):
        api.sms_request([messages[0], Sms(to=TO, text="다른 글")], send_no="0212345678")
    talks = [AlimTalk(to=TO, template_code="T", variables={"n": str(i)}) for i in range(3)]
    request = api.alimtalk_request(talks, sender_key="k", grouping_keys=["a", "b", "c"])
    wire = msgspec.json.decode(msgspec.json.encode(request))
    assert [r["templateParameter"] for r in wire["recipientList"]] == [
        {"n": "0"},
        {"n": "1"},
        {"n": "2"},
    ]
    with pytest.raises(ValidationError, match="one template"):
        api.alimtalk_request([talks[0], AlimTalk(to=TO, template_code="U")], sender_key="k")


def test_batch_reply_maps_each_recipient() -> None:
    body = msgspec.json.encode(
        {
            "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
            "body": {
                "data": {
                    "requestId": "R",
                    "statusCode": "2",
                    "sendResultList": [
                        {"recipientNo": "01000000000", "resultCode": 0, "recipientSeq": 1},
                        {"recipientNo": "0100", "resultCode": -2019, "recipientSeq": 2},
                    ],
                }
            },
        }
    )
    first, second = api.parse_sms_reply(body).outcomes
    assert first.message_id == api.NhnMessageId("sms", "R", 1)
    assert first.error is None
    assert second.message_id is None
    assert second.error is ProviderErrorCode.INVALID_RECIPIENT


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1000", None),
        ("3019", ProviderErrorCode.NOT_KAKAO_USER),
        ("3018", ProviderErrorCode.NOT_KAKAO_USER),
        ("3022", ProviderErrorCode.OUTSIDE_SEND_WINDOW),
        ("3015", ProviderErrorCode.TEMPLATE_NOT_FOUND),
        ("9999", ProviderErrorCode.PROVIDER_ERROR),
        ("4242", ProviderErrorCode.UNKNOWN_ERROR),
    ],
)
def test_alimtalk_delivery_codes(code: str, expected: ProviderErrorCode | None) -> None:
    assert api.alimtalk_delivery_error(code) is expected
    if expected in (ProviderErrorCode.NOT_KAKAO_USER, ProviderErrorCode.OUTSIDE_SEND_WINDOW):
        assert expected is not None
        assert expected.falls_back


def test_message_ids_round_trip() -> None:
    found = api.NhnMessageId("alimtalk", "20180810100630ReZQ6KZzAH0", 3)
    assert api.NhnMessageId.parse(str(found)) == found
    with pytest.raises(ValidationError):
        api.NhnMessageId.parse("mms:x:1")
