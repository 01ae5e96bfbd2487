"""A worker host whose clock jumps an hour ahead does not take jobs early on Redis (server time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import drain, produce

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

SKEW = "3600"
JOBS = 4


async def test_a_skewed_clock_does_not_redeliver_early(
    store: Store, ledger_dir: Path, fleet_factory: list[Fleet], results: Results
) -> None:
    queue = await store.open()
    if not queue.capabilities.server_time:
        pytest.skip("capability server_time=False: leases follow the host clock by design")
    args = ["--lease", "2", "--work", "3", "--concurrency", str(JOBS), "--skew", SKEW]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="clock")
    await produce(s.queue, s.qname, JOBS, s.producer, lease=2.0)
    first = s.fleet.spawn()
    await s.fleet.wait_ready(first)
    second = s.fleet.spawn()
    await s.fleet.wait_ready(second)
    await drain(s.queue, s.qname, JOBS, within=60)
    skews = [r["skew"] for r in s.fleet.records() if r["e"] == "ready"]
    assert len(skews) == 2
    assert all(abs(skew - float(SKEW)) < 60 for skew in skews)
    report = await s.verdict()
    results.write(
        "clock-skew",
        s.backend,
        size=JOBS,
        faults="time.time +1 h on both workers; jobs run 1.5 leases",
        **report.figures(),
    )
    assert report.executions == JOBS
    assert report.explained == 0
    assert report.unexplained == []
    assert report.overlaps == []
