"""``SolapiProvider``: SMS, LMS, MMS, AlimTalk and FriendTalk through SOLAPI (``kmsg[http]``).

**Documents followed** (the public repository ``solapi/documents``, i.e. docs.solapi.com, and
SOLAPI's own SDKs where the documents lag behind them):

* "API Key 인증 방식" (``authentication/api-key.md``): the ``Authorization`` header
  ``HMAC-SHA256 apiKey=<key>, date=<ISO 8601>, salt=<12-64 random bytes>, signature=<hex
  HMAC-SHA256 of date + salt, keyed by the API secret>``. SOLAPI refuses a date more than 15
  minutes from its clock (``RequestTimeTooSkewed``) and a signature used before within 15
  minutes (``DuplicatedSignature``), so every request is signed afresh: the current UTC time
  (``2019-07-01T00:41:48Z``) and a new 32-character random salt.
* "여러건 발송" (``api-reference/messages/sendMany.md``) and "그룹 메시지 추가"
  (``api-reference/messages/groups/addGroupMessages.md``) for the message fields: ``to``,
  ``from``, ``text``, ``type`` (``SMS``/``LMS``/``MMS``/``ATA``/``CTA``), ``subject``,
  ``imageId``, ``kakaoOptions`` (``pfId``, ``templateId``, ``variables``, ``disableSms``,
  ``buttons``) and ``customFields`` (keys up to 30 characters, values up to 100). The request
  goes to ``POST /messages/v4/send-many/detail``, the form of ``send-many`` that SOLAPI's
  current SDKs (``solapi/solapi-python``, ``solapi/solapi-nodejs``) call: it answers
  ``{"groupInfo", "failedMessageList", "messageList"}``, so a message refused at reception is
  reported in a 200 reply and an accepted one comes back with its ``messageId`` (asked for with
  ``showMessageList: true``). The 2022 document of plain ``send-many`` answers with the group
  only, without message ids.
* "메시지 상태 코드" (``api-reference/message-status-codes.md``) and the error replies of
  "심플 메시지": mapped in :mod:`kmsg.messaging.providers.solapi_codes`.
* "잔액조회" (``api-reference/cash/getbalance.md``): ``GET /cash/v1/balance`` for
  :meth:`SolapiProvider.balance` (and :meth:`~SolapiProvider.probe`).

**Messages.** One kmsg message is one request holding one SOLAPI message, ``from`` being the
message's ``sender`` or else the configured ``sender`` (SOLAPI needs a registered sender number
for every type; a send without either is refused with ``INVALID_REQUEST`` before any request).

=========== =============================================================================
kmsg        SOLAPI message
=========== =============================================================================
Sms         ``type: SMS``, ``text``
Lms         ``type: LMS``, ``text``, ``subject`` when given
Mms         ``type: MMS``, ``text``, ``subject``, ``imageId``: SOLAPI takes **one** image, a
            file id its Storage API issued (``POST /storage/v1/files``, type ``MMS``); kmsg
            does not upload files, so ``images`` must hold exactly one such id (more are
            refused with ``INVALID_REQUEST``)
AlimTalk    ``type: ATA``, ``kakaoOptions``: ``pfId`` (setting ``pf_id``), ``templateId``
            (``template_code``), ``variables`` (``{"#{name}": value}``; kmsg's ``name`` keys
            are wrapped in ``#{}``), ``disableSms``. No ``text``: SOLAPI fills the template.
FriendTalk  ``type: CTA``, ``text``, ``kakaoOptions``: ``pfId``, ``buttons`` (web links:
            ``buttonType: WL``, ``buttonName``, ``linkMo``), ``disableSms: true``. An
            ``image_url`` is refused with ``INVALID_REQUEST``: SOLAPI's image FriendTalk
            (``CTI``) needs a file id from its Storage API, not a URL.
=========== =============================================================================

**AlimTalk fallback.** SOLAPI resends an AlimTalk that KakaoTalk cannot deliver as SMS/LMS
itself unless ``disableSms`` is true. kmsg asks for that resend when the message has a
``fallback_text`` and the setting ``sms_fallback`` is on (the default); otherwise it sends
``disableSms: true``, and a refusal with a code whose ``falls_back`` is true is left to kmsg's
own fallback. The documents name no field for a resend text of one's own, so SOLAPI's resend
carries the AlimTalk's own text, not ``fallback_text`` (assumption; check with SOLAPI if the
difference matters). A resend happens inside SOLAPI after kmsg's send succeeded, so it never
adds a second kmsg send.

**Errors.** Table in :mod:`kmsg.messaging.providers.solapi_codes`. In short: 429 is
``RATE_LIMIT_EXCEEDED`` with ``Retry-After`` (delta-seconds or HTTP date, capped at
``max_retry_after``); 5xx ``PROVIDER_ERROR``; the authentication errors
``AUTHENTICATION_FAILED`` (not retryable, except ``DuplicatedSignature``, which the next
attempt's fresh salt cures); 402 / ``NotEnoughBalance`` ``INSUFFICIENT_BALANCE``; an entry of
``failedMessageList`` by its status code (``3104`` ``NOT_KAKAO_USER``, ``3108``
``OUTSIDE_SEND_WINDOW``, ``1060`` ``INVALID_RECIPIENT``, ``1030`` ``INSUFFICIENT_BALANCE``,
...). SOLAPI documents no 429; a gateway in front of it may send one, so it is honoured.
Timeouts are ``NETWORK_TIMEOUT`` and transport failures ``NETWORK_ERROR``, both retryable.

**Idempotency: at-least-once.** SOLAPI documents no way to deduplicate a send across requests:
``allowDuplicates`` only allows the same recipient twice within one request (kmsg sends
``false``, one message a request). A send repeated after a worker crashed between SOLAPI's
acceptance and the job's acknowledgement is delivered again. kmsg's idempotency key still goes
with the message, in ``customFields`` as ``kmsgKey`` (a key over 100 characters as
``sha256:<hex>``), so the two deliveries can be matched in SOLAPI's message list and delivery
reports.

**Limits and secrets** as :class:`~kmsg.messaging.http.HttpProvider`: ``timeout`` is a total
deadline for one request, replies are read up to ``max_reply_bytes``, and every error message
has the API key and the API secret replaced by ``[redacted]`` (the secret is never sent; the
signature is single-use). Neither appears in a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Self, TypeVar

import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.models import AlimTalk, FriendTalk, Lms, Message, Mms, SendResult, Sms
from kmsg.messaging.phone import normalize_phone
from kmsg.messaging.providers.solapi_codes import refusal_code, status_code
from kmsg.messaging.providers.solapi_http import SolapiReply, SolapiTransport

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("SolapiProvider", "http") from exc

__all__ = [
    "DEFAULT_BASE_URL",
    "IDEMPOTENCY_FIELD",
    "SolapiBalance",
    "SolapiProvider",
    "SolapiSettings",
    "authorization",
]

DEFAULT_BASE_URL: Final = "https://api.solapi.com"
SEND_PATH: Final = "/messages/v4/send-many/detail"
BALANCE_PATH: Final = "/cash/v1/balance"
IDEMPOTENCY_FIELD: Final = "kmsgKey"
"""The ``customFields`` key that carries kmsg's idempotency key."""
_CUSTOM_VALUE_MAX: Final = 100
_REDACTED: Final = "[redacted]"
T = TypeVar("T")


class SolapiSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of :class:`SolapiProvider`, read by :func:`kmsg.messaging.configure_provider`.

    From the environment as ``K_MSG_SOLAPI_<FIELD>`` (``K_MSG_SOLAPI_API_KEY``,
    ``K_MSG_SOLAPI_API_SECRET``, ``K_MSG_SOLAPI_SENDER``, ``K_MSG_SOLAPI_PF_ID``, ...) or the
    ``[provider]`` table of ``kmsg.toml``. ``sender`` is the registered caller id used when a
    message names none; ``pf_id`` the KakaoTalk channel's SOLAPI id (needed for AlimTalk and
    FriendTalk); ``sms_fallback`` lets SOLAPI resend an AlimTalk that has a ``fallback_text``
    by SMS/LMS (module docstring). The repr never shows the key or the secret.
    """

    api_key: Annotated[str, msgspec.Meta(min_length=1)]
    api_secret: Annotated[str, msgspec.Meta(min_length=1)]
    sender: str | None = None
    pf_id: str | None = None
    base_url: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_BASE_URL
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    sms_fallback: bool = True
    max_reply_bytes: Annotated[int, msgspec.Meta(gt=0)] = 1024 * 1024
    max_retry_after: Annotated[float, msgspec.Meta(ge=0)] = 3600.0

    def __repr__(self) -> str:
        return (
            f"SolapiSettings(api_key={_REDACTED!r}, api_secret={_REDACTED!r}, "
            f"sender={self.sender!r}, pf_id={self.pf_id!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout!r})"
        )


class SolapiBalance(msgspec.Struct, frozen=True, kw_only=True):
    """What ``GET /cash/v1/balance`` reports: cash ``balance`` and ``point`` (both KRW)."""

    balance: float
    point: float


class _BalanceReply(msgspec.Struct):
    balance: float | None = None
    point: float | None = None


class _Listed(msgspec.Struct, rename="camel"):
    message_id: str = ""
    status_code: str = ""
    status_message: str = ""


class _SendReply(msgspec.Struct, rename="camel"):
    failed_message_list: list[_Listed] | None = None
    message_list: list[_Listed] | None = None


def authorization(api_key: str, api_secret: str, *, date: str, salt: str) -> str:
    """The ``Authorization`` header value SOLAPI's "API Key 인증 방식" describes.

    ``signature`` is the lowercase hex HMAC-SHA256 of ``date + salt`` keyed by ``api_secret``.
    """
    signature = hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={api_key}, date={date}, salt={salt}, signature={signature}"


def iso_date(epoch: float) -> str:
    """``epoch`` as the ISO 8601 UTC time SOLAPI signs: ``2019-07-01T00:41:48Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fresh_salt() -> str:
    return secrets.token_hex(16)


