"""The HTTP exchange of the Aligo provider: one form POST, one bounded reply, typed errors.

The hardened pattern of :mod:`kmsg.messaging.http`: ``timeout`` is a total deadline from
connecting to the reply's last byte (``anyio.fail_after``); a reply is streamed and abandoned
past ``max_reply_bytes``; ``Retry-After`` is honoured up to ``max_retry_after``; every error
message has the secrets replaced by ``[redacted]`` and is cut to 500 characters. The HTTP
status mapping is the table in :mod:`kmsg.messaging.providers.aligo`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlencode

import httpx

from kmsg.errors import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.exchange import exchange
from kmsg.messaging.http import parse_retry_after
from kmsg.messaging.redaction import redact, secret_forms

__all__ = ["AligoHttp"]

FORM: Final = "application/x-www-form-urlencoded"
_STATUS_CODES: Final = {
    401: ProviderErrorCode.AUTHENTICATION_FAILED,
    403: ProviderErrorCode.AUTHENTICATION_FAILED,
    408: ProviderErrorCode.NETWORK_TIMEOUT,
    429: ProviderErrorCode.RATE_LIMIT_EXCEEDED,
}


class AligoHttp:
    """Form POSTs to ``base_url`` within a deadline and a size limit; errors as ``ProviderError``.

    ``secrets`` are hidden from every error message this makes. Raises ``ValidationError`` for
    a ``base_url`` that is not http(s) or a limit out of range.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_reply_bytes: int,
        max_retry_after: float,
        secrets: Iterable[str],
        client: httpx.AsyncClient | None,
    ) -> None:
        if not timeout > 0 or max_reply_bytes <= 0 or not max_retry_after >= 0:
            raise ValidationError(
                "AligoProvider needs timeout > 0, max_reply_bytes > 0 and max_retry_after >= 0"
            )
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ValidationError(f"Aligo base_url is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host or url.userinfo:
            raise ValidationError("Aligo base_url must be an http(s) URL without credentials")
        if not url.path.endswith("/"):
            url = url.copy_with(path=url.path + "/")
        self._url = url
        self.base_url = str(url)
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_retry_after = max_retry_after
        self._secrets = secret_forms(secrets)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()

    async def post(self, path: str, form: Mapping[str, str]) -> bytes:
        """POST ``form`` to ``base_url + path``; the 2xx reply's body, else ``ProviderError``."""
        reply = await exchange(
            self._client,
            "POST",
            self._url.join(path),
            within=self.timeout,
            max_reply_bytes=self.max_reply_bytes,
            error=self.error,
            content=urlencode(form).encode(),
            headers={"Content-Type": FORM, "Accept": "application/json"},
        )
        if not reply.ok:
            raise self._status_error(reply.status, reply.reason, reply.retry_after)
        if reply.body is None:
            raise self.error(
                ProviderErrorCode.PROVIDER_ERROR,
                f"Aligo reply longer than {self.max_reply_bytes} bytes",
            )
        return reply.body

    def _status_error(self, status: int, reason: str, retry_after: str | None) -> ProviderError:
        fallback = (
            ProviderErrorCode.PROVIDER_ERROR if status >= 500 else ProviderErrorCode.INVALID_REQUEST
        )
        wait = parse_retry_after(retry_after)
        if wait is not None:
            wait = min(wait, self.max_retry_after)
        code = _STATUS_CODES.get(status, fallback)
        return self.error(code, f"Aligo answered HTTP {status} {reason}", retry_after=wait)

    def error(
        self,
        code: ProviderErrorCode,
        text: str,
        *,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> ProviderError:
        """A ``ProviderError`` whose message has every secret redacted and is at most 500 chars."""
        text = redact(text, self._secrets)
        return ProviderError(code, text, retry_after=retry_after, retryable=retryable)
