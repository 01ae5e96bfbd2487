"""Redis memory pressure: eviction is refused, and a full server still drains.

* A server whose ``maxmemory-policy`` may evict keys is refused at open (it would drop
  acknowledged jobs without a trace), unless ``eviction=warn`` says the risk is accepted.
* Under ``maxmemory`` with ``noeviction``, an enqueue is refused with ``BackendFull`` and writes
  nothing, while worker processes keep claiming, completing, failing and extending (their scripts
  are flagged ``allow-oom``) until the queue is drained; a cleanup then frees the memory and
  enqueueing works again. A large batch cut short by memory says which jobs were stored.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest
import redis

from kmsg import (
    BackendFull,
    BackendUnavailable,
    IncompleteBatch,
    JobNotFound,
    JobQueue,
    JobState,
    LeaseLost,
    NewJob,
    new_job_id,
    open_queue,
)
from tests.backends import Store
from tests.redis_servers import RedisServer
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

LEASE = 2.0
HEADROOM = 4 * 1024 * 1024
"""Bytes of maxmemory above what the empty server uses: room for about ten thousand jobs."""


class Pad(msgspec.Struct, frozen=True, kw_only=True):
    """A big payload."""

    n: int
    pad: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server that refuses writes past its memory limit (set by each test)."""
    started = RedisServer(tmp_path, config=["--maxmemory-policy", "noeviction"]).start()
    yield started
    started.stop()


def limit_memory(server: RedisServer, headroom: int) -> None:
    """Set maxmemory to what the server uses now plus ``headroom`` bytes."""
    with redis.Redis(port=server.port) as client:
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used + headroom)


