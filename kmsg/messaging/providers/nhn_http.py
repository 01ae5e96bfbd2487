"""The HTTP exchange of the NHN Cloud provider: one request, one bounded reply, typed errors.

It follows :mod:`kmsg.messaging.http`'s hardened pattern: ``timeout`` is a total deadline from
connecting to the reply's last byte (``anyio.fail_after``); a reply is streamed and abandoned
past ``max_reply_bytes``; ``Retry-After`` is honoured up to ``max_retry_after``; every error
message has the secret keys (and app keys, which sit in URL paths) replaced by ``[redacted]``
and is cut to 500 characters.

HTTP-level answers (NHN documents none, so these are the usual meanings):

=====================================  ==========================  ==========================
reply                                  code                        retryable
=====================================  ==========================  ==========================
429                                    ``RATE_LIMIT_EXCEEDED``     yes, after ``Retry-After``
any status with an NHN ``header``      by its ``resultCode``       (:mod:`.nhn_api`)
401, 403                               ``AUTHENTICATION_FAILED``   no
408                                    ``NETWORK_TIMEOUT``         yes
other 4xx                              ``INVALID_REQUEST``         no
5xx                                    ``PROVIDER_ERROR``          yes (``Retry-After`` kept)
no whole reply within ``timeout``      ``NETWORK_TIMEOUT``         yes
connection refused, reset, ...         ``NETWORK_ERROR``           yes
=====================================  ==========================  ==========================
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Final

import httpx
import msgspec

from kmsg.errors import ProviderError, ProviderErrorCode
from kmsg.messaging.exchange import Reply, exchange
from kmsg.messaging.http import parse_retry_after
from kmsg.messaging.providers.nhn_api import HeaderOnly
from kmsg.messaging.providers.nhn_codes import Service, api_error_code
from kmsg.messaging.redaction import redact, secret_forms

__all__ = ["NhnHttp", "Reply"]

_STATUS_CODES: Final = {
    401: ProviderErrorCode.AUTHENTICATION_FAILED,
    403: ProviderErrorCode.AUTHENTICATION_FAILED,
    408: ProviderErrorCode.NETWORK_TIMEOUT,
    429: ProviderErrorCode.RATE_LIMIT_EXCEEDED,
}


class NhnHttp:
    """Requests to NHN within a deadline and a size limit; errors as ``ProviderError``.

    ``secrets`` are hidden from every error message this makes.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        max_reply_bytes: int,
        max_retry_after: float,
        secrets: Iterable[str],
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_retry_after = max_retry_after
        self._secrets = secret_forms(secrets)

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request and its whole reply, within ``timeout`` and ``max_reply_bytes``."""
        return await exchange(
            self.client,
            method,
            url,
            within=self.timeout,
            max_reply_bytes=self.max_reply_bytes,
            error=self.error,
            content=content,
            headers=dict(headers),
            params=dict(params) if params else None,
        )

    def refusal(self, service: Service, reply: Reply) -> ProviderError | None:
        """The error a reply means, or None when it is a 2xx to be read by its caller.

        A 429 is a rate limit whatever its body says; otherwise an NHN ``header`` with
        ``isSuccessful: false`` decides (any status), then the HTTP status (module docstring).
        """
        retry_after = parse_retry_after(reply.retry_after)
        if retry_after is not None:
            retry_after = min(retry_after, self.max_retry_after)
        if reply.status == 429:
            return self.error(
                ProviderErrorCode.RATE_LIMIT_EXCEEDED, "HTTP 429", retry_after=retry_after
            )
        header = None
        if reply.body is not None:
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                header = msgspec.json.decode(reply.body, type=HeaderOnly).header
        if header is not None and not header.is_successful:
            code = api_error_code(service, header.result_code)
            text = f"NHN {header.result_code}: {header.result_message or ''} (HTTP {reply.status})"
            return self.error(code, text, retry_after=retry_after)
        if 200 <= reply.status < 300:
            return None
        fallback = (
            ProviderErrorCode.PROVIDER_ERROR
            if reply.status >= 500
            else ProviderErrorCode.INVALID_REQUEST
        )
        status_code = _STATUS_CODES.get(reply.status, fallback)
        return self.error(
            status_code, f"HTTP {reply.status} {reply.reason}", retry_after=retry_after
        )

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
