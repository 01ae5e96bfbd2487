"""Worker processes SIGKILLed at random while jobs run: nothing lost, no unexplained duplicate."""

from __future__ import annotations

import random
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

WORKERS = 3
LEASE = 1.0


async def test_sigkill_workers_lose_nothing(
    store: Store, ledger_dir: Path, fleet_factory: list[Fleet], scale: float, results: Results
) -> None:
    rng = random.Random(6)
    jobs, kills = int(2000 * scale), max(3, int(8 * scale))
    args = ["--lease", str(LEASE), "--work", "0.05", "--concurrency", "4"]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="kill")
    await produce(s.queue, s.qname, jobs, s.producer, lease=LEASE)
    for _ in range(WORKERS):
        s.fleet.spawn()
    started = time.monotonic()
    for _ in range(kills):
        await anyio.sleep(rng.uniform(0.3, 1.0))
        s.fleet.kill(rng.choice(s.fleet.live))
        s.fleet.spawn()
    await drain(s.queue, s.qname, jobs, within=40 + 40 * scale)
    report = await s.verdict()
    results.write(
        "sigkill-workers",
        s.backend,
        size=jobs,
        faults=f"{kills} SIGKILL (3 workers, respawned)",
        total_s=round(time.monotonic() - started, 2),
        **report.figures(),
    )
    assert report.lost == []
    assert report.unexplained == []
    assert report.stale_accepted == []
    assert report.overlaps == []
    assert report.explained > 0, "no kill hit a running job: the scenario proved nothing"