def used_memory(server: RedisServer) -> int:
    with redis.Redis(port=server.port) as client:
        return int(client.info("memory")["used_memory"])


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random"])
async def test_a_server_that_may_evict_is_refused_unless_the_risk_is_accepted(
    tmp_path: Path, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path, config=["--maxmemory", "64mb", "--maxmemory-policy", policy])
    server.start()
    try:
        with pytest.raises(BackendUnavailable, match=f"maxmemory-policy {policy}.*noeviction"):
            await open_queue(server.url)
        with caplog.at_level(logging.WARNING, logger="kmsg.adapters.redis"):
            async with await open_queue(server.url, eviction="warn") as queue:
                await queue.enqueue(Work(1), queue="q")
                assert (await queue.stats("q")).pending == 1
        assert any("maxmemory-policy" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()


async def test_out_of_memory_refuses_enqueue_whole_while_the_fleet_drains(
    server: RedisServer,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    results: Results,
) -> None:
    store = Store(server.url)
    args = ["--lease", str(LEASE), "--work", "0.005", "--concurrency", "8"]
    s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="oom")
    direct = f"{s.qname}-direct"  # jobs this test handles itself, outside the ledger
    await s.queue.enqueue_many([NewJob(payload=Work(n), queue=direct) for n in range(10)])
    limit_memory(server, HEADROOM)
    acked = 0
    refused: list[str] = []
    message = ""
    for _ in range(1000):  # bounded: the headroom holds about 10,000 jobs
        batch = [
            NewJob(
                payload=Work(acked + i),
                queue=s.qname,
                job_id=new_job_id(),
                lease=LEASE,
                max_attempts=25,
                backoff=FAST_BACKOFF,
            )
            for i in range(200)
        ]
        try:
            await s.queue.enqueue_many(batch)
        except BackendFull as exc:
            message = str(exc)
            refused = [job.job_id or "" for job in batch]
            break
        for job in batch:
            s.producer.write("enq", job=job.job_id)
        acked += len(batch)
    assert refused, "the server never ran out of memory"
    assert "maxmemory" in message
    # Hold the server over its limit from here on (its use moves with client buffers).
    limit_memory(server, -(2**20))
    # Nothing of the refused batch was written, and stats still match what was acknowledged.
    for job_id in refused[:: len(refused) // 5]:
        with pytest.raises(JobNotFound):
            await s.queue.get(s.qname, job_id)
    assert (await s.queue.stats(s.qname)).total == acked
    with pytest.raises(BackendFull):
        await s.queue.enqueue(Work(-1), queue=s.qname)

    # Under the limit, the calls that drain and free keep working, from this handle ...
    await calls_that_must_work_under_oom(s.queue, direct)
    # ... and from worker processes opened now, which drain every acknowledged job.
    for process in [s.fleet.spawn(), s.fleet.spawn()]:
        await s.fleet.wait_ready(process)
    drained_in = await drain(s.queue, s.qname, acked, within=120)
    report = await s.verdict()
    still_full = used_memory(server)
    freed = await s.queue.cleanup(s.qname, [JobState.COMPLETED, JobState.FAILED], older_than=0)
    after = used_memory(server)
    await s.queue.enqueue(Work(-2), queue=s.qname)  # the cleanup made room again
    results.write(
        "redis-out-of-memory",
        "redis",
        size=acked,
        faults=f"maxmemory = empty server + {HEADROOM // 2**20} MiB, noeviction",
        drained_s=round(drained_in, 2),
        refused_batch=len(refused),
        cleaned=freed,
        memory_before_cleanup=still_full,
        memory_after_cleanup=after,
        **report.figures(),
    )
    assert report.lost == []
    assert report.stale_accepted == []
    assert freed >= acked
    assert after < still_full
    await store.close_all()


async def calls_that_must_work_under_oom(queue: JobQueue, qname: str) -> None:
    """claim (ending expired leases), extend, extend_many, fail, release, complete_many, cancel,
    remove, the dead letters, pause and the reads, on a server that refuses enqueues."""
    expired = await queue.claim(qname, limit=4, lease=0.05)
    await anyio.sleep(0.2)
    held = await queue.claim(qname, limit=3, lease=30)  # ends the expired leases first
    assert len(held) == 3
    assert (await queue.get(qname, expired[0].job.id)).state is JobState.DELAYED
    with pytest.raises(LeaseLost):
        await queue.extend(expired[1].lease, 30)
    assert await queue.extend(held[0].lease, 30) > 0
    (extended,) = await queue.extend_many([held[1].lease], 30)
    assert isinstance(extended, float)
    assert await queue.fail(held[0].lease, "boom", retryable=False) is JobState.FAILED
    await queue.release(held[1].lease)
    assert await queue.complete_many([(held[2].lease, b'"ok"')]) == [True]
    assert (await queue.retry_failed(qname, [held[0].job.id])).moved == 1
    assert await queue.cancel(qname, expired[2].job.id) is JobState.CANCELLED
    assert await queue.remove(qname, expired[3].job.id) is True
    assert (await queue.list_jobs(qname, JobState.PENDING, limit=10)).jobs
    assert (await queue.stats(qname)).total == 9
    await queue.purge_failed(qname)
    await queue.pause(qname)
    await queue.resume(qname)
    assert await queue.clear(qname) == 9


async def test_a_batch_cut_short_by_memory_says_which_jobs_were_stored(
    server: RedisServer,
) -> None:
    async with await open_queue(server.url, max_payload_bytes=300_000) as queue:
        limit_memory(server, 3 * 2**20 // 2)
        jobs = [
            NewJob(payload=Pad(n=n, pad="x" * 200_000), queue="big", job_id=f"big-{n:02d}")
            for n in range(20)
        ]
        with pytest.raises(IncompleteBatch) as caught:
            await queue.enqueue_many(jobs)
        error = caught.value
        assert isinstance(error.__cause__, BackendFull)
        assert error.ids == [job.job_id for job in jobs]
        stored = sorted(error.stored)
        assert stored == [f"big-{n:02d}" for n in range(len(stored))]
        assert 0 < len(stored) < len(jobs)
        assert (await queue.stats("big")).pending == len(stored)
