"""``HttpProvider``: send messages through a JSON HTTP SMS gateway (``pip install "kmsg[http]"``).

The request is ``POST <url>`` with the message as JSON (the tagged union, ``"type"`` included), an
auth header, and the send's ``Idempotency-Key`` header when it has a key (every attempt of one
message carries the same key, so a gateway that honours the header delivers it once). A 2xx reply
must be a JSON object with a ``message_id`` string. Everything else
becomes a :class:`~kmsg.ProviderError`:

====================================  ==========================  =========
reply                                 code                        retryable
====================================  ==========================  =========
429                                   ``RATE_LIMIT_EXCEEDED``     yes, after ``Retry-After``
401, 403                              ``AUTHENTICATION_FAILED``   no
402                                   ``INSUFFICIENT_BALANCE``    no
408                                   ``NETWORK_TIMEOUT``         yes
other 4xx                             ``INVALID_REQUEST``         no
5xx                                   ``PROVIDER_ERROR``          yes (``Retry-After`` kept)
2xx without a ``message_id``          ``PROVIDER_ERROR``          yes
2xx longer than ``max_reply_bytes``   ``PROVIDER_ERROR``          yes
no whole reply within ``timeout``     ``NETWORK_TIMEOUT``         yes
connection refused, reset, ...        ``NETWORK_ERROR``           yes
====================================  ==========================  =========

``Retry-After`` may be delta-seconds or an HTTP date; a value that is neither is ignored. An error
reply's JSON ``message`` field, when present, becomes the error's message.

**Limits** (each a constructor argument and a setting, see :class:`HttpSettings`):

* ``timeout`` is a *total* deadline for one send, from connecting to the reply's last byte, so
  a gateway that drips its reply a byte at a time cannot hold a worker longer than that.
* A reply is read as a stream and abandoned past ``max_reply_bytes`` (default 1 MiB, counted
  after decompression); a ``Content-Length`` over the limit is refused before reading. An error
  reply over the limit still maps by its status, without its message.
* A ``Retry-After`` is honoured up to ``max_retry_after`` seconds (default 1 hour); a longer one
  is cut to it, so a gateway cannot park a job for years.

**Secrets.** Credentials in the URL (``https://user:pass@gw/send``) are taken out of it and sent
as HTTP basic auth, so ``repr``, :attr:`HttpProvider.url` and httpx's ``HTTP Request`` log lines
show the URL without them. Every error message this provider raises (and so every error stored
on a job) has the API key, the auth header's value and the URL's password replaced by
``[redacted]``, and is cut to 500 characters. Secrets in the URL's query string are not hidden:
pass keys as ``api_key`` instead.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import time
from typing import Annotated, ClassVar, Final, Self

import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.models import Message, SendResult
from kmsg.messaging.redaction import redact, secret_forms

try:
    import httpx

    from kmsg.messaging.exchange import Reply, exchange
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("HttpProvider", "http") from exc

__all__ = ["HttpProvider", "HttpSettings", "parse_retry_after"]

MIB: Final = 1024 * 1024
_REDACTED: Final = "[redacted]"

_STATUS_CODES: Final = {
    401: ProviderErrorCode.AUTHENTICATION_FAILED,
    402: ProviderErrorCode.INSUFFICIENT_BALANCE,
    403: ProviderErrorCode.AUTHENTICATION_FAILED,
    408: ProviderErrorCode.NETWORK_TIMEOUT,
    429: ProviderErrorCode.RATE_LIMIT_EXCEEDED,
}


class _Accepted(msgspec.Struct):
    message_id: str


class _Refused(msgspec.Struct):
    message: str | None = None


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings of :class:`HttpProvider`, read by :func:`kmsg.messaging.configure_provider`.

    From the environment as ``K_MSG_HTTP_<FIELD>`` (``K_MSG_HTTP_URL``, ``K_MSG_HTTP_TOKEN``, ...)
    or from the ``[provider]`` table of ``kmsg.toml``. ``auth_scheme = ""`` sends the token bare
    (e.g. with ``auth_header = "X-Api-Key"``); ``health_url`` (absolute, or relative to ``url``
    such as ``"/health"``) is what ``kmsg health`` GETs. The repr never shows the token.
    """

    url: Annotated[str, msgspec.Meta(min_length=1)]
    token: str | None = None
    auth_header: Annotated[str, msgspec.Meta(min_length=1)] = "Authorization"
    auth_scheme: str = "Bearer"
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_reply_bytes: Annotated[int, msgspec.Meta(gt=0)] = MIB
    max_retry_after: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    health_url: str | None = None

    def __repr__(self) -> str:
        token = None if self.token is None else _REDACTED
        return (
            f"HttpSettings(url={_without_userinfo(self.url)!r}, token={token!r}, "
            f"auth_header={self.auth_header!r}, timeout={self.timeout!r})"
        )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpProvider:
    """A :class:`~kmsg.messaging.provider.Provider` for a JSON HTTP gateway at ``url``.

    ``api_key`` goes in the ``auth_header`` header, after ``auth_scheme`` when one is given
    (``Authorization: Bearer <key>`` by default); it never appears in the repr. ``timeout`` is
    the total deadline of one send in seconds; ``max_reply_bytes`` and ``max_retry_after`` bound
    what a gateway can make kmsg read or wait (module docstring). ``health_url`` is what
    :meth:`probe` GETs. Pass ``client`` to reuse an ``httpx.AsyncClient`` (the provider then
    leaves closing it to you); otherwise call :meth:`aclose` or use ``async with``.

    Raises ``ValidationError`` for a URL that is not http(s), a limit out of range, or both URL
    credentials and an ``api_key`` for the ``Authorization`` header.
    """

    Settings: ClassVar[type[HttpSettings]] = HttpSettings

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        auth_header: str = "Authorization",
        auth_scheme: str | None = "Bearer",
        timeout: float = 10.0,
        max_reply_bytes: int = MIB,
        max_retry_after: float = 3600.0,
        health_url: str | None = None,
        name: str = "http",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not timeout > 0 or max_reply_bytes <= 0 or not max_retry_after >= 0:
            raise ValidationError(
                "HttpProvider needs timeout > 0, max_reply_bytes > 0 and max_retry_after >= 0"
            )
        target = _http_url(url, "url")
        secrets = [api_key] if api_key else []
        self._auth: httpx.BasicAuth | None = None
        if target.username or target.password:
            if api_key is not None and auth_header.lower() == "authorization":
                raise ValidationError(
                    "HttpProvider: credentials in the URL and an api_key both set Authorization"
                )
            self._auth = httpx.BasicAuth(target.username, target.password)
            basic = f"{target.username}:{target.password}".encode()
            secrets += [target.password, base64.b64encode(basic).decode()]
            target = target.copy_with(username=None, password=None)
        self._url = target
        self.url = str(target)
        """The gateway's URL, without any credentials it was given with."""
        self._health_url = None if health_url is None else target.join(health_url)
        if self._health_url is not None:
            _http_url(str(self._health_url), "health_url")
        self._name = name
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if api_key is not None:
            self._headers[auth_header] = f"{auth_scheme} {api_key}" if auth_scheme else api_key
            secrets.append(self._headers[auth_header])
        self._secrets = secret_forms(secrets)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._max_reply_bytes = max_reply_bytes
        self._max_retry_after = max_retry_after
        self._encoder = msgspec.json.Encoder()

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> Self:
        """The provider :class:`HttpSettings` describe (the hook the config loader calls)."""
        return cls(
            settings.url,
            api_key=settings.token,
            auth_header=settings.auth_header,
            auth_scheme=settings.auth_scheme or None,
            timeout=settings.timeout,
            max_reply_bytes=settings.max_reply_bytes,
            max_retry_after=settings.max_retry_after,
            health_url=settings.health_url,
        )

    def __repr__(self) -> str:
        return f"HttpProvider(url={self.url!r}, name={self._name!r})"

    @property
    def name(self) -> str:
        """The provider name put in results (default ``"http"``)."""
        return self._name

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._client.aclose()

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """POST ``message`` to the gateway; map the reply as the module docstring's table says."""
        headers = self._headers
        if idempotency_key is not None:
            headers = {**headers, "Idempotency-Key": idempotency_key}
        reply = await self._exchange(
            "POST", self._url, content=self._encoder.encode(message), headers=headers
        )
        if 200 <= reply.status < 300:
            return self._accepted(reply, message)
        raise self._refusal(reply)

    async def probe(self) -> str:
        """GET ``health_url`` within ``timeout``: a one-line detail if it answers 2xx.

        Without a ``health_url`` it reports the provider as configured, without a request. A
        reply outside 2xx raises the :class:`~kmsg.ProviderError` a send would.
        """
        if self._health_url is None:
            return f"configured for {self.url} (no health URL to probe)"
        started = time.perf_counter()
        reply = await self._exchange("GET", self._health_url, content=None, headers=self._headers)
        if not 200 <= reply.status < 300:
            raise self._refusal(reply)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return f"{self._health_url} answered HTTP {reply.status} in {elapsed_ms:.0f} ms"

    async def _exchange(
        self, method: str, url: httpx.URL, *, content: bytes | None, headers: dict[str, str]
    ) -> Reply:
        """One request and its whole reply, within ``timeout`` and ``max_reply_bytes``."""
        return await exchange(
            self._client,
            method,
            url,
            within=self._timeout,
            max_reply_bytes=self._max_reply_bytes,
            error=self._error,
            content=content,
            headers=headers,
            auth=self._auth or httpx.USE_CLIENT_DEFAULT,
        )

    def _accepted(self, reply: Reply, message: Message) -> SendResult:
        if reply.body is None:
            raise self._error(
                ProviderErrorCode.PROVIDER_ERROR,
                f"gateway reply longer than {self._max_reply_bytes} bytes",
            )
        try:
            accepted = msgspec.json.decode(reply.body, type=_Accepted)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._error(
                ProviderErrorCode.PROVIDER_ERROR, f"gateway reply has no message_id: {exc}"
            ) from None
        return SendResult(
            message_id=accepted.message_id,
            provider=self._name,
            to=message.to,
            accepted_at=time.time(),
        )

    def _refusal(self, reply: Reply) -> ProviderError:
        code = _STATUS_CODES.get(reply.status)
        if code is None:
            code = (
                ProviderErrorCode.PROVIDER_ERROR
                if reply.status >= 500
                else ProviderErrorCode.INVALID_REQUEST
            )
        detail: str | None = None
        if reply.body is None:
            detail = f"{reply.reason} (reply longer than {self._max_reply_bytes} bytes, not read)"
        else:
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                detail = msgspec.json.decode(reply.body, type=_Refused).message
        retry_after = parse_retry_after(reply.retry_after)
        if retry_after is not None:
            retry_after = min(retry_after, self._max_retry_after)
        return self._error(
            code, f"HTTP {reply.status}: {detail or reply.reason}", retry_after=retry_after
        )

    def _error(
        self, code: ProviderErrorCode, text: str, *, retry_after: float | None = None
    ) -> ProviderError:
        """A ``ProviderError`` whose message has every secret redacted and is at most 500 chars."""
        text = redact(text, self._secrets)
        return ProviderError(code, text, retry_after=retry_after)


def _http_url(url: str, what: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"HttpProvider {what} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        shown = _without_userinfo(url)
        raise ValidationError(
            f"HttpProvider {what} must be an http:// or https:// URL, not {shown!r}"
        )
    return parsed


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (for messages about a URL that may not parse)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
