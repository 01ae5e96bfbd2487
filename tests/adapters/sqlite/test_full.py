"""SQLite adapter on a full disk: BackendFull, nothing of the call written, draining goes on.

A full disk is simulated with ``PRAGMA max_page_count`` on the adapter's own connection: SQLite
then answers ``SQLITE_FULL`` to any write that needs a page past it, as it does when the disk
has no room left.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from kmsg import BackendFull, IncompleteBatch, JobNotFound, JobState, NewJob, open_queue
from kmsg.adapters.sqlite import SQLiteJobQueue
from kmsg.adapters.sqlite.space import DRAIN_RESERVE
from kmsg.validation import STEP_JOBS

pytestmark = pytest.mark.anyio


class Blob(msgspec.Struct, frozen=True):
    """A test payload of any size."""

    data: str


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SQLiteJobQueue]:
    """A queue on a fresh file."""
    async with open_queue(f"sqlite:///{tmp_path / 'kmsg.db'}") as opened:
        assert isinstance(opened, SQLiteJobQueue)
        yield opened


def _limit_pages(queue: SQLiteJobQueue, extra_bytes: int) -> None:
    """Let the file grow by about ``extra_bytes`` more, and no further."""

    def limit(connection: sqlite3.Connection, _now: float) -> None:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + extra_bytes // page_size}")

    queue._database.read(limit)


def _jobs(count: int, *, size: int, tag: str) -> list[NewJob]:
    data = "x" * size
    return [NewJob(payload=Blob(data), queue="q", job_id=f"{tag}-{n}") for n in range(count)]


async def test_sqlite_full_is_backend_full_and_the_call_writes_nothing(
    queue: SQLiteJobQueue,
) -> None:
    await queue.enqueue_many(_jobs(300, size=100, tag="a"))
    _limit_pages(queue, 0)  # not one page more: a claim needs new index pages
    before = await queue.list_jobs("q", JobState.PENDING, limit=1000)
    with pytest.raises(BackendFull, match="is full"):
        await queue.claim("q", limit=300)
    assert await queue.list_jobs("q", JobState.PENDING, limit=1000) == before
    assert len(before.jobs) == 300


async def test_enqueue_is_refused_while_draining_keeps_working(queue: SQLiteJobQueue) -> None:
    await queue.enqueue_many(_jobs(10, size=100, tag="first"))
    _limit_pages(queue, DRAIN_RESERVE + 400_000)
    stored = 10
    for batch in range(1000):
        try:
            await queue.enqueue_many(_jobs(20, size=2000, tag=f"b{batch}"))
        except BackendFull:
            refused = batch
            break
        stored += 20
    else:
        pytest.fail("enqueue was never refused")
    assert stored > 100
    assert (await queue.stats("q")).pending == stored
    with pytest.raises(JobNotFound):
        await queue.get("q", f"b{refused}-0")
    with pytest.raises(BackendFull):
        await queue.import_jobs([await queue.get("q", "first-0")])  # new work: refused too

    done = 0
    for _ in range(stored):
        claimed = await queue.claim("q", limit=100)
        if not claimed:
            break
        half = len(claimed) // 2
        for item in claimed[:half]:
            await queue.complete(item.lease)
        assert all(await queue.complete_many([(c.lease, None) for c in claimed[half:]]))
        done += len(claimed)
    assert done == stored
    assert await queue.cleanup("q", [JobState.COMPLETED], older_than=0.0) == stored

    await queue.enqueue_many(_jobs(20, size=2000, tag="again"))
    assert (await queue.stats("q")).pending == 20


async def test_a_batch_stopped_part_way_by_a_full_disk_says_what_it_stored(
    queue: SQLiteJobQueue,
) -> None:
    # Room for the first step of STEP_JOBS jobs (about 820 bytes each, as space.py counts)
    # beside the reserve, not for the second.
    _limit_pages(queue, DRAIN_RESERVE + STEP_JOBS * 1100)
    jobs = _jobs(5 * STEP_JOBS, size=300, tag="big")
    with pytest.raises(IncompleteBatch) as stopped:
        await queue.enqueue_many(jobs)
    assert isinstance(stopped.value.__cause__, BackendFull)
    assert stopped.value.stored == {job.job_id for job in jobs[:STEP_JOBS]}
    assert stopped.value.ids == [job.job_id for job in jobs]
    assert (await queue.stats("q")).pending == STEP_JOBS
