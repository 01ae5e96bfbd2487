"""Many claimers at once, in one process and in several: each job is claimed exactly once."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from kmsg import JobQueue, JobState
from tests.backends import Store
from tests.conformance.support import enqueue_pings, wait_for_files

pytestmark = pytest.mark.anyio

JOBS = 1000
TASKS = 16
HANDLES = 4
PROCESSES = 3


async def test_concurrent_claimers_in_one_process_each_get_a_job_once(
    queue: JobQueue, store: Store, qname: str
) -> None:
    ids = await enqueue_pings(queue, qname, JOBS)
    handles = [queue] + [await store.open() for _ in range(HANDLES - 1)]
    held: set[str] = set()
    seen: list[str] = []
    rng = random.Random(7)

    async def claimer(handle: JobQueue, batch: int) -> None:
        for _ in range(JOBS):
            claimed = await handle.claim(qname, limit=batch)
            if not claimed:
                return
            for item in claimed:
                assert item.job.id not in held, "a job was handed to two live holders"
                held.add(item.job.id)
                seen.append(item.job.id)
            await anyio.lowlevel.checkpoint()
            for item in claimed:
                held.discard(item.job.id)
                await handle.complete(item.lease)

    with anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            for n in range(TASKS):
                group.start_soon(claimer, handles[n % HANDLES], rng.randint(1, 8))
    assert len(seen) == JOBS
    assert set(seen) == set(ids)
    stats = await queue.stats(qname)
    assert (stats.completed, stats.pending, stats.processing) == (JOBS, 0, 0)


async def test_claimer_processes_share_the_queue_and_each_job_is_claimed_once(
    queue: JobQueue,
    store: Store,
    qname: str,
    tmp_path: Path,
    pytestconfig: pytest.Config,
) -> None:
    ids = await enqueue_pings(queue, qname, 600)
    outputs = [tmp_path / f"claimed-{n}.txt" for n in range(PROCESSES)]
    options = [json.dumps(store.options)] if store.options else []

    async def run_claimer(out: Path) -> None:
        command = [sys.executable, "-m", "tests.conformance._claimer", store.url, qname, str(out)]
        result = await anyio.run_process(
            [*command, *options],
            cwd=pytestconfig.rootpath,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")

    async def start_together() -> None:
        await wait_for_files([out.with_suffix(".ready") for out in outputs], within=60.0)
        (tmp_path / "go").touch()

    with anyio.fail_after(100):
        async with anyio.create_task_group() as group:
            for out in outputs:
                group.start_soon(run_claimer, out)
            group.start_soon(start_together)
    claimed = [line for out in outputs for line in out.read_text().split()]
    assert len(claimed) == len(set(claimed)), "a job was claimed twice"
    assert set(claimed) == set(ids)
    assert (await queue.stats(qname)).count(JobState.COMPLETED) == len(ids)
