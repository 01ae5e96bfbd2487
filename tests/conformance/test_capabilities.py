"""Capabilities, opening and closing: what every adapter declares about itself."""

from __future__ import annotations

import anyio
import pytest

from kmsg import BackendUnavailable, JobQueue
from tests.backends import BackendUnderTest, Store

pytestmark = pytest.mark.anyio


async def test_unsupported_anyio_backend_is_refused_at_once_with_a_clear_error(
    backend: BackendUnderTest, store: Store, anyio_backend: str
) -> None:
    supported = backend.capabilities().anyio_backends
    if anyio_backend in supported:
        pytest.skip(f"capability anyio_backends={sorted(supported)} includes {anyio_backend!r}")
    with anyio.fail_after(5.0), pytest.raises(BackendUnavailable) as raised:
        await store.open()
    assert anyio_backend in str(raised.value).lower(), "the error should name the async library"


async def test_handle_declares_the_backends_capabilities(
    backend: BackendUnderTest, queue: JobQueue, anyio_backend: str
) -> None:
    assert isinstance(queue, JobQueue)
    assert queue.capabilities == backend.capabilities()
    assert anyio_backend in queue.capabilities.anyio_backends
    assert queue.capabilities.anyio_backends <= {"asyncio", "trio"}


async def test_handle_is_an_async_context_manager_and_aclose_is_idempotent(
    queue: JobQueue, store: Store, qname: str
) -> None:
    handle = await store.open()
    async with handle as entered:
        assert entered is handle
        await entered.stats(qname)
    await handle.aclose()
    await handle.aclose()
    assert (await queue.stats(qname)).total == 0
