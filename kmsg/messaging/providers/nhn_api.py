"""NHN Cloud Notification wire format: request builders, reply parsers, message ids (no I/O).

**Documents followed** (the TOAST-DOCS repositories on GitHub, English pages, checked against
the Korean ones where they differ; snapshot of June 2026):

* SMS API v3.0 Guide (``TOAST-DOCS/SMS``, ``en/api-guide.md``): "[API Domain]", "[Caution]"
  (byte limits), "Short SMS > Send Short SMS" (``POST /sms/v3.0/appKeys/{appKey}/sender/sms``),
  "Long MMS > Send Long MMS" and "Send MMS (attached file included)" (``.../sender/mms``, LMS is
  an MMS without ``attachFileIdList``), "Sender Numbers > List Registered Sender Numbers API"
  (``GET .../sendNos``). Auth: the ``X-Secret-Key`` header; up to 1,000 ``recipientList``
  entries; ``requestDate`` as ``yyyy-MM-dd HH:mm`` (up to 60 days ahead).
* SMS Result Code (``en/error-code.md``): "API Result Code", "Result Code of Receiving".
* AlimTalk API v2.3 Guide (``TOAST-DOCS/Alimtalk``, ``en/alimtalk-api-guide.md``): "General
  Messages > Request of Sending Replaced Messages" (``POST /alimtalk/v2.3/appkeys/{appkey}/
  messages``, ``resendParameter``, ``X-NC-API-IDEMPOTENCY-KEY``), "List Messages" (``GET`` the
  same path), "Status Code of SMS/LMS Resending".
* Sender API v2.3 (``en/sender-api-guide-v2.3.md``): "Get Sender"
  (``GET /alimtalk/v2.3/appkeys/{appkey}/senders/{senderKey}``).
* KakaoTalk Bizmessage Error Code (``en/error-code.md``): "API Response Code" and "Delivery
  Result Code".

Every reply, success or not, carries ``header: {isSuccessful, resultCode, resultMessage}``;
``resultCode`` 0 is success. A send's per-recipient answers are ``body.data.sendResultList``
(SMS) or ``message.sendResults`` (AlimTalk), each with ``recipientSeq``; a message's id at NHN is
its request id *and* that sequence number (:class:`NhnMessageId`).

**Times.** NHN reads ``requestDate`` as Korean time. :func:`request_date` converts an aware
datetime to KST (UTC+9; Korea keeps no daylight saving time) and refuses a naive one.

**What the documents do not say**, and what is assumed: NHN documents no HTTP status codes
(errors come as ``isSuccessful: false``, usually with HTTP 200) and no rate limit, so a 429 or
5xx is handled as any HTTP gateway's would be (:mod:`kmsg.messaging.providers.nhn_http`). The
result codes and their kmsg codes are in :mod:`kmsg.messaging.providers.nhn_codes`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Final, Literal

import msgspec

from kmsg.errors import ProviderErrorCode, ValidationError
from kmsg.messaging.models import SMS_MAX_BYTES, AlimTalk, Lms, Mms, Sms
from kmsg.messaging.providers.nhn_codes import (
    ALIMTALK_DUPLICATE_KEY,
    Service,
    alimtalk_delivery_error,
    api_error_code,
    sms_delivery_error,
)

__all__ = [
    "ALIMTALK_DUPLICATE_KEY",
    "AlimTalkRecipient",
    "AlimTalkRequest",
    "Header",
    "HeaderOnly",
    "KST",
    "ListMessagesReply",
    "ListedMessage",
    "MAX_RECIPIENTS",
    "NhnMessageId",
    "RecipientOutcome",
    "ResendParameter",
    "SendNo",
    "SendNosReply",
    "SendReply",
    "Sender",
    "SenderReply",
    "Service",
    "SmsRecipient",
    "SmsRequest",
    "alimtalk_delivery_error",
    "alimtalk_request",
    "api_error_code",
    "grouping_key",
    "kst_now",
    "parse_alimtalk_reply",
    "parse_sms_reply",
    "request_date",
    "resend_parameter",
    "sms_delivery_error",
    "sms_request",
]

MAX_RECIPIENTS: Final = 1000
"""Recipients one send request may name (both APIs)."""
KST: Final = timezone(timedelta(hours=9), "KST")
_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


class NhnMessageId(msgspec.Struct, frozen=True):
    """A message at NHN: the service, the send request's id and the recipient's sequence.

    Its text form, kmsg's ``SendResult.message_id``, is ``<service>:<requestId>:<recipientSeq>``
    (``alimtalk:20180810100630ReZQ6KZzAH0:1``): what NHN's delivery reports and its single
    message query (``GET .../messages/{requestId}/{recipientSeq}``) name a message by.
    """

    service: Service
    request_id: str
    recipient_seq: int

    def __str__(self) -> str:
        return f"{self.service}:{self.request_id}:{self.recipient_seq}"

    @classmethod
    def parse(cls, text: str) -> NhnMessageId:
        """The id ``str(id)`` made; ``ValidationError`` for anything else."""
        service, _, rest = text.partition(":")
        request_id, _, seq = rest.rpartition(":")
        if service not in ("sms", "alimtalk") or not request_id or not seq.isdigit():
            raise ValidationError(f"not an NHN message id: {text!r}")
        return cls("sms" if service == "sms" else "alimtalk", request_id, int(seq))


def grouping_key(idempotency_key: str) -> str:
    """``idempotency_key`` as NHN takes it (grouping keys: at most 100 characters).

    A key of up to 100 characters of ``[A-Za-z0-9_.:-]`` (kmsg's own keys, for short queue
    names) is used as it is; any other becomes ``kmsg-`` and its SHA-256 in hex, so the same key
    always gives the same value.
    """
    if _PLAIN_KEY.fullmatch(idempotency_key):
        return idempotency_key
    return "kmsg-" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def request_date(when: datetime) -> str:
    """``when`` as NHN's ``requestDate``: Korean time, ``yyyy-MM-dd HH:mm``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("an NHN requestDate needs an aware datetime (a time zone)")
    return when.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def kst_now(now: float) -> datetime:
    """The epoch time ``now`` in Korean time."""
    return datetime.fromtimestamp(now, UTC).astimezone(KST)


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True, frozen=True):
    """A request part: camelCase names, unset optional fields left out."""


