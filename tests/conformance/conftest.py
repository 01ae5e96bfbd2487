"""Fixtures for the conformance suite: every test runs per backend x per anyio backend.

The suite knows backends only through ``tests.backends.BACKENDS`` and their declared
:class:`kmsg.Capabilities`; it skips on a capability, never on a backend's name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import anyio
import pytest

from kmsg import BackendUnavailable, JobQueue
from tests.backends import BACKENDS, BackendUnderTest, SkippableClock, Store
from tests.conformance.support import TimePasses

OPEN_FAILS_WITHIN = 5.0
"""Seconds an adapter may take to refuse an unsupported anyio backend ("at once")."""


@pytest.fixture(params=sorted(BACKENDS), ids=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    """The adapter under test."""
    return BACKENDS[request.param]


@pytest.fixture
async def store(
    backend: BackendUnderTest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[Store]:
    """A fresh, isolated store of the backend; every handle opened on it is closed afterwards.

    An adapter that reads the caller's clock (no ``server_time``) gets a
    :class:`~tests.backends.SkippableClock` (real time until a test skips it ahead).
    """
    async with backend.store(tmp_path) as opened:
        if not backend.capabilities().server_time:
            opened.local_options["clock"] = SkippableClock()
        yield opened


@pytest.fixture
def let_time_pass(store: Store) -> TimePasses:
    """``await let_time_pass(seconds)``: skips the store's clock ahead, or sleeps (server time)."""
    return TimePasses(store.local_options.get("clock"))


async def open_or_skip(backend: BackendUnderTest, store: Store, anyio_backend: str) -> JobQueue:
    """Open a handle on ``store``, or check that it is refused at once and skip the test.

    An adapter that does not list the running anyio backend in its capabilities must raise
    ``BackendUnavailable`` when opened, quickly; the test is then skipped on that capability.
    """
    supported = backend.capabilities().anyio_backends
    if anyio_backend in supported:
        return await store.open()
    with anyio.fail_after(OPEN_FAILS_WITHIN), pytest.raises(BackendUnavailable):
        await store.open()
    pytest.skip(f"capability anyio_backends={sorted(supported)} excludes {anyio_backend!r}")


@pytest.fixture
async def queue(backend: BackendUnderTest, store: Store, anyio_backend: str) -> JobQueue:
    """A handle on the store (closed by the store fixture)."""
    return await open_or_skip(backend, store, anyio_backend)


@pytest.fixture
async def other(queue: JobQueue, store: Store) -> JobQueue:
    """A second, independent handle on the same store (another 'worker')."""
    return await store.open()


@pytest.fixture
def qname() -> str:
    """A queue name no other test uses."""
    return f"q{uuid4().hex[:12]}"


@pytest.fixture
def qname2() -> str:
    """A second unique queue name."""
    return f"q{uuid4().hex[:12]}"
