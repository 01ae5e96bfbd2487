"""``AligoProvider``: SMS and LMS through Aligo's HTTP API (``pip install "kmsg[http]"``).

Follows Aligo's public page "API SPEC 및 연동예제 안내" (smartsms.aligo.in/admin/api/spec.html,
also at smartsms.aligo.in/smsapi.html), section **문자보내기**, and its page "결과조회 API"
(``status.html``), row **잔여건수 조회**:

* ``POST <base_url>send/``, form-encoded (UTF-8), fields ``key`` (API key), ``user_id``,
  ``sender`` (a number registered with Aligo), ``receiver`` (numbers joined by ``,``, up to
  1,000), ``msg`` (1-2,000 bytes), ``msg_type`` (``SMS`` / ``LMS`` / ``MMS``), ``title`` (LMS and
  MMS only), ``rdate`` + ``rtime`` (a scheduled send: YYYYMMDD and HHII, at least 10 minutes
  ahead) and ``testmode_yn`` (``Y``: Aligo checks the request and answers, sending nothing).
  The reply is JSON: ``result_code`` (1: accepted), ``message``, ``msg_id``, ``success_cnt``,
  ``error_cnt``, ``msg_type``.
* ``POST <base_url>remain/`` with ``key`` and ``user_id``: ``SMS_CNT``, ``LMS_CNT``,
  ``MMS_CNT`` (how many of each the balance pays for): :meth:`AligoProvider.balance`, and
  what ``kmsg health`` shows (:meth:`AligoProvider.probe`). The page's table spells the id
  ``userid``; kmsg sends ``user_id`` as ``send/`` takes it (an assumption: the two endpoints
  are documented side by side and share their other fields).

Not covered by the stored pages, so assumed: HTTP-level failures (Aligo documents none) map as
:class:`~kmsg.messaging.http.HttpProvider` maps them, and refusals map by the table in
:mod:`kmsg.messaging.providers.aligo_api`:

====================================  ==========================  ==========================
reply                                 code                        retryable
====================================  ==========================  ==========================
200, ``result_code <= 0``             by code and message         see ``aligo_api``
200, accepted, ``success_cnt`` 0      ``INVALID_RECIPIENT``       no
200 without a readable reply          ``PROVIDER_ERROR``          yes
429                                   ``RATE_LIMIT_EXCEEDED``     yes, after ``Retry-After``
401, 403                              ``AUTHENTICATION_FAILED``   no
408                                   ``NETWORK_TIMEOUT``         yes
other 4xx                             ``INVALID_REQUEST``         no
5xx                                   ``PROVIDER_ERROR``          yes (``Retry-After`` kept)
no whole reply within ``timeout``     ``NETWORK_TIMEOUT``         yes
connection refused, reset, ...        ``NETWORK_ERROR``           yes
====================================  ==========================  ==========================

**Messages.** ``Sms`` goes as ``SMS``, a long ``Sms`` (over 90 CP949 bytes) and ``Lms`` as
``LMS`` (:mod:`kmsg.messaging.sizing`), an LMS subject as ``title``. ``msg_type`` is always sent,
as Aligo recommends, so Aligo never guesses the type by its own byte count. ``Mms`` is refused
(``INVALID_REQUEST``): Aligo wants the image files themselves in a multipart upload, while kmsg's
``Mms`` carries file ids a gateway issued. AlimTalk and FriendTalk go through Aligo's separate
KakaoTalk API, which this provider does not speak (``INVALID_REQUEST``).

**At-least-once.** Aligo has no idempotency key: ``idempotency_key`` is accepted and not sent.
If a worker dies after Aligo accepted a send and before its job was acknowledged, or a reply is
lost to a timeout or a dropped connection after Aligo acted on the request, the job runs again
and the recipient gets the message twice. Nothing on the sending side can prevent it.

**Secrets.** The API key travels in the form body, never in a URL; it is not in the repr of the
provider or its settings, and every error message (so every error stored on a job) has it
replaced by ``[redacted]`` and is cut to 500 characters. Limits as in ``HttpProvider``:
``timeout`` is a total deadline per call, a reply is streamed and abandoned past
``max_reply_bytes``, a ``Retry-After`` is honoured up to ``max_retry_after``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, ClassVar, Final, Self, TypeVar
from urllib.parse import quote, quote_plus

import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.models import Lms, Message, SendResult, Sms
from kmsg.messaging.phone import normalize_phone
from kmsg.messaging.providers.aligo_api import RemainReply, SendReply, refusal_code
from kmsg.messaging.providers.aligo_api import schedule_fields as _schedule_fields
from kmsg.messaging.sizing import promote, text_message

try:
    import httpx

    from kmsg.messaging.providers.aligo_http import AligoHttp
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("AligoProvider", "http") from exc

__all__ = ["DEFAULT_BASE_URL", "AligoBalance", "AligoBatch", "AligoProvider", "AligoSettings"]

DEFAULT_BASE_URL: Final = "https://apis.aligo.in/"
MAX_RECEIVERS: Final = 1000
MIB: Final = 1024 * 1024
_REDACTED: Final = "[redacted]"

R = TypeVar("R", SendReply, RemainReply)


class AligoSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of :class:`AligoProvider`, read by :func:`kmsg.messaging.configure_provider`.

    From the environment as ``K_MSG_ALIGO_<FIELD>`` (``K_MSG_ALIGO_KEY``,
    ``K_MSG_ALIGO_USER_ID``, ``K_MSG_ALIGO_SENDER``, ``K_MSG_ALIGO_TESTMODE``, ...) or from the
    ``[provider]`` table of ``kmsg.toml``. ``sender`` is the registered caller number used when
    a message names none. The repr never shows ``key``.
    """

    key: Annotated[str, msgspec.Meta(min_length=1)]
    user_id: Annotated[str, msgspec.Meta(min_length=1)]
    sender: Annotated[str, msgspec.Meta(min_length=1)]
    base_url: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_BASE_URL
    testmode: bool = False
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_reply_bytes: Annotated[int, msgspec.Meta(gt=0)] = MIB
    max_retry_after: Annotated[float, msgspec.Meta(ge=0)] = 3600.0

    def __repr__(self) -> str:
        return (
            f"AligoSettings(key={_REDACTED!r}, user_id={self.user_id!r}, sender={self.sender!r}, "
            f"base_url={self.base_url!r}, testmode={self.testmode!r}, timeout={self.timeout!r})"
        )


