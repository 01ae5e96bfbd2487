"""The payload codec: validation before writing, size limit, unknown fields, task names."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
import pytest

from kmsg import PayloadCodec, PayloadDecodeError, TaskRegistry, ValidationError, task_name_of


class SendSms(msgspec.Struct):
    to: Annotated[str, msgspec.Meta(pattern=r"^0\d{9,10}$")]
    text: str


class Named(msgspec.Struct):
    __kmsg_task__: ClassVar[str] = "sms.named"
    n: int


class BadName(msgspec.Struct):
    __kmsg_task__: ClassVar[str] = "has space"


def test_encode_returns_task_name_and_json() -> None:
    task, data = PayloadCodec().encode(SendSms(to="01012345678", text="hi"))
    assert task == "SendSms"
    assert msgspec.json.decode(data) == {"to": "01012345678", "text": "hi"}


def test_task_name_from_class_attribute() -> None:
    assert task_name_of(Named) == "sms.named"
    with pytest.raises(ValidationError, match="invalid task name"):
        task_name_of(BadName)


def test_constraint_violation_is_refused() -> None:
    with pytest.raises(ValidationError, match="SendSms"):
        PayloadCodec().encode(SendSms(to="not-a-number", text="hi"))


def test_wrong_field_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        PayloadCodec().encode(SendSms(to=12345, text="hi"))  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", [{"to": "x"}, "text", 42, None, b"bytes"])
def test_non_struct_payload_is_refused(payload: object) -> None:
    with pytest.raises(ValidationError, match=r"msgspec\.Struct"):
        PayloadCodec().encode(payload)  # type: ignore[arg-type]


def test_size_limit_applies_to_encoded_bytes() -> None:
    codec = PayloadCodec(max_bytes=64)
    codec.encode(SendSms(to="01012345678", text="x" * 10))
    with pytest.raises(ValidationError, match="limit is 64"):
        codec.encode(SendSms(to="01012345678", text="x" * 100))


def test_size_limit_is_exact_to_the_byte() -> None:
    overhead = len(PayloadCodec().encode(SendSms(to="01012345678", text=""))[1])
    codec = PayloadCodec(max_bytes=64)
    _, data = codec.encode(SendSms(to="01012345678", text="x" * (64 - overhead)))
    assert len(data) == 64
    with pytest.raises(ValidationError, match="is 65 bytes; the limit is 64"):
        codec.encode(SendSms(to="01012345678", text="x" * (65 - overhead)))


def test_unencodable_value_is_refused() -> None:
    class Loose(msgspec.Struct):
        value: object

    with pytest.raises(ValidationError, match="cannot be encoded"):
        PayloadCodec().encode(Loose(value=object()))


def test_encode_raw_refuses_unknown_fields() -> None:
    codec = PayloadCodec()
    data = codec.encode_raw(SendSms, '{"to": "01012345678", "text": "hi"}')
    assert msgspec.json.decode(data) == {"to": "01012345678", "text": "hi"}
    with pytest.raises(ValidationError, match="unknown fields"):
        codec.encode_raw(SendSms, '{"to": "01012345678", "text": "hi", "evil": 1}')


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[]", b'{"to": 1}'])
def test_encode_raw_refuses_malformed_input(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        PayloadCodec().encode_raw(SendSms, raw)


def test_decode_round_trip_and_corrupt_bytes() -> None:
    codec = PayloadCodec()
    _, data = codec.encode(SendSms(to="01012345678", text="hi"))
    assert codec.decode(SendSms, data) == SendSms(to="01012345678", text="hi")
    with pytest.raises(PayloadDecodeError) as caught:
        codec.decode(SendSms, b"\x00garbage")
    assert caught.value.task == "SendSms"


def test_registry_maps_names_and_refuses_collisions() -> None:
    registry = TaskRegistry(SendSms, Named)
    assert registry.get("SendSms") is SendSms
    assert registry.get("sms.named") is Named
    assert "SendSms" in registry
    assert registry.names() == ["SendSms", "sms.named"]
    registry.register(SendSms)  # the same type again is fine

    class SendSms2(msgspec.Struct):
        __kmsg_task__: ClassVar[str] = "SendSms"

    with pytest.raises(ValidationError, match="already registered"):
        registry.register(SendSms2)
    with pytest.raises(ValidationError, match="unknown task"):
        registry.get("nope")
    with pytest.raises(ValidationError, match=r"not a msgspec\.Struct"):
        registry.register(dict)  # type: ignore[type-var]
