"""How the test suites reach each backend: one entry per adapter, chosen by name.

Conformance tests never look at the names; they get a :class:`Store` (a URL plus a way to open
handles on it) and the adapter's :class:`~kmsg.Capabilities`. Adding an adapter means adding an
entry to ``BACKENDS``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmsg import Capabilities, JobQueue, open_queue


class SkippableClock:
    """Epoch seconds that follow the real clock, except that :meth:`skip` jumps them ahead.

    Given as the ``clock`` option to an adapter that takes the caller's time (no
    ``server_time`` capability), it lets a test see a rate bucket refill or a delay run out
    without sleeping, while everything else in the test keeps real time.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def __call__(self) -> float:
        return time.time() + self._offset

    def skip(self, seconds: float) -> None:
        """Move this clock ``seconds`` ahead of the real one (it never goes back)."""
        if seconds < 0:
            raise ValueError("a clock only skips forward")
        self._offset += seconds


@dataclass
class Store:
    """One isolated store of a backend (a fresh SQLite file, or a Redis server and key prefix).

    ``url`` and ``options`` (JSON-friendly) open it from another process; ``local_options``
    (a clock, say) are added only to handles opened here by :meth:`open`, which the fixture
    closes.
    """

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    local_options: dict[str, Any] = field(default_factory=dict)
    _opened: list[JobQueue] = field(default_factory=list)

    async def open(self, **options: Any) -> JobQueue:
        """A new handle on this store; every handle of one store sees the same jobs."""
        queue = await open_queue(self.url, **{**self.local_options, **self.options, **options})
        self._opened.append(queue)
        return queue

    async def close_all(self) -> None:
        """Close every handle opened through :meth:`open`."""
        while self._opened:
            await self._opened.pop().aclose()


@dataclass(frozen=True)
class BackendUnderTest:
    """An adapter the suites run against: its static capabilities and how to make a fresh store."""

    name: str
    capabilities: Callable[[], Capabilities]
    store: Callable[[Path], AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh SQLite database file in the test's temporary folder."""
    store = Store(url=f"sqlite:///{tmp_path / 'kmsg.db'}")
    try:
        yield store
    finally:
        await store.close_all()


def _sqlite_capabilities() -> Capabilities:
    from kmsg.adapters.sqlite import CAPABILITIES

    return CAPABILITIES


BACKENDS: dict[str, BackendUnderTest] = {
    "sqlite": BackendUnderTest("sqlite", _sqlite_capabilities, sqlite_store),
}


def _redis_capabilities() -> Capabilities:
    from kmsg.adapters.redis import CAPABILITIES

    return CAPABILITIES


def _redis_store(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    from tests.redis_servers import redis_store

    return redis_store(tmp_path)


def _redis_cluster_store(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    from tests.redis_servers import redis_cluster_store

    return redis_cluster_store(tmp_path)


BACKENDS["redis"] = BackendUnderTest("redis", _redis_capabilities, _redis_store)
BACKENDS["redis-cluster"] = BackendUnderTest(
    "redis-cluster", _redis_capabilities, _redis_cluster_store
)
