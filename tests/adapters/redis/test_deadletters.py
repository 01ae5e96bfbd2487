"""Redis adapter: moving dead letters to another queue is at least once and idempotent by id."""

from __future__ import annotations

import pytest

from kmsg import JobNotFound, JobState
from kmsg.adapters.redis import RedisJobQueue
from kmsg.plans import run_async
from tests.adapters.redis.conftest import Note

pytestmark = pytest.mark.anyio


async def test_a_move_interrupted_after_writing_is_finished_by_a_repeat(
    queue: RedisJobQueue,
) -> None:
    await queue.enqueue(Note("1"), queue="src", max_attempts=1)
    (claimed,) = await queue.claim("src")
    await queue.fail(claimed.lease, "boom")
    dead = await queue.get("src", claimed.job.id)
    # The first step of a move ran (the job is in the target), then the caller was cut off.
    plan = queue._planner.write_snapshots("dst", [dead], "retry")
    assert await run_async(plan, queue._executor.perform) == ([dead.id], [])
    assert (await queue.retry_failed("src", to_queue="dst")).moved == 1
    with pytest.raises(JobNotFound):
        await queue.get("src", dead.id)
    moved = await queue.get("dst", dead.id)
    assert (moved.state, moved.attempts, moved.payload) == (JobState.PENDING, 0, dead.payload)
    assert (await queue.stats("dst")).pending == 1
