"""Network faults between clients and Redis, through a loopback TCP proxy written for the suite.

A cut connection, a blackhole that outlasts the lease, and a reply dropped after the server ran
the script: no job is lost, a replayed enqueue makes one job, a replayed complete has one effect.
(SQLite has no network between client and store; these apply to Redis only.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import anyio
import pytest

from kmsg import BackendUnavailable, JobQueue, JobState, new_job_id, open_queue
from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.proxy import TcpProxy
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import drain, produce
from tests.reliability.worker_main import Work

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

T = TypeVar("T")
LEASE = 1.0
CLIENT_TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


@pytest.fixture
async def proxied(redis: Store, proxy: TcpProxy) -> AsyncIterator[JobQueue]:
    """A handle on the store whose connections go through the proxy."""
    db = int(urlsplit(redis.url).path.strip("/") or "0")
    async with open_queue(proxy.url(db), **redis.options, **CLIENT_TIMEOUTS) as queue:
        yield queue


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Await ``call()`` until it stops raising BackendUnavailable, as a careful client does."""
    for _ in range(50):
        try:
            return await call()
        except BackendUnavailable:
            await anyio.sleep(0.1)
    raise AssertionError("the backend never came back")


async def test_a_replayed_enqueue_creates_one_job(
    redis: Store, proxy: TcpProxy, proxied: JobQueue
) -> None:
    qname, job_id = f"net-{new_job_id()}", new_job_id()
    await proxied.stats(qname)  # connect and load scripts before the fault
    proxy.drop_next_reply()
    got = await _retrying(lambda: proxied.enqueue(Work(1), queue=qname, job_id=job_id))
    assert proxy.dropped_replies == 1
    assert got == job_id
    direct = await redis.open()
    stats = await direct.stats(qname)
    assert (stats.total, stats.pending) == (1, 1)


async def test_a_replayed_complete_has_one_effect(
    redis: Store, proxy: TcpProxy, proxied: JobQueue
) -> None:
    qname = f"net-{new_job_id()}"
    direct = await redis.open()
    await direct.enqueue(Work(1), queue=qname, max_attempts=1)
    (claimed,) = await proxied.claim(qname, lease=30)
    proxy.drop_next_reply()
    await _retrying(lambda: proxied.complete(claimed.lease, result=b'"done"'))
    await proxied.complete(claimed.lease, result=b'"done"')  # and once more, on purpose
    assert proxy.dropped_replies == 1
    job = await direct.get(qname, claimed.job.id)
    assert (job.state, job.attempts, job.result) == (JobState.COMPLETED, 1, b'"done"')
    stats = await direct.stats(qname)
    assert (stats.completed, stats.total) == (1, 1)


async def test_cuts_and_a_blackhole_past_the_lease_lose_nothing(
    redis: Store,
    proxy: TcpProxy,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    scale: float,
    results: Results,
) -> None:
    jobs, cuts = int(400 * scale), max(2, int(4 * scale))
    args = ["--lease", str(LEASE), "--work", "0.05", "--concurrency", "4"]
    s = await open_scenario(redis, ledger_dir, fleet_factory, *args, prefix="net")
    await produce(s.queue, s.qname, jobs, s.producer, lease=LEASE)
    behind = Fleet(
        proxy.url(int(urlsplit(redis.url).path.strip("/") or "0")),
        ledger_dir,
        options={**redis.options, **CLIENT_TIMEOUTS},
        args=s.fleet.args,
    )
    fleet_factory.append(behind)
    for process in [behind.spawn(), behind.spawn()]:
        await behind.wait_ready(process)
    started = time.monotonic()
    for _ in range(cuts):
        await anyio.sleep(0.5)
        s.fleet.ledger.write("fault", kind="cut", target=None)
        proxy.cut()
    s.fleet.ledger.write("fault", kind="blackhole", target=None)
    proxy.blackhole()
    s.fleet.spawn()  # a worker outside the partition takes over the leases that run out
    await anyio.sleep(3 * LEASE)
    proxy.heal()
    await drain(s.queue, s.qname, jobs, within=40 + 40 * scale)
    report = await s.verdict()
    results.write(
        "network-faults",
        s.backend,
        size=jobs,
        faults=f"{cuts} cuts, 1 blackhole of {3 * LEASE:g}s (lease {LEASE:g}s)",
        total_s=round(time.monotonic() - started, 2),
        **report.figures(),
    )
    assert report.lost == []
    assert report.stale_accepted == []
    assert report.overlaps == []
    assert report.executions >= jobs
