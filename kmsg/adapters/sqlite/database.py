"""One SQLite connection, its pragmas, schema migrations and locked, retried transactions.

The connection is opened with ``check_same_thread=False`` and used from anyio worker threads, one
call at a time under a ``threading.Lock``; each public queue call runs one whole transaction in one
thread hop. Writes use ``BEGIN IMMEDIATE``, so the write lock is taken up front and a transaction
never fails half way on a lock upgrade.

Opening looks at the file before writing anything (``identity.py``): a file that is not kmsg's is
refused untouched, not even switched to WAL.

Contention between processes: a transaction that finds the write lock taken is rolled back and
retried from the start, looking again every 0.1-2 ms (jittered) for at least
:data:`LOCK_RETRY_BOUND` seconds in all (``2 * busy_timeout`` if longer), and only then does
``BackendUnavailable`` reach the caller. SQLite's own busy handler is off (``busy_timeout`` 0):
it sleeps up to 100 ms between looks, so a waiter misses the short gaps another process leaves
between the steps of a bulk operation and starves behind it; polling every few milliseconds,
it gets in within a step (see ``batching.py``, which leaves such gaps after a long
transaction).

Other storage errors become kmsg errors where they are met, at open or in any later call
(:func:`storage_error`): ``SQLITE_FULL`` is ``BackendFull``, a file that is not SQLite or is
damaged (``SQLITE_NOTADB``, ``SQLITE_CORRUPT``) is ``BackendUnavailable`` saying so, naming the
file. The transaction is rolled back, so nothing of the failed call is written.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final, TypeVar

from kmsg.adapters.sqlite.identity import Identity, identify, stamp
from kmsg.adapters.sqlite.options import SQLiteOptions
from kmsg.adapters.sqlite.statements import migrations, split_script
from kmsg.errors import BackendFull, BackendUnavailable

__all__ = [
    "LOCK_RETRY_BOUND",
    "WAL_SIZE_LIMIT",
    "Database",
    "is_busy",
    "open_database",
    "rollback",
    "storage_error",
]

T = TypeVar("T")

LOCK_RETRY_BOUND: Final = 30.0
LOCK_POLL: Final = 0.002
"""The longest pause (before jitter) between two looks at a write lock another process holds."""
WAL_SIZE_LIMIT: Final = 16 << 20
"""``PRAGMA journal_size_limit``: the size the -wal file is cut back to when it restarts.

The WAL normally cycles at about 4 MiB (``wal_autocheckpoint``: 1000 pages of 4 KiB), so 16 MiB
never cuts a WAL in steady use, which would only have to grow again; but one that a long reader
(a backup, a slow listing) let grow far beyond it gives the space back at the next restart
instead of keeping it for good.
"""
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_DAMAGED_CODES: Final = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_STATEMENT_CACHE: Final = 256


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is a lock wait (``SQLITE_BUSY`` / ``SQLITE_LOCKED``), worth retrying."""
    code = _primary_code(exc)
    if code is not None:
        return code in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


def storage_error(exc: sqlite3.Error, path: Path) -> Exception:
    """The kmsg error for a sqlite3 error that is not a lock wait (see the module docstring).

    Errors that mean a bug in kmsg's SQL (``IntegrityError``, ``ProgrammingError``, ...) are
    returned as they are, to be raised unchanged.
    """
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_FULL:
        return BackendFull(
            f"sqlite database {path} is full ({exc}): nothing of this call was written; free"
            " disk space, or drain the queue (claim, complete, cleanup, purge_failed)"
        )
    if code in _DAMAGED_CODES:
        return BackendUnavailable(f"{path} is not a SQLite database or is damaged: {exc}")
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        return BackendUnavailable(f"sqlite error on {path}: {exc}")
    return exc


