"""SMS to LMS promotion: CP949 byte counting at the 90 / 2,000 byte limits, text_message, promote,
and MessageJobProcessor promoting (or, turned off, refusing) a long SMS on every backend."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from kmsg import JobQueue, JobState, ValidationError
from kmsg.messaging import (
    AlimTalk,
    KMsg,
    Lms,
    Message,
    MessageJobProcessor,
    MockProvider,
    SendResult,
    Sms,
)
from kmsg.messaging.sizing import (
    LMS_MAX_BYTES,
    SMS_MAX_BYTES,
    cp949_length,
    fits_sms,
    message_type,
    promote,
    require_sms_fits,
    text_message,
)
from kmsg.worker import Worker

TO = "010-1234-5678"


def test_the_limits_are_the_gateways() -> None:
    assert (SMS_MAX_BYTES, LMS_MAX_BYTES) == (90, 2000)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("hello", 5),
        ("안녕하세요", 10),
        ("인증번호 123456", 15),  # 4 syllables (8) + space + 6 digits
        ("a\nb", 3),
        ("a\r\nb", 4),  # a line end counts as the characters it is
        ("똠햏", 4),  # CP949's extension syllables, outside EUC-KR's 2,350: still 2 bytes each
        ("·①※", 6),  # KS X 1001 symbols are 2 bytes too
    ],
)
def test_cp949_length_counts_hangul_as_two_and_ascii_as_one(text: str, size: int) -> None:
    assert cp949_length(text) == size


@pytest.mark.parametrize("text", ["😀", "ok 👍", "가" * 44 + "🙂", "café", "\u200d"])
def test_a_character_cp949_cannot_encode_is_refused_not_counted(text: str) -> None:
    with pytest.raises(ValidationError, match="CP949 cannot encode"):
        cp949_length(text)
    with pytest.raises(ValidationError):
        text_message(TO, text)
    with pytest.raises(ValidationError):
        Sms(to=TO, text=text)


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 90, True),
        ("a" * 91, False),
        ("가" * 45, True),
        ("가" * 45 + "a", False),
        ("가" * 44 + "ab", True),  # mixed, exactly 90
        ("가" * 44 + "abc", False),
        ("a" + "가" * 44 + "b", True),
    ],
)
def test_fits_sms_at_the_ninety_byte_boundary(text: str, fits: bool) -> None:
    assert fits_sms(text) is fits


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("a" * 90, Sms),
        ("가" * 45, Sms),
        ("a" * 91, Lms),
        ("가" * 44 + "abc", Lms),
        ("a" * 2000, Lms),
        ("가" * 1000, Lms),
        ("가" * 999 + "ab", Lms),
    ],
)
def test_text_message_picks_the_type_by_bytes(text: str, kind: type[Message]) -> None:
    message = text_message(TO, text, sender="02-123-4567")
    assert type(message) is kind
    assert (message.to, message.sender, message.text) == ("01012345678", "021234567", text)
    if isinstance(message, Lms):
        assert message.subject is None


@pytest.mark.parametrize("text", ["a" * 2001, "가" * 1000 + "a", "가" * 1001, ""])
def test_text_message_refuses_text_over_the_lms_limit_or_empty(text: str) -> None:
    with pytest.raises(ValidationError):
        text_message(TO, text)


def test_promote_turns_a_long_sms_into_an_lms_with_the_same_fields() -> None:
    long = Sms(to=TO, sender="1588-1234", text="가" * 46)
    promoted = promote(long)
    assert promoted == Lms(to=TO, sender="1588-1234", text="가" * 46)
    assert isinstance(promoted, Lms)
    assert promoted.subject is None
    assert message_type(promoted) == "LMS"


@pytest.mark.parametrize(
    "message",
    [
        Sms(to=TO, text="a" * 90),
        Lms(to=TO, text="short", subject="title"),
        AlimTalk(to=TO, template_code="WELCOME"),
    ],
)
def test_promote_leaves_every_other_message_as_it_is(message: Message) -> None:
    assert promote(message) is message
    assert require_sms_fits(message) is message


def test_promote_refuses_an_unchecked_sms_over_the_lms_limit() -> None:
    huge = Sms(to=TO, text="x")
    msgspec.structs.force_setattr(huge, "text", "a" * 2001)  # past __post_init__'s check
    with pytest.raises(ValidationError, match="2001 bytes"):
        promote(huge)


def test_with_promotion_off_a_long_sms_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"91 bytes.*promotion to LMS is off"):
        require_sms_fits(Sms(to=TO, text="a" * 91))


def test_a_long_sms_still_decodes_and_an_old_send_result_too() -> None:
    data = msgspec.json.encode(Sms(to=TO, text="가" * 60))
    assert msgspec.json.decode(data, type=Message) == Sms(to=TO, text="가" * 60)
    old = b'{"message_id":"m1","provider":"p","to":"01012345678","accepted_at":1.0}'
    assert msgspec.json.decode(old, type=SendResult).message_type is None
    new = SendResult(message_id="m", provider="p", to="x", accepted_at=1.0, message_type="LMS")
    assert msgspec.json.decode(msgspec.json.encode(new), type=SendResult) == new


# -- through MessageJobProcessor, on every backend --------------------------------------------


async def _run(queue: JobQueue, qname: str, processor: MessageJobProcessor) -> None:
    worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0)
    processor.register(worker)
    with anyio.fail_after(60):
        await worker.run_until_idle()


@pytest.mark.anyio
async def test_the_processor_sends_a_long_sms_as_lms(queue: JobQueue, qname: str) -> None:
    provider = MockProvider()
    kmsg_ = KMsg(provider, queue, queue_name=qname)
    long_id = await kmsg_.enqueue(Sms(to=TO, sender="02-123-4567", text="가" * 44 + "abc"))
    short_id = await kmsg_.enqueue(Sms(to="010-1111-2222", text="가" * 44 + "ab"))

    await _run(queue, qname, MessageJobProcessor(provider))

    sent = {message.to: message for message in provider.sent}
    assert sent["01012345678"] == Lms(to=TO, sender="02-123-4567", text="가" * 44 + "abc")
    assert sent["01011112222"] == Sms(to="010-1111-2222", text="가" * 44 + "ab")
    long_status = await kmsg_.delivery_status(long_id)
    short_status = await kmsg_.delivery_status(short_id)
    assert long_status.result is not None
    assert short_status.result is not None
    assert (long_status.result.message_type, short_status.result.message_type) == ("LMS", "SMS")


@pytest.mark.anyio
async def test_with_promotion_off_the_processor_refuses_a_long_sms_without_sending(
    queue: JobQueue, qname: str
) -> None:
    provider = MockProvider()
    kmsg_ = KMsg(provider, queue, queue_name=qname, max_attempts=3)
    long_id = await kmsg_.enqueue(Sms(to=TO, text="a" * 91))
    short_id = await kmsg_.enqueue(Sms(to="010-1111-2222", text="a" * 90))

    await _run(queue, qname, MessageJobProcessor(provider, promote_long_sms=False))

    assert provider.sent == [Sms(to="010-1111-2222", text="a" * 90)]
    refused = await queue.get(qname, long_id)
    assert (refused.state, refused.attempts) == (JobState.FAILED, 1)  # dead at once, no retry
    assert refused.last_error is not None
    assert "promotion to LMS is off" in refused.last_error.message
    assert (await queue.get(qname, short_id)).state is JobState.COMPLETED


@pytest.mark.anyio
async def test_a_provider_that_names_the_type_keeps_its_own(queue: JobQueue, qname: str) -> None:
    class Typed(MockProvider):
        async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
            result = await super().send(message, idempotency_key=idempotency_key)
            return msgspec.structs.replace(result, message_type="MMS")

    provider = Typed()
    job_id = await KMsg(provider, queue, queue_name=qname).enqueue(Sms(to=TO, text="가" * 50))
    await _run(queue, qname, MessageJobProcessor(provider))
    assert provider.sent == [Lms(to=TO, text="가" * 50)]
    job = await queue.get(qname, job_id)
    assert job.state is JobState.COMPLETED
    status = await KMsg(provider, queue, queue_name=qname).delivery_status(job_id)
    assert status.result is not None
    assert status.result.message_type == "MMS"
