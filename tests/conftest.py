"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.queue_fixtures"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend a test runs under; tests marked ``anyio`` run once per backend."""
    backend: str = request.param
    return backend
