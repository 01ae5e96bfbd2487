"""wait_for_jobs: wakes soon after an enqueue from elsewhere, and gives up after max_wait."""

from __future__ import annotations

import time

import anyio
import pytest

from kmsg import JobQueue
from tests.conformance.support import Ping

pytestmark = pytest.mark.anyio

SOON = 5.0
"""Seconds within which a waiter must notice a new job (polling adapters poll well inside it)."""

PUSHED_SOON = 2.0
"""The same for adapters with ``push_wakeup``, which are woken by the enqueue itself."""

IDLE_FOR = 1.2
"""Seconds an idle waiter is watched for spinning."""

IDLE_WAIT = 0.4
"""``max_wait`` of each of its waits."""


async def test_a_waiter_returns_soon_after_another_handle_enqueues(
    queue: JobQueue, other: JobQueue, qname: str
) -> None:
    woke_after: list[float] = []

    async def waiter() -> None:
        await other.wait_for_jobs(qname, 60.0)
        woke_after.append(time.monotonic())

    with anyio.fail_after(SOON + 10.0):
        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.sleep(0.2)
            enqueued_at = time.monotonic()
            await queue.enqueue(Ping(n=1), queue=qname)
    bound = PUSHED_SOON if queue.capabilities.push_wakeup else SOON
    assert woke_after
    assert woke_after[0] - enqueued_at < bound
    assert len(await other.claim(qname)) == 1


async def test_an_idle_waiter_returns_after_max_wait(queue: JobQueue, qname: str) -> None:
    started = time.monotonic()
    with anyio.fail_after(0.5 + SOON):
        await queue.wait_for_jobs(qname, 0.5)
    assert time.monotonic() - started < 0.5 + SOON


async def test_an_idle_waiter_waits_instead_of_spinning(queue: JobQueue, qname: str) -> None:
    """An early return is allowed now and then; returning at once, over and over, is not."""
    await queue.enqueue(Ping(n=1), queue=qname, delay=3600.0)  # a job, but not one due
    returns = 0
    started = time.monotonic()
    with anyio.fail_after(IDLE_FOR + SOON):
        while time.monotonic() - started < IDLE_FOR:
            await queue.wait_for_jobs(qname, IDLE_WAIT)
            returns += 1
    # about IDLE_FOR / IDLE_WAIT = 3 returns; a waiter that never waits makes thousands
    assert returns <= IDLE_FOR / IDLE_WAIT + 3
    assert await queue.claim(qname) == []
