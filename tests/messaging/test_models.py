"""Messages: the tagged union, validation at construction and at decode, and length rules."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kmsg import PayloadCodec, ValidationError
from kmsg.messaging import (
    AlimTalk,
    Button,
    FriendTalk,
    Lms,
    Message,
    MessagePriority,
    Mms,
    SendMessageJob,
    Sms,
)

TO = "010-1234-5678"


@pytest.mark.parametrize(
    ("message", "tag"),
    [
        (Sms(to=TO, text="hi"), "SMS"),
        (Lms(to=TO, text="long", subject="s"), "LMS"),
        (Mms(to=TO, text="pic", images=("file-1",)), "MMS"),
        (AlimTalk(to=TO, template_code="WELCOME", variables={"name": "김"}), "ALIMTALK"),
        (
            FriendTalk(to=TO, text="sale", buttons=(Button(name="보기", url="https://e.kr"),)),
            "FRIENDTALK",
        ),
    ],
)
def test_messages_round_trip_through_the_tagged_union(message: Message, tag: str) -> None:
    data = msgspec.json.encode(message)
    assert msgspec.json.decode(data)["type"] == tag
    assert msgspec.json.decode(data, type=Message) == message


def test_numbers_are_normalised_on_construction() -> None:
    message = Sms(to="+82 10-1234-5678", sender="02-123-4567", text="x")
    assert (message.to, message.sender) == ("01012345678", "021234567")


def test_numbers_are_normalised_on_decode() -> None:
    data = b'{"type":"SMS","to":"+82 10 1234 5678","text":"x"}'
    assert msgspec.json.decode(data, type=Message).to == "01012345678"


@pytest.mark.parametrize(
    "fields",
    [
        {"to": "02-123-4567", "text": "x"},  # a landline cannot receive
        {"to": "010-123", "text": "x"},
        {"to": TO, "sender": "12", "text": "x"},
        {"to": TO, "text": ""},
        {"to": TO, "text": "가" * 1001},  # 2002 bytes in CP949: over even the LMS limit
        {"to": TO, "text": "a" * 2001},
        {"to": TO, "text": "emoji 😀"},
    ],
)
def test_invalid_sms_is_refused_when_built(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Sms(**fields)


def test_an_sms_holds_up_to_the_lms_limit_a_long_one_is_promoted_when_sent() -> None:
    assert Sms(to=TO, text="가" * 45).text == "가" * 45
    assert Sms(to=TO, text="a" * 90).text == "a" * 90
    assert Sms(to=TO, text="가" * 1000).text == "가" * 1000  # 2000 bytes: sent as LMS


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Lms(to=TO, text="a" * 2001), "2001 bytes"),
        (lambda: Lms(to=TO, text="x", subject="가" * 21), "subject is 42 bytes"),
        (lambda: Mms(to=TO, text="x", images=()), "MMS images"),
        (lambda: Mms(to=TO, text="x", images=("a", "b", "c", "d")), "MMS images"),
        (lambda: Mms(to=TO, text="x", images=("",)), "must not be empty"),
        (lambda: AlimTalk(to=TO, template_code=""), "template_code"),
        (lambda: FriendTalk(to=TO, text="a" * 1001), "FriendTalk text"),
        (lambda: FriendTalk(to=TO, text="a" * 401, image_url="https://x.kr/a.png"), "text"),
        (lambda: FriendTalk(to=TO, text="x", image_url="ftp://x"), "image_url"),
        (lambda: Button(name="a" * 15, url="https://x.kr"), "button name"),
        (lambda: Button(name="a", url="javascript:alert(1)"), "button url"),
    ],
)
def test_length_and_shape_rules(build: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        build()


def test_friendtalk_allows_at_most_five_buttons() -> None:
    button = Button(name="b", url="https://x.kr")
    FriendTalk(to=TO, text="x", buttons=(button,) * 5)
    with pytest.raises(ValidationError, match="buttons"):
        FriendTalk(to=TO, text="x", buttons=(button,) * 6)


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"SMS","to":"01012345678","text":"x","extra":1}',
        b'{"type":"FAX","to":"01012345678","text":"x"}',
        b'{"type":"FRIENDTALK","to":"01012345678","text":"x","buttons":[{"name":"a","url":"https://x.kr","z":1}]}',
    ],
)
def test_unknown_fields_and_tags_are_refused(data: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(data, type=Message)


@pytest.mark.parametrize(
    "message",
    [
        b'{"message":{"type":"SMS","to":"02-123-4567","text":"x"}}',
        b'{"message":{"type":"SMS","to":"01012345678","text":"' + b"a" * 2001 + b'"}}',
    ],
)
def test_the_queue_codec_refuses_an_invalid_message(message: bytes) -> None:
    with pytest.raises(ValidationError, match="invalid payload for task 'send_message'"):
        PayloadCodec().encode_raw(SendMessageJob, message)


def test_the_queue_codec_accepts_and_normalises_a_valid_message() -> None:
    raw = b'{"message":{"type":"SMS","to":"+82 10-1234-5678","text":"x"}}'
    data = PayloadCodec().encode_raw(SendMessageJob, raw)
    decoded = PayloadCodec().decode(SendMessageJob, data)
    assert decoded.message == Sms(to="01012345678", text="x")


@pytest.mark.parametrize(
    ("priority", "queue_priority"),
    [(MessagePriority.HIGH, 10), (MessagePriority.NORMAL, 0), (MessagePriority.LOW, -10)],
)
def test_priorities_map_to_queue_priorities(priority: MessagePriority, queue_priority: int) -> None:
    assert priority.queue_priority == queue_priority
