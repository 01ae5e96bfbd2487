"""One HTTP exchange with a gateway, within a deadline and a size limit: what every HTTP provider
(``HttpProvider``, NHN Cloud, SOLAPI, Aligo) sends its requests through.

- **Deadline.** ``within`` (the provider's ``timeout``) covers the whole exchange, connect to
  last byte (``anyio.fail_after`` around it), not each read: a reply that drips a byte at a
  time ends at the deadline.
- **Size.** The reply is streamed and abandoned once it passes ``max_reply_bytes`` (or declares
  more in ``Content-Length``); :attr:`Reply.body` is then None. Past the limit the read is
  cancelled rather than left with ``break``: the cancellation unwinds httpx's nested stream
  generators from the inside, so none is left unfinished (trio warns about those), and the
  connection is dropped, not reused.
- **Failures.** A timeout is ``NETWORK_TIMEOUT`` and a transport failure ``NETWORK_ERROR`` (both
  retryable), built by the caller's ``error`` function so that its secrets are redacted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import msgspec

from kmsg.errors import MissingDependencyError, ProviderError, ProviderErrorCode

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingDependencyError("kmsg's HTTP gateway providers", "http") from exc

__all__ = ["ErrorFactory", "Reply", "exchange", "read_capped"]

ErrorFactory = Callable[[ProviderErrorCode, str], ProviderError]
"""Builds the (redacted) ``ProviderError`` for a failed exchange."""


class Reply(msgspec.Struct, frozen=True):
    """A reply read within the limits; ``body`` is None when it was over ``max_reply_bytes``."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes | None

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL | str,
    *,
    within: float,
    max_reply_bytes: int,
    error: ErrorFactory,
    **request: Any,
) -> Reply:
    """One request (``request``: httpx's ``content``, ``headers``, ``params``, ``auth``) and its
    whole reply, within ``within`` seconds and ``max_reply_bytes`` (module docstring)."""
    try:
        with anyio.fail_after(within):
            async with client.stream(method, url, timeout=within, **request) as response:
                body = await read_capped(response, max_reply_bytes)
                return Reply(
                    response.status_code,
                    response.reason_phrase,
                    response.headers.get("Retry-After"),
                    body,
                )
    except (TimeoutError, httpx.TimeoutException) as exc:
        why = f"no whole reply within {within:g} s ({type(exc).__name__})"
        raise error(ProviderErrorCode.NETWORK_TIMEOUT, why) from None
    except httpx.TransportError as exc:
        raise error(ProviderErrorCode.NETWORK_ERROR, f"transport failed: {exc!r}") from None


async def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The reply body, or None as soon as it is known to exceed ``limit`` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    with anyio.CancelScope() as reading:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            else:
                reading.cancel()
    return None if size > limit else b"".join(chunks)
