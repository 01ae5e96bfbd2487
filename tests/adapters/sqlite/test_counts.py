"""SQLite adapter: per-queue, per-state counts kept by triggers, and a stats() that never scans."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kmsg import JobState, NewJob
from kmsg.adapters.sqlite import SQLiteJobQueue
from kmsg.adapters.sqlite.database import open_database
from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.statements import migrations, split_script
from tests.adapters.sqlite.conftest import FakeClock, Ping

pytestmark = pytest.mark.anyio


def _kept(connection: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = connection.execute("SELECT queue, state, n FROM job_counts WHERE n != 0").fetchall()
    return {(queue, state): n for queue, state, n in rows}


def _actual(connection: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = connection.execute("SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2").fetchall()
    return {(queue, state): n for queue, state, n in rows}


async def _assert_counts_true(queue: SQLiteJobQueue) -> None:
    def both(connection: sqlite3.Connection, _now: float) -> tuple[Any, Any]:
        return _kept(connection), _actual(connection)

    kept, actual = queue._database.read(both)
    assert kept == actual
    for name in {name for name, _ in actual}:
        stats = await queue.stats(name)
        assert {s.value: stats.count(s) for s in JobState if stats.count(s)} == {
            state: n for (q, state), n in actual.items() if q == name
        }


async def test_counts_follow_every_kind_of_write(queue: SQLiteJobQueue, clock: FakeClock) -> None:
    ids = await queue.enqueue_many([NewJob(payload=Ping(n), queue="a") for n in range(8)])
    await queue.enqueue(Ping(9), queue="a", delay=60.0)
    await _assert_counts_true(queue)
    held = await queue.claim("a", limit=6)
    await queue.complete(held[0].lease)
    await queue.fail(held[1].lease, "dead", retryable=False)
    await queue.fail(held[2].lease, "dead", retryable=False)
    await queue.fail(held[3].lease, "later", retry_in=30.0)
    await queue.release(held[4].lease)
    await queue.cancel("a", held[5].job.id)  # requested only: it stays processing
    await queue.cancel("a", ids[7])
    await _assert_counts_true(queue)
    await queue.remove("a", held[5].job.id)
    await queue.cleanup("a", [JobState.COMPLETED], older_than=0.0)
    await _assert_counts_true(queue)
    # A cross-queue move, and one the unique (queue, id) index makes UPDATE OR IGNORE skip.
    await queue.enqueue(Ping(0), queue="b", job_id=held[2].job.id)
    assert (await queue.retry_failed("a", to_queue="b")).moved == 1
    await _assert_counts_true(queue)
    assert await queue.purge_failed("a") == 1
    clock.now += 3600.0
    await queue.claim("a", limit=10)  # promotes the delayed jobs, then claims
    assert await queue.clear("a") > 0
    await _assert_counts_true(queue)


async def test_counts_survive_a_rolled_back_savepoint(queue: SQLiteJobQueue) -> None:
    # A held dedupe key makes enqueue_many roll its fast path back to a savepoint and redo the
    # batch row by row.
    await queue.enqueue(Ping(0), queue="a", dedupe_key="k")
    jobs = [
        NewJob(payload=Ping(n), queue="a", dedupe_key="k" if n == 3 else None) for n in range(6)
    ]
    await queue.enqueue_many(jobs)
    await _assert_counts_true(queue)

    def change_then_undo(connection: sqlite3.Connection, _now: float) -> None:
        connection.execute("SAVEPOINT undo")
        connection.execute(
            "UPDATE jobs SET state = 'cancelled', queue = 'elsewhere' WHERE queue = 'a'"
        )
        connection.execute("DELETE FROM jobs")
        connection.execute("ROLLBACK TO undo")
        connection.execute("RELEASE undo")

    queue._database.write(change_then_undo)
    await _assert_counts_true(queue)
    assert (await queue.stats("a")).pending == 6


def test_the_migration_backfills_the_counts_of_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as old:
        for statement in split_script(migrations()[0][1]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 1")
        rows = [("q", f"j{n}", ("pending", "failed", "completed")[n % 3]) for n in range(10)]
        old.executemany(
            "INSERT INTO jobs (queue, id, task, payload, state, priority, run_at, created_at,"
            " max_attempts, backoff_initial, backoff_factor, backoff_maximum, lease)"
            " VALUES (?, ?, 'Ping', x'', ?, 0, 0, 0, 3, 1, 2, 60, 30)",
            rows,
        )
    old.close()
    database = open_database(SQLiteOptions(path=path))
    try:
        kept = database.read(lambda c, _now: _kept(c))
    finally:
        database.close()
    assert kept == {("q", "pending"): 4, ("q", "failed"): 3, ("q", "completed"): 3}


async def test_oldest_pending_age_counts_from_the_longest_waiting_due_time(
    queue: SQLiteJobQueue, clock: FakeClock
) -> None:
    now = clock.now
    await queue.enqueue(Ping(1), queue="q", priority=5, run_at=now - 10.0)
    await queue.enqueue(Ping(2), queue="q", priority=-3, run_at=now - 100.0)
    await queue.enqueue(Ping(3), queue="q", priority=0, run_at=now - 40.0)
    await queue.enqueue(Ping(4), queue="q", priority=-3, run_at=now - 1.0)
    await queue.enqueue(Ping(5), queue="q", delay=5.0)
    clock.now += 2.0
    assert (await queue.stats("q")).oldest_pending_age == 102.0
    for _ in range(3):
        await queue.claim("q")
    assert (await queue.stats("q")).oldest_pending_age == 3.0
    await queue.claim("q")
    assert (await queue.stats("q")).oldest_pending_age is None


async def test_no_statement_of_stats_scans_a_table(queue: SQLiteJobQueue) -> None:
    jobs = [NewJob(payload=Ping(n), queue="q", priority=n % 7) for n in range(50)]
    await queue.enqueue_many(jobs)
    await queue.set_rate_limit("q", 5)
    statements: list[str] = []
    connection = queue._database._require()
    connection.set_trace_callback(statements.append)
    try:
        await queue.stats("q")
    finally:
        connection.set_trace_callback(None)
    queries = [s for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT")]
    assert len(queries) == 3, statements
    for query in queries:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}")]
        tables = ("SCAN jobs", "SCAN job_counts", "SCAN queues")
        assert not any(step.startswith(tables) or "TEMP B-TREE" in step for step in plan), (
            query,
            plan,
        )


async def test_the_work_of_stats_does_not_grow_with_the_queue(queue: SQLiteJobQueue) -> None:
    connection = queue._database._require()

    async def instructions() -> int:
        steps = 0

        def step() -> int:
            nonlocal steps
            steps += 1
            return 0

        connection.set_progress_handler(step, 1)
        try:
            await queue.stats("q")
        finally:
            connection.set_progress_handler(None, 1)
        return steps

    def jobs(count: int) -> list[NewJob]:
        return [NewJob(payload=Ping(n), queue="q", priority=n % 7) for n in range(count)]

    # The same states and the same 7 pending priorities, with 70 jobs and then with 10,070.
    await queue.enqueue_many(jobs(70))
    await queue.claim("q")
    small = await instructions()
    for _ in range(5):
        await queue.enqueue_many(jobs(2000))
    await queue.claim("q", limit=1000)
    assert await instructions() == small
