"""The SQLite planner: every operation as the transactions it takes, and their results.

Pure: :class:`SQLitePlanner` turns an operation (:mod:`kmsg.operations`) into a plan
(:mod:`kmsg.plans`) that yields :class:`Write` and :class:`Read` steps, each a transaction body
``body(connection, now) -> result`` made of the statements in ``sql/*.sql`` (``producing``,
``consuming``, ``housekeeping`` and ``reading`` hold the bodies), and turns their results into
the operation's result. The executors (``executor.py`` for async callers, ``sync_executor.py``
for plain threads) run each body in one transaction; they are the only code that touches the
file. Bulk operations are sequences of bodies of at most ``STEP_JOBS`` jobs each (see
:mod:`kmsg.adapters.steps`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from kmsg import operations as ops
from kmsg.adapters.sqlite import consuming, housekeeping, producing, reading
from kmsg.adapters.steps import batch_steps, chunks, in_steps, most_steps, sized_steps
from kmsg.errors import LeaseLost
from kmsg.jobs import PreparedJob
from kmsg.models import Enqueued, JobState, RetryResult
from kmsg.plans import Plan, Planner, handles
from kmsg.validation import STEP_JOBS

__all__ = ["Body", "Read", "SQLitePlanner", "Step", "Write"]

Body: TypeAlias = Callable[[sqlite3.Connection, float], Any]
"""A transaction body: it runs its statements on the connection, at ``now``."""


@dataclass(frozen=True, slots=True)
class Write:
    """Run ``body`` in a write transaction (``BEGIN IMMEDIATE``); it touches up to ``weight``
    jobs (a shared transaction holds ``STEP_JOBS`` of weight at most: ``batching.py``).
    ``wakes``: it may make a job claimable, so this adapter's waiters are woken after it."""

    body: Body
    weight: int = 1
    wakes: bool = False


@dataclass(frozen=True, slots=True)
class Read:
    """Run ``body`` in a read transaction (one consistent snapshot)."""

    body: Body


Step: TypeAlias = Write | Read
SQLitePlan: TypeAlias = Plan[Step, Any]


def _body(function: Callable[..., Any], *args: Any) -> Body:
    """The body ``function(connection, now, *args)``."""

    def body(connection: sqlite3.Connection, now: float) -> Any:
        return function(connection, now, *args)

    return body


def _raise(outcome: Any) -> Any:
    """A fenced body's outcome: the ``LeaseLost`` it returned is raised, else passed on."""
    if isinstance(outcome, LeaseLost):
        raise outcome
    return outcome