class SmsRecipient(_Wire, frozen=True):
    """One ``recipientList`` entry of an SMS/LMS/MMS send."""

    recipient_no: str
    recipient_grouping_key: str | None = None


class SmsRequest(_Wire, frozen=True):
    """The body of ``POST /sms/v3.0/appKeys/{appKey}/sender/{sms|mms}``."""

    body: str
    send_no: str
    recipient_list: list[SmsRecipient]
    title: str | None = None
    request_date: str | None = None
    attach_file_id_list: list[int] | None = None


class ResendParameter(_Wire, frozen=True):
    """AlimTalk's fallback by SMS/LMS, sent by NHN itself when the AlimTalk fails.

    ``is_resend`` is always sent: when left out NHN follows the console's setting, and a
    fallback kmsg did not ask for would reach a recipient kmsg may also fall back for.
    """

    is_resend: bool
    resend_type: Literal["SMS", "LMS"] | None = None
    resend_title: str | None = None
    resend_content: str | None = None
    resend_send_no: str | None = None


class AlimTalkRecipient(_Wire, frozen=True):
    """One ``recipientList`` entry of an AlimTalk send."""

    recipient_no: str
    template_parameter: dict[str, str] | None = None
    resend_parameter: ResendParameter | None = None
    recipient_grouping_key: str | None = None


class AlimTalkRequest(_Wire, frozen=True):
    """The body of ``POST /alimtalk/v2.3/appkeys/{appkey}/messages``."""

    sender_key: str
    template_code: str
    recipient_list: list[AlimTalkRecipient]
    request_date: str | None = None


def _check_batch(count: int, keys: Sequence[str | None] | None) -> Sequence[str | None]:
    if not 1 <= count <= MAX_RECIPIENTS:
        raise ValidationError(f"an NHN send names 1-{MAX_RECIPIENTS} recipients, not {count}")
    if keys is None:
        return [None] * count
    if len(keys) != count:
        raise ValidationError("give one grouping key per message (or none)")
    return keys


