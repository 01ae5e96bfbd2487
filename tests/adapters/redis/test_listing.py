"""Redis adapter: listing cursors survive changes between pages, ties and a vanished cursor job."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kmsg import JobQueue, JobState, NewJob, ValidationError
from tests.redis_servers import redis_store

pytestmark = pytest.mark.anyio


class Note(msgspec.Struct, frozen=True):
    """A small payload."""

    n: int


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[JobQueue]:
    """A handle on a fresh key prefix."""
    async with redis_store(tmp_path) as store:
        yield await store.open()


async def page_through_while_changing(
    queue: JobQueue, state: JobState, ids: list[str], **options: Any
) -> list[str]:
    """List ``state`` 7 at a time; before each next page remove the cursor's job, add a new one."""
    seen: list[str] = []
    removed: set[str] = set()
    cursor = None
    for round_ in range(100):
        page = await queue.list_jobs("tied", state, limit=7, cursor=cursor)
        seen += [job.id for job in page.jobs]
        if page.next_cursor is None:
            break
        removed.add(page.jobs[-1].id)
        await queue.remove("tied", page.jobs[-1].id)
        await queue.enqueue_many([NewJob(payload=Note(1000 + round_), queue="tied", **options)])
        cursor = page.next_cursor
    stayed = [job_id for job_id in ids if job_id not in removed]
    assert [job_id for job_id in seen if job_id in stayed] == stayed
    return seen


@pytest.mark.parametrize(
    ("state", "when"), [(JobState.PENDING, -100.0), (JobState.DELAYED, 3600.0)]
)
async def test_tied_jobs_are_listed_once_in_id_order(
    queue: JobQueue, state: JobState, when: float
) -> None:
    run_at = time.time() + when  # one run_at for all: every score ties, so ids decide
    jobs = [NewJob(payload=Note(n), queue="tied", run_at=run_at) for n in range(40)]
    ids = await queue.enqueue_many(jobs)
    assert ids == sorted(ids)
    await page_through_while_changing(queue, state, ids, run_at=run_at)


async def test_a_cursor_from_another_state_or_made_up_is_refused(queue: JobQueue) -> None:
    await queue.enqueue_many([NewJob(payload=Note(n), queue="tied") for n in range(3)])
    page = await queue.list_jobs("tied", JobState.PENDING, limit=1)
    assert page.next_cursor is not None
    for cursor, state in [(page.next_cursor, JobState.DELAYED), ("not-a-cursor", JobState.PENDING)]:
        with pytest.raises(ValidationError):
            await queue.list_jobs("tied", state, cursor=cursor)
