"""Redis adapter: a server killed and restarted mid-use (AOF, fsync always) loses no acked job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest

from kmsg import BackendUnavailable, JobState, new_job_id, open_queue
from tests.redis_servers import RedisServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

JOBS = 200
KILL_AFTER = 60


class Note(msgspec.Struct, frozen=True):
    """A small payload."""

    n: int


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server that appends every write to its AOF and fsyncs it before replying."""
    config = ["--appendonly", "yes", "--appendfsync", "always"]
    started = RedisServer(tmp_path, config=config).start()
    yield started
    started.stop()


async def test_acknowledged_enqueues_survive_sigkill_and_restart(server: RedisServer) -> None:
    acked: list[str] = []
    queue = await open_queue(server.url, socket_timeout=2.0, socket_connect_timeout=1.0)
    async with queue:
        await queue.enqueue(Note(-1), queue="q")
        (held,) = await queue.claim("q")
        enough = anyio.Event()

        async def produce() -> None:
            for n in range(JOBS):
                job_id = new_job_id()
                for _ in range(200):  # retry the same id: a replayed enqueue is harmless
                    try:
                        acked.append(await queue.enqueue(Note(n), queue="q", job_id=job_id))
                        break
                    except BackendUnavailable:
                        await anyio.sleep(0.05)
                else:
                    raise AssertionError("the adapter never reconnected")
                if len(acked) == KILL_AFTER:
                    enough.set()

        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            await enough.wait()
            server.kill()
            await anyio.sleep(0.5)
            await anyio.to_thread.run_sync(server.restart)
    reopened = await open_queue(server.url)
    async with reopened:
        assert len(acked) == JOBS
        for job_id in acked:
            assert (await reopened.get("q", job_id)).state is JobState.PENDING
        assert (await reopened.get("q", held.job.id)).state is JobState.PROCESSING
        await reopened.complete(held.lease)
        stats = await reopened.stats("q")
        assert (stats.pending, stats.completed) == (JOBS, 1)
