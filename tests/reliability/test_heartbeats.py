"""Heartbeats at fleet size: hundreds of jobs in flight, a lease of seconds, a network 20 ms away.

One worker process reaches Redis through the suite's TCP proxy, which holds every chunk back
``LATENCY`` seconds each way. It claims ``IN_FLIGHT`` jobs at once; each handler runs for more
than two leases, so every lease must be renewed twice. A second worker, connected directly, is
ready to take any job whose lease lapses. Heartbeats renew every due lease in one round trip
(``extend_many``), so: no lease is lost and no job runs twice. (Before, one ``extend`` round trip
per job in series took longer than the lease: jobs ran twice and were dead-lettered.)
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest

from kmsg import JobState, NewJob, open_queue
from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.proxy import TcpProxy
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import FAST_BACKOFF, drain
from tests.reliability.worker_main import Work

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

LEASE = 3.0
LATENCY = 0.02
IN_FLIGHT = 500
WORK = 2.5 * LEASE


async def test_latency_is_added_each_way(redis: Store, proxy: TcpProxy) -> None:
    """The proxy's own check: a round trip through it takes at least twice the latency."""
    db = int(urlsplit(redis.url).path.strip("/") or "0")
    proxy.add_latency(0.05)
    async with open_queue(proxy.url(db), **redis.options) as queue:
        began = time.monotonic()
        await queue.stats("any")
        assert time.monotonic() - began >= 0.1


async def test_500_in_flight_at_20ms_keep_every_lease(
    redis: Store,
    proxy: TcpProxy,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    results: Results,
) -> None:
    args = ["--lease", str(LEASE), "--work", str(WORK), "--concurrency", str(IN_FLIGHT)]
    s = await open_scenario(redis, ledger_dir, fleet_factory, *args, prefix="beat")
    proxy.add_latency(LATENCY)
    db = int(urlsplit(redis.url).path.strip("/") or "0")
    far = Fleet(proxy.url(db), ledger_dir, options=redis.options, args=s.fleet.args)
    fleet_factory.append(far)
    await far.wait_ready(far.spawn())
    jobs = [
        NewJob(payload=Work(n), queue=s.qname, lease=LEASE, max_attempts=3, backoff=FAST_BACKOFF)
        for n in range(IN_FLIGHT)
    ]
    for job_id in await s.queue.enqueue_many(jobs):
        s.producer.write("enq", job=job_id)
    with anyio.fail_after(60):
        for _ in range(1200):  # polls the queue, which has no event to wait on
            if (await s.queue.stats(s.qname)).processing >= IN_FLIGHT:
                break
            await anyio.sleep(0.05)
    started = time.monotonic()
    await s.fleet.wait_ready(s.fleet.spawn())  # near the server, ready to take lapsed leases
    await drain(s.queue, s.qname, IN_FLIGHT, within=WORK + 60)
    report = await s.verdict()
    records = s.fleet.records()
    extends = [r for r in records if r["e"] == "ack" and r["op"] == "extend"]
    lost = [r for r in records if r["e"] == "ack" and not r["ok"]]
    stats = await s.queue.stats(s.qname)
    results.write(
        "heartbeats-500-in-flight",
        "redis",
        size=IN_FLIGHT,
        faults=f"{LATENCY * 1000:g} ms added each way, lease {LEASE:g}s, jobs {WORK:g}s",
        total_s=round(time.monotonic() - started, 2),
        leases_renewed=len(extends),
        lease_losses=len(lost),
        dead=stats.failed,
        **report.figures(),
    )
    assert lost == []
    assert report.executions == IN_FLIGHT  # no job ran twice
    assert report.lost == []
    assert report.overlaps == []
    assert (stats.completed, stats.failed) == (IN_FLIGHT, 0)
    assert all(
        job.state is JobState.COMPLETED and job.attempts == 1
        for job in (await s.queue.list_jobs(s.qname, JobState.COMPLETED, limit=IN_FLIGHT)).jobs
    )
