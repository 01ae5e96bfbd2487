"""A worker process killed mid-job, and one stopped by SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest

from kmsg import JobQueue, JobState
from kmsg.worker import current_job
from tests.backends import Store
from tests.worker.support import QUICK_BACKOFF, WAIT_LIMIT, Ping, make_worker
from tests.worker.worker_process import LEASE

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


async def start_worker_process(
    store: Store, qname: str, markers: Path, seconds: float
) -> anyio.abc.Process:
    command = [
        sys.executable,
        "-m",
        "tests.worker.worker_process",
        store.url,
        json.dumps(store.options),
        qname,
        str(markers),
        str(seconds),
    ]
    return await anyio.open_process(command, cwd=ROOT, stdout=None, stderr=None)


async def wait_for_file(path: Path, process: anyio.abc.Process) -> None:
    with anyio.fail_after(WAIT_LIMIT):
        while not await anyio.Path(path).exists():
            assert process.returncode is None, "the worker process exited early"
            await anyio.sleep(0.02)


async def test_a_job_of_a_killed_worker_is_redelivered_after_its_lease(
    store: Store, queue: JobQueue, qname: str, tmp_path: Path
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, max_attempts=3, backoff=QUICK_BACKOFF)
    process = await start_worker_process(store, qname, tmp_path, seconds=60)
    try:
        await wait_for_file(tmp_path / "started-1", process)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await process.aclose()
    assert process.returncode == -signal.SIGKILL

    survivor = make_worker(queue, qname, idle_wait=0.05)
    attempts: list[int] = []

    @survivor.task
    async def ping(msg: Ping) -> None:
        attempts.append(current_job().attempt)

    with anyio.fail_after(WAIT_LIMIT):
        await survivor.run_until_idle()
    assert attempts == [2]
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    (error,) = job.errors
    assert (error.type, error.attempt) == ("LeaseExpired", 1)
    assert not (tmp_path / "finished-1").exists()


async def test_sigterm_lets_the_running_job_finish_then_exits(
    store: Store, queue: JobQueue, qname: str, tmp_path: Path
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    # the handler outlives several leases, so heartbeats must hold it while it drains
    process = await start_worker_process(store, qname, tmp_path, seconds=3 * LEASE)
    try:
        await wait_for_file(tmp_path / "started-1", process)
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(WAIT_LIMIT):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    assert process.returncode == 0
    assert (tmp_path / "finished-1").exists()
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.COMPLETED, 1, ())


async def test_a_second_sigterm_releases_the_running_job_without_waiting(
    store: Store, queue: JobQueue, qname: str, tmp_path: Path
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    # the process's grace period (30 s) is longer than this test waits for it to exit
    process = await start_worker_process(store, qname, tmp_path, seconds=60)
    try:
        await wait_for_file(tmp_path / "started-1", process)
        with anyio.fail_after(20):
            while process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with anyio.move_on_after(1.0):
                    await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    assert process.returncode == 0
    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts, job.errors) == (JobState.PENDING, 0, ())


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the child runs on asyncio either way
@pytest.mark.parametrize("mode", ["deaf", "thread"])
async def test_a_worker_process_exits_soon_after_stopping_with_a_handler_still_running(
    store: Store, queue: JobQueue, qname: str, tmp_path: Path, mode: str
) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname)
    command = [
        sys.executable,
        "-m",
        "tests.worker.stuck_process",
        store.url,
        json.dumps(store.options),
        qname,
        str(tmp_path),
        mode,
    ]
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr_file:
        process = await anyio.open_process(command, cwd=ROOT, stdout=None, stderr=stderr_file)
    try:
        await wait_for_file(tmp_path / "started", process)
        process.send_signal(signal.SIGTERM)
        # grace 0.5 s + ABANDON_AFTER + EXIT_AFTER, with a generous margin; the handler would
        # keep it alive for a minute (thread) or forever (deaf)
        with anyio.fail_after(WAIT_LIMIT):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()
    assert process.returncode == 0
    job = await queue.get(qname, job_id)
    if mode == "deaf":
        assert "1 abandoned jobs may still be running" in log.read_text()
        assert job.state is JobState.PROCESSING  # left to its lease
    else:
        assert (job.state, job.attempts) == (JobState.PENDING, 0)  # released at shutdown
