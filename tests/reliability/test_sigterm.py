"""SIGTERM: in-flight jobs finish within the grace period; nothing is claimed after the signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import anyio
import pytest

from kmsg import JobState
from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import Scenario, open_scenario
from tests.reliability.support import produce

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

CONCURRENCY = 4


async def _terminate_when_busy(s: Scenario, grace: float, work: float) -> tuple[float, float]:
    """Start one worker, SIGTERM it once it runs CONCURRENCY jobs; (signal time, exit seconds)."""
    process = s.fleet.spawn("--grace", str(grace), "--work", str(work))
    for _ in range(600):
        if sum(r["e"] == "start" for r in s.fleet.records()) >= CONCURRENCY:
            break
        await anyio.sleep(0.05)
    signalled = time.time()
    s.fleet.signal(process, signal.SIGTERM, "term")
    began = time.monotonic()
    returncode = await anyio.to_thread.run_sync(lambda: process.wait(timeout=grace + 30))
    assert returncode == 0
    return signalled, time.monotonic() - began


async def test_sigterm_lets_in_flight_jobs_finish(
    store: Store, ledger_dir: Path, fleet_factory: list[Fleet], results: Results
) -> None:
    grace, work = 10.0, 1.5
    args = ["--lease", "5", "--concurrency", str(CONCURRENCY)]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="term")
    await produce(s.queue, s.qname, 20, s.producer, lease=5.0)
    signalled, seconds = await _terminate_when_busy(s, grace, work)
    records = s.fleet.records()
    started = {r["job"] for r in records if r["e"] == "start"}
    completed = {r["job"] for r in records if r["e"] == "ack" and r["op"] == "complete" and r["ok"]}
    late_claims = [r for r in records if r["e"] == "claim" and r["t"] > signalled]
    results.write(
        "sigterm-graceful",
        s.backend,
        size=20,
        faults=f"SIGTERM with {len(started)} in flight (grace {grace:g}s, jobs {work:g}s)",
        in_flight=len(started),
        finished_in_grace=len(started & completed),
        claimed_after_signal=len(late_claims),
        shutdown_s=round(seconds, 2),
        lost=0,
    )
    assert started, "the worker never started a job"
    assert started <= completed
    assert late_claims == []
    assert seconds < grace
    stats = await s.queue.stats(s.qname)
    assert (stats.processing, stats.completed, stats.pending) == (
        0,
        len(started),
        20 - len(started),
    )


async def test_sigterm_past_the_grace_releases_unfinished_jobs(
    store: Store, ledger_dir: Path, fleet_factory: list[Fleet]
) -> None:
    args = ["--lease", "5", "--concurrency", str(CONCURRENCY)]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="term")
    ids = await produce(s.queue, s.qname, CONCURRENCY, s.producer, lease=5.0)
    await _terminate_when_busy(s, grace=0.5, work=60.0)
    released = {r["job"] for r in s.fleet.records() if r["e"] == "ack" and r["op"] == "release"}
    assert released == set(ids)
    for job_id in ids:
        job = await s.queue.get(s.qname, job_id)
        assert (job.state, job.attempts) == (JobState.PENDING, 0)
