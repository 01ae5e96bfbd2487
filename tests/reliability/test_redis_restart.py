"""Redis SIGKILLed and restarted mid-load: with AOF ``always`` no acknowledged enqueue is lost.

The producer retries each enqueue under the same job id until it is acknowledged (a replay is
harmless), so the ledger's ``enq`` records are exactly the acknowledged enqueues. Workers run in
their own processes and must reconnect by themselves (none is respawned).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry

from kmsg import BackendUnavailable, JobQueue, new_job_id, open_queue
from kmsg.adapters.redis import RedisJobQueue
from kmsg.metrics.collector import scrape
from tests.backends import Store
from tests.redis_servers import RedisServer
from tests.reliability.ledger import Ledger
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import FAST_BACKOFF, drain
from tests.reliability.worker_main import Work

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.reliability,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

LEASE = 1.0
TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


@pytest.fixture(params=["always", "everysec"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A private server with an AOF fsynced per the parameter."""
    directory = tmp_path / "redis"
    directory.mkdir()
    config = ["--appendonly", "yes", "--appendfsync", request.param]
    started = RedisServer(directory, config=config).start()
    yield started
    started.stop()


async def _enqueue_acked(queue: JobQueue, qname: str, n: int, ledger: Ledger) -> float:
    """Enqueue one job, replaying its id until acknowledged; return seconds spent retrying."""
    job_id, began = new_job_id(), time.monotonic()
    for _ in range(400):
        try:
            await queue.enqueue(
                Work(n),
                queue=qname,
                job_id=job_id,
                lease=LEASE,
                max_attempts=25,
                backoff=FAST_BACKOFF,
            )
        except BackendUnavailable:
            await anyio.sleep(0.05)
            continue
        ledger.write("enq", job=job_id)
        return time.monotonic() - began
    raise AssertionError("the queue never reconnected to the restarted server")


def _worker_recovery(records: list[dict[str, Any]]) -> float:
    """Seconds from the restart to the first job a worker completed after it."""
    restarted = max(r["t"] for r in records if r["e"] == "fault" and r["kind"] == "redis_restart")
    done = [r["t"] for r in records if r["e"] == "ack" and r["ok"] and r["t"] > restarted]
    return round(float(min(done) - restarted), 2)


async def test_redis_sigkill_and_restart_loses_no_acknowledged_enqueue(
    server: RedisServer,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    scale: float,
    results: Results,
) -> None:
    jobs, kill_at = int(600 * scale), int(300 * scale)
    store = Store(server.url, dict(TIMEOUTS))
    args = ["--lease", str(LEASE), "--work", "0.01", "--concurrency", "4"]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="aof")
    workers = [s.fleet.spawn() for _ in range(2)]
    for process in workers:
        await s.fleet.wait_ready(process)
    outages: list[float] = []
    half = anyio.Event()

    async def producer() -> None:
        for n in range(jobs):
            outages.append(await _enqueue_acked(s.queue, s.qname, n, s.producer))
            if n == kill_at:
                half.set()

    async with anyio.create_task_group() as group:
        group.start_soon(producer)
        await half.wait()
        s.fleet.ledger.write("fault", kind="redis_kill", target=None)
        server.kill()
        await anyio.sleep(0.5)
        await anyio.to_thread.run_sync(server.restart)
        s.fleet.ledger.write("fault", kind="redis_restart", target=None)
    await drain(s.queue, s.qname, jobs, within=40 + 40 * scale)
    report = await s.verdict()
    policy = server.config[-1]
    results.write(
        f"redis-restart-aof-{policy}",
        "redis",
        size=jobs,
        faults="1 SIGKILL of redis-server, restart after 0.5s",
        recovery_s=round(max(outages), 2),
        worker_recovery_s=_worker_recovery(s.fleet.records()),
        workers_respawned=0,
        **report.figures(),
    )
    assert s.fleet.reap() == 0, "a worker died instead of reconnecting"
    assert report.stale_accepted == []
    if policy == "always":
        assert report.lost == []
    await store.close_all()


async def test_a_restart_that_lost_the_data_is_noticed_and_queues_stay_right(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, results: Results
) -> None:
    """No persistence: the restarted server is empty. Every client notices once (an error log
    and ``data_losses``), and the queue names are right for every client afterwards."""
    server = RedisServer(tmp_path, config=["--appendonly", "no"]).start()
    try:
        async with await open_queue(server.url, **TIMEOUTS) as queue:
            assert isinstance(queue, RedisJobQueue)
            await queue.enqueue(Work(1), queue="before")
            await queue.enqueue(Work(2), queue="kept")
            assert await queue.queues() == ["before", "kept"]
            server.kill()
            await anyio.to_thread.run_sync(server.restart)
            with caplog.at_level(logging.ERROR, logger="kmsg.adapters.redis"):
                for n in range(3):
                    await _retry_unavailable(lambda n=n: queue.enqueue(Work(n), queue="kept"))
            lost = [r for r in caplog.records if "lost its data" in r.getMessage()]
            assert len(lost) == 1
            assert queue.data_losses == 1
            exposed = (await scrape(queue, CollectorRegistry())).decode()
            assert "kmsg_backend_data_losses_total 1.0" in exposed
            async with await open_queue(server.url, **TIMEOUTS) as fresh:
                assert await fresh.queues() == ["kept"]
                assert (await fresh.stats("kept")).pending == 3
            results.write(
                "redis-restart-without-persistence",
                "redis",
                size=2,
                faults="1 SIGKILL of redis-server without persistence, restart",
                data_loss_errors_logged=len(lost),
                data_losses_counted=queue.data_losses,
                queues_after=1,
            )
    finally:
        server.stop()


async def _retry_unavailable(call: Any) -> Any:
    for _ in range(100):
        try:
            return await call()
        except BackendUnavailable:
            await anyio.sleep(0.05)
    raise AssertionError("the server never came back")
