"""SQLite adapter: bulk calls run as bounded steps, each its own transaction, so other writers
get in between.

A TEMP trigger on the adapter's own connection counts the job rows each write transaction
changes (inserted, updated or deleted), which is what ``STEP_JOBS`` bounds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import msgspec
import pytest

from kmsg import JobState, NewJob, open_queue
from kmsg.adapters.sqlite import SQLiteJobQueue
from kmsg.validation import STEP_JOBS
from tests.adapters.sqlite.conftest import FakeClock, Ping

pytestmark = pytest.mark.anyio

T = TypeVar("T")
MANY = 2500


class Blob(msgspec.Struct, frozen=True):
    """A big test payload."""

    data: str


class Transactions:
    """How many job rows each write transaction of one handle changed, in commit order."""

    def __init__(self, queue: SQLiteJobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
        self.touched: list[int] = []
        queue._database.read(self._install)
        write = queue._database.write

        def counted(body: Callable[[sqlite3.Connection, float], T]) -> T:
            def run(connection: sqlite3.Connection, now: float) -> T:
                connection.execute("UPDATE temp.touched SET n = 0")
                result = body(connection, now)
                self.touched.append(connection.execute("SELECT n FROM temp.touched").fetchone()[0])
                return result

            return write(run)

        monkeypatch.setattr(queue._database, "write", counted)

    @staticmethod
    def _install(connection: sqlite3.Connection, _now: float) -> None:
        connection.execute("CREATE TEMP TABLE touched (n INTEGER NOT NULL)")
        connection.execute("INSERT INTO temp.touched VALUES (0)")
        for event in ("INSERT", "UPDATE", "DELETE"):
            connection.execute(
                f"CREATE TEMP TRIGGER touched_{event.lower()} AFTER {event} ON main.jobs"
                " BEGIN UPDATE touched SET n = n + 1; END"
            )

    def during(self) -> list[int]:
        """The counts recorded so far, and start afresh."""
        touched, self.touched = self.touched, []
        return touched


@pytest.fixture
def steps(queue: SQLiteJobQueue, monkeypatch: pytest.MonkeyPatch) -> Transactions:
    """The transactions of ``queue``."""
    return Transactions(queue, monkeypatch)


def _pings(queue: str, count: int, *, start: int = 0, **options: Any) -> list[NewJob]:
    return [NewJob(payload=Ping(n), queue=queue, **options) for n in range(start, start + count)]


async def _claim_all(queue: SQLiteJobQueue, name: str, count: int) -> list[Any]:
    held = []
    while len(held) < count:
        claimed = await queue.claim(name, limit=1000)
        assert claimed
        held += claimed
    return held


async def _finish(queue: SQLiteJobQueue, name: str, count: int, *, dead: bool) -> list[str]:
    """Enqueue ``count`` jobs and complete them (or dead-letter them); return their ids."""
    ids = await queue.enqueue_many(_pings(name, count, max_attempts=1))
    held = await _claim_all(queue, name, count)
    if dead:
        async with anyio.create_task_group() as group:
            for item in held:
                group.start_soon(partial(queue.fail, item.lease, "dead", retryable=False))
    else:
        await queue.complete_many([(item.lease, None) for item in held])
    return ids


def _bounded(touched: list[int], total: int) -> None:
    assert touched, "no write transaction was recorded"
    assert max(touched) <= STEP_JOBS, touched
    assert sum(touched) >= total, touched
    assert len(touched) >= -(-total // STEP_JOBS), touched


async def test_purging_every_dead_letter_runs_in_steps(
    queue: SQLiteJobQueue, steps: Transactions
) -> None:
    await _finish(queue, "q", MANY, dead=True)
    steps.during()
    assert await queue.purge_failed("q") == MANY
    _bounded(steps.during(), MANY)
    assert (await queue.stats("q")).failed == 0


async def test_purging_dead_letters_by_id_and_by_age_runs_in_steps(
    queue: SQLiteJobQueue, steps: Transactions, clock: FakeClock
) -> None:
    ids = await _finish(queue, "q", MANY, dead=True)
    clock.now += 100.0
    recent = await _finish(queue, "q", 5, dead=True)
    steps.during()
    assert await queue.purge_failed("q", older_than=50.0) == MANY
    _bounded(steps.during(), MANY)
    assert await queue.purge_failed("q", [*ids[:10], *recent]) == 5
    assert (await queue.stats("q")).failed == 0
    more = await _finish(queue, "q", MANY, dead=True)
    steps.during()
    assert await queue.purge_failed("q", more) == MANY
    _bounded(steps.during(), MANY)


async def test_retrying_every_dead_letter_runs_in_steps(
    queue: SQLiteJobQueue, steps: Transactions
) -> None:
    await _finish(queue, "q", MANY, dead=True)
    steps.during()
    assert (await queue.retry_failed("q")).moved == MANY
    _bounded(steps.during(), MANY)
    stats = await queue.stats("q")
    assert (stats.pending, stats.failed) == (MANY, 0)


async def test_retry_goes_past_more_than_a_step_of_skipped_dead_letters(
    queue: SQLiteJobQueue, steps: Transactions
) -> None:
    ids = await _finish(queue, "q", MANY, dead=True)
    blocked = ids[:1200]  # their ids exist in the target queue: the move skips them
    for start in range(0, len(blocked), 1000):
        chunk = blocked[start : start + 1000]
        await queue.enqueue_many([NewJob(payload=Ping(0), queue="t", job_id=i) for i in chunk])
    steps.during()
    assert (await queue.retry_failed("q", to_queue="t")).moved == MANY - len(blocked)
    _bounded(steps.during(), MANY - len(blocked))
    assert (await queue.stats("q")).failed == len(blocked)
    assert (await queue.stats("t")).pending == MANY
    assert (await queue.retry_failed("q", ids, to_queue="u")).moved == len(blocked)
    assert (await queue.stats("u")).pending == len(blocked)


async def test_cleanup_and_clear_run_in_steps(queue: SQLiteJobQueue, steps: Transactions) -> None:
    await _finish(queue, "q", MANY, dead=False)
    steps.during()
    assert await queue.cleanup("q", [JobState.COMPLETED], older_than=0.0) == MANY
    _bounded(steps.during(), MANY)
    await queue.enqueue_many(_pings("q", 2000))
    await queue.claim("q", limit=600)
    await queue.enqueue_many(_pings("q", 500, delay=60.0))
    steps.during()
    assert await queue.clear("q") == MANY
    _bounded(steps.during(), MANY)
    assert (await queue.stats("q")).total == 0


async def test_writing_big_batches_runs_in_steps(
    queue: SQLiteJobQueue, steps: Transactions
) -> None:
    steps.during()
    ids = await queue.enqueue_many(_pings("q", MANY))
    _bounded(steps.during(), MANY)
    held = await _claim_all(queue, "q", MANY)
    steps.during()
    assert all(await queue.complete_many([(item.lease, None) for item in held]))
    _bounded(steps.during(), MANY)
    snapshots = [await queue.get("q", job_id) for job_id in ids]
    imported = [msgspec.structs.replace(job, queue="copy") for job in snapshots]
    steps.during()
    assert await queue.import_jobs(imported) == MANY
    _bounded(steps.during(), MANY)
    assert (await queue.stats("copy")).completed == MANY


async def test_a_batch_is_cut_by_bytes_too(queue: SQLiteJobQueue, steps: Transactions) -> None:
    big = [NewJob(payload=Blob("x" * 200_000), queue="q") for _ in range(8)]  # ~1.6 MB
    steps.during()
    await queue.enqueue_many(big)
    assert len(steps.during()) == 2
    held = await queue.claim("q", limit=8)
    steps.during()
    assert all(await queue.complete_many([(item.lease, b"r" * 60_000) for item in held]))
    assert len(steps.during()) == 1  # 480 KB of results: one step
    await queue.enqueue_many([NewJob(payload=Ping(n), queue="r") for n in range(20)])
    held = await queue.claim("r", limit=20)
    steps.during()
    assert all(await queue.complete_many([(item.lease, b"r" * 60_000) for item in held]))
    assert len(steps.during()) == 2  # 1.2 MB of results


async def test_group_commit_shares_a_transaction_among_step_jobs_at_most(
    queue: SQLiteJobQueue, steps: Transactions
) -> None:
    await queue.enqueue_many(_pings("q", MANY))
    held = await _claim_all(queue, "q", MANY)
    steps.during()
    async with anyio.create_task_group() as group:
        for item in held:
            group.start_soon(queue.complete, item.lease)
    touched = steps.during()
    assert max(touched) <= STEP_JOBS
    assert len(touched) < MANY  # still shared
    assert (await queue.stats("q")).completed == MANY


async def test_another_handle_claims_and_completes_between_the_steps_of_a_purge(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'kmsg.db'}"
    async with open_queue(url, clock=clock) as purger, open_queue(url, clock=clock) as worker:
        assert isinstance(purger, SQLiteJobQueue)
        await _finish(purger, "q", MANY, dead=True)
        await purger.enqueue_many(_pings("q", 2, max_attempts=1))
        seen: list[int] = []

        async def meanwhile() -> None:
            """What the worker does, and sees, after each committed step of the purge."""
            if not seen:
                done, late = await worker.claim("q", limit=2)
                await worker.complete(done.lease)
                clock.now += 1.0  # fails after the purge began: not chased
                await worker.fail(late.lease, "dead", retryable=False)
            seen.append((await worker.stats("q")).failed)

        write = purger._database.write

        def write_then_let_the_worker_in(body: Callable[[sqlite3.Connection, float], T]) -> T:
            result = write(body)  # one committed transaction
            anyio.from_thread.run(meanwhile)
            return result

        monkeypatch.setattr(purger._database, "write", write_then_let_the_worker_in)
        assert await purger.purge_failed("q") == MANY
        stats = await worker.stats("q")
    # After each step: what is left of the dead letters, and the one that failed meanwhile.
    assert seen == [max(MANY - k * STEP_JOBS, 0) + 1 for k in range(1, MANY // STEP_JOBS + 2)]
    assert (stats.failed, stats.completed) == (1, 1)
