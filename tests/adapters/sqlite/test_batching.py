"""SQLite adapter: concurrent writes share transactions but each call stays all-or-nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from kmsg import (
    BackendUnavailable,
    JobNotFound,
    JobQueue,
    JobState,
    Lease,
    LeaseLost,
    NewJob,
    open_queue,
)
from kmsg.adapters.sqlite.database import Database
from tests.adapters.sqlite.conftest import Ping

pytestmark = pytest.mark.anyio

T = TypeVar("T")


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[JobQueue]:
    """A queue on a fresh file."""
    async with open_queue(f"sqlite:///{tmp_path / 'kmsg.db'}") as opened:
        yield opened


async def test_a_failing_call_does_not_undo_its_neighbours(queue: JobQueue) -> None:
    await queue.enqueue_many([NewJob(payload=Ping(n), queue="q") for n in range(20)])
    claimed = await queue.claim("q", limit=20)
    outcomes: dict[str, str] = {}

    async def finish(index: int, lease: Lease) -> None:
        if index % 2:
            lease = Lease(queue=lease.queue, job_id=lease.job_id, token="stale")
        try:
            await queue.complete(lease)
            outcomes[lease.job_id] = "completed"
        except LeaseLost:
            outcomes[lease.job_id] = "lost"

    async def cancel_missing() -> None:
        with pytest.raises(JobNotFound):
            await queue.cancel("q", "no-such-job")

    async with anyio.create_task_group() as group:
        for index, item in enumerate(claimed):
            group.start_soon(finish, index, item.lease)
            group.start_soon(cancel_missing)
    for item in claimed:
        job = await queue.get("q", item.job.id)
        expected = (
            JobState.COMPLETED if outcomes[item.job.id] == "completed" else JobState.PROCESSING
        )
        assert job.state is expected
    stats = await queue.stats("q")
    assert (stats.completed, stats.processing) == (10, 10)


async def test_concurrent_enqueues_with_one_dedupe_key_keep_one_job(queue: JobQueue) -> None:
    ids: list[str] = []

    async def enqueue(n: int) -> None:
        ids.append(await queue.enqueue(Ping(n), queue="q", dedupe_key="same"))

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(enqueue, n)
    assert len(set(ids)) == 1
    assert (await queue.stats("q")).pending == 1


async def test_calls_after_close_fail_cleanly(queue: JobQueue) -> None:
    await queue.aclose()
    await queue.aclose()
    with pytest.raises(BackendUnavailable, match="closed"):
        await queue.enqueue(Ping(1), queue="q")


async def test_concurrent_writes_share_transactions(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queue.enqueue_many([NewJob(payload=Ping(n), queue="q") for n in range(30)])
    claimed = await queue.claim("q", limit=30)
    transactions = 0
    write = Database.write

    def counting_write(self: Database, body: Callable[..., T]) -> T:
        nonlocal transactions
        transactions += 1
        return write(self, body)

    monkeypatch.setattr(Database, "write", counting_write)
    async with anyio.create_task_group() as group:
        for item in claimed:
            group.start_soon(queue.complete, item.lease)
    assert (await queue.stats("q")).completed == 30
    assert transactions < 30
