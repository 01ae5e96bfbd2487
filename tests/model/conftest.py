"""Fixtures for the model-based tests: one backend handle per test, driven from sync code.

Each backend of ``tests.backends.BACKENDS`` is run under asyncio only (a Hypothesis state
machine is synchronous; :class:`~tests.model.driver.Driver` runs the async calls through an
anyio blocking portal). A store is opened once per test; each Hypothesis example uses a queue
name of its own in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Final

import pytest
from anyio.from_thread import start_blocking_portal

from tests.backends import BACKENDS, BackendUnderTest
from tests.model.driver import DrivenTime, Driver, ServerTime, Timekeeping
from tests.model.reference import ManualClock

START: Final = 1_800_000_000.0
"""Where the driven clock starts (epoch seconds, 2027)."""


@pytest.fixture(params=sorted(BACKENDS), ids=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    """The adapter under test."""
    return BACKENDS[request.param]


@pytest.fixture
def driver(backend: BackendUnderTest, tmp_path: Path) -> Iterator[Driver]:
    """A handle on a fresh store of the backend, with the timekeeping its clock allows.

    An adapter without ``server_time`` uses the caller's clock: it is given the model's
    :class:`ManualClock` as its ``clock`` option. One with ``server_time`` keeps its own.
    """
    capabilities = backend.capabilities()
    if "asyncio" not in capabilities.anyio_backends:
        pytest.skip(f"capability anyio_backends={sorted(capabilities.anyio_backends)}")
    clock = ManualClock(START)
    timekeeping: Timekeeping = ServerTime(clock) if capabilities.server_time else DrivenTime(clock)
    options: dict[str, Any] = {} if capabilities.server_time else {"clock": clock}
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(backend.store(tmp_path)) as store,
    ):
        queue = portal.call(partial(store.open, **options))
        yield Driver(portal, queue, capabilities, timekeeping)
