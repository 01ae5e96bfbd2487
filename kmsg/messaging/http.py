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
no reply within ``timeout``           ``NETWORK_TIMEOUT``         yes
connection refused, reset, ...        ``NETWORK_ERROR``           yes
====================================  ==========================  =========

``Retry-After`` may be delta-seconds or an HTTP date; a value that is neither is ignored. An error
reply's JSON ``message`` field, when present, becomes the error's message.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from typing import Final, Self

import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode
from kmsg.messaging.models import Message, SendResult

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("HttpProvider", "http") from exc

__all__ = ["HttpProvider", "parse_retry_after"]

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
    (``Authorization: Bearer <key>`` by default); it never appears in the repr. ``timeout`` bounds
    each request in seconds. Pass ``client`` to reuse an ``httpx.AsyncClient`` (the provider then
    leaves closing it to you); otherwise call :meth:`aclose` or use ``async with``.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        auth_header: str = "Authorization",
        auth_scheme: str | None = "Bearer",
        timeout: float = 10.0,
        name: str = "http",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self._name = name
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if api_key is not None:
            self._headers[auth_header] = f"{auth_scheme} {api_key}" if auth_scheme else api_key
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._encoder = msgspec.json.Encoder()

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
        try:
            response = await self._client.post(
                self.url,
                content=self._encoder.encode(message),
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(ProviderErrorCode.NETWORK_TIMEOUT, f"no reply: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                ProviderErrorCode.NETWORK_ERROR, f"transport failed: {exc!r}"
            ) from exc
        if response.is_success:
            return self._accepted(response, message)
        raise _refusal(response)

    def _accepted(self, response: httpx.Response, message: Message) -> SendResult:
        try:
            reply = msgspec.json.decode(response.content, type=_Accepted)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProviderError(
                ProviderErrorCode.PROVIDER_ERROR, f"gateway reply has no message_id: {exc}"
            ) from None
        return SendResult(
            message_id=reply.message_id, provider=self._name, to=message.to, accepted_at=time.time()
        )


def _refusal(response: httpx.Response) -> ProviderError:
    status = response.status_code
    code = _STATUS_CODES.get(status)
    if code is None:
        code = (
            ProviderErrorCode.PROVIDER_ERROR if status >= 500 else ProviderErrorCode.INVALID_REQUEST
        )
    detail: str | None = None
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        detail = msgspec.json.decode(response.content, type=_Refused).message
    text = f"HTTP {status}: {detail or response.reason_phrase}"
    return ProviderError(
        code, text, retry_after=parse_retry_after(response.headers.get("Retry-After"))
    )
