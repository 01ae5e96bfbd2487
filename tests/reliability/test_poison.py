"""Poison jobs are dead-lettered after exactly max_attempts runs, never run again, error kept."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from kmsg import JobState
from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import drain, produce

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

MAX_ATTEMPTS = 3


@pytest.mark.parametrize(
    ("mode", "jobs", "error_type"), [("raise", 6, "Poison"), ("suicide", 2, "LeaseExpired")]
)
async def test_poison_jobs_are_dead_lettered_after_max_attempts(
    store: Store,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    results: Results,
    mode: str,
    jobs: int,
    error_type: str,
) -> None:
    args = ["--lease", "0.5", "--mode", mode, "--concurrency", "1"]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="poison")
    ids = await produce(s.queue, s.qname, jobs, s.producer, max_attempts=MAX_ATTEMPTS, lease=0.5)
    s.fleet.spawn()

    def respawn() -> None:
        if s.fleet.reap():
            s.fleet.spawn()

    await drain(s.queue, s.qname, jobs, within=60, tick=respawn)
    await anyio.sleep(1.5)  # a worker that ran a dead letter again would do so by now
    runs = [r["job"] for r in s.fleet.records() if r["e"] == "start"]
    for job_id in ids:
        job = await s.queue.get(s.qname, job_id)
        assert job.state is JobState.FAILED
        assert runs.count(job_id) == MAX_ATTEMPTS
        assert len(job.errors) == MAX_ATTEMPTS
        assert job.last_error is not None
        assert job.last_error.type == error_type
    results.write(
        f"poison-{mode}",
        s.backend,
        size=jobs,
        faults="handler raises" if mode == "raise" else "handler SIGKILLs its process",
        runs_per_job=MAX_ATTEMPTS,
        dead_lettered=jobs,
        lost=0,
    )
