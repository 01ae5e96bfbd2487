"""SQLite adapter internals: URL parsing, pragmas, migrations and SQL loading."""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import pytest

from kmsg import BackendUnavailable, ValidationError, open_queue
from kmsg.adapters.sqlite.database import Database, open_database
from kmsg.adapters.sqlite.options import SQLiteOptions, parse_url
from kmsg.adapters.sqlite.statements import migrations, sql


def _pragma(database: Database, name: str) -> Any:
    return database.read(
        lambda connection, _now: connection.execute(f"PRAGMA {name}").fetchone()[0]
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file path in the test's own folder."""
    return tmp_path / "kmsg.db"


def test_absolute_url_keeps_the_absolute_path(db_path: Path) -> None:
    assert parse_url(f"sqlite:///{db_path}", {}).path == db_path


def test_relative_url_is_relative_to_the_working_directory() -> None:
    assert parse_url("sqlite:///data/kmsg.db", {}).path == Path("data/kmsg.db")


def test_query_options_are_parsed_and_keywords_win(db_path: Path) -> None:
    url = f"sqlite:///{db_path}?synchronous=full&busy_timeout=2.5&poll_interval=0.5"
    options = parse_url(url, {"poll_interval": 0.25})
    assert (options.synchronous, options.busy_timeout, options.poll_interval) == ("FULL", 2.5, 0.25)


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("sqlite:///x.db?synchronous=OFF", {}),
        ("sqlite:///x.db?busy_timeout=soon", {}),
        ("sqlite:///x.db?poll_interval=0", {}),
        ("sqlite:///x.db?max_payload_bytes=0", {}),
        ("sqlite:///x.db?colour=blue", {}),
        ("sqlite:///x.db?clock=now", {}),
        ("sqlite:///x.db", {"clock": 5}),
        ("sqlite://host/x.db", {}),
        ("sqlite:///", {}),
    ],
)
def test_bad_urls_and_options_are_refused(url: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_url(url, options)


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_pragmas_are_set(db_path: Path, synchronous: str) -> None:
    database = open_database(SQLiteOptions(path=db_path, synchronous=synchronous, busy_timeout=2.0))
    try:
        assert _pragma(database, "journal_mode") == "wal"
        assert _pragma(database, "busy_timeout") == 0  # lock waits are polled by kmsg
        assert _pragma(database, "synchronous") == {"NORMAL": 1, "FULL": 2}[synchronous]
    finally:
        database.close()


def test_fresh_database_gets_the_latest_schema_version(db_path: Path) -> None:
    open_database(SQLiteOptions(path=db_path)).close()
    with sqlite3.connect(db_path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
        tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "queues", "jobs_pending", "jobs_dedupe"} <= tables


def test_reopening_is_idempotent_and_keeps_jobs(db_path: Path) -> None:
    options = SQLiteOptions(path=db_path)
    first = open_database(options)
    first.write(lambda connection, now: connection.execute(sql("touch_queue"), {"queue": "kept"}))
    first.close()
    again = open_database(options)
    try:
        assert again.read(lambda c, _now: c.execute(sql("list_queues")).fetchall()) == [("kept",)]
        assert _pragma(again, "user_version") == len(migrations())
    finally:
        again.close()


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    open_database(SQLiteOptions(path=db_path)).close()
    with sqlite3.connect(db_path) as newer:
        newer.execute(f"PRAGMA user_version = {len(migrations()) + 1}")
    newer.close()
    with pytest.raises(BackendUnavailable, match="newer than this kmsg"):
        open_database(SQLiteOptions(path=db_path))


def test_closed_database_refuses_calls(db_path: Path) -> None:
    database = open_database(SQLiteOptions(path=db_path))
    database.close()
    database.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        _pragma(database, "user_version")


class _NullParams(dict[str, Any]):
    def __missing__(self, key: str) -> None:
        return None


def test_every_sql_file_is_one_statement_that_compiles_against_the_schema(db_path: Path) -> None:
    names = [
        entry.name.removesuffix(".sql")
        for entry in resources.files("kmsg.adapters.sqlite").joinpath("sql").iterdir()
        if entry.name.endswith(".sql")
    ]
    assert len(names) > 30
    database = open_database(SQLiteOptions(path=db_path))
    try:
        for name in names:
            assert sqlite3.complete_statement(sql(name) + ";"), name
            database.read(
                lambda c, _now, n=name: c.execute(f"EXPLAIN {sql(n)}", _NullParams()).fetchall()
            )
    finally:
        database.close()


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        ("claim", "INDEX jobs_pending"),
        ("promote_due", "INDEX jobs_delayed"),
        ("expired_leases", "INDEX jobs_processing"),
        ("find_dedupe", "INDEX jobs_dedupe"),
        ("list_finished", "INDEX jobs_finished"),
        ("oldest_pending", "INDEX jobs_pending"),
        ("job_counts", "job_counts USING PRIMARY KEY"),
        # The steps of the bulk calls: each finds its rows on an index, never by a scan.
        ("cleanup", "INDEX jobs_finished"),
        ("retry_failed_scan", "INDEX jobs_finished"),
        ("clear", "INDEX sqlite_autoindex_jobs_1"),
        ("purge_failed_one", "INDEX sqlite_autoindex_jobs_1"),
        ("retry_failed_one", "INDEX sqlite_autoindex_jobs_1"),
        ("newest_seq", "SEARCH jobs"),
    ],
)
def test_hot_statements_use_their_index_without_a_scan_or_sort(
    tmp_path: Path, statement: str, index: str
) -> None:
    database = open_database(SQLiteOptions(path=tmp_path / "kmsg.db"))
    try:
        plan = database.read(
            lambda c, _now: [
                row[3] for row in c.execute(f"EXPLAIN QUERY PLAN {sql(statement)}", _NullParams())
            ]
        )
    finally:
        database.close()
    wanted = re.compile(index.replace("INDEX", "(COVERING )?INDEX") + r"\b")
    assert any(wanted.search(step) for step in plan), plan
    tables = re.compile(r"SCAN (jobs|job_counts|queues)\b")
    assert not any(tables.match(step) or "TEMP B-TREE" in step for step in plan), plan


@pytest.mark.anyio
async def test_open_queue_reaches_the_adapter(db_path: Path) -> None:
    async with open_queue(f"sqlite:///{db_path}?synchronous=FULL") as queue:
        assert queue.capabilities.backend == "sqlite"
        assert await queue.queues() == []
        await queue.aclose()
    assert await anyio.Path(db_path).exists()