class AligoBalance(msgspec.Struct, frozen=True, kw_only=True):
    """How many SMS, LMS and MMS the account's balance still pays for (``remain/``)."""

    sms: int
    lms: int
    mms: int


class AligoBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One ``send/`` to many receivers: Aligo's ``msg_id`` and how many it took or refused."""

    message_id: str
    success_count: int
    error_count: int
    message_type: str


class AligoProvider:
    """A :class:`~kmsg.messaging.provider.Provider` for Aligo's SMS/LMS API (module docstring).

    ``key`` and ``user_id`` authenticate; ``sender`` is the default caller number. With
    ``testmode`` every send carries ``testmode_yn=Y``. Pass ``client`` to reuse an
    ``httpx.AsyncClient`` (then closing it is yours); otherwise call :meth:`aclose` or use
    ``async with``. Raises ``ValidationError`` for a ``base_url`` that is not http(s), an
    invalid ``sender`` or a limit out of range.
    """

    Settings: ClassVar[type[AligoSettings]] = AligoSettings

    def __init__(
        self,
        *,
        key: str,
        user_id: str,
        sender: str,
        base_url: str = DEFAULT_BASE_URL,
        testmode: bool = False,
        timeout: float = 10.0,
        max_reply_bytes: int = MIB,
        max_retry_after: float = 3600.0,
        name: str = "aligo",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not key or not user_id:
            raise ValidationError("AligoProvider needs a key and a user_id")
        self._key = key
        self._user_id = user_id
        self.sender = normalize_phone(sender)
        """The caller number sent when a message names none (digits only)."""
        self.testmode = testmode
        self._name = name
        secrets = {form for form in (key, quote(key, safe=""), quote_plus(key)) if form}
        self._http = AligoHttp(
            base_url,
            timeout=timeout,
            max_reply_bytes=max_reply_bytes,
            max_retry_after=max_retry_after,
            secrets=secrets,
            client=client,
        )
        self.base_url = self._http.base_url
        """The API's base URL (``send/`` and ``remain/`` are relative to it)."""

    @classmethod
    def from_settings(cls, settings: AligoSettings) -> Self:
        """The provider :class:`AligoSettings` describe (the hook the config loader calls)."""
        return cls(
            key=settings.key,
            user_id=settings.user_id,
            sender=settings.sender,
            base_url=settings.base_url,
            testmode=settings.testmode,
            timeout=settings.timeout,
            max_reply_bytes=settings.max_reply_bytes,
            max_retry_after=settings.max_retry_after,
        )

    def __repr__(self) -> str:
        return (
            f"AligoProvider(base_url={self.base_url!r}, user_id={self._user_id!r}, "
            f"testmode={self.testmode!r}, name={self._name!r})"
        )

    @property
    def name(self) -> str:
        """The provider name put in results (default ``"aligo"``)."""
        return self._name

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        await self._http.aclose()

    async def send(
        self,
        message: Message,
        *,
        idempotency_key: str | None = None,
        scheduled_at: float | None = None,
    ) -> SendResult:
        """Send ``message`` to its one recipient; ``scheduled_at`` (epoch s) books it at Aligo.

        ``idempotency_key`` is ignored: Aligo has none (module docstring, at-least-once).
        Raises ``ProviderError`` as the module docstring's table says, ``ValidationError`` for
        a ``scheduled_at`` less than 10 minutes ahead.
        """
        outgoing = self._sendable(promote(message))
        form = self._form(outgoing, outgoing.to, scheduled_at)
        reply = await self._send_form(form)
        if reply.success_cnt < 1:
            raise self._http.error(
                ProviderErrorCode.INVALID_RECIPIENT,
                f"Aligo refused the receiver (error_cnt {reply.error_cnt}): {reply.message}",
            )
        return SendResult(
            message_id=str(reply.msg_id),
            provider=self._name,
            to=outgoing.to,
            accepted_at=time.time(),
            message_type=reply.msg_type or form["msg_type"],
        )

    async def send_many(
        self,
        recipients: Sequence[str],
        text: str,
        *,
        sender: str | None = None,
        subject: str | None = None,
        scheduled_at: float | None = None,
    ) -> AligoBatch:
        """Send one ``text`` to up to 1,000 ``recipients`` in one request (``receiver=a,b,...``).

        The type is SMS when ``text`` fits 90 bytes and there is no ``subject``, else LMS.
        Aligo reports only counts, not *which* receivers it refused, so a partial failure
        cannot be retried per recipient: kmsg's queue sends one job per recipient instead
        (``send``); use this for sends where that is acceptable. Raises ``ValidationError`` for
        0 or over 1,000 recipients, a repeated or invalid number, or an invalid text.
        """
        numbers = [normalize_phone(number, mobile_only=True) for number in recipients]
        if not 1 <= len(numbers) <= MAX_RECEIVERS:
            raise ValidationError(f"an Aligo send takes 1-{MAX_RECEIVERS} recipients")
        if len(set(numbers)) != len(numbers):
            raise ValidationError("an Aligo send names each recipient once")
        first: Sms | Lms = text_message(numbers[0], text, sender=sender)
        if subject:
            first = Lms(to=numbers[0], sender=sender, text=text, subject=subject)
        form = self._form(first, ",".join(numbers), scheduled_at)
        reply = await self._send_form(form)
        return AligoBatch(
            message_id=str(reply.msg_id),
            success_count=reply.success_cnt,
            error_count=reply.error_cnt,
            message_type=reply.msg_type or form["msg_type"],
        )

    async def balance(self) -> AligoBalance:
        """What the account can still send (``remain/``); ``ProviderError`` if refused."""
        body = await self._http.post("remain/", self._auth())
        reply = self._decode(body, RemainReply)
        if reply.result_code <= 0:
            raise self._refused(reply.result_code, reply.message)
        return AligoBalance(sms=reply.SMS_CNT, lms=reply.LMS_CNT, mms=reply.MMS_CNT)

    async def probe(self) -> str:
        """Ask ``remain/`` (nothing is sent): a one-line detail with the balance."""
        started = time.perf_counter()
        left = await self.balance()
        elapsed_ms = (time.perf_counter() - started) * 1000
        mode = ", test mode" if self.testmode else ""
        return (
            f"Aligo answered in {elapsed_ms:.0f} ms{mode}: balance for {left.sms} SMS, "
            f"{left.lms} LMS, {left.mms} MMS"
        )

    def _sendable(self, message: Message) -> Sms | Lms:
        if isinstance(message, Sms | Lms):
            return message
        kind = type(message).__name__
        raise self._http.error(
            ProviderErrorCode.INVALID_REQUEST,
            f"the Aligo provider sends SMS and LMS, not {kind}",
            retryable=False,
        )

    def _auth(self) -> dict[str, str]:
        return {"key": self._key, "user_id": self._user_id}

    def _form(
        self, message: Sms | Lms, receiver: str, scheduled_at: float | None
    ) -> dict[str, str]:
        form = self._auth()
        form["sender"] = message.sender or self.sender
        form["receiver"] = receiver
        form["msg"] = message.text
        if isinstance(message, Lms):
            form["msg_type"] = "LMS"
            if message.subject:
                form["title"] = message.subject
        else:
            form["msg_type"] = "SMS"
        if scheduled_at is not None:
            form.update(_schedule_fields(scheduled_at))
        if self.testmode:
            form["testmode_yn"] = "Y"
        return form

    async def _send_form(self, form: dict[str, str]) -> SendReply:
        reply = self._decode(await self._http.post("send/", form), SendReply)
        if reply.result_code <= 0:
            raise self._refused(reply.result_code, reply.message)
        if reply.msg_id is None or reply.msg_id == "":
            raise self._http.error(
                ProviderErrorCode.PROVIDER_ERROR, "Aligo accepted the send without a msg_id"
            )
        return reply

    def _decode(self, body: bytes, kind: type[R]) -> R:
        try:
            return msgspec.json.decode(body, type=kind, strict=False)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._http.error(
                ProviderErrorCode.PROVIDER_ERROR, f"Aligo reply is not readable: {exc}"
            ) from None

    def _refused(self, result_code: int, message: str) -> ProviderError:
        code = refusal_code(result_code, message)
        return self._http.error(code, f"Aligo result_code {result_code}: {message}")
