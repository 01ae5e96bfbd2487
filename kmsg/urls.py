"""``open_queue(url)``: pick an adapter by URL scheme and import it lazily.

==========================================  ============================================
URL                                         backend
==========================================  ============================================
``sqlite:///kmsg.db``                       SQLite file, relative path (the default)
``sqlite:////var/lib/kmsg/kmsg.db``         SQLite file, absolute path
``redis://[user:pass@]host:port/db``        Redis (``pip install "kmsg[redis]"``)
``rediss://...``                            Redis over TLS
``redis+cluster://host:port``               Redis Cluster (``rediss+cluster://`` for TLS)
==========================================  ============================================

Query parameters become adapter options (``sqlite:///kmsg.db?synchronous=FULL``). With no URL, the
environment variable ``K_MSG_QUEUE_URL`` is used, else ``sqlite:///kmsg.db``. Core never imports an
adapter at import time.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from kmsg.errors import MissingDependencyError, ValidationError
from kmsg.queue import JobQueue

__all__ = [
    "DEFAULT_QUEUE_URL",
    "QUEUE_URL_ENV",
    "QueueOpener",
    "open_queue",
    "opener_for",
    "redact_url",
]

DEFAULT_QUEUE_URL: Final = "sqlite:///kmsg.db"
QUEUE_URL_ENV: Final = "K_MSG_QUEUE_URL"

# scheme -> (module that defines ``open_url`` and ``open_sync_url``, extra that installs its
# dependencies)
_ADAPTERS: Final[dict[str, tuple[str, str | None]]] = {
    "sqlite": ("kmsg.adapters.sqlite", None),
    "redis": ("kmsg.adapters.redis", "redis"),
    "rediss": ("kmsg.adapters.redis", "redis"),
    "redis+cluster": ("kmsg.adapters.redis", "redis"),
    "rediss+cluster": ("kmsg.adapters.redis", "redis"),
}


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for reprs and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    address = parts.netloc.rpartition("@")[2]  # host and port as written, even a bad port
    netloc = f"{user}:***@{address}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def opener_for(url: str, name: str) -> Any:
    """The function ``name`` (``open_url`` or ``open_sync_url``) of the adapter for ``url``'s
    scheme, imported now (``ValidationError``: unknown scheme; ``MissingDependencyError``: the
    backend's extra is missing)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    try:
        module_name, extra = _ADAPTERS[scheme]
    except KeyError:
        known = ", ".join(f"{name}://" for name in _ADAPTERS)
        raise ValidationError(
            f"unsupported queue URL {redact_url(url)!r}; use one of {known}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra is None:
            raise
        raise MissingDependencyError(f"the {scheme}:// backend", extra) from exc
    return getattr(module, name)


class QueueOpener:
    """What :func:`open_queue` returns: await it, or use it as an async context manager."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._queue: JobQueue | None = None

    def __repr__(self) -> str:
        return f"QueueOpener({redact_url(self._url)!r})"

    async def _open(self) -> JobQueue:
        opener: Callable[..., Awaitable[JobQueue]] = opener_for(self._url, "open_url")
        return await opener(self._url, **self._options)

    def __await__(self) -> Generator[Any, None, JobQueue]:
        return self._open().__await__()

    async def __aenter__(self) -> JobQueue:
        self._queue = await self._open()
        return self._queue

    async def __aexit__(self, *exc_info: object) -> None:
        if self._queue is not None:
            await self._queue.aclose()
            self._queue = None


def open_queue(url: str | None = None, **options: Any) -> QueueOpener:
    """Open the queue backend named by ``url`` (see the module docstring for the schemes).

    ``queue = await open_queue(url)`` or ``async with open_queue(url) as queue: ...``. Keyword
    options go to the adapter. Raises ``ValidationError`` for an unknown scheme or bad options,
    ``MissingDependencyError`` when the backend's extra is not installed, and
    ``BackendUnavailable`` when the backend cannot be reached.
    """
    resolved = url or os.environ.get(QUEUE_URL_ENV) or DEFAULT_QUEUE_URL
    if not isinstance(resolved, str):
        raise ValidationError(f"queue URL must be a string, not {type(resolved).__name__}")
    return QueueOpener(resolved, options)
