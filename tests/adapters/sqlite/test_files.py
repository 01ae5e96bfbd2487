"""SQLite adapter and its file: whose file it is, damaged files, and the size of the WAL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from kmsg import BackendUnavailable, JobState, NewJob, open_queue
from kmsg.adapters.sqlite import SQLiteJobQueue
from kmsg.adapters.sqlite.database import WAL_SIZE_LIMIT
from kmsg.adapters.sqlite.identity import APPLICATION_ID
from kmsg.adapters.sqlite.statements import migrations, split_script
from tests.adapters.sqlite.conftest import Ping

pytestmark = pytest.mark.anyio

DAMAGED = "is not a SQLite database or is damaged"


class Blob(msgspec.Struct, frozen=True):
    """A big test payload."""

    data: str


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _header(path: Path) -> tuple[int, int, str]:
    """``(application_id, user_version, journal_mode)`` read by a plain connection."""
    with sqlite3.connect(path) as check:
        values = tuple(
            check.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("application_id", "user_version", "journal_mode")
        )
    check.close()
    return values  # type: ignore[return-value]


def _version_one(connection: sqlite3.Connection) -> None:
    """Write the schema kmsg 1 made (migration 0001, user_version 1) and one pending job."""
    for statement in split_script(migrations()[0][1]):
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO jobs (queue, id, task, payload, state, priority, run_at, created_at,"
        " max_attempts, backoff_initial, backoff_factor, backoff_maximum, lease)"
        " VALUES ('q', 'old', 'Ping', x'7b226e223a317d', 'pending', 0, 0, 0, 3, 1, 2, 60, 30)"
    )


def _write_file(path: Path, build: Callable[[sqlite3.Connection], None]) -> None:
    with sqlite3.connect(path, isolation_level=None) as connection:
        build(connection)
    connection.close()


async def test_a_new_file_is_stamped_as_kmsgs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()  # an existing empty file is a new database too
    for path in (tmp_path / "new.db", empty):
        async with open_queue(_url(path)) as queue:
            await queue.enqueue(Ping(1), queue="q")
        assert _header(path) == (APPLICATION_ID, len(migrations()), "wal")


async def test_a_kmsg_database_made_before_the_stamp_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _write_file(path, _version_one)
    assert _header(path)[:2] == (0, 1)
    async with open_queue(_url(path)) as queue:
        assert (await queue.get("q", "old")).state is JobState.PENDING
        assert (await queue.stats("q")).pending == 1
    assert _header(path) == (APPLICATION_ID, len(migrations()), "wal")


def _other_tables(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    connection.execute("INSERT INTO users (name) VALUES ('ada')")


def _foreign_application_id(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA application_id = 305419896")


def _someone_elses_jobs(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, payload BLOB)")
    connection.execute("CREATE TABLE queues (name TEXT)")
    connection.execute("PRAGMA user_version = 3")


def _kmsg_tables_among_others(connection: sqlite3.Connection) -> None:
    _version_one(connection)
    _other_tables(connection)


def _other_tables_in_wal_mode(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    _other_tables(connection)


def _snapshot(path: Path) -> tuple[bytes, list[str], tuple[int, int, str]]:
    """The file's bytes, the files beside it (a -wal or -shm left behind) and its header."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir()), _header(path)


@pytest.mark.parametrize(
    "build",
    [
        _other_tables,
        _foreign_application_id,
        _someone_elses_jobs,
        _kmsg_tables_among_others,
        _other_tables_in_wal_mode,
    ],
)
async def test_a_database_that_is_not_kmsgs_is_refused_and_left_as_it_was(
    tmp_path: Path, build: Callable[[sqlite3.Connection], None]
) -> None:
    path = tmp_path / "theirs.db"
    _write_file(path, build)
    before = _snapshot(path)
    with pytest.raises(BackendUnavailable, match="is not a kmsg database") as refused:
        await open_queue(_url(path))
    assert str(path) in str(refused.value)
    assert _snapshot(path) == before


async def _kmsg_file(path: Path, jobs: int = 300) -> None:
    async with open_queue(_url(path)) as queue:
        await queue.enqueue_many([NewJob(payload=Ping(n), queue="q") for n in range(jobs)])


def _damage(path: Path, *objects: str) -> None:
    """Overwrite the root page of each named table or index with garbage."""
    with sqlite3.connect(path) as check:
        page_size = check.execute("PRAGMA page_size").fetchone()[0]
        roots = dict(check.execute("SELECT name, rootpage FROM sqlite_master"))
    check.close()
    with path.open("r+b") as file:
        for name in objects:
            file.seek((roots[name] - 1) * page_size)
            file.write(b"\xa5" * page_size)


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(20_000))


def _truncated(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("spoil", [_random_bytes, _truncated])
async def test_a_corrupted_file_is_refused_on_open(
    tmp_path: Path, spoil: Callable[[Path], None]
) -> None:
    path = tmp_path / "spoilt.db"
    await _kmsg_file(path, jobs=2000)
    spoil(path)
    with pytest.raises(BackendUnavailable, match=DAMAGED) as refused:
        await open_queue(_url(path))
    assert str(path) in str(refused.value)


async def test_a_damaged_page_met_later_is_backend_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    await _kmsg_file(path)
    _damage(path, "jobs", "sqlite_autoindex_jobs_1", "job_counts")
    async with open_queue(_url(path)) as queue:
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: queue.stats("q"),
            lambda: queue.get("q", "any"),
            lambda: queue.claim("q"),
            lambda: queue.enqueue(Ping(1), queue="q"),
        ]
        for call in calls:
            with pytest.raises(BackendUnavailable, match=DAMAGED):
                await call()


def test_the_cli_reports_a_damaged_file_in_one_line_with_exit_code_4(tmp_path: Path) -> None:
    import anyio

    path = tmp_path / "corrupt.db"
    anyio.run(_kmsg_file, path)
    _damage(path, "job_counts")
    env = {key: value for key, value in os.environ.items() if not key.startswith("K_MSG_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    done = subprocess.run(
        [sys.executable, "-m", "kmsg", "--queue-url", f"sqlite:///{path}", "queue", "stats"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert DAMAGED in done.stderr
    assert str(path) in done.stderr
    assert "unexpected" not in done.stderr


async def test_the_wal_shrinks_back_to_its_limit_after_a_long_reader(tmp_path: Path) -> None:
    path = tmp_path / "kmsg.db"
    wal = tmp_path / "kmsg.db-wal"
    async with open_queue(_url(path)) as queue:
        assert isinstance(queue, SQLiteJobQueue)
        limit = queue._database.read(
            lambda c, _now: c.execute("PRAGMA journal_size_limit").fetchone()[0]
        )
        assert limit == WAL_SIZE_LIMIT
        await queue.enqueue(Ping(0), queue="q")
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()  # pins a snapshot: no checkpoint
        big = Blob("x" * 200_000)
        for _ in range(2 * limit // 200_000):
            if wal.stat().st_size > limit:
                break
            await queue.enqueue(big, queue="q")
        assert wal.stat().st_size > limit
        reader.execute("COMMIT")
        reader.close()
        # The next commit checkpoints the whole WAL; the one after restarts it from the start,
        # which truncates the file to the limit.
        await queue.enqueue(Ping(1), queue="q")
        await queue.enqueue(Ping(2), queue="q")
        assert wal.stat().st_size <= limit
