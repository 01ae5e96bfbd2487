"""Workers paused with SIGSTOP past their lease, then resumed: no stale completion is accepted."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import anyio
import pytest

from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import drain, produce

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

LEASE = 1.0
PAUSE = 2.5  # well past the lease


async def test_sigstop_past_the_lease_accepts_no_stale_completion(
    store: Store, ledger_dir: Path, fleet_factory: list[Fleet], scale: float, results: Results
) -> None:
    rng = random.Random(7)
    jobs, pauses = int(300 * scale), max(2, int(3 * scale))
    args = ["--lease", str(LEASE), "--work", "0.3", "--concurrency", "4"]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="stop")
    await produce(s.queue, s.qname, jobs, s.producer, lease=LEASE)
    workers = [s.fleet.spawn() for _ in range(2)]
    for process in workers:
        await s.fleet.wait_ready(process)
    started = time.monotonic()
    for _ in range(pauses):
        await anyio.sleep(rng.uniform(0.3, 0.8))
        victim = rng.choice(workers)
        s.fleet.signal(victim, signal.SIGSTOP, "stop")
        await anyio.sleep(PAUSE)
        s.fleet.signal(victim, signal.SIGCONT, "cont")
    await drain(s.queue, s.qname, jobs, within=40 + 40 * scale)
    report = await s.verdict()
    results.write(
        "sigstop-past-lease",
        s.backend,
        size=jobs,
        faults=f"{pauses} SIGSTOP of {PAUSE:g}s (lease {LEASE:g}s)",
        total_s=round(time.monotonic() - started, 2),
        **report.figures(),
    )
    assert report.stale_accepted == []
    assert report.lost == []
    assert report.unexplained == []
    assert report.overlaps == []
    assert report.explained > 0, "no pause outlived a lease: the scenario proved nothing"
