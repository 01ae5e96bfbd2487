"""Group commit: concurrent write calls of one adapter share one thread hop and one transaction.

A worker running many handlers issues many small writes (``complete``, ``fail``, ``extend``) at
once. Each would cost a thread hop and a commit; instead, calls that arrive while a transaction is
running are queued and the next round runs them in one ``BEGIN IMMEDIATE`` transaction, each
inside its own savepoint. A call's effects are still all-or-nothing: an exception rolls back that
call's savepoint only and is raised to that caller alone. Calls run in arrival order. Each call
says how many jobs it may touch, and a round takes calls of ``STEP_JOBS`` jobs in all (a heavier
call runs alone), so a shared transaction is as bounded as one step of a bulk call.

After a transaction that held the write lock for :data:`LONG_HOLD` or more, the next one waits
as long again (:data:`MOST_GAP` at most) before taking the lock: other processes' writers, which
poll for the lock every few milliseconds (``database.py``), get in between the steps of a bulk
call instead of starving behind it. Short transactions, a worker's usual ones, never wait.

Whichever caller finds no round in progress runs rounds until the queue is empty; the others wait
for the round that carries their call. If that runner is cancelled, the next waiter takes over;
a caller cancelled before its call's round began withdraws the call.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast

import anyio
import anyio.to_thread

from kmsg.adapters.sqlite.database import Database, storage_error
from kmsg.validation import STEP_JOBS

__all__ = ["LONG_HOLD", "MOST_GAP", "WriteBatcher"]

LONG_HOLD: Final = 0.002
"""Seconds of holding the write lock after which the adapter leaves it free for a while."""
MOST_GAP: Final = 0.005
"""The longest such pause, in seconds."""

T = TypeVar("T")


class _Call(Generic[T]):
    """One queued write: its body and weight (jobs it may touch), then its value or exception."""

    __slots__ = ("body", "done", "error", "value", "weight")

    def __init__(self, body: Callable[[sqlite3.Connection, float], T], weight: int) -> None:
        self.body = body
        self.weight = weight
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


def _run_each(
    batch: list[_Call[Any]], path: Path, connection: sqlite3.Connection, now: float
) -> None:
    """Run every call of ``batch`` in its own savepoint of the current transaction."""
    for call in batch:
        connection.execute("SAVEPOINT kmsg_call")
        try:
            call.value = call.body(connection, now)
        except Exception as exc:
            if not connection.in_transaction:
                # SQLite rolled the whole transaction back (it may, after SQLITE_FULL or an
                # I/O error): the calls before this one are undone too, so the batch fails.
                raise
            connection.execute("ROLLBACK TO kmsg_call")
            call.error = storage_error(exc, path) if isinstance(exc, sqlite3.Error) else exc
        connection.execute("RELEASE kmsg_call")


class WriteBatcher:
    """Queues write bodies and runs them in shared transactions on ``database``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._queue: list[_Call[Any]] = []
        self._running = False
        self._round_over: anyio.Event | None = None
        self._free_until = 0.0
        """Monotonic time before which this adapter leaves the write lock to others."""

    async def write(self, body: Callable[[sqlite3.Connection, float], T], weight: int = 1) -> T:
        """Run ``body(connection, now)`` atomically in a (possibly shared) write transaction.

        ``weight`` is how many jobs the body may touch: a shared transaction holds calls of at
        most ``STEP_JOBS`` in all (a heavier call runs alone).
        """
        call: _Call[T] = _Call(body, weight)
        self._queue.append(call)
        try:
            while not call.done:
                if self._running:
                    if self._round_over is None:
                        self._round_over = anyio.Event()
                    await self._round_over.wait()
                else:
                    await self._run_rounds()
        except BaseException:
            if call in self._queue:  # cancelled before its round began: it never runs
                self._queue.remove(call)
            raise
        return call.result()

    async def _run_rounds(self) -> None:
        self._running = True
        try:
            while self._queue:
                gap = self._free_until - time.monotonic()
                if gap > 0:
                    await anyio.sleep(gap)
                batch = self._next_round()
                began = time.monotonic()
                try:
                    await anyio.to_thread.run_sync(self._run_batch, batch)
                finally:
                    ended = time.monotonic()
                    if ended - began >= LONG_HOLD:
                        self._free_until = ended + min(ended - began, MOST_GAP)
                    round_over, self._round_over = self._round_over, None
                    if round_over is not None:
                        round_over.set()
        finally:
            self._running = False

    def _next_round(self) -> list[_Call[Any]]:
        """Take the calls of the next transaction: in arrival order, ``STEP_JOBS`` of weight."""
        taken, weight = 0, 0
        for call in self._queue:
            if taken and weight + call.weight > STEP_JOBS:
                break
            taken += 1
            weight += call.weight
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    def _run_batch(self, batch: list[_Call[Any]]) -> None:
        """Blocking: one transaction for the whole batch (a lone call needs no savepoint)."""
        try:
            if len(batch) == 1:
                call = batch[0]
                call.value = self._database.write(call.body)
            else:
                self._database.write(partial(_run_each, batch, self._database.path))
        except BaseException as exc:  # reported to every caller of the batch
            for call in batch:
                call.error = exc
        finally:
            for call in batch:
                call.done = True
