"""``NhnProvider``: SMS/LMS/MMS and KakaoTalk AlimTalk through NHN Cloud Notification.

Install with ``pip install "kmsg[http]"``; configure as provider ``nhn`` (:class:`NhnSettings`,
``K_MSG_NHN_<FIELD>`` or the ``[provider]`` table of ``kmsg.toml``). The wire format, the
documents it follows (NHN's TOAST-DOCS: SMS API v3.0, AlimTalk API v2.3, their result codes) and
the result-code mapping live in :mod:`kmsg.messaging.providers.nhn_api`; the HTTP exchange and
its limits in :mod:`kmsg.messaging.providers.nhn_http`.

**What a send does.** ``Sms`` posts to ``/sms/v3.0/appKeys/{appKey}/sender/sms``, ``Lms`` and
``Mms`` to ``.../sender/mms`` (MMS images are NHN attachment ids), ``AlimTalk`` to
``/alimtalk/v2.3/appkeys/{appkey}/messages``, each with the ``X-Secret-Key`` header. One send is
one recipient (kmsg fans a bulk send out to one job per recipient); the request builders take up
to 1,000. ``send(..., when=datetime)`` schedules it at NHN (``requestDate``). ``FriendTalk`` is
refused (``INVALID_REQUEST``). The result's ``message_id`` is ``<service>:<requestId>:
<recipientSeq>`` (:class:`~kmsg.messaging.providers.nhn_api.NhnMessageId`), what NHN's delivery
reports name a message by.

**AlimTalk fallback.** With ``resend = true`` each AlimTalk asks NHN to resend it by SMS/LMS
(``resendParameter``, from ``sender_no``) when KakaoTalk cannot deliver it; the text is the one a
``resend_text`` callable gives (SMS up to 90 CP949 bytes, else LMS), or NHN's own (the template's).
With ``resend = false`` (the default) ``isResend: false`` is sent explicitly, overriding a resend
set up in NHN's console, so a kmsg fallback job is the only fallback. :attr:`resends_alimtalk`
tells the router which one applies. Either way the AlimTalk send itself succeeds: "not a
KakaoTalk user" (``NOT_KAKAO_USER``) is known only from the delivery result
(:func:`~kmsg.messaging.providers.nhn_api.alimtalk_delivery_error`).

**Idempotency.** AlimTalk sends carry kmsg's key in ``X-NC-API-IDEMPOTENCY-KEY`` and as the
recipient's ``recipientGroupingKey`` (keys over 100 characters are hashed:
:func:`~kmsg.messaging.providers.nhn_api.grouping_key`). NHN *refuses* a key seen in the last 10
minutes (result code ``-1005``) rather than repeating its first answer, so on ``-1005`` the
provider looks the first message up (List Messages by grouping key, created in the last hour)
and returns its id: a retry after a lost reply neither delivers twice nor fails. When the lookup
finds nothing (the first request was refused, or is not listed yet), the send fails with a
retryable ``PROVIDER_ERROR`` after ``retry_after`` = 10 minutes, when NHN takes the key again.
NHN's SMS API takes no idempotency key: an SMS retried after a lost reply may be delivered twice
(at-least-once); its grouping key still marks both at NHN.

**Probe** (``kmsg health``): SMS reads the registered caller ids (``GET .../sendNos``, is
``sender_no`` registered, in use and not blocked?); AlimTalk reads the sender profile (``GET
.../senders/{senderKey}``). Nothing is sent.

**Secrets.** The secret keys never appear in the repr or in an error message; the app keys are
hidden from error messages too, but are part of NHN's URL paths, so httpx's ``HTTP Request``
log lines (INFO) show them. NHN calls without the secret key are refused (v3.0 / v2.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, ClassVar, Final, Self, TypeVar

import msgspec

from kmsg.errors import MissingDependencyError, ProviderErrorCode, ValidationError
from kmsg.messaging.models import AlimTalk, FriendTalk, Lms, Message, Mms, SendResult, Sms
from kmsg.messaging.phone import normalize_phone

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("NhnProvider", "http") from exc

from kmsg.messaging.providers import nhn_api as api
from kmsg.messaging.providers.nhn_http import NhnHttp, Reply

__all__ = ["NhnProvider", "NhnSettings"]

SMS_URL: Final = "https://sms.api.nhncloudservice.com"
ALIMTALK_URL: Final = "https://kakaotalk-bizmessage.api.nhncloudservice.com"
MIB: Final = 1024 * 1024
IDEMPOTENCY_WINDOW: Final = 600.0
"""Seconds NHN refuses a reused ``X-NC-API-IDEMPOTENCY-KEY`` (AlimTalk API v2.3)."""
_LOOKUP_PAST: Final = timedelta(hours=1)
_LOOKUP_FUTURE: Final = timedelta(minutes=10)
_REDACTED: Final = "[redacted]"
_T = TypeVar("_T")

ResendText = Callable[[AlimTalk], str | None]
"""Gives the SMS/LMS text NHN resends an AlimTalk as (None: NHN's own, the template's)."""


class NhnSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of :class:`NhnProvider` (``K_MSG_NHN_<FIELD>`` or ``kmsg.toml``).

    NHN Cloud gives each service its own app key and secret key: set ``sms_app_key`` for
    SMS/LMS/MMS and ``alimtalk_app_key`` (+ ``sender_key``, the KakaoTalk sender profile's key)
    for AlimTalk, and ``secret_key`` for both or ``sms_secret_key`` / ``alimtalk_secret_key``
    each. ``sender_no`` is the caller id registered at NHN (a message's own ``sender`` wins); it
    is also the number AlimTalk fallbacks come from. ``sms_url`` / ``alimtalk_url`` default to
    NHN's public endpoints. ``timeout`` is a send's total deadline in seconds. ``resend``: NHN
    resends a failed AlimTalk by SMS/LMS. The repr never shows a key.
    """

    sms_app_key: str | None = None
    alimtalk_app_key: str | None = None
    secret_key: str | None = None
    sms_secret_key: str | None = None
    alimtalk_secret_key: str | None = None
    sender_no: str | None = None
    sender_key: str | None = None
    sms_url: Annotated[str, msgspec.Meta(min_length=1)] = SMS_URL
    alimtalk_url: Annotated[str, msgspec.Meta(min_length=1)] = ALIMTALK_URL
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_reply_bytes: Annotated[int, msgspec.Meta(gt=0)] = MIB
    max_retry_after: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    resend: bool = False

    def __repr__(self) -> str:
        return (
            f"NhnSettings(sms={'set' if self.sms_app_key else None}, "
            f"alimtalk={'set' if self.alimtalk_app_key else None}, "
            f"sender_no={self.sender_no!r}, sms_url={self.sms_url!r}, "
            f"alimtalk_url={self.alimtalk_url!r}, resend={self.resend!r})"
        )