def rollback(connection: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so after an error."""
    if connection.in_transaction:
        # A failing ROLLBACK is not reported: the error that led here is the one that matters.
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")


class Database:
    """A connection shared by one adapter's calls, serialised by a lock."""

    def __init__(self, connection: sqlite3.Connection, options: SQLiteOptions) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self._retry_bound = max(LOCK_RETRY_BOUND, 2 * options.busy_timeout)
        self.clock = options.clock
        self.path = options.path

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
        pause = 0.0001
        with self._lock:
            while True:
                connection = self._require()
                try:
                    return self._attempt(connection, begin, body)
                except sqlite3.Error as exc:
                    if not is_busy(exc):
                        error = storage_error(exc, self.path)
                        if error is exc:
                            raise
                        raise error from exc
                    if time.monotonic() >= deadline:
                        raise BackendUnavailable(
                            f"sqlite database stayed locked for {self._retry_bound:g} s"
                        ) from exc
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, LOCK_POLL)

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
            rollback(connection)
            raise
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            # Not a lock wait (the write lock is held since BEGIN): never retried.
            rollback(connection)
            error = storage_error(exc, self.path)
            if error is exc:
                error = BackendUnavailable(f"sqlite commit failed on {self.path}: {exc}")
            raise error from exc
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


def _identify_untouched(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not kmsg's before anything is written to it (identity.py)."""
    connection.execute("BEGIN")
    try:
        identify(connection, path)
    finally:
        rollback(connection)


def _connect(options: SQLiteOptions) -> sqlite3.Connection:
    if not options.create and not options.path.is_file():
        raise BackendUnavailable(f"no sqlite database at {options.path} (and create=false)")
    connection = sqlite3.connect(
        options.path,
        timeout=0,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=_STATEMENT_CACHE,
    )
    try:
        connection.execute("PRAGMA busy_timeout = 0")  # lock waits are polled (module docstring)
        _identify_untouched(connection, options.path)
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise BackendUnavailable(f"sqlite could not switch {options.path} to WAL ({mode})")
        # options.synchronous is validated to be NORMAL or FULL, so the interpolation is safe.
        connection.execute(f"PRAGMA synchronous = {options.synchronous}")
        connection.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        # Savepoints (group commit, enqueue's fast path) keep a sub-journal of the pages they
        # change, and the count triggers' UPSERTs a statement journal; past 64 KiB SQLite spills
        # them to temporary files, which halved the insert rate. A step is bounded (kmsg.queue),
        # so in memory they stay small.
        connection.execute("PRAGMA temp_store = MEMORY")
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(path: Path, connection: sqlite3.Connection, _now: float) -> None:
    """Stamp a new or older kmsg file and apply the migrations it lacks (one transaction)."""
    if identify(connection, path) is not Identity.KMSG:
        stamp(connection)
    known = migrations()
    current: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if current > len(known):
        raise BackendUnavailable(
            f"the sqlite database {path} has schema version {current}, newer than this kmsg"
            f" knows ({len(known)}); upgrade kmsg to open it"
        )
    for version, script in known[current:]:
        for statement in split_script(script):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {version}")


def _open_error(exc: sqlite3.Error, path: Path) -> Exception:
    error = storage_error(exc, path)
    if isinstance(error, BackendFull) or _primary_code(exc) in _DAMAGED_CODES:
        return error
    return BackendUnavailable(f"cannot open sqlite database {path}: {exc}")


def _connect_retrying(options: SQLiteOptions) -> sqlite3.Connection:
    # Switching a new file to WAL needs an exclusive lock, which may be busy when several
    # processes open the same new file at once.
    deadline = time.monotonic() + max(LOCK_RETRY_BOUND, 2 * options.busy_timeout)
    while True:
        try:
            return _connect(options)
        except sqlite3.Error as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise _open_error(exc, options.path) from exc
        time.sleep(random.uniform(0.005, 0.02))


def open_database(options: SQLiteOptions) -> Database:
    """Open the file (creating it), check it is kmsg's, set the pragmas and apply pending
    migrations. Blocking."""
    connection = _connect_retrying(options)
    database = Database(connection, options)
    try:
        database.write(partial(_migrate, options.path))
    except BaseException:
        database.close()
        raise
    return database