def sms_request(
    messages: Sequence[Sms | Lms | Mms],
    *,
    send_no: str,
    when: datetime | None = None,
    grouping_keys: Sequence[str | None] | None = None,
) -> tuple[Literal["sms", "mms"], SmsRequest]:
    """One SMS v3.0 send of the same text to each message's recipient (up to 1,000).

    Returns the endpoint (``"sms"`` for SMS, ``"mms"`` for LMS and MMS) and the body.
    ``send_no`` is the caller id registered at NHN; ``when`` schedules the send; a grouping key
    per message (e.g. :func:`grouping_key` of its idempotency key) marks its recipient at NHN.
    Raises ``ValidationError`` when the messages differ in anything but their recipient, or an
    MMS image id is not the number NHN's attachment upload returned.
    """
    keys = _check_batch(len(messages), grouping_keys)
    first = messages[0]
    shape = _sms_shape(first)
    if any(_sms_shape(message) != shape for message in messages[1:]):
        raise ValidationError("an NHN batch sends one text: the messages differ")
    files: list[int] | None = None
    if isinstance(first, Mms):
        if not all(image.isdigit() for image in first.images):
            raise ValidationError("NHN MMS images are attachment ids (numbers from its upload)")
        files = [int(image) for image in first.images]
    title = None if isinstance(first, Sms) else first.subject
    endpoint: Literal["sms", "mms"] = "sms" if isinstance(first, Sms) else "mms"
    return endpoint, SmsRequest(
        body=first.text,
        send_no=send_no,
        title=title,
        recipient_list=[
            SmsRecipient(recipient_no=message.to, recipient_grouping_key=key)
            for message, key in zip(messages, keys, strict=True)
        ],
        request_date=None if when is None else request_date(when),
        attach_file_id_list=files,
    )


def _sms_shape(message: Sms | Lms | Mms) -> tuple[object, ...]:
    return (
        type(message),
        message.text,
        getattr(message, "subject", None),
        getattr(message, "images", None),
    )


def resend_parameter(
    *, enabled: bool, send_no: str | None, text: str | None = None, title: str | None = None
) -> ResendParameter:
    """AlimTalk's ``resendParameter``: SMS when ``text`` fits 90 CP949 bytes, else LMS.

    Without ``text`` NHN resends the template's text and picks the type by its length.
    """
    if not enabled:
        return ResendParameter(is_resend=False)
    kind: Literal["SMS", "LMS"] | None = None
    if text is not None:
        kind = "SMS" if len(text.encode("cp949", "replace")) <= SMS_MAX_BYTES else "LMS"
    return ResendParameter(
        is_resend=True,
        resend_type=kind,
        resend_title=title if kind == "LMS" else None,
        resend_content=text,
        resend_send_no=send_no,
    )


def alimtalk_request(
    messages: Sequence[AlimTalk],
    *,
    sender_key: str,
    resend: Sequence[ResendParameter] | ResendParameter | None = None,
    when: datetime | None = None,
    grouping_keys: Sequence[str | None] | None = None,
) -> AlimTalkRequest:
    """One AlimTalk v2.3 send of one template to up to 1,000 recipients, each with its values.

    ``resend`` is one :class:`ResendParameter` for all or one per message. Raises
    ``ValidationError`` when the messages name different templates.
    """
    keys = _check_batch(len(messages), grouping_keys)
    code = messages[0].template_code
    if any(message.template_code != code for message in messages):
        raise ValidationError("an NHN AlimTalk batch sends one template: the messages differ")
    if resend is None or isinstance(resend, ResendParameter):
        resends: Sequence[ResendParameter | None] = [resend] * len(messages)
    elif len(resend) == len(messages):
        resends = resend
    else:
        raise ValidationError("give one resend parameter per message (or one for all)")
    return AlimTalkRequest(
        sender_key=sender_key,
        template_code=code,
        request_date=None if when is None else request_date(when),
        recipient_list=[
            AlimTalkRecipient(
                recipient_no=message.to,
                template_parameter=dict(message.variables) or None,
                resend_parameter=again,
                recipient_grouping_key=key,
            )
            for message, again, key in zip(messages, resends, keys, strict=True)
        ],
    )


# --- replies ---------------------------------------------------------------------------------


class _Read(msgspec.Struct, rename="camel", kw_only=True):
    """A reply part: camelCase names, unknown fields ignored (NHN adds fields over time)."""


class Header(_Read):
    """``header`` of every NHN reply."""

    is_successful: bool
    result_code: int
    result_message: str | None = None


