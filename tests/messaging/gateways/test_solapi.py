"""SolapiProvider against the fake SOLAPI (fake_solapi.py): signing, shapes, errors, balance."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kmsg import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import AlimTalk, Button, FriendTalk, Lms, Mms, Sms
from kmsg.messaging.config import ProviderTable, load_settings
from kmsg.messaging.provider import Provider, SupportsProbe
from kmsg.messaging.providers.solapi import (
    IDEMPOTENCY_FIELD,
    SolapiBalance,
    SolapiProvider,
    SolapiSettings,
    authorization,
    iso_date,
)
from kmsg.messaging.providers.solapi_codes import refusal_code, status_code
from tests.messaging.gateways.fake_solapi import FakeSolapi, running

pytestmark = pytest.mark.anyio

SMS = Sms(to="010-1234-5678", text="인증번호 123456")
AUTH_HEADER = re.compile(
    r"HMAC-SHA256 apiKey=(?P<key>\S+), date=(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ), "
    r"salt=(?P<salt>[0-9a-f]{32}), signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture
def fake() -> Iterator[FakeSolapi]:
    """A fake SOLAPI on a free port."""
    with running(FakeSolapi()) as served:
        yield served


def provider(fake: FakeSolapi, **options: Any) -> SolapiProvider:
    """A provider for ``fake``; ``options`` override the defaults."""
    settings: dict[str, Any] = {
        "sender": "02-930-2266",
        "pf_id": fake.pf_id,
        "base_url": fake.url,
        "timeout": 5.0,
    }
    return SolapiProvider(fake.api_key, fake.api_secret, **(settings | options))


async def refused(fake: FakeSolapi, message: Any, **options: Any) -> ProviderError:
    """The ProviderError sending ``message`` raises."""
    async with provider(fake, **options) as solapi:
        with pytest.raises(ProviderError) as caught:
            await solapi.send(message)
    return caught.value


# --- signing -------------------------------------------------------------------------------


def test_authorization_matches_the_documented_sample() -> None:
    """HMAC-SHA256 of date + salt keyed by the secret, as hex, in the documented layout."""
    header = authorization("KEY", "SECRET", date="2019-07-01T00:41:48Z", salt="jqsba2jxjnrjor")
    expected = hmac.new(b"SECRET", b"2019-07-01T00:41:48Zjqsba2jxjnrjor", hashlib.sha256)
    assert header == (
        "HMAC-SHA256 apiKey=KEY, date=2019-07-01T00:41:48Z, salt=jqsba2jxjnrjor, "
        f"signature={expected.hexdigest()}"
    )
    assert iso_date(1561941708.9) == "2019-07-01T00:41:48Z"


async def test_sms_request_shape_and_signature(fake: FakeSolapi) -> None:
    async with provider(fake) as solapi:
        result = await solapi.send(SMS, idempotency_key="kmsg:q:job-1")
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/messages/v4/send-many/detail")
    assert request.headers["Content-Type"] == "application/json"
    found = AUTH_HEADER.fullmatch(request.headers["Authorization"])
    assert found is not None
    assert found["key"] == fake.api_key
    signed_at = datetime.strptime(found["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(signed_at.timestamp() - time.time()) < 60
    assert fake.api_secret not in request.headers["Authorization"]
    assert request.json() == {
        "messages": [
            {
                "to": "01012345678",
                "from": "029302266",
                "type": "SMS",
                "text": "인증번호 123456",
                "customFields": {IDEMPOTENCY_FIELD: "kmsg:q:job-1"},
            }
        ],
        "allowDuplicates": False,
        "showMessageList": True,
    }
    assert result.message_id == fake.delivered[0]["messageId"]
    assert (result.provider, result.to) == ("solapi", "01012345678")


async def test_every_request_has_a_fresh_salt_and_signature(fake: FakeSolapi) -> None:
    async with provider(fake) as solapi:
        for _ in range(3):
            await solapi.send(SMS)
    headers = [AUTH_HEADER.fullmatch(r.headers["Authorization"]) for r in fake.requests]
    assert len({h["salt"] for h in headers if h}) == 3
    assert len(fake.used_signatures) == 3


async def test_wrong_secret_is_authentication_failed_and_redacted(fake: FakeSolapi) -> None:
    async with SolapiProvider(
        fake.api_key, "not-the-secret", sender="029302266", base_url=fake.url
    ) as solapi:
        with pytest.raises(ProviderError) as caught:
            await solapi.send(SMS)
    error = caught.value
    assert error.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert not error.retryable
    assert "SignatureDoesNotMatch" in str(error)
    assert "not-the-secret" not in str(error)
    assert fake.api_key not in str(error)
    assert fake.delivered == []


async def test_unknown_api_key(fake: FakeSolapi) -> None:
    async with SolapiProvider(
        "WRONGKEY", fake.api_secret, sender="029302266", base_url=fake.url
    ) as solapi:
        with pytest.raises(ProviderError) as caught:
            await solapi.send(SMS)
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert "InvalidAPIKey" in str(caught.value)
    assert "WRONGKEY" not in str(caught.value)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-16 * 60, False), (16 * 60, False), (-14 * 60, True)]
)
async def test_a_date_more_than_15_minutes_off_is_refused(
    fake: FakeSolapi, offset: float, accepted: bool
) -> None:
    solapi = provider(fake, clock=lambda: time.time() + offset)
    async with solapi:
        if accepted:
            await solapi.send(SMS)
            assert len(fake.delivered) == 1
            return
        with pytest.raises(ProviderError) as caught:
            await solapi.send(SMS)
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert "RequestTimeTooSkewed" in str(caught.value)
    assert not caught.value.retryable
    assert fake.delivered == []


async def test_a_reused_signature_is_refused(fake: FakeSolapi) -> None:
    """Same date and salt -> same signature -> DuplicatedSignature, which a retry (fresh salt)
    cures, so the error is retryable though its code is AUTHENTICATION_FAILED."""
    frozen = time.time()
    async with provider(fake, clock=lambda: frozen, salt=lambda: "s" * 32) as solapi:
        await solapi.send(SMS)
        with pytest.raises(ProviderError) as caught:
            await solapi.send(SMS)
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert "DuplicatedSignature" in str(caught.value)
    assert caught.value.retryable
    assert len(fake.delivered) == 1
    async with provider(fake, clock=lambda: frozen) as solapi:
        await solapi.send(SMS)  # a fresh salt, same second: accepted
    assert len(fake.delivered) == 2


# --- message types -------------------------------------------------------------------------


async def test_lms_with_subject_and_message_sender(fake: FakeSolapi) -> None:
    message = Lms(to="01012345678", sender="010-0000-0000", subject="공지", text="가" * 500)
    async with provider(fake) as solapi:
        await solapi.send(message)
    [sent] = fake.requests[0].json()["messages"]
    assert sent == {
        "to": "01012345678",
        "from": "01000000000",
        "type": "LMS",
        "text": "가" * 500,
        "subject": "공지",
    }


async def test_mms_with_one_storage_image(fake: FakeSolapi) -> None:
    image = next(iter(fake.images))
    async with provider(fake) as solapi:
        await solapi.send(Mms(to="01012345678", text="사진", images=(image,)))
    [sent] = fake.requests[0].json()["messages"]
    assert (sent["type"], sent["imageId"], "subject" in sent) == ("MMS", image, False)


async def test_mms_with_several_images_is_refused_before_sending(fake: FakeSolapi) -> None:
    error = await refused(fake, Mms(to="01012345678", text="사진", images=("A", "B")))
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert not error.retryable
    assert "one image" in error.message
    assert fake.requests == []


async def test_mms_with_an_unknown_image_is_refused_by_the_gateway(fake: FakeSolapi) -> None:
    error = await refused(fake, Mms(to="01012345678", text="사진", images=("FILEIDNOPE",)))
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert "1034" in error.message


@pytest.mark.parametrize(("fallback_text", "sms_fallback", "disabled"), [
    (None, True, True),
    ("주문이 접수되었습니다", True, False),
    ("주문이 접수되었습니다", False, True),
])  # fmt: skip
async def test_alimtalk_options(
    fake: FakeSolapi, fallback_text: str | None, sms_fallback: bool, disabled: bool
) -> None:
    message = AlimTalk(
        to="01012345678",
        template_code="TPL_ORDER",
        variables={"name": "홍길동", "order": "A-1"},
        fallback_text=fallback_text,
    )
    async with provider(fake, sms_fallback=sms_fallback) as solapi:
        await solapi.send(message)
    [sent] = fake.requests[0].json()["messages"]
    assert sent == {
        "to": "01012345678",
        "from": "029302266",
        "type": "ATA",
        "kakaoOptions": {
            "pfId": fake.pf_id,
            "templateId": "TPL_ORDER",
            "variables": {"#{name}": "홍길동", "#{order}": "A-1"},
            "disableSms": disabled,
        },
    }


async def test_alimtalk_without_a_channel_id_is_refused(fake: FakeSolapi) -> None:
    error = await refused(fake, AlimTalk(to="01012345678", template_code="T"), pf_id=None)
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert "pf_id" in error.message
    assert fake.requests == []


async def test_alimtalk_unknown_template(fake: FakeSolapi) -> None:
    error = await refused(fake, AlimTalk(to="01012345678", template_code="TPL_NONE"))
    assert error.code is ProviderErrorCode.TEMPLATE_NOT_FOUND
    assert not error.retryable


async def test_friendtalk_with_buttons(fake: FakeSolapi) -> None:
    message = FriendTalk(
        to="01012345678", text="할인 쿠폰", buttons=(Button(name="열기", url="https://a.kr/c"),)
    )
    async with provider(fake) as solapi:
        await solapi.send(message)
    [sent] = fake.requests[0].json()["messages"]
    assert sent["type"] == "CTA"
    assert sent["text"] == "할인 쿠폰"
    assert sent["kakaoOptions"] == {
        "pfId": fake.pf_id,
        "disableSms": True,
        "buttons": [{"buttonType": "WL", "buttonName": "열기", "linkMo": "https://a.kr/c"}],
    }


async def test_friendtalk_image_url_is_refused(fake: FakeSolapi) -> None:
    message = FriendTalk(to="01012345678", text="x", image_url="https://a.kr/i.png")
    error = await refused(fake, message)
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert fake.requests == []


async def test_no_sender_is_refused(fake: FakeSolapi) -> None:
    error = await refused(fake, SMS, sender=None)
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert fake.requests == []


async def test_unregistered_sender(fake: FakeSolapi) -> None:
    error = await refused(fake, SMS, sender="0212345678")
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert "1062" in error.message


# --- per-message failures inside a 200 -----------------------------------------------------


@pytest.mark.parametrize(("status", "code", "retryable", "falls_back"), [
    ("3104", ProviderErrorCode.NOT_KAKAO_USER, False, True),
    ("3107", ProviderErrorCode.NOT_KAKAO_USER, False, True),
    ("3108", ProviderErrorCode.OUTSIDE_SEND_WINDOW, False, True),
    ("1060", ProviderErrorCode.INVALID_RECIPIENT, False, False),
    ("1061", ProviderErrorCode.INVALID_RECIPIENT, False, False),
    ("1030", ProviderErrorCode.INSUFFICIENT_BALANCE, False, False),
    ("1024", ProviderErrorCode.PROVIDER_ERROR, True, False),
    ("1999", ProviderErrorCode.INVALID_REQUEST, False, False),
    ("3999", ProviderErrorCode.PROVIDER_ERROR, True, False),
])  # fmt: skip
async def test_failed_message_list_is_mapped(
    fake: FakeSolapi, status: str, code: ProviderErrorCode, retryable: bool, falls_back: bool
) -> None:
    fake.failing["01012345678"] = status
    error = await refused(fake, AlimTalk(to="01012345678", template_code="TPL_PLAIN"))
    assert (error.code, error.retryable, error.code.falls_back) == (code, retryable, falls_back)
    assert status in error.message
    assert fake.delivered == []


def test_status_and_refusal_tables() -> None:
    assert status_code("3104") is ProviderErrorCode.NOT_KAKAO_USER
    assert refusal_code(403, "DuplicatedSignature") == (
        ProviderErrorCode.AUTHENTICATION_FAILED,
        True,
    )
    assert refusal_code(400, "NotEnoughBalance")[0] is ProviderErrorCode.INSUFFICIENT_BALANCE
    assert refusal_code(418, None) == (ProviderErrorCode.INVALID_REQUEST, False)
    assert refusal_code(502, "ValidationError") == (ProviderErrorCode.PROVIDER_ERROR, True)


# --- whole-request refusals ----------------------------------------------------------------


async def test_not_enough_balance(fake: FakeSolapi) -> None:
    fake.balance = 10.0
    error = await refused(fake, SMS)
    assert error.code is ProviderErrorCode.INSUFFICIENT_BALANCE
    assert not error.retryable
    assert "NotEnoughBalance" in error.message


async def test_validation_error(fake: FakeSolapi) -> None:
    fake.script(400, {"errorCode": "ValidationError", "errorMessage": "to 값이 없습니다"})
    error = await refused(fake, SMS)
    assert error.code is ProviderErrorCode.INVALID_REQUEST
    assert "to 값이 없습니다" in error.message


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("999999", 60.0), (None, None)])
async def test_429_is_rate_limited_with_retry_after(
    fake: FakeSolapi, header: str | None, expected: float | None
) -> None:
    fake.script(
        429,
        {"errorCode": "TooManyRequests", "errorMessage": "slow down"},
        headers={"Retry-After": header} if header else {},
    )
    error = await refused(fake, SMS, max_retry_after=60.0)
    assert error.code is ProviderErrorCode.RATE_LIMIT_EXCEEDED
    assert error.retryable
    assert error.retry_after == expected


@pytest.mark.parametrize("body", [{"errorCode": "InternalError", "errorMessage": "x"}, b"<h1>502"])
async def test_5xx_is_a_retryable_provider_error(fake: FakeSolapi, body: Any) -> None:
    fake.script(503, body, headers={"Retry-After": "3"})
    error = await refused(fake, SMS)
    assert error.code is ProviderErrorCode.PROVIDER_ERROR
    assert error.retryable
    assert error.retry_after == 3.0


async def test_a_200_without_message_id_is_a_provider_error(fake: FakeSolapi) -> None:
    fake.script(200, {"groupInfo": {}, "failedMessageList": []})
    error = await refused(fake, SMS)
    assert error.code is ProviderErrorCode.PROVIDER_ERROR
    assert error.retryable


async def test_an_oversized_reply_is_not_read(fake: FakeSolapi) -> None:
    fake.script(200, b"x" * 5000)
    error = await refused(fake, SMS, max_reply_bytes=1000)
    assert error.code is ProviderErrorCode.PROVIDER_ERROR


async def test_timeout(fake: FakeSolapi) -> None:
    fake.script(200, {}, delay=2.0)
    error = await refused(fake, SMS, timeout=0.3)
    assert error.code is ProviderErrorCode.NETWORK_TIMEOUT
    assert error.retryable


async def test_connection_refused() -> None:
    with running(FakeSolapi()) as gone:
        url = gone.url
    async with SolapiProvider("k", "s", sender="029302266", base_url=url) as solapi:
        with pytest.raises(ProviderError) as caught:
            await solapi.send(SMS)
    assert caught.value.code is ProviderErrorCode.NETWORK_ERROR
    assert caught.value.retryable


async def test_an_echoed_api_key_is_redacted(fake: FakeSolapi) -> None:
    fake.script(401, {"errorCode": "Unauthorized", "errorMessage": f"key {fake.api_key} bad"})
    error = await refused(fake, SMS)
    assert error.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert fake.api_key not in str(error)
    assert "[redacted]" in str(error)


# --- idempotency: at-least-once ------------------------------------------------------------


async def test_same_key_twice_is_delivered_twice_and_carries_the_key(fake: FakeSolapi) -> None:
    """SOLAPI has no deduplication: a repeated send is a second delivery; both carry the key
    in customFields so the two can be matched afterwards."""
    async with provider(fake) as solapi:
        first = await solapi.send(SMS, idempotency_key="kmsg:q:job-7")
        second = await solapi.send(SMS, idempotency_key="kmsg:q:job-7")
    assert first.message_id != second.message_id
    assert [m["customFields"] for m in fake.delivered] == [{IDEMPOTENCY_FIELD: "kmsg:q:job-7"}] * 2


async def test_a_long_key_is_hashed_to_fit_custom_fields(fake: FakeSolapi) -> None:
    key = "kmsg:" + "q" * 128 + ":job"
    async with provider(fake) as solapi:
        await solapi.send(SMS, idempotency_key=key)
    value = fake.delivered[0]["customFields"][IDEMPOTENCY_FIELD]
    assert value.startswith("sha256:")
    assert len(value) <= 100


# --- balance, probe, settings --------------------------------------------------------------


async def test_balance(fake: FakeSolapi) -> None:
    fake.balance, fake.point = 1234.5, 50.0
    async with provider(fake) as solapi:
        assert await solapi.balance() == SolapiBalance(balance=1234.5, point=50.0)
        detail = await solapi.probe()
    assert "balance 1234.5" in detail
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/cash/v1/balance")] * 2
    assert all(AUTH_HEADER.fullmatch(r.headers["Authorization"]) for r in fake.requests)
    assert "Content-Type" not in fake.requests[0].headers


async def test_balance_goes_down_after_a_send(fake: FakeSolapi) -> None:
    async with provider(fake) as solapi:
        before = await solapi.balance()
        await solapi.send(SMS)
        after = await solapi.balance()
    assert after.balance < before.balance


async def test_balance_with_a_wrong_secret(fake: FakeSolapi) -> None:
    async with SolapiProvider(fake.api_key, "wrong-secret", base_url=fake.url) as solapi:
        with pytest.raises(ProviderError) as caught:
            await solapi.balance()
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED


async def test_settings_from_the_environment(fake: FakeSolapi) -> None:
    environ = {
        "K_MSG_SOLAPI_API_KEY": fake.api_key,
        "K_MSG_SOLAPI_API_SECRET": fake.api_secret,
        "K_MSG_SOLAPI_SENDER": "02-930-2266",
        "K_MSG_SOLAPI_PF_ID": fake.pf_id,
        "K_MSG_SOLAPI_BASE_URL": fake.url,
        "K_MSG_SOLAPI_TIMEOUT": "3",
    }
    settings = load_settings(SolapiSettings, "solapi", environ=environ, table=ProviderTable())
    assert fake.api_secret not in repr(settings)
    assert fake.api_key not in repr(settings)
    async with SolapiProvider.from_settings(settings) as solapi:
        assert isinstance(solapi, Provider)
        assert isinstance(solapi, SupportsProbe)
        assert fake.api_secret not in repr(solapi)
        await solapi.send(SMS)
    assert len(fake.delivered) == 1


def test_settings_need_key_and_secret() -> None:
    with pytest.raises(ValidationError, match="K_MSG_SOLAPI_API_SECRET"):
        load_settings(
            SolapiSettings, "solapi", environ={"K_MSG_SOLAPI_API_KEY": "k"}, table=ProviderTable()
        )


@pytest.mark.parametrize(
    "options",
    [{"base_url": "ftp://x"}, {"base_url": "https://u:p@x"}, {"timeout": 0}, {"sender": "12"}],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SolapiProvider("k", "s", **options)
