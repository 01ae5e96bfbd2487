"""The delivery store on SQLite: table ``delivery_reports`` in the queue's own database file.

The table comes from the adapter's schema migration 5 (``0005_delivery_reports.sql``), so the
store opens the file exactly as the queue does (:func:`kmsg.adapters.sqlite.database.open_database`:
kmsg's files only, WAL, the same pragmas and lock retries) and any kmsg process that opened the
file has made the table. An upsert reads the kept row and writes the merged one in one
``BEGIN IMMEDIATE`` transaction, so two processes recording the same message cannot lose either
report. The row count per queue is kept by triggers (``delivery_report_counts``), so checking the
cap costs O(1); cleanup deletes at most :data:`~kmsg.messaging.reports.store.CLEANUP_STEP` rows
per transaction, oldest first, through the ``(queue, updated_at)`` index. Works under asyncio
and trio (the blocking calls run in a worker thread).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import anyio.to_thread

from kmsg.adapters.sqlite.database import Database, open_database
from kmsg.adapters.sqlite.options import parse_url
from kmsg.messaging.delivery import DeliveryState
from kmsg.messaging.reports.records import DeliveryRecord, merge
from kmsg.messaging.reports.store import CLEANUP_STEP, EVICT_PER_UPSERT, StoreBase
from kmsg.validation import check_seconds

__all__ = ["SQLiteDeliveryStore", "open_store"]

T = TypeVar("T")

_COLUMNS: Final = "provider, message_id, state, reported_at, error_code, job_id"
_SELECT_ONE: Final = (
    f"SELECT {_COLUMNS} FROM delivery_reports WHERE queue = ? AND provider = ? AND message_id = ?"
)
_SELECT_BY_JOB: Final = (
    f"SELECT {_COLUMNS} FROM delivery_reports WHERE queue = ? AND job_id = ?"
    " ORDER BY updated_at DESC LIMIT 1"
)
_SELECT_BY_MESSAGE: Final = (
    f"SELECT {_COLUMNS} FROM delivery_reports WHERE queue = ? AND message_id = ?"
    " ORDER BY updated_at DESC LIMIT 1"
)
_UPSERT: Final = f"""
INSERT INTO delivery_reports (queue, {_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (queue, provider, message_id) DO UPDATE SET
    state = excluded.state, reported_at = excluded.reported_at,
    error_code = excluded.error_code, job_id = excluded.job_id, updated_at = excluded.updated_at
"""
_COUNT: Final = "SELECT n FROM delivery_report_counts WHERE queue = ?"
# Row values select the oldest rows of the queue through the (queue, updated_at) index.
_DELETE_OLDEST: Final = """
DELETE FROM delivery_reports WHERE (queue, provider, message_id) IN (
    SELECT queue, provider, message_id FROM delivery_reports
    WHERE queue = ? AND updated_at < ? ORDER BY updated_at LIMIT ?)
"""


def _row_record(row: tuple[Any, ...]) -> DeliveryRecord:
    provider, message_id, state, reported_at, error_code, job_id = row
    return DeliveryRecord(
        provider=provider,
        message_id=message_id,
        state=DeliveryState(state),
        reported_at=reported_at,
        error_code=error_code,
        job_id=job_id,
    )


def _one(connection: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> DeliveryRecord | None:
    row = connection.execute(sql, args).fetchone()
    return None if row is None else _row_record(row)


class SQLiteDeliveryStore(StoreBase):
    """A :class:`~kmsg.messaging.reports.store.ReportStore` in the queue's SQLite file."""

    def __init__(
        self, database: Database, *, queue: str, default_provider: str, max_records: int
    ) -> None:
        super().__init__(queue=queue, default_provider=default_provider, max_records=max_records)
        self._database = database

    def __repr__(self) -> str:
        return f"SQLiteDeliveryStore({str(self._database.path)!r}, queue={self.queue!r})"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        queue: str = "default",
        default_provider: str = "default",
        max_records: int,
        **options: Any,
    ) -> SQLiteDeliveryStore:
        """Open (creating and migrating as the queue would) the SQLite file of ``url``."""
        settings = parse_url(url, options)
        database = await anyio.to_thread.run_sync(open_database, settings)
        try:
            return cls(
                database, queue=queue, default_provider=default_provider, max_records=max_records
            )
        except BaseException:
            await anyio.to_thread.run_sync(database.close)
            raise

    async def _write(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        return await anyio.to_thread.run_sync(self._database.write, body)

    async def _read(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        return await anyio.to_thread.run_sync(self._database.read, body)

    async def upsert_many(self, records: Sequence[DeliveryRecord]) -> int:
        """Upsert every record in one transaction; how many changed (see ``ReportStore``)."""
        records = list(records)
        if not records:
            return 0

        def body(connection: sqlite3.Connection, now: float) -> int:
            changed = 0
            for record in records:
                key = (self.queue, record.provider, record.message_id)
                kept = _one(connection, _SELECT_ONE, key)
                merged = merge(kept, record)
                if merged is kept:
                    continue
                connection.execute(
                    _UPSERT,
                    (
                        *key,
                        merged.state.value,
                        merged.reported_at,
                        merged.error_code,
                        merged.job_id,
                        now,
                    ),
                )
                changed += 1
            if changed:
                self._evict(connection, now)
            return changed

        return await self._write(body)

    def _evict(self, connection: sqlite3.Connection, now: float) -> None:
        row = connection.execute(_COUNT, (self.queue,)).fetchone()
        excess = 0 if row is None else int(row[0]) - self.max_records
        if excess > 0:
            limit = min(excess, EVICT_PER_UPSERT)
            connection.execute(_DELETE_OLDEST, (self.queue, float("inf"), limit))

    async def lookup(self, provider: str, message_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.lookup`."""
        key = (self.queue, provider, message_id)
        return await self._read(lambda connection, _now: _one(connection, _SELECT_ONE, key))

    async def find(self, message_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.find`."""
        key = (self.queue, message_id)
        return await self._read(lambda connection, _now: _one(connection, _SELECT_BY_MESSAGE, key))

    async def by_job(self, job_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.by_job`."""
        key = (self.queue, job_id)
        return await self._read(lambda connection, _now: _one(connection, _SELECT_BY_JOB, key))

    async def count(self) -> int:
        """See :meth:`ReportStore.count`."""

        def body(connection: sqlite3.Connection, _now: float) -> int:
            row = connection.execute(_COUNT, (self.queue,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self._read(body)

    async def cleanup(self, older_than: float) -> int:
        """See :meth:`ReportStore.cleanup`: one transaction per step of ``CLEANUP_STEP`` rows."""
        age = check_seconds("older_than", older_than)

        def step(connection: sqlite3.Connection, now: float) -> int:
            cursor = connection.execute(_DELETE_OLDEST, (self.queue, now - age, CLEANUP_STEP))
            return cursor.rowcount

        removed = 0
        while True:
            done = await self._write(step)
            removed += done
            if done < CLEANUP_STEP:
                return removed

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        await anyio.to_thread.run_sync(self._database.close)


async def open_store(url: str, **options: Any) -> SQLiteDeliveryStore:
    """Open this backend's delivery store for ``url`` (what ``open_delivery_store`` calls)."""
    return await SQLiteDeliveryStore.open(url, **options)
