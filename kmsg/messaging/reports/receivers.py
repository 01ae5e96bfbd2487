"""Webhook receivers: how one gateway signs its delivery-report POSTs and what their bodies mean.

A receiver checks a request's signature (:meth:`WebhookReceiver.verify`, before the body is
parsed) and turns the body into :class:`~kmsg.messaging.reports.records.DeliveryRecord` values
(:meth:`WebhookReceiver.parse`). Secrets never appear in a receiver's ``repr``.

**NHN Cloud** (:class:`NhnWebhook`). Followed: NHN Cloud Notification > SMS > "웹훅" (webhook
send, and "이벤트 유형별 hooks 정의 > 메시지 발송 결과 코드 업데이트") and KakaoTalk Bizmessage >
Webhook API guide ("메시지 발송 결과 코드 업데이트"), in the TOAST-DOCS repository. The gateway
POSTs JSON ``{hooksId, webhookConfigId, productName, appKey, event, hooks: [...]}`` with the header
``X-Toast-Webhook-Signature`` set to **the signature string entered when the webhook was
configured** (the documents' "웹훅 설정 시 입력한 서명"): it is a shared secret sent as it is,
not an HMAC of the body, so verifying is a constant-time comparison with that string. Only the
``MESSAGE_RESULT_UPDATE`` event carries reports (others, such as ``UNSUBSCRIBE``, are accepted
and ignored). Each hook names ``requestId`` and ``recipientSeq``; the message id kmsg keys it by
is :func:`nhn_message_id`, the NHN provider's own ``SendResult.message_id``
(``<service>:<requestId>:<recipientSeq>``, :class:`~kmsg.messaging.providers.nhn_api.NhnMessageId`),
the service read from the body's ``productName`` (one naming SMS is ``sms``, any other
``alimtalk``: an assumption, as the documents list no values). State:

============================== ============================================================
``messageStatus``              state
============================== ============================================================
COMPLETED                      delivered if ``resultCode`` is absent, ``1000`` or ``MRC01``,
                               else failed with that code
FAILED, FAILED_AD, DUPLICATED  failed (code: ``resultCode``, else the status)
CANCEL                         cancelled
RESERVED                       queued
SENDING, RESEND_AD             sending
(absent: KakaoTalk hooks)      by ``resultCode``: ``1000`` / ``MRC01`` delivered, any other
                               failed; a hook with neither is skipped
============================== ============================================================

The report's time is ``receiveDate``, else ``requestDate``, else ``createDate`` (the documents
give ``yyyy-MM-dd'T'HH:mm:ss`` without an offset: read as Korean time, UTC+9), else the time the
POST arrived. Assumptions where the documents are silent: the success codes above (``1000`` is
the SMS success code; ``MRC01`` appears for KakaoTalk results), and ``DUPLICATED`` counted as
failed (that recipient's message was not sent again).

**Generic** (:class:`HmacWebhook`), for gateways (or relays) that sign with a shared secret:
``X-Kmsg-Timestamp: <unix seconds>`` and ``X-Kmsg-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<timestamp>." + body`` under the secret; a timestamp more than ``tolerance`` seconds away from
now is refused (a captured request cannot be replayed later). The body is
``{"reports": [{"message_id", "state", "reported_at", "error_code"?}]}`` with kmsg's state names;
the provider is the receiver's, never the body's. :func:`sign` makes the headers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol, runtime_checkable

import msgspec

from kmsg.errors import ValidationError
from kmsg.messaging.delivery import DeliveryState
from kmsg.messaging.providers.nhn_api import NhnMessageId, Service
from kmsg.messaging.reports.records import DeliveryRecord, check_provider

__all__ = [
    "HmacWebhook",
    "NhnWebhook",
    "WebhookReceiver",
    "nhn_message_id",
    "nhn_service",
    "sign",
]

NHN_SIGNATURE_HEADER: Final = "x-toast-webhook-signature"
SIGNATURE_HEADER: Final = "x-kmsg-signature"
TIMESTAMP_HEADER: Final = "x-kmsg-timestamp"
_KST: Final = dt.timezone(dt.timedelta(hours=9))
_NHN_SUCCESS: Final = frozenset({"1000", "MRC01"})
_NHN_STATUS: Final = {
    "FAILED": DeliveryState.FAILED,
    "FAILED_AD": DeliveryState.FAILED,
    "DUPLICATED": DeliveryState.FAILED,
    "CANCEL": DeliveryState.CANCELLED,
    "RESERVED": DeliveryState.QUEUED,
    "SENDING": DeliveryState.SENDING,
    "RESEND_AD": DeliveryState.SENDING,
}


@runtime_checkable
class WebhookReceiver(Protocol):
    """One gateway's webhook: its route name, signature check and body format."""

    @property
    def name(self) -> str:
        """The last path segment the receiver answers on (``POST /<name>``)."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the request is signed by the gateway (header names are lower case)."""
        ...

    def parse(self, body: bytes, received_at: float) -> list[DeliveryRecord]:
        """The reports in ``body``; ``ValidationError`` when it is malformed."""
        ...


def nhn_message_id(service: Service, request_id: str, recipient_seq: int | None) -> str:
    """The message id of NHN Cloud recipient ``recipient_seq`` (1 if not given) of request
    ``request_id`` of ``service``, as the NHN provider's ``SendResult.message_id`` names it."""
    return str(NhnMessageId(service, request_id, recipient_seq or 1))


