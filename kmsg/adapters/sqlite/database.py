"""One SQLite connection, its pragmas, schema migrations and locked, retried transactions.

The connection is opened with ``check_same_thread=False`` and used from anyio worker threads, one
call at a time under a ``threading.Lock``; each public queue call runs one whole transaction in one
thread hop. Writes use ``BEGIN IMMEDIATE``, so the write lock is taken up front and a transaction
never fails half way on a lock upgrade.

Contention between processes: SQLite's busy handler waits up to ``busy_timeout`` for the lock; if a
transaction still meets ``SQLITE_BUSY``/``SQLITE_LOCKED`` it is rolled back and retried from the
start with a short, jittered backoff, for at least :data:`LOCK_RETRY_BOUND` seconds in all, and only
then does ``BackendUnavailable`` reach the caller.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.statements import migrations, split_script
from kmsg.errors import BackendUnavailable

__all__ = ["LOCK_RETRY_BOUND", "Database", "is_busy", "open_database"]

T = TypeVar("T")

LOCK_RETRY_BOUND: Final = 30.0
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_STATEMENT_CACHE: Final = 256


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is a lock wait (``SQLITE_BUSY`` / ``SQLITE_LOCKED``), worth retrying."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


class Database:
    """A connection shared by one adapter's calls, serialised by a lock."""

    def __init__(self, connection: sqlite3.Connection, options: SQLiteOptions) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self._retry_bound = max(LOCK_RETRY_BOUND, 2 * options.busy_timeout)
        self.clock = options.clock

    def write(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``body(connection, now)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT``.

        ``now`` is read from the clock after the write lock is held, so times follow commit order.
        Any exception rolls the transaction back and propagates. Blocking: call from a thread.
        """
        return self._run("BEGIN IMMEDIATE", body)

    def read(self, body: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run ``body(connection, now)`` in one read transaction (a consistent snapshot)."""
        return self._run("BEGIN", body)

    def _run(self, begin: str, body: Callable[[sqlite3.Connection, float], T]) -> T:
        deadline = time.monotonic() + self._retry_bound
        pause = 0.001
        with self._lock:
            while True:
                connection = self._require()
                try:
                    return self._attempt(connection, begin, body)
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise BackendUnavailable(f"sqlite error: {exc}") from exc
                    if time.monotonic() >= deadline:
                        raise BackendUnavailable(
                            f"sqlite database stayed locked for {self._retry_bound:g} s"
                        ) from exc
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 0.05)

    def _attempt(
        self,
        connection: sqlite3.Connection,
        begin: str,
        body: Callable[[sqlite3.Connection, float], T],
    ) -> T:
        connection.execute(begin)
        try:
            result = body(connection, self.clock())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            # Not a lock wait (the write lock is held since BEGIN): never retried.
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise BackendUnavailable(f"sqlite commit failed: {exc}") from exc
        return result

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise BackendUnavailable("the sqlite queue is closed")
        return self._connection

    def close(self) -> None:
        """Close the connection once; later calls raise ``BackendUnavailable``."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _connect(options: SQLiteOptions) -> sqlite3.Connection:
    connection = sqlite3.connect(
        options.path,
        timeout=options.busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=_STATEMENT_CACHE,
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(options.busy_timeout * 1000)}")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise BackendUnavailable(f"sqlite could not switch {options.path} to WAL ({mode})")
        # options.synchronous is validated to be NORMAL or FULL, so the interpolation is safe.
        connection.execute(f"PRAGMA synchronous = {options.synchronous}")
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection, _now: float) -> None:
    known = migrations()
    current: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if current > len(known):
        raise BackendUnavailable(
            f"the sqlite database has schema version {current}, newer than this kmsg knows "
            f"({len(known)}); upgrade kmsg to open it"
        )
    for version, script in known[current:]:
        for statement in split_script(script):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")


def _connect_retrying(options: SQLiteOptions) -> sqlite3.Connection:
    # Switching a new file to WAL needs an exclusive lock, which may be busy when several
    # processes open the same new file at once.
    deadline = time.monotonic() + max(LOCK_RETRY_BOUND, 2 * options.busy_timeout)
    while True:
        try:
            return _connect(options)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise BackendUnavailable(
                    f"cannot open sqlite database {options.path}: {exc}"
                ) from exc
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open sqlite database {options.path}: {exc}") from exc
        time.sleep(random.uniform(0.005, 0.02))


def open_database(options: SQLiteOptions) -> Database:
    """Open the file (creating it), set the pragmas and apply pending migrations. Blocking."""
    connection = _connect_retrying(options)
    database = Database(connection, options)
    try:
        database.write(_migrate)
    except BaseException:
        database.close()
        raise
    return database
