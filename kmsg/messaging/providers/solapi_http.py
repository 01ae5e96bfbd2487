"""One bounded HTTP exchange with SOLAPI, and the errors made from its replies.

The same hardening as :class:`~kmsg.messaging.http.HttpProvider`: a *total* deadline for a
request (``anyio.fail_after``, so a reply dripped a byte at a time cannot hold a worker), the
reply read as a stream and abandoned past ``max_reply_bytes``, ``Retry-After`` capped at
``max_retry_after``, and every error message with the given secrets replaced by
``[redacted]`` and cut to 500 characters.
"""

from __future__ import annotations

import contextlib

import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.exchange import exchange
from kmsg.messaging.http import parse_retry_after
from kmsg.messaging.redaction import redact, secret_forms

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("SolapiProvider", "http") from exc

__all__ = ["SolapiReply", "SolapiTransport"]


class _ErrorBody(msgspec.Struct, rename="camel"):
    error_code: str | None = None
    error_message: str | None = None


class SolapiReply(msgspec.Struct, frozen=True):
    """A reply read within the limits; ``body`` is None when it was over ``max_reply_bytes``.

    ``error_code`` and ``error_message`` are the JSON error body's fields when it has them.
    """

    status: int
    reason: str
    retry_after: str | None
    body: bytes | None
    error_code: str | None = None
    error_message: str | None = None


class SolapiTransport:
    """Sends requests to ``base_url`` within the limits; makes redacted ``ProviderError``\\ s."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_reply_bytes: int,
        max_retry_after: float,
        secrets: tuple[str, ...],
        client: httpx.AsyncClient | None,
    ) -> None:
        if not timeout > 0 or max_reply_bytes <= 0 or not max_retry_after >= 0:
            raise ValidationError(
                "SolapiProvider needs timeout > 0, max_reply_bytes > 0 and max_retry_after >= 0"
            )
        try:
            root = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ValidationError(f"SolapiProvider base_url is not a URL: {exc}") from None
        if root.scheme not in ("http", "https") or not root.host or root.userinfo:
            raise ValidationError(
                "SolapiProvider base_url must be an http(s) URL without credentials"
            )
        self._root = root
        self.base_url = str(root).rstrip("/")
        self._timeout = timeout
        self._max_reply_bytes = max_reply_bytes
        self._max_retry_after = max_retry_after
        self._secrets = secret_forms(secrets)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP client if this transport made it."""
        if self._owns_client:
            await self._client.aclose()

    async def exchange(
        self, method: str, path: str, *, content: bytes | None, headers: dict[str, str]
    ) -> SolapiReply:
        """One request to ``base_url + path`` and its whole reply, within the limits."""
        reply = await exchange(
            self._client,
            method,
            self.base_url + path,
            within=self._timeout,
            max_reply_bytes=self._max_reply_bytes,
            error=self.error,
            content=content,
            headers=headers,
        )
        found = _ErrorBody()
        if reply.body is not None and not reply.ok:
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                found = msgspec.json.decode(reply.body, type=_ErrorBody)
        return SolapiReply(
            reply.status,
            reply.reason,
            reply.retry_after,
            reply.body,
            found.error_code,
            found.error_message,
        )

    def refusal(
        self, reply: SolapiReply, code: ProviderErrorCode, *, retryable: bool
    ) -> ProviderError:
        """The error for a reply outside 2xx, ``Retry-After`` kept (capped)."""
        if reply.error_code is not None:
            detail = f"{reply.error_code}: {reply.error_message or reply.reason}"
        elif reply.body is None:
            detail = f"{reply.reason} (reply longer than {self._max_reply_bytes} bytes)"
        else:
            detail = reply.reason
        retry_after = parse_retry_after(reply.retry_after)
        if retry_after is not None:
            retry_after = min(retry_after, self._max_retry_after)
        return self.error(
            code, f"HTTP {reply.status}: {detail}", retryable=retryable, retry_after=retry_after
        )

    def error(
        self,
        code: ProviderErrorCode,
        text: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        """A ``ProviderError`` whose message has every secret redacted, at most 500 chars."""
        text = redact(text, self._secrets)
        return ProviderError(code, text, retryable=retryable, retry_after=retry_after)
