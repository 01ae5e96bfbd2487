"""The SQLite commit watch: ``PRAGMA data_version`` polled on a dedicated connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import msgspec
import pytest

from kmsg import BackendUnavailable, open_queue
from kmsg.adapters.sqlite.adapter import SQLiteJobQueue
from kmsg.adapters.sqlite.database import Database, open_database
from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.watch import FAST_POLL, CommitWatch, open_watch


class Ping(msgspec.Struct):
    """A test payload."""

    n: int


@pytest.fixture
def options(tmp_path: Path) -> SQLiteOptions:
    """Options for a database file in the test's own folder."""
    return SQLiteOptions(path=tmp_path / "kmsg.db", poll_interval=0.05)


@pytest.fixture
def database(options: SQLiteOptions) -> Iterator[Database]:
    """The main connection (it creates the file and switches it to WAL)."""
    database = open_database(options)
    yield database
    database.close()


@pytest.fixture
def watch(database: Database, options: SQLiteOptions) -> Iterator[CommitWatch]:
    """A watch on the database's file."""
    watch = open_watch(options)
    yield watch
    connection = watch.detach()
    if connection is not None:
        connection.close()


def _insert(connection: sqlite3.Connection, now: float) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
    connection.execute("INSERT INTO scratch VALUES (?)", (now,))


def test_a_commit_by_another_connection_changes_the_version(
    database: Database, watch: CommitWatch
) -> None:
    before = watch.version()
    assert not watch.changed(before)
    database.write(_insert)
    assert watch.changed(before)


def test_an_uncommitted_write_does_not_change_the_version(
    options: SQLiteOptions, database: Database, watch: CommitWatch
) -> None:
    before = watch.version()
    writer = sqlite3.connect(options.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        _insert(writer, 1.0)
        assert watch.version() == before
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert watch.changed(before)


def test_the_watch_connection_never_waits_for_a_lock(watch: CommitWatch) -> None:
    connection = watch.detach()
    assert connection is not None
    try:
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    finally:
        connection.close()


class _LockedConnection:
    """Stands in for a connection whose every statement meets a lock."""

    def execute(self, *_args: Any) -> None:
        raise sqlite3.OperationalError("database is locked")


def test_a_lock_counts_as_a_change(options: SQLiteOptions) -> None:
    watch = CommitWatch(cast(sqlite3.Connection, _LockedConnection()), options)
    assert watch.version() is None
    assert watch.changed(watch.version())


def test_the_poll_is_fast_after_a_change_and_never_slower_than_poll_interval(
    database: Database, watch: CommitWatch, options: SQLiteOptions, monkeypatch: Any
) -> None:
    clock = [time.monotonic()]
    monkeypatch.setattr("kmsg.adapters.sqlite.watch.time.monotonic", lambda: clock[0])
    before = watch.version()
    database.write(_insert)
    assert watch.changed(before)
    assert watch.interval() == FAST_POLL
    clock[0] += 3600.0
    assert watch.interval() == options.poll_interval


def test_a_detached_watch_refuses_to_poll(watch: CommitWatch) -> None:
    connection = watch.detach()
    assert connection is not None
    connection.close()
    assert watch.detach() is None
    with pytest.raises(BackendUnavailable):
        watch.version()


@pytest.fixture
async def queue(options: SQLiteOptions) -> AsyncIterator[SQLiteJobQueue]:
    """An open queue on the test's file (10 s poll interval: only the watch can be quick)."""
    async with await open_queue(f"sqlite:///{options.path}", poll_interval=10.0) as queue:
        assert isinstance(queue, SQLiteJobQueue)
        yield queue


@pytest.mark.anyio
async def test_a_waiter_wakes_on_another_instances_commit_before_poll_interval(
    queue: SQLiteJobQueue, options: SQLiteOptions
) -> None:
    async with await open_queue(f"sqlite:///{options.path}") as other:
        with anyio.fail_after(5.0):  # far below both max_wait and the 10 s poll_interval
            async with anyio.create_task_group() as group:
                group.start_soon(queue.wait_for_jobs, "jobs", 60.0)
                await anyio.sleep(0.1)
                await other.enqueue(Ping(1), queue="jobs")
        assert len(await queue.claim("jobs")) == 1


@pytest.mark.anyio
async def test_waiting_after_close_fails(queue: SQLiteJobQueue) -> None:
    await queue.aclose()
    with pytest.raises(BackendUnavailable):
        await queue.wait_for_jobs("jobs", 1.0)