class SolapiProvider:
    """A :class:`~kmsg.messaging.provider.Provider` for SOLAPI's messages API v4.

    ``api_key`` and ``api_secret`` are the pair from SOLAPI's console; ``sender`` the default
    registered caller id; ``pf_id`` the KakaoTalk channel id for AlimTalk and FriendTalk;
    ``base_url`` SOLAPI's API root (tests point it at a fake). ``clock`` (epoch seconds) and
    ``salt`` make the signature's date and salt for each request; leave them alone outside
    tests. Pass ``client`` to reuse an ``httpx.AsyncClient`` (closing it is then yours);
    otherwise call :meth:`aclose` or use ``async with``.

    Raises ``ValidationError`` for an empty key or secret, a sender that is not a Korean
    number, a base URL that is not http(s), or a limit out of range.
    """

    Settings: ClassVar[type[SolapiSettings]] = SolapiSettings

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        sender: str | None = None,
        pf_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        sms_fallback: bool = True,
        max_reply_bytes: int = 1024 * 1024,
        max_retry_after: float = 3600.0,
        name: str = "solapi",
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        salt: Callable[[], str] = _fresh_salt,
    ) -> None:
        if not api_key or not api_secret:
            raise ValidationError("SolapiProvider needs an api_key and an api_secret")
        self._api_key = api_key
        self._api_secret = api_secret
        self._sender = None if sender is None else normalize_phone(sender)
        self._pf_id = pf_id or None
        self._sms_fallback = sms_fallback
        self._name = name
        self._clock = clock
        self._salt = salt
        self._transport = SolapiTransport(
            base_url,
            timeout=timeout,
            max_reply_bytes=max_reply_bytes,
            max_retry_after=max_retry_after,
            secrets=(api_key, api_secret),
            client=client,
        )
        self.base_url = self._transport.base_url
        """SOLAPI's API root this provider sends to."""
        self._encoder = msgspec.json.Encoder()

    @classmethod
    def from_settings(cls, settings: SolapiSettings) -> Self:
        """The provider :class:`SolapiSettings` describe (the hook the config loader calls)."""
        return cls(
            settings.api_key,
            settings.api_secret,
            sender=settings.sender,
            pf_id=settings.pf_id,
            base_url=settings.base_url,
            timeout=settings.timeout,
            sms_fallback=settings.sms_fallback,
            max_reply_bytes=settings.max_reply_bytes,
            max_retry_after=settings.max_retry_after,
        )

    def __repr__(self) -> str:
        return f"SolapiProvider(base_url={self.base_url!r}, name={self._name!r})"

    @property
    def name(self) -> str:
        """The provider name put in results (default ``"solapi"``)."""
        return self._name

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        await self._transport.aclose()

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """Send ``message`` by ``send-many/detail``; map refusals as the module docstring says."""
        body = {
            "messages": [self._solapi_message(message, idempotency_key)],
            "allowDuplicates": False,
            "showMessageList": True,
        }
        reply = await self._request("POST", SEND_PATH, self._encoder.encode(body))
        accepted = self._decode(reply, _SendReply)
        for failed in accepted.failed_message_list or ():
            code = status_code(failed.status_code)
            raise self._transport.error(
                code, f"SOLAPI status {failed.status_code}: {failed.status_message}"
            )
        listed = [item for item in accepted.message_list or () if item.message_id]
        if not listed:
            raise self._transport.error(
                ProviderErrorCode.PROVIDER_ERROR,
                "SOLAPI accepted the request but named no message id",
            )
        return SendResult(
            message_id=listed[0].message_id,
            provider=self._name,
            to=message.to,
            accepted_at=time.time(),
        )

    async def balance(self) -> SolapiBalance:
        """The account's cash balance and points (``GET /cash/v1/balance``).

        Raises ``ProviderError`` as a send does (authentication, rate limit, timeouts).
        """
        reply = await self._request("GET", BALANCE_PATH, None)
        found = self._decode(reply, _BalanceReply)
        if found.balance is None:
            raise self._transport.error(
                ProviderErrorCode.PROVIDER_ERROR, "SOLAPI balance reply has no balance"
            )
        return SolapiBalance(balance=found.balance, point=found.point or 0.0)

    async def probe(self) -> str:
        """Check the key pair by reading the balance; a one-line detail for ``kmsg health``."""
        started = time.perf_counter()
        found = await self.balance()
        elapsed_ms = (time.perf_counter() - started) * 1000
        return (
            f"{self.base_url} answered in {elapsed_ms:.0f} ms: balance {found.balance:g}, "
            f"point {found.point:g}"
        )

    async def _request(self, method: str, path: str, content: bytes | None) -> SolapiReply:
        headers = {
            "Authorization": authorization(
                self._api_key, self._api_secret, date=iso_date(self._clock()), salt=self._salt()
            )
        }
        if content is not None:
            headers["Content-Type"] = "application/json"
        reply = await self._transport.exchange(method, path, content=content, headers=headers)
        if not 200 <= reply.status < 300:
            code, retryable = refusal_code(reply.status, reply.error_code)
            raise self._transport.refusal(reply, code, retryable=retryable)
        return reply

    def _decode(self, reply: SolapiReply, kind: type[T]) -> T:
        if reply.body is None:
            raise self._transport.error(
                ProviderErrorCode.PROVIDER_ERROR, "SOLAPI reply longer than the limit"
            )
        try:
            return msgspec.json.decode(reply.body, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._transport.error(
                ProviderErrorCode.PROVIDER_ERROR, f"SOLAPI reply not understood: {exc}"
            ) from None

    def _solapi_message(self, message: Message, idempotency_key: str | None) -> dict[str, Any]:
        """One entry of ``messages``, or ``ProviderError(INVALID_REQUEST)`` if SOLAPI cannot."""
        sender = message.sender or self._sender
        if sender is None:
            raise _invalid("no sender: set the message's sender or the provider's sender")
        body: dict[str, Any] = {"to": message.to, "from": sender}
        match message:
            case Sms():
                body |= {"type": "SMS", "text": message.text}
            case Lms():
                body |= {"type": "LMS", "text": message.text}
                _put(body, "subject", message.subject)
            case Mms():
                if len(message.images) != 1:
                    raise _invalid(
                        f"SOLAPI MMS takes one image (a Storage API file id), "
                        f"not {len(message.images)}"
                    )
                body |= {"type": "MMS", "text": message.text, "imageId": message.images[0]}
                _put(body, "subject", message.subject)
            case AlimTalk():
                fallback = self._sms_fallback and message.fallback_text is not None
                options = {
                    "pfId": self._channel("AlimTalk"),
                    "templateId": message.template_code,
                    "variables": {_variable(k): v for k, v in message.variables.items()},
                    "disableSms": not fallback,
                }
                body |= {"type": "ATA", "kakaoOptions": options}
            case FriendTalk():
                if message.image_url is not None:
                    raise _invalid(
                        "SOLAPI image FriendTalk (CTI) needs a Storage API file id, "
                        "not an image URL"
                    )
                buttons = [
                    {"buttonType": "WL", "buttonName": b.name, "linkMo": b.url}
                    for b in message.buttons
                ]
                options = {"pfId": self._channel("FriendTalk"), "disableSms": True}
                _put(options, "buttons", buttons or None)
                body |= {"type": "CTA", "text": message.text, "kakaoOptions": options}
        if idempotency_key is not None:
            body["customFields"] = {IDEMPOTENCY_FIELD: _custom_value(idempotency_key)}
        return body

    def _channel(self, kind: str) -> str:
        if self._pf_id is None:
            raise _invalid(f"{kind} needs the KakaoTalk channel id: set the pf_id setting")
        return self._pf_id


def _put(target: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        target[key] = value


def _variable(name: str) -> str:
    """A template variable's SOLAPI key: ``name`` -> ``#{name}`` (kept if already wrapped)."""
    return name if name.startswith("#{") and name.endswith("}") else f"#{{{name}}}"


def _custom_value(key: str) -> str:
    """``key`` as a ``customFields`` value: itself, or ``sha256:<hex>`` past 100 characters."""
    if len(key) <= _CUSTOM_VALUE_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _invalid(text: str) -> ProviderError:
    return ProviderError(ProviderErrorCode.INVALID_REQUEST, text)