def nhn_service(product_name: str | None) -> Service:
    """The NHN service a webhook body's ``productName`` names (module docstring)."""
    return "sms" if product_name and "sms" in product_name.lower() else "alimtalk"


class _NhnHook(msgspec.Struct, kw_only=True, rename="camel"):
    request_id: str
    recipient_seq: int | None = None
    message_status: str | None = None
    result_code: str | None = None
    receive_date: str | None = None
    request_date: str | None = None
    create_date: str | None = None


class _NhnBody(msgspec.Struct, kw_only=True):
    event: str
    hooks: list[msgspec.Raw] = []
    productName: str | None = None


_nhn_body = msgspec.json.Decoder(_NhnBody)
_nhn_hook = msgspec.json.Decoder(_NhnHook)


def _nhn_time(hook: _NhnHook, fallback: float) -> float:
    for text in (hook.receive_date, hook.request_date, hook.create_date):
        if not text:
            continue
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_KST)
        return moment.timestamp()
    return fallback


def _nhn_state(hook: _NhnHook) -> tuple[DeliveryState, str | None] | None:
    code = hook.result_code or None
    status = hook.message_status
    if status is None or status == "COMPLETED":
        if code is None:
            return None if status is None else (DeliveryState.DELIVERED, None)
        if code in _NHN_SUCCESS:
            return DeliveryState.DELIVERED, None
        return DeliveryState.FAILED, code
    state = _NHN_STATUS.get(status)
    if state is None:
        return None
    if state is DeliveryState.FAILED:
        return state, code or status
    return state, None


class NhnWebhook:
    """NHN Cloud's webhook (SMS and KakaoTalk Bizmessage; module docstring)."""

    def __init__(self, signature: str, *, provider: str = "nhn", name: str = "nhn") -> None:
        if not signature:
            raise ValidationError("the NHN Cloud webhook needs the signature it was set up with")
        self._signature = signature.encode()
        self.provider = check_provider(provider)
        self._name = check_provider(name)

    def __repr__(self) -> str:
        return f"NhnWebhook(provider={self.provider!r}, signature=***)"

    @property
    def name(self) -> str:
        """The route name (``POST /nhn`` by default)."""
        return self._name

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``X-Toast-Webhook-Signature`` is the configured signature."""
        given = headers.get(NHN_SIGNATURE_HEADER)
        return given is not None and hmac.compare_digest(given.encode(), self._signature)

    def parse(self, body: bytes, received_at: float) -> list[DeliveryRecord]:
        """The reports of a ``MESSAGE_RESULT_UPDATE`` POST (none for other events)."""
        try:
            envelope = _nhn_body.decode(body)
            if envelope.event != "MESSAGE_RESULT_UPDATE":
                return []
            hooks = [_nhn_hook.decode(raw) for raw in envelope.hooks]
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValidationError(f"not an NHN Cloud webhook body: {exc}") from None
        service = nhn_service(envelope.productName)
        records = []
        for hook in hooks:
            outcome = _nhn_state(hook)
            if outcome is None:
                continue
            state, code = outcome
            records.append(
                DeliveryRecord(
                    provider=self.provider,
                    message_id=nhn_message_id(service, hook.request_id, hook.recipient_seq),
                    state=state,
                    reported_at=_nhn_time(hook, received_at),
                    error_code=code,
                )
            )
        return records


class _GenericReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    message_id: str
    state: DeliveryState
    reported_at: float
    error_code: str | None = None


class _GenericBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reports: list[_GenericReport]


_generic_body = msgspec.json.Decoder(_GenericBody)


def _mac(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str | bytes, body: bytes, *, timestamp: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` for an :class:`HmacWebhook` with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {"X-Kmsg-Timestamp": stamp, "X-Kmsg-Signature": _mac(key, stamp, body)}


class HmacWebhook:
    """A generic HMAC-SHA256-signed webhook for gateway ``provider`` (module docstring)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        provider: str,
        name: str | None = None,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValidationError("a webhook secret must be at least 16 bytes")
        self._secret = key
        self.provider = check_provider(provider)
        self._name = check_provider(name or provider)
        self.tolerance = tolerance
        self._clock = clock

    def __repr__(self) -> str:
        return f"HmacWebhook(provider={self.provider!r}, secret=***)"

    @property
    def name(self) -> str:
        """The route name (the provider's name unless given)."""
        return self._name

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the signature is right and the timestamp within ``tolerance`` of now."""
        stamp = headers.get(TIMESTAMP_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
            return False
        if abs(self._clock() - int(stamp)) > self.tolerance:
            return False
        return hmac.compare_digest(given.encode(), _mac(self._secret, stamp, body).encode())

    def parse(self, body: bytes, received_at: float) -> list[DeliveryRecord]:
        """The reports of ``{"reports": [...]}``, as from this receiver's provider."""
        try:
            reports = _generic_body.decode(body).reports
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValidationError(f"not a kmsg delivery-report body: {exc}") from None
        return [
            DeliveryRecord(
                provider=self.provider,
                message_id=report.message_id,
                state=report.state,
                reported_at=report.reported_at,
                error_code=report.error_code,
            )
            for report in reports
        ]