class _Service(msgspec.Struct, frozen=True):
    """One configured NHN service: its base URL, app key and secret key."""

    url: str
    app_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"_Service(url={self.url!r})"


class NhnProvider:
    """A :class:`~kmsg.messaging.provider.Provider` for NHN Cloud SMS v3.0 and AlimTalk v2.3.

    Configure at least one service: ``sms_app_key`` (with ``sender_no``) or
    ``alimtalk_app_key`` (with ``sender_key``), each with its secret key. Pass ``client`` to
    reuse an ``httpx.AsyncClient`` (then closing it is yours); otherwise call :meth:`aclose` or
    use ``async with``. ``clock`` (epoch seconds) is for tests. Raises ``ValidationError`` for
    a service missing a key, a ``sender_no`` that is not a Korean phone number, a URL that is
    not http(s), or a limit out of range.
    """

    Settings: ClassVar[type[NhnSettings]] = NhnSettings

    def __init__(
        self,
        *,
        sms_app_key: str | None = None,
        alimtalk_app_key: str | None = None,
        secret_key: str | None = None,
        sms_secret_key: str | None = None,
        alimtalk_secret_key: str | None = None,
        sender_no: str | None = None,
        sender_key: str | None = None,
        sms_url: str = SMS_URL,
        alimtalk_url: str = ALIMTALK_URL,
        timeout: float = 10.0,
        max_reply_bytes: int = MIB,
        max_retry_after: float = 3600.0,
        resend: bool = False,
        resend_text: ResendText | None = None,
        name: str = "nhn",
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not timeout > 0 or max_reply_bytes <= 0 or not max_retry_after >= 0:
            raise ValidationError(
                "NhnProvider needs timeout > 0, max_reply_bytes > 0 and max_retry_after >= 0"
            )
        self._sms = _service("sms", sms_url, sms_app_key, sms_secret_key or secret_key)
        self._alimtalk = _service(
            "alimtalk", alimtalk_url, alimtalk_app_key, alimtalk_secret_key or secret_key
        )
        if self._sms is None and self._alimtalk is None:
            raise ValidationError("NhnProvider needs sms_app_key or alimtalk_app_key")
        if self._alimtalk is not None and not sender_key:
            raise ValidationError("NhnProvider: AlimTalk needs sender_key (the sender profile's)")
        if resend and not sender_no:
            raise ValidationError("NhnProvider: resend needs sender_no (the fallback's caller id)")
        self._sender_no = None if not sender_no else normalize_phone(sender_no)
        self._sender_key = sender_key
        self._resend = resend
        self._resend_text = resend_text
        self._name = name
        self._clock = clock
        self._owns_client = client is None
        secrets = [
            key
            for service in (self._sms, self._alimtalk)
            if service is not None
            for key in (service.app_key, service.secret_key)
        ]
        self._http = NhnHttp(
            client if client is not None else httpx.AsyncClient(timeout=timeout),
            timeout=timeout,
            max_reply_bytes=max_reply_bytes,
            max_retry_after=max_retry_after,
            secrets=secrets,
        )
        self._encoder = msgspec.json.Encoder()

    @classmethod
    def from_settings(cls, settings: NhnSettings) -> Self:
        """The provider :class:`NhnSettings` describe (the hook the config loader calls)."""
        return cls(**msgspec.structs.asdict(settings))

    def __repr__(self) -> str:
        services = [s for s, c in (("sms", self._sms), ("alimtalk", self._alimtalk)) if c]
        return f"NhnProvider(name={self._name!r}, services={services}, resend={self._resend})"

    @property
    def name(self) -> str:
        """The provider name put in results (default ``"nhn"``)."""
        return self._name

    @property
    def resends_alimtalk(self) -> bool:
        """Whether NHN itself falls back to SMS/LMS for an AlimTalk it cannot deliver."""
        return self._resend and self._alimtalk is not None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._http.client.aclose()

    async def send(
        self,
        message: Message,
        *,
        idempotency_key: str | None = None,
        when: datetime | None = None,
    ) -> SendResult:
        """Send ``message`` (at ``when``, an aware datetime, if given); module docstring."""
        if isinstance(message, AlimTalk):
            found = await self._send_alimtalk(message, idempotency_key, when)
        elif isinstance(message, FriendTalk):
            raise self._http.error(
                ProviderErrorCode.INVALID_REQUEST, "NhnProvider does not send FriendTalk"
            )
        else:
            found = await self._send_sms(message, idempotency_key, when)
        return SendResult(
            message_id=str(found), provider=self._name, to=message.to, accepted_at=self._clock()
        )

    async def _send_sms(
        self, message: Sms | Lms | Mms, key: str | None, when: datetime | None
    ) -> api.NhnMessageId:
        service = self._need(self._sms, "SMS/LMS/MMS", "sms_app_key")
        send_no = message.sender or self._sender_no
        if not send_no:
            raise self._http.error(
                ProviderErrorCode.INVALID_REQUEST, "no caller id: set sender_no or the sender"
            )
        try:
            endpoint, body = api.sms_request(
                [message],
                send_no=send_no,
                when=when,
                grouping_keys=None if key is None else [api.grouping_key(key)],
            )
        except ValidationError as exc:
            raise self._http.error(ProviderErrorCode.INVALID_REQUEST, str(exc)) from None
        url = f"{service.url}/sms/v3.0/appKeys/{service.app_key}/sender/{endpoint}"
        reply = await self._post(service, url, self._encoder.encode(body), {})
        return self._only(reply, api.parse_sms_reply, "sms")

    async def _send_alimtalk(
        self, message: AlimTalk, key: str | None, when: datetime | None
    ) -> api.NhnMessageId:
        service = self._need(self._alimtalk, "AlimTalk", "alimtalk_app_key")
        assert self._sender_key is not None  # checked in __init__
        text = self._resend_text(message) if self._resend and self._resend_text else None
        resend = api.resend_parameter(
            enabled=self._resend, send_no=message.sender or self._sender_no, text=text
        )
        grouping = None if key is None else api.grouping_key(key)
        try:
            body = api.alimtalk_request(
                [message],
                sender_key=self._sender_key,
                resend=resend,
                when=when,
                grouping_keys=[grouping],
            )
        except ValidationError as exc:
            raise self._http.error(ProviderErrorCode.INVALID_REQUEST, str(exc)) from None
        url = f"{service.url}/alimtalk/v2.3/appkeys/{service.app_key}/messages"
        headers = {} if grouping is None else {"X-NC-API-IDEMPOTENCY-KEY": grouping}
        reply = await self._post(service, url, self._encoder.encode(body), headers)
        if grouping is not None and _duplicate_key(reply):
            return await self._first_with_key(service, message.to, grouping)
        return self._only(reply, api.parse_alimtalk_reply, "alimtalk")

    async def _first_with_key(self, service: _Service, to: str, grouping: str) -> api.NhnMessageId:
        """The message an earlier request with this idempotency key made (NHN said ``-1005``)."""
        now = api.kst_now(self._clock())
        params = {
            "startCreateDate": api.request_date(now - _LOOKUP_PAST),
            "endCreateDate": api.request_date(now + _LOOKUP_FUTURE),
            "recipientGroupingKey": grouping,
            "pageSize": "15",
        }
        url = f"{service.url}/alimtalk/v2.3/appkeys/{service.app_key}/messages"
        reply = await self._http.exchange("GET", url, headers=_headers(service), params=params)
        refused = self._http.refusal("alimtalk", reply)
        if refused is not None:
            raise refused
        listed = self._decode(reply, api.ListMessagesReply)
        for found in listed.messages:
            if found.recipient_grouping_key in (None, grouping) and found.recipient_no in (
                None,
                to,
            ):
                return api.NhnMessageId("alimtalk", found.request_id, found.recipient_seq)
        raise self._http.error(
            ProviderErrorCode.PROVIDER_ERROR,
            "NHN refused a reused idempotency key (-1005) and lists no message made with it; "
            "trying again once NHN's 10-minute window has passed",
            retry_after=min(IDEMPOTENCY_WINDOW, self._http.max_retry_after),
        )

    async def _post(self, service: _Service, url: str, body: bytes, extra: dict[str, str]) -> Reply:
        headers = {**_headers(service), **extra}
        return await self._http.exchange("POST", url, headers=headers, content=body)

    def _only(
        self,
        reply: Reply,
        parse: Callable[[bytes], api.SendReply],
        service: api.Service,
    ) -> api.NhnMessageId:
        """The one recipient's message id, or the error NHN's answer for it means."""
        parsed: api.SendReply | None = None
        if reply.body is not None:
            try:
                parsed = parse(reply.body)
            except (msgspec.DecodeError, msgspec.ValidationError):
                parsed = None
        # A refused request may still say why per recipient (AlimTalk -1031: all failed).
        if parsed is not None and parsed.outcomes and parsed.outcomes[0].error is not None:
            outcome = parsed.outcomes[0]
            raise self._http.error(outcome.error or ProviderErrorCode.UNKNOWN_ERROR, outcome.detail)
        refused = self._http.refusal(service, reply)
        if refused is not None:
            raise refused
        if parsed is None or not parsed.outcomes:
            size = "too long" if reply.body is None else "not a send result"
            raise self._http.error(
                ProviderErrorCode.PROVIDER_ERROR, f"NHN's reply (HTTP {reply.status}) is {size}"
            )
        found = parsed.outcomes[0].message_id
        assert found is not None  # an outcome without an error has an id
        return found

    def _decode(self, reply: Reply, kind: type[_T]) -> _T:
        try:
            return msgspec.json.decode(reply.body or b"", type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._http.error(
                ProviderErrorCode.PROVIDER_ERROR, f"NHN's reply is not as documented: {exc}"
            ) from None

    def _need(self, service: _Service | None, what: str, setting: str) -> _Service:
        if service is None:
            raise self._http.error(
                ProviderErrorCode.INVALID_REQUEST,
                f"NhnProvider is not set up for {what}: {setting}",
            )
        return service

    async def probe(self) -> str:
        """Read (never send) from each configured service: module docstring. Raises
        ``ProviderError`` when NHN refuses the keys or the caller id / profile is unusable."""
        started = self._clock()
        details = []
        if self._sms is not None:
            details.append(await self._probe_sms(self._sms))
        if self._alimtalk is not None:
            details.append(await self._probe_alimtalk(self._alimtalk))
        elapsed_ms = (self._clock() - started) * 1000
        return f"NHN Cloud {'; '.join(details)} ({elapsed_ms:.0f} ms)"

    async def _probe_sms(self, service: _Service) -> str:
        url = f"{service.url}/sms/v3.0/appKeys/{service.app_key}/sendNos"
        params = {"sendNo": self._sender_no} if self._sender_no else None
        reply = await self._http.exchange("GET", url, headers=_headers(service), params=params)
        refused = self._http.refusal("sms", reply)
        if refused is not None:
            raise refused
        numbers = self._decode(reply, api.SendNosReply).body
        found = [] if numbers is None else numbers.data
        if not self._sender_no:
            return f"SMS: keys accepted, {len(found)} caller id(s) listed"
        usable = [n for n in found if n.send_no == self._sender_no]
        if not usable or usable[0].use_yn == "N" or usable[0].block_yn == "Y":
            raise self._http.error(
                ProviderErrorCode.INVALID_REQUEST,
                f"caller id {self._sender_no} is not registered, in use and unblocked at NHN",
            )
        return f"SMS: caller id {self._sender_no} registered"

    async def _probe_alimtalk(self, service: _Service) -> str:
        url = f"{service.url}/alimtalk/v2.3/appkeys/{service.app_key}/senders/{self._sender_key}"
        reply = await self._http.exchange("GET", url, headers=_headers(service))
        refused = self._http.refusal("alimtalk", reply)
        if refused is not None:
            raise refused
        sender = self._decode(reply, api.SenderReply).sender
        if sender is None or sender.block or sender.dormant:
            raise self._http.error(
                ProviderErrorCode.INVALID_REQUEST,
                "the KakaoTalk sender profile is missing, blocked or dormant at NHN",
            )
        return f"AlimTalk: sender profile {sender.plus_friend_id or _REDACTED} ({sender.status})"


def _service(what: str, url: str, app_key: str | None, secret_key: str | None) -> _Service | None:
    if not app_key:
        return None
    if not secret_key:
        raise ValidationError(f"NhnProvider: {what} needs a secret key ({what}_secret_key)")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"NhnProvider {what}_url is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationError(f"NhnProvider {what}_url must be an http(s) URL, not {url!r}")
    return _Service(url.rstrip("/"), app_key, secret_key)


def _headers(service: _Service) -> dict[str, str]:
    return {"Content-Type": "application/json;charset=UTF-8", "X-Secret-Key": service.secret_key}


def _duplicate_key(reply: Reply) -> bool:
    if reply.body is None:
        return False
    try:
        header = msgspec.json.decode(reply.body, type=api.HeaderOnly).header
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return header.result_code == api.ALIMTALK_DUPLICATE_KEY