class _Result(_Read):
    recipient_no: str | None = None
    recipient_seq: int | None = None
    result_code: int | None = None
    result_message: str | None = None


class _SmsData(_Read):
    request_id: str | None = None
    send_result_list: list[_Result] = []


class _SmsBody(_Read):
    data: _SmsData | None = None


class _SmsReply(_Read):
    header: Header
    body: _SmsBody | None = None


class _AlimTalkMessage(_Read):
    request_id: str | None = None
    send_results: list[_Result] = []


class _AlimTalkReply(_Read):
    header: Header
    message: _AlimTalkMessage | None = None


class HeaderOnly(_Read):
    """Any NHN reply, read for its header alone."""

    header: Header


@dataclass(frozen=True)
class RecipientOutcome:
    """What NHN answered for one recipient: a message id, or an error code and NHN's words."""

    recipient_no: str
    message_id: NhnMessageId | None
    error: ProviderErrorCode | None = None
    detail: str = ""


@dataclass(frozen=True)
class SendReply:
    """A decoded send reply: the header and one outcome per recipient NHN listed."""

    header: Header
    outcomes: tuple[RecipientOutcome, ...]


def _outcomes(
    service: Service, request_id: str | None, results: list[_Result]
) -> tuple[RecipientOutcome, ...]:
    found = []
    for result in results:
        number = result.recipient_no or ""
        detail = f"NHN {result.result_code}: {result.result_message or ''}".rstrip(": ")
        if result.result_code not in (0, None):
            code = api_error_code(service, result.result_code)
            found.append(RecipientOutcome(number, None, code, detail))
        elif request_id is None or result.recipient_seq is None:
            found.append(
                RecipientOutcome(
                    number, None, ProviderErrorCode.PROVIDER_ERROR, "no requestId/recipientSeq"
                )
            )
        else:
            found.append(
                RecipientOutcome(number, NhnMessageId(service, request_id, result.recipient_seq))
            )
    return tuple(found)


def parse_sms_reply(body: bytes) -> SendReply:
    """An SMS v3.0 send reply; ``msgspec.DecodeError``/``ValidationError`` if it is not one."""
    reply = msgspec.json.decode(body, type=_SmsReply)
    data = reply.body.data if reply.body is not None else None
    if data is None:
        return SendReply(reply.header, ())
    return SendReply(reply.header, _outcomes("sms", data.request_id, data.send_result_list))


def parse_alimtalk_reply(body: bytes) -> SendReply:
    """An AlimTalk v2.3 send reply; decode errors as for :func:`parse_sms_reply`."""
    reply = msgspec.json.decode(body, type=_AlimTalkReply)
    if reply.message is None:
        return SendReply(reply.header, ())
    message = reply.message
    return SendReply(reply.header, _outcomes("alimtalk", message.request_id, message.send_results))


class ListedMessage(_Read):
    """One message of AlimTalk's List Messages reply (the fields kmsg reads)."""

    request_id: str
    recipient_seq: int
    recipient_no: str | None = None
    recipient_grouping_key: str | None = None


class _MessageSearch(_Read):
    messages: list[ListedMessage] = []


class ListMessagesReply(_Read):
    """AlimTalk's ``GET /alimtalk/v2.3/appkeys/{appkey}/messages`` reply."""

    header: Header
    message_search_result_response: _MessageSearch | None = None

    @property
    def messages(self) -> list[ListedMessage]:
        """The messages found (empty when none)."""
        found = self.message_search_result_response
        return [] if found is None else found.messages


class SendNo(_Read):
    """One registered caller id of the SMS List Registered Sender Numbers reply."""

    send_no: str
    use_yn: str | None = None
    block_yn: str | None = None


class _SendNoBody(_Read):
    data: list[SendNo] = []


class SendNosReply(_Read):
    """``GET /sms/v3.0/appKeys/{appKey}/sendNos``'s reply."""

    header: Header
    body: _SendNoBody | None = None


class Sender(_Read):
    """AlimTalk's sender profile (Get Sender), the fields kmsg reads."""

    plus_friend_id: str | None = None
    status: str | None = None
    block: bool | None = None
    dormant: bool | None = None


class SenderReply(_Read):
    """``GET /alimtalk/v2.3/appkeys/{appkey}/senders/{senderKey}``'s reply."""

    header: Header
    sender: Sender | None = None
