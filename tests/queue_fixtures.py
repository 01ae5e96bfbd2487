"""Queue fixtures shared by the suites that run on every backend (worker, messaging, ...).

Each queue-backed test runs once per ``BACKENDS`` entry and anyio backend, and is skipped on a
declared capability when the adapter cannot run under that anyio backend. (The conformance suite
has its own stricter fixtures: there, such an adapter must also refuse to open.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest

from kmsg import JobQueue
from tests.backends import BACKENDS, BackendUnderTest, Store


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    """The adapter under test (in ``BACKENDS`` order: sqlite first)."""
    return BACKENDS[request.param]


@pytest.fixture
async def store(
    backend: BackendUnderTest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[Store]:
    """A fresh store of the backend; skipped if the adapter cannot run under this anyio backend."""
    supported = backend.capabilities().anyio_backends
    if anyio_backend not in supported:
        pytest.skip(f"capability anyio_backends={sorted(supported)} excludes {anyio_backend!r}")
    async with backend.store(tmp_path) as opened:
        yield opened


@pytest.fixture
async def queue(store: Store) -> JobQueue:
    """A handle on the store (closed by the store fixture)."""
    return await store.open()


@pytest.fixture
def qname() -> str:
    """A queue name no other test uses."""
    return f"q-{uuid4().hex[:16]}"