class SQLitePlanner(Planner):
    """Plans every operation for the database file at ``path``."""

    def __init__(self, path: Path) -> None:
        self._path = path

    # --- producing -----------------------------------------------------------------------------

    @handles(ops.Enqueue)
    def _enqueue(self, operation: ops.Enqueue) -> SQLitePlan:
        jobs = operation.jobs
        return (yield from in_steps(jobs, batch_steps(jobs, per_queue=False), self._insert))

    def _insert(self, jobs: list[PreparedJob]) -> Plan[Step, list[Enqueued]]:
        body = _body(producing.insert_jobs, jobs, self._path)
        results: list[Enqueued] = yield Write(body, len(jobs), wakes=True)
        return results

    @handles(ops.Import)
    def _import(self, operation: ops.Import) -> SQLitePlan:
        written = 0
        for step in sized_steps(operation.jobs, producing.import_size):
            body = _body(producing.import_jobs, step, self._path)
            written += yield Write(body, len(step), wakes=True)
        return written

    # --- consuming -----------------------------------------------------------------------------

    @handles(ops.Claim)
    def _claim(self, operation: ops.Claim) -> SQLitePlan:
        body = _body(consuming.claim, operation.queue, operation.limit, operation.lease)
        return (yield Write(body, min(operation.limit, STEP_JOBS)))

    @handles(ops.Complete)
    def _complete(self, operation: ops.Complete) -> SQLitePlan:
        _raise((yield Write(_body(consuming.complete, operation.lease, operation.result))))

    @handles(ops.CompleteMany)
    def _complete_many(self, operation: ops.CompleteMany) -> SQLitePlan:
        done: list[bool] = []
        for step in sized_steps(operation.items, lambda pair: len(pair[1] or b"")):
            done += yield Write(_body(consuming.complete_many, list(step)), len(step))
        return done

    @handles(ops.Fail)
    def _fail(self, operation: ops.Fail) -> SQLitePlan:
        error = (operation.error_type, operation.message)
        body = _body(
            consuming.fail, operation.lease, error, operation.retry_in, operation.retryable
        )
        return _raise((yield Write(body, wakes=True)))

    @handles(ops.Snooze)
    def _snooze(self, operation: ops.Snooze) -> SQLitePlan:
        body = _body(
            consuming.snooze,
            operation.lease,
            operation.delay,
            operation.message,
            operation.max_snoozes,
        )
        return _raise((yield Write(body, wakes=True)))

    @handles(ops.Extend)
    def _extend(self, operation: ops.Extend) -> SQLitePlan:
        body = _body(consuming.extend, operation.lease, operation.duration, operation.progress)
        return _raise((yield Write(body)))

    @handles(ops.ExtendMany)
    def _extend_many(self, operation: ops.ExtendMany) -> SQLitePlan:
        outcomes: list[float | LeaseLost] = []
        done = 0
        for step in chunks(operation.leases):
            progress = operation.progress[done : done + len(step)]
            body = _body(consuming.extend_many, step, operation.duration, progress)
            outcomes += yield Write(body, len(step))
            done += len(step)
        return outcomes

    @handles(ops.Release)
    def _release(self, operation: ops.Release) -> SQLitePlan:
        _raise((yield Write(_body(consuming.release, operation.lease), wakes=True)))

    # --- reading -------------------------------------------------------------------------------

    @handles(ops.Get)
    def _get(self, operation: ops.Get) -> SQLitePlan:
        return (yield Read(_body(reading.get, operation.queue, operation.job_id)))

    @handles(ops.Peek)
    def _peek(self, operation: ops.Peek) -> SQLitePlan:
        return (yield Read(_body(reading.peek, operation.queue, operation.limit)))

    @handles(ops.Stats)
    def _stats(self, operation: ops.Stats) -> SQLitePlan:
        return (yield Read(_body(reading.stats, operation.queue)))

    @handles(ops.Queues)
    def _queues(self, operation: ops.Queues) -> SQLitePlan:
        return (yield Read(reading.queue_names))

    @handles(ops.ListJobs)
    def _list_jobs(self, operation: ops.ListJobs) -> SQLitePlan:
        body = _body(
            reading.list_jobs, operation.queue, operation.state, operation.limit, operation.cursor
        )
        return (yield Read(body))

    # --- dead letters --------------------------------------------------------------------------

    @handles(ops.RetryFailed)
    def _retry_failed(self, operation: ops.RetryFailed) -> SQLitePlan:
        queue, target, ids = operation.queue, operation.to_queue, operation.job_ids
        if ids is None:
            return (yield from self._retry_every_dead_letter(queue, target))
        result = RetryResult(moved=0)
        for step in chunks(ids):
            body = _body(housekeeping.retry_failed_ids, queue, step, target)
            result += yield Write(body, len(step), wakes=True)
        return result

    def _retry_every_dead_letter(self, queue: str, target: str) -> Plan[Step, RetryResult]:
        """Every dead letter that failed by now, a step at a time, each step starting where the
        previous one stopped (dead letters skipped for a held dedupe key stay where they are)."""
        counts, cutoff = yield Read(_body(_counts_and_now, queue))
        result, after = RetryResult(moved=0), (-1.0, 0)
        for _ in range(most_steps(counts[JobState.FAILED])):
            body = _body(housekeeping.retry_failed_step, queue, target, cutoff, after)
            found, step_result, after = yield Write(body, STEP_JOBS, wakes=True)
            result += step_result
            if found < STEP_JOBS:
                break
        return result

    @handles(ops.PurgeFailed)
    def _purge_failed(self, operation: ops.PurgeFailed) -> SQLitePlan:
        queue, ids, age = operation.queue, operation.job_ids, operation.older_than
        counts, started = yield Read(_body(_counts_and_now, queue))
        if ids is None:
            cutoff = started - (age or 0.0)
            step = _body(housekeeping.cleanup_step, queue, JobState.FAILED, cutoff)
            return (yield from _repeat(step, counts[JobState.FAILED]))
        cutoff = float("inf") if age is None else started - age  # named: whenever they failed
        purged = 0
        for chunk in chunks(ids):
            body = _body(housekeeping.purge_failed_ids, queue, chunk, cutoff)
            purged += yield Write(body, len(chunk))
        return purged

    # --- housekeeping --------------------------------------------------------------------------

    @handles(ops.Cancel)
    def _cancel(self, operation: ops.Cancel) -> SQLitePlan:
        return (yield Write(_body(housekeeping.cancel, operation.queue, operation.job_id)))

    @handles(ops.Remove)
    def _remove(self, operation: ops.Remove) -> SQLitePlan:
        return (yield Write(_body(housekeeping.remove, operation.queue, operation.job_id)))

    @handles(ops.Clear)
    def _clear(self, operation: ops.Clear) -> SQLitePlan:
        """In steps; jobs written after the call began may survive it."""
        newest = yield Read(housekeeping.newest_seq)
        counts, _ = yield Read(_body(_counts_and_now, operation.queue))
        step = _body(housekeeping.clear_step, operation.queue, newest)
        return (yield from _repeat(step, sum(counts.values())))

    @handles(ops.Cleanup)
    def _cleanup(self, operation: ops.Cleanup) -> SQLitePlan:
        counts, started = yield Read(_body(_counts_and_now, operation.queue))
        cutoff = started - operation.older_than
        deleted = 0
        for state in operation.states:
            step = _body(housekeeping.cleanup_step, operation.queue, state, cutoff)
            deleted += yield from _repeat(step, counts[state])
        return deleted

    @handles(ops.Pause)
    def _pause(self, operation: ops.Pause) -> SQLitePlan:
        body = _body(housekeeping.set_paused, operation.queue, operation.paused)
        yield Write(body, wakes=not operation.paused)

    @handles(ops.SetRateLimit)
    def _set_rate_limit(self, operation: ops.SetRateLimit) -> SQLitePlan:
        body = _body(
            housekeeping.set_rate_limit, operation.queue, operation.max_jobs, operation.per_seconds
        )
        yield Write(body, wakes=True)


def _counts_and_now(
    connection: sqlite3.Connection, now: float, queue: str
) -> tuple[dict[JobState, int], float]:
    """The queue's counts per state, and the transaction's ``now``."""
    return reading.state_counts(connection, now, queue), now


def _repeat(step: Callable[..., int], jobs: int) -> Plan[Step, int]:
    """Plan: the bounded ``step`` body (it returns how many jobs it found) as separate
    transactions until one finds fewer than ``STEP_JOBS``; ``jobs``, how many could match when
    the call began, bounds the loop. Returns the sum."""
    total = 0
    for _ in range(most_steps(jobs)):
        found: int = yield Write(step, STEP_JOBS)
        total += found
        if found < STEP_JOBS:
            break
    return total
