"""SMS to LMS promotion by the gateways' byte rules, the same for every provider.

**The rule.** Korean carriers carry SMS/LMS/MMS text in the KS X 1001 character set, so every
gateway measures a text in bytes of its EUC-KR / CP949 encoding: a Hangul syllable is 2 bytes,
an ASCII character 1 (a newline counts as the characters it is: ``"\\n"`` 1 byte, ``"\\r\\n"``
2; kmsg never rewrites line ends). The limits every gateway kmsg supports states alike:

=====  ============  ==========================================================================
type   text          source
=====  ============  ==========================================================================
SMS    90 bytes      Aligo "문자보내기" (``send/``: over 90 bytes without ``msg_type`` it turns
                     to LMS); NAVER Cloud SENS SMS v2 "메시지 발송" (``content``: SMS 90 bytes)
LMS    2,000 bytes   Aligo ``msg`` 1-2,000 bytes; SENS ``content`` LMS/MMS 2,000 bytes;
MMS                  SOLAPI messages v4 ``text`` (2,000 ASCII / 1,000 Hangul characters)
title  40 bytes      SENS and SOLAPI ``subject`` 40 bytes (Aligo allows 44; kmsg keeps the
                     smaller, see :mod:`kmsg.messaging.models`)
=====  ============  ==========================================================================

**Characters CP949 cannot encode** (emoji, most scripts other than Korean, Latin, Greek,
Cyrillic, kana and common CJK ideographs) are *refused*, never counted: a carrier channel cannot
carry them, and gateways turn them into ``?`` (Aligo's page says so) or drop the message. Giving
them a byte count would only let a garbled message through, so :func:`cp949_length` raises
:class:`~kmsg.ValidationError` naming the character, as building an ``Sms``/``Lms`` does.
Send such text by KakaoTalk (FriendTalk/AlimTalk), which is UTF-8.

**Promotion.** An :class:`~kmsg.messaging.models.Sms` may hold up to 2,000 bytes; one over 90
bytes is a *long SMS*. :func:`promote` turns it into an :class:`~kmsg.messaging.models.Lms`
with the same ``to``, ``sender`` and ``text`` and no subject; every other message is returned
unchanged. :class:`~kmsg.messaging.processor.MessageJobProcessor` promotes each message before
it calls the provider (``promote_long_sms=True``, the default); with ``promote_long_sms=False``
it refuses a long SMS instead (:func:`require_sms_fits`), so a long SMS is never sent *as* SMS.
:func:`text_message` picks the type when a message is built, for code that wants the choice
made (and visible) before enqueueing. The type sent is in ``SendResult.message_type``.
"""

from __future__ import annotations

from kmsg.errors import ValidationError
from kmsg.messaging.models import LMS_MAX_BYTES, SMS_MAX_BYTES, Lms, Message, Sms

__all__ = [
    "LMS_MAX_BYTES",
    "SMS_MAX_BYTES",
    "cp949_length",
    "fits_sms",
    "message_type",
    "promote",
    "require_sms_fits",
    "text_message",
]


def cp949_length(text: str) -> int:
    """The length of ``text`` in bytes as the gateways count it (CP949: Hangul 2, ASCII 1).

    Raises ``ValidationError`` naming the first character CP949 cannot encode (an emoji, say).
    """
    try:
        return len(text.encode("cp949"))
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise ValidationError(
            f"text has a character CP949 cannot encode, so no SMS/LMS can carry it: {bad!r}"
        ) from None


def fits_sms(text: str) -> bool:
    """Whether ``text`` fits one SMS (at most 90 CP949 bytes); ``ValidationError`` as above."""
    return cp949_length(text) <= SMS_MAX_BYTES


def message_type(message: Message) -> str:
    """The message's type tag: ``"SMS"``, ``"LMS"``, ``"MMS"``, ``"ALIMTALK"``, ``"FRIENDTALK"``."""
    return str(type(message).__struct_config__.tag)


def text_message(to: str, text: str, *, sender: str | None = None) -> Sms | Lms:
    """An ``Sms`` when ``text`` fits 90 CP949 bytes, else an ``Lms`` (no subject).

    Raises ``ValidationError`` for a text over 2,000 bytes, an empty text, a character CP949
    cannot encode, or an invalid number.
    """
    size = cp949_length(text)
    if size > LMS_MAX_BYTES:
        raise ValidationError(
            f"text is {size} bytes in CP949; an LMS holds at most {LMS_MAX_BYTES}"
        )
    if size <= SMS_MAX_BYTES:
        return Sms(to=to, sender=sender, text=text)
    return Lms(to=to, sender=sender, text=text)


def promote(message: Message) -> Message:
    """``message``, or the ``Lms`` a long SMS (over 90 CP949 bytes) is sent as.

    The ``Lms`` keeps ``to``, ``sender`` and ``text`` and has no subject. Any other message,
    and an SMS that fits, is returned as it is. Raises ``ValidationError`` for a text over the
    LMS limit (a decoded ``Sms`` cannot hold one, but a caller may build Structs unchecked).
    """
    if not isinstance(message, Sms) or fits_sms(message.text):
        return message
    size = cp949_length(message.text)
    if size > LMS_MAX_BYTES:
        raise ValidationError(
            f"SMS text is {size} bytes in CP949; not even an LMS holds more than {LMS_MAX_BYTES}"
        )
    return Lms(to=message.to, sender=message.sender, text=message.text)


def require_sms_fits(message: Message) -> Message:
    """``message`` unchanged, unless it is a long SMS: then ``ValidationError`` (promotion off)."""
    if isinstance(message, Sms) and not fits_sms(message.text):
        size = cp949_length(message.text)
        raise ValidationError(
            f"SMS text is {size} bytes in CP949, over the SMS limit of {SMS_MAX_BYTES}, and "
            "promotion to LMS is off (send it as Lms, or promote_long_sms=True)"
        )
    return message
