"""Fixtures of the Redis adapter's own tests: asyncio only, a fresh key prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from kmsg.adapters.redis import RedisJobQueue
from tests.backends import Store
from tests.redis_servers import redis_store


class Note(msgspec.Struct, frozen=True):
    """A small payload."""

    text: str


@pytest.fixture
def anyio_backend() -> str:
    """redis-py is asyncio-only (a test that needs trio asks for it itself)."""
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh key prefix on the shared server."""
    async with redis_store(tmp_path) as opened:
        yield opened


@pytest.fixture
async def queue(store: Store) -> RedisJobQueue:
    """A handle on the store (closed by the store fixture)."""
    opened = await store.open()
    assert isinstance(opened, RedisJobQueue)
    return opened
