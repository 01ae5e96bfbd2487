"""Fixtures for the fault scenarios: the size scale, the results folder, stores, fleets.

``--reliability-scale`` (or ``KMSG_RELIABILITY_SCALE``) multiplies job counts and fault counts
(1 = the CI size). Each scenario writes its figures as JSON into ``KMSG_RELIABILITY_RESULTS``
when set (``python -m tests.reliability.report`` sets it), else into a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.backends import BACKENDS, Store
from tests.redis_servers import redis_store
from tests.reliability.processes import Fleet
from tests.reliability.proxy import TcpProxy, tcp_proxy
from tests.reliability.results import Results

SCALE_ENV = "KMSG_RELIABILITY_SCALE"
RESULTS_ENV = "KMSG_RELIABILITY_RESULTS"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--reliability-scale``."""
    parser.addoption(
        "--reliability-scale",
        type=float,
        default=None,
        help=f"size multiplier of the reliability scenarios (default: ${SCALE_ENV} or 1)",
    )


def _scale(config: pytest.Config) -> float:
    option = config.getoption("--reliability-scale")
    value = float(option if option is not None else os.environ.get(SCALE_ENV, "1"))
    if value <= 0:
        raise pytest.UsageError("the reliability scale must be positive")
    return value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the scenarios here a per-test timeout that grows with the scale (120 s at 1)."""
    here = Path(__file__).parent
    timeout = pytest.mark.timeout(120 * max(1.0, _scale(config)))
    for item in items:
        if here in item.path.parents:
            item.add_marker(timeout)


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> float:
    """The size multiplier (1 = CI size)."""
    return _scale(request.config)


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory, scale: float) -> Results:
    """Where scenarios write their figures."""
    configured = os.environ.get(RESULTS_ENV)
    directory = Path(configured) if configured else tmp_path_factory.mktemp("reliability")
    directory.mkdir(parents=True, exist_ok=True)
    return Results(directory, scale)


@pytest.fixture
def anyio_backend() -> str:
    """Scenarios run under asyncio (the Redis adapter's only backend); trio is covered elsewhere."""
    return "asyncio"


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each backend."""
    async with BACKENDS[request.param].store(tmp_path) as opened:
        yield opened


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh key prefix on the test Redis server (for the Redis-only scenarios)."""
    async with redis_store(tmp_path) as store:
        yield store


@pytest.fixture
async def proxy(redis: Store) -> AsyncIterator[TcpProxy]:
    """A proxy in front of that server."""
    async with tcp_proxy(urlsplit(redis.url).port or 6379) as running:
        yield running


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    """The scenario's ledger folder."""
    directory = tmp_path / "ledger"
    directory.mkdir()
    return directory


@pytest.fixture
def fleet_factory() -> Iterator[list[Fleet]]:
    """Fleets made by a test are closed (every process killed) at the end."""
    fleets: list[Fleet] = []
    yield fleets
    for fleet in fleets:
        fleet.close()
