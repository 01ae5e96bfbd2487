"""Transactional enqueue (``enqueue_in``): a job exists if and only if the caller's transaction
commits, on a real file shared with a queue handle and, for the crash, another process."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from kmsg import (
    BackendUnavailable,
    EnqueueOutcome,
    JobQueue,
    JobState,
    NewJob,
    ValidationError,
    open_queue,
)
from kmsg.adapters.sqlite import enqueue_in, enqueue_many_in
from tests.adapters.sqlite.conftest import Ping
from tests.conformance.support import Ping as Constrained

pytestmark = pytest.mark.anyio

APP_TABLE = "CREATE TABLE orders (id INTEGER PRIMARY KEY, phone TEXT NOT NULL)"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The application's database file, which is also the queue's."""
    return tmp_path / "app.db"


@pytest.fixture
async def queue(path: Path) -> AsyncIterator[JobQueue]:
    """A queue handle on the file (which creates kmsg's tables), with the app's table added."""
    async with open_queue(f"sqlite:///{path}") as opened:
        with sqlite3.connect(path) as connection:
            connection.execute(APP_TABLE)
        connection.close()
        yield opened


@pytest.fixture
def app(queue: JobQueue, path: Path) -> Iterator[sqlite3.Connection]:
    """The application's own connection (Python's default transaction handling)."""
    connection = sqlite3.connect(path)
    yield connection
    connection.close()


def orders(path: Path) -> list[tuple[int, str]]:
    """The application's rows, read on a fresh connection."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT id, phone FROM orders").fetchall()
    connection.close()
    return [(int(row[0]), str(row[1])) for row in rows]


async def test_a_committed_transaction_holds_the_job_and_the_row(
    queue: JobQueue, app: sqlite3.Connection, path: Path
) -> None:
    with app:
        app.execute("INSERT INTO orders VALUES (1, '01012345678')")
        job_id = enqueue_in(app, Ping(1), queue="sms", priority=5)
    assert orders(path) == [(1, "01012345678")]
    job = await queue.get("sms", job_id)
    assert (job.state, job.priority, job.payload) == (JobState.PENDING, 5, b'{"n":1}')
    assert (await queue.stats("sms")).pending == 1
    [claimed] = await queue.claim("sms")
    assert claimed.job.id == job_id


async def test_a_rolled_back_transaction_leaves_neither(
    queue: JobQueue, app: sqlite3.Connection, path: Path
) -> None:
    app.execute("INSERT INTO orders VALUES (1, '01012345678')")
    enqueue_in(app, Ping(1), queue="sms")
    app.rollback()  # say, the payment was declined
    assert orders(path) == []
    assert await queue.claim("sms") == []
    stats = await queue.stats("sms")
    assert (stats.pending, stats.total) == (0, 0)


def kill_mid_transaction(path: Path) -> None:
    """Run a process that writes a row and a job in one transaction, and kill it before it
    commits."""
    script = textwrap.dedent(
        f"""
        import sqlite3, sys, time
        from kmsg.adapters.sqlite import enqueue_in
        from tests.adapters.sqlite.conftest import Ping
        app = sqlite3.connect({str(path)!r})
        app.execute("INSERT INTO orders VALUES (1, '01012345678')")
        enqueue_in(app, Ping(1), queue="sms")
        print("written", flush=True)
        time.sleep(60)
        app.commit()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "written"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)


async def test_a_process_killed_mid_transaction_leaves_neither(queue: JobQueue, path: Path) -> None:
    kill_mid_transaction(path)
    assert orders(path) == []
    assert (await queue.stats("sms")).total == 0
    job_id = await queue.enqueue(Ping(2), queue="sms")  # the file is whole and writable
    [claimed] = await queue.claim("sms")
    assert claimed.job.id == job_id


async def test_a_waiting_worker_gets_the_job_when_the_transaction_commits(
    queue: JobQueue, app: sqlite3.Connection
) -> None:
    got: list[str] = []

    async def worker() -> None:
        claimed = await queue.claim("sms", wait=10.0)
        got.extend(c.job.id for c in claimed)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        app.execute("INSERT INTO orders VALUES (1, '01012345678')")
        job_id = enqueue_in(app, Ping(1), queue="sms")
        await anyio.sleep(0.3)
        assert got == []  # written but not committed: nobody sees it
        app.commit()
    assert got == [job_id]


async def test_a_bad_job_is_refused_and_the_transaction_goes_on(
    queue: JobQueue, app: sqlite3.Connection, path: Path
) -> None:
    app.execute("INSERT INTO orders VALUES (1, '01012345678')")
    with pytest.raises(ValidationError):
        enqueue_in(app, Constrained(n=-1), queue="sms")  # n must be >= 0
    with pytest.raises(ValidationError):
        enqueue_in(app, Ping(1), queue="bad queue!")
    with pytest.raises(ValidationError):
        enqueue_many_in(app, [NewJob(payload=Ping(1), queue="sms", priority=10**6)])
    assert app.in_transaction
    app.commit()
    assert orders(path) == [(1, "01012345678")]
    assert (await queue.stats("sms")).total == 0


async def test_dedupe_and_replayed_ids_behave_as_enqueue_does(
    queue: JobQueue, app: sqlite3.Connection
) -> None:
    held = await queue.enqueue(Ping(0), queue="sms", dedupe_key="order-1")
    with app:
        app.execute("INSERT INTO orders VALUES (1, '01012345678')")
        results = enqueue_many_in(
            app,
            [
                NewJob(payload=Ping(1), queue="sms", dedupe_key="order-1"),
                NewJob(payload=Ping(2), queue="sms", job_id="fixed-id"),
                NewJob(payload=Ping(3), queue="sms", job_id="fixed-id"),
            ],
        )
    assert [(r.id, r.outcome) for r in results] == [
        (held, EnqueueOutcome.SAME_KEY),
        ("fixed-id", EnqueueOutcome.CREATED),
        ("fixed-id", EnqueueOutcome.SAME_ID),
    ]
    assert (await queue.stats("sms")).pending == 2


async def test_no_open_transaction_is_refused(queue: JobQueue, app: sqlite3.Connection) -> None:
    with pytest.raises(ValidationError, match="none is open"):
        enqueue_in(app, Ping(1), queue="sms")
    assert (await queue.stats("sms")).total == 0


def test_a_file_kmsg_has_not_opened_is_refused(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "other.db")
    connection.execute(APP_TABLE)
    connection.execute("INSERT INTO orders VALUES (1, '01012345678')")
    with pytest.raises(BackendUnavailable, match="open it once with kmsg"):
        enqueue_in(connection, Ping(1), queue="sms")
    connection.close()
    with pytest.raises(ValidationError):
        enqueue_in("not a connection", Ping(1))  # type: ignore[arg-type]
