"""The Redis planner: every operation as the script calls it takes, and their replies as results.

Pure: :class:`RedisPlanner` turns an operation (:mod:`kmsg.operations`) into a plan
(:mod:`kmsg.plans`) that yields :class:`Script`, :class:`Command` and :class:`ScanKeys` steps and
turns their replies into the operation's result. The executors (``executor.py`` for asyncio,
``sync_executor.py`` for plain threads) perform the steps; they are the only code that talks to
Redis. Scripts and their arguments: ``lua/*.lua``; key layout: :mod:`~kmsg.adapters.redis.keys`.

A dead-letter move to *another* queue crosses Redis Cluster slots, so it runs in steps, at least
once and idempotent by job id: read a page of dead letters, write them into the target queue as
pending (a job the target already holds, or whose dedupe key a live job there holds, is skipped
and stays a dead letter of the source), then delete the ones written from the source. An
interruption between the steps leaves the job in both queues' records (failed in the source,
pending in the target) until the call is repeated, which finishes it; it never loses a job.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import takewhile
from typing import Any, Final, TypeAlias

from kmsg import operations as ops
from kmsg.adapters.redis.keys import QueueKeys, meta_pattern, queue_of
from kmsg.adapters.redis.records import (
    claimed_pairs,
    decode_cursor,
    encode_cursor,
    import_args,
    job_from_record,
    new_job_args,
)
from kmsg.adapters.steps import batch_steps, chunks, in_steps, sized_steps
from kmsg.errors import JobNotFound, LeaseLost
from kmsg.jobs import PreparedJob
from kmsg.models import (
    ClaimedJob,
    Enqueued,
    EnqueueOutcome,
    Job,
    JobPage,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
    RetryResult,
    Skipped,
    SkipReason,
    skipped_result,
)
from kmsg.outcomes import Lost, lease_lost
from kmsg.plans import Plan, Planner, handles
from kmsg.validation import STEP_JOBS

__all__ = ["Command", "RedisPlanner", "ScanKeys", "Script", "Step", "claimed_jobs"]

_log = logging.getLogger("kmsg.adapters.redis")
_LOST: Final = {why.value.encode(): why for why in Lost}
_OUTCOMES: Final = {
    b"new": EnqueueOutcome.CREATED,
    b"id": EnqueueOutcome.SAME_ID,
    b"key": EnqueueOutcome.SAME_KEY,
}
_MAX_STEPS: Final = 10_000_000
"""A bound on the steps of one bulk call (each step moves up to STEP_JOBS jobs out of reach)."""


@dataclass(frozen=True, slots=True)
class Script:
    """Run ``lua/<name>.lua`` on ``queue``'s keys with these script-specific arguments."""

    name: str
    queue: str
    args: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """Run one plain command (a read outside the scripts)."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ScanKeys:
    """Every key matching ``pattern`` (``SCAN`` of each primary, cursor by cursor)."""

    pattern: str


Step: TypeAlias = Script | Command | ScanKeys
RedisPlan: TypeAlias = Plan[Step, Any]


def claimed_jobs(reply: Sequence[bytes], base: str, queue: str) -> list[ClaimedJob]:
    """claim.lua's reply as claimed jobs: the job in slot i holds token ``base.i``."""
    return [
        ClaimedJob(job=job_from_record(job_id, queue, blob), token=f"{base}.{slot}")
        for slot, (job_id, blob) in enumerate(claimed_pairs(reply), start=1)
    ]


class RedisPlanner(Planner):
    """Plans every operation for the queues under one key ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def keys(self, queue: str) -> QueueKeys:
        """The keys of ``queue`` (an already checked name)."""
        return QueueKeys(self._prefix, queue)

    # --- producing -----------------------------------------------------------------------------

    @handles(ops.Enqueue)
    def _enqueue(self, operation: ops.Enqueue) -> RedisPlan:
        jobs = operation.jobs
        return (yield from in_steps(jobs, batch_steps(jobs, per_queue=True), self._enqueue_step))

    def _enqueue_step(self, jobs: list[PreparedJob]) -> Plan[Step, list[Enqueued]]:
        args: list[Any] = [len(jobs)]
        for job in jobs:
            args += new_job_args(job)
        reply = yield Script("enqueue", jobs[0].queue, args)
        return [
            Enqueued(job_id.decode(), _OUTCOMES[how])
            for job_id, how in zip(reply[::2], reply[1::2], strict=True)
        ]

    @handles(ops.Import)
    def _import(self, operation: ops.Import) -> RedisPlan:
        by_queue: dict[str, list[Job]] = {}
        for job in operation.jobs:
            by_queue.setdefault(job.queue, []).append(job)
        written = 0
        for queue, batch in by_queue.items():
            ids, _ = yield from self.write_snapshots(queue, batch, "import")
            written += len(ids)
        return written

    def write_snapshots(
        self, queue: str, jobs: Sequence[Job], mode: str
    ) -> Plan[Step, tuple[list[str], list[Skipped]]]:
        """Plan: import.lua on ``queue`` in steps (``mode`` 'import' or 'retry'); returns the ids
        that were new there, and the jobs skipped (the id existed already, or a live job there
        held the dedupe key)."""
        written: list[str] = []
        skipped: list[Skipped] = []
        for step in sized_steps(jobs, lambda job: len(job.payload)):
            args: list[Any] = [mode, len(step)]
            for job in step:
                args += import_args(job)
            ids, skips = yield Script("import", queue, args)
            written += [job_id.decode() for job_id in ids]
            skipped += _skips(skips)
        return written, skipped

    # --- consuming -----------------------------------------------------------------------------

    @handles(ops.Claim)
    def _claim(self, operation: ops.Claim) -> RedisPlan:
        base = secrets.token_urlsafe(16)
        reply = yield Script(
            "claim", operation.queue, [operation.limit, lease_arg(operation), base]
        )
        return claimed_jobs(reply, base, operation.queue)

    @handles(ops.Complete)
    def _complete(self, operation: ops.Complete) -> RedisPlan:
        lease, result = operation.lease, operation.result
        args = [lease.job_id, lease.token, "0" if result is None else "1", result or b""]
        code = yield Script("complete", lease.queue, args)
        if code != b"ok":
            raise lease_lost(lease, _LOST[code])

    @handles(ops.CompleteMany)
    def _complete_many(self, operation: ops.CompleteMany) -> RedisPlan:
        items = operation.items
        done = [False] * len(items)
        for queue, step in _steps_by_queue([lease for lease, _ in items]):
            args: list[Any] = []
            for index in step:
                lease, result = items[index]
                args += (lease.job_id, lease.token, "0" if result is None else "1", result or b"")
            codes = yield Script("complete_many", queue, args)
            for index, code in zip(step, codes, strict=True):
                done[index] = code == b"ok"
        return done

    @handles(ops.Fail)
    def _fail(self, operation: ops.Fail) -> RedisPlan:
        lease = operation.lease
        retry_in: float | str = "" if operation.retry_in is None else operation.retry_in
        args = [lease.job_id, lease.token, operation.error_type, operation.message, retry_in]
        args.append("1" if operation.retryable else "0")
        code = yield Script("fail", lease.queue, args)
        if code not in (b"delayed", b"failed"):
            raise lease_lost(lease, _LOST[code])
        _log.info(
            "job %s of queue %s failed (%s); now %s",
            lease.job_id,
            lease.queue,
            operation.error_type,
            code.decode(),
            extra={"job_id": lease.job_id, "queue": lease.queue},
        )
        return JobState(code.decode())

    @handles(ops.Snooze)
    def _snooze(self, operation: ops.Snooze) -> RedisPlan:
        lease = operation.lease
        args = [lease.job_id, lease.token, operation.delay, operation.message]
        code = yield Script("snooze", lease.queue, [*args, operation.max_snoozes])
        if code not in (b"delayed", b"failed"):
            raise lease_lost(lease, _LOST[code])
        return JobState(code.decode())

    @handles(ops.Extend)
    def _extend(self, operation: ops.Extend) -> RedisPlan:
        lease = operation.lease
        args = [lease.job_id, lease.token, operation.duration, operation.progress or b""]
        reply = yield Script("extend", lease.queue, args)
        if reply in _LOST:
            raise lease_lost(lease, _LOST[reply])
        return float(reply)

    @handles(ops.ExtendMany)
    def _extend_many(self, operation: ops.ExtendMany) -> RedisPlan:
        leases = operation.leases
        outcomes: list[float | LeaseLost] = [0.0] * len(leases)
        for queue, step in _steps_by_queue(leases):
            args: list[Any] = [operation.duration]
            for index in step:
                progress = operation.progress[index] or b""
                args += (leases[index].job_id, leases[index].token, progress)
            replies = yield Script("extend_many", queue, args)
            for index, reply in zip(step, replies, strict=True):
                lost = reply in _LOST
                outcomes[index] = lease_lost(leases[index], _LOST[reply]) if lost else float(reply)
        return outcomes

    @handles(ops.Release)
    def _release(self, operation: ops.Release) -> RedisPlan:
        lease = operation.lease
        code = yield Script("release", lease.queue, [lease.job_id, lease.token])
        if code not in (b"ok", b"cancelled"):
            raise lease_lost(lease, _LOST[code])

    # --- reading -------------------------------------------------------------------------------

    @handles(ops.Get)
    def _get(self, operation: ops.Get) -> RedisPlan:
        blob = yield Command(("HGET", self.keys(operation.queue).jobs, operation.job_id))
        if blob is None:
            raise JobNotFound(operation.queue, operation.job_id)
        return job_from_record(operation.job_id, operation.queue, blob)

    @handles(ops.Peek)
    def _peek(self, operation: ops.Peek) -> RedisPlan:
        page = yield from self.plan(
            ops.ListJobs(operation.queue, JobState.PENDING, operation.limit, None)
        )
        return list(page.jobs)

    @handles(ops.Stats)
    def _stats(self, operation: ops.Stats) -> RedisPlan:
        reply = yield Script("stats", operation.queue)
        counts = [int(count) for count in reply[:6]]
        age, paused, rate_max, rate_per, missing = reply[6:11]
        rate = RateLimit(max_jobs=int(rate_max), per_seconds=float(rate_per)) if rate_max else None
        return QueueStats(
            queue=operation.queue,
            pending=counts[0],
            delayed=counts[1],
            processing=counts[2],
            completed=counts[3],
            failed=counts[4],
            cancelled=counts[5],
            oldest_pending_age=float(age) if age else None,
            paused=paused == b"1",
            rate_limit=rate,
            missing_records=int(missing),
        )

    @handles(ops.Queues)
    def _queues(self, operation: ops.Queues) -> RedisPlan:
        found = yield ScanKeys(meta_pattern(self._prefix))
        names = {queue_of(self._prefix, key) for key in found}
        return sorted(name for name in names if name is not None)

    @handles(ops.ListJobs)
    def _list_jobs(self, operation: ops.ListJobs) -> RedisPlan:
        """One page, read in steps of at most ``STEP_JOBS`` jobs; an entry whose record is gone
        is dropped (and counted) by the script, so a few more steps may be needed."""
        state, limit, queue = operation.state, operation.limit, operation.queue
        after = ("", "") if operation.cursor is None else decode_cursor(operation.cursor, state)
        jobs: list[Job] = []
        more = True
        for _ in range(limit // STEP_JOBS + 4):
            want = min(limit - len(jobs), STEP_JOBS)
            reply = yield Script("list", queue, [state.value, want, *after])
            more = reply[0] == 1
            if reply[1]:
                after = (reply[1].decode(), reply[2].decode())
            jobs += _listed(reply, queue)
            if not more or len(jobs) >= limit:
                break
        cursor = None
        if more and after[0]:
            cursor = encode_cursor(state, after[0].encode(), after[1].encode())
        return JobPage(jobs=tuple(jobs), next_cursor=cursor)

    def jobs_by_id(self, queue: str, job_ids: Sequence[str]) -> Plan[Step, list[Job]]:
        """Plan: the jobs of ``queue`` with these ids that exist, one script call per step."""
        found: list[Job] = []
        for step in chunks(job_ids):
            blobs = yield Script("jobs", queue, list(step))
            found += [
                job_from_record(job_id, queue, blob)
                for job_id, blob in zip(step, blobs, strict=True)
                if blob is not None
            ]
        return found

    # --- dead letters --------------------------------------------------------------------------

    @handles(ops.RetryFailed)
    def _retry_failed(self, operation: ops.RetryFailed) -> RedisPlan:
        queue, ids = operation.queue, operation.job_ids
        if operation.to_queue != queue:
            return (yield from self._move(queue, operation.to_queue, ids))
        if ids is None:
            return (yield from self._retry_every_dead_letter(queue))
        result = RetryResult(moved=0)
        for step in chunks(ids):
            count, _, _, _, _, *skips = yield Script("retry_failed", queue, ["", "ids", *step])
            result += skipped_result(_skips(skips), int(count))
        return result

    def _retry_every_dead_letter(self, queue: str) -> Plan[Step, RetryResult]:
        """Plan: retry_failed.lua's 'all' steps, each from where the previous one stopped."""
        result, cutoff, position = RetryResult(moved=0), "", ["", ""]
        for _ in range(_MAX_STEPS):
            reply = yield Script("retry_failed", queue, [cutoff, "all", *position])
            count, fixed, more, score, last, *skips = reply
            result += skipped_result(_skips(skips), int(count))
            cutoff, position = fixed.decode(), [score.decode(), last.decode()]
            if not more:
                break
        return result

    def _move(
        self, queue: str, to_queue: str, ids: Sequence[str] | None
    ) -> Plan[Step, RetryResult]:
        """Plan: dead letters of ``queue`` moved into ``to_queue`` (module docstring), in the
        order given, or oldest dead letter first."""
        result = RetryResult(moved=0)
        if ids is not None:
            for step in chunks(ids):
                found = {job.id: job for job in (yield from self.jobs_by_id(queue, step))}
                dead = [found[job_id] for job_id in step if _is_dead(found.get(job_id))]
                not_dead = [_not_dead(job_id, found.get(job_id)) for job_id in step]
                moved = yield from self._move_jobs(queue, to_queue, dead)
                skips = [skip for skip in not_dead if skip] + list(moved.skipped)
                order = {job_id: index for index, job_id in enumerate(step)}
                skips.sort(key=lambda skip: order[skip.job_id])  # as met, in the order given
                result += skipped_result(skips, moved.moved)
            return result
        seconds, micros = yield Command(("TIME",))
        began = int(seconds) + int(micros) / 1_000_000
        position = ["", ""]
        for _ in range(_MAX_STEPS):
            reply = yield Script("list", queue, ["failed", STEP_JOBS, *position, "oldest"])
            more, listed = reply[0] == 1, _listed(reply, queue)
            position = [reply[1].decode(), reply[2].decode()]
            # Oldest first: the first one that failed after the call began ends the move.
            dead = list(takewhile(lambda job: (job.failed_at or 0.0) <= began, listed))
            result += yield from self._move_jobs(queue, to_queue, dead)
            if not more or len(dead) < len(listed):
                break
        return result

    def _move_jobs(self, queue: str, to_queue: str, dead: list[Job]) -> Plan[Step, RetryResult]:
        """Plan: these dead letters written into ``to_queue``, then deleted from ``queue``."""
        if not dead:
            return RetryResult(moved=0)
        written, skipped = yield from self.write_snapshots(to_queue, dead, "retry")
        # Only what arrived leaves: a dead letter whose id the target holds already stays put.
        purged: int = yield from self.plan(ops.PurgeFailed(queue, tuple(written), None))
        return skipped_result(skipped, purged)

    @handles(ops.PurgeFailed)
    def _purge_failed(self, operation: ops.PurgeFailed) -> RedisPlan:
        queue, ids = operation.queue, operation.job_ids
        age: float | str = "" if operation.older_than is None else operation.older_than
        if ids is None:
            return (yield from _repeat("purge_failed", queue, lambda cut: [cut, age, "all"]))
        purged = 0
        for step in chunks(ids):
            count, *_ = yield Script("purge_failed", queue, ["", age, "ids", *step])
            purged += int(count)
        return purged

    # --- housekeeping --------------------------------------------------------------------------

    @handles(ops.Cancel)
    def _cancel(self, operation: ops.Cancel) -> RedisPlan:
        code = yield Script("cancel", operation.queue, [operation.job_id])
        if code == b"gone":
            raise JobNotFound(operation.queue, operation.job_id)
        return JobState(code.decode())

    @handles(ops.Remove)
    def _remove(self, operation: ops.Remove) -> RedisPlan:
        return bool((yield Script("remove", operation.queue, [operation.job_id])))

    @handles(ops.Clear)
    def _clear(self, operation: ops.Clear) -> RedisPlan:
        return int((yield Script("clear", operation.queue)))

    @handles(ops.Cleanup)
    def _cleanup(self, operation: ops.Cleanup) -> RedisPlan:
        states, seconds = list(operation.states), operation.older_than
        return (yield from _repeat("cleanup", operation.queue, lambda cut: [cut, seconds, *states]))

    @handles(ops.Pause)
    def _pause(self, operation: ops.Pause) -> RedisPlan:
        yield Script("pause", operation.queue, ["1" if operation.paused else "0"])

    @handles(ops.SetRateLimit)
    def _set_rate_limit(self, operation: ops.SetRateLimit) -> RedisPlan:
        limit = operation.max_jobs
        args = ["", ""] if limit is None else [limit, operation.per_seconds]
        yield Script("rate_limit", operation.queue, args)


def lease_arg(claim: ops.Claim) -> str:
    """The lease argument of claim.lua ('' = each job's own lease)."""
    return "" if claim.lease is None else repr(claim.lease)


def _steps_by_queue(leases: Sequence[Lease]) -> list[tuple[str, Sequence[int]]]:
    """The leases' indexes grouped by queue and cut into steps."""
    by_queue: dict[str, list[int]] = {}
    for index, lease in enumerate(leases):
        by_queue.setdefault(lease.queue, []).append(index)
    return [(queue, step) for queue, indexes in by_queue.items() for step in chunks(indexes)]


def _repeat(name: str, queue: str, args: Callable[[str], list[Any]]) -> Plan[Step, int]:
    """Plan: a bounded-step script run until it says nothing more is left; returns the total.

    The script gets ``args(cutoff)`` ('' the first time) and answers ``{count, cutoff, more}``:
    the cut-off it fixed on the first step is passed to the next step."""
    total, cutoff = 0, ""
    for _ in range(_MAX_STEPS):
        count, fixed, more = yield Script(name, queue, args(cutoff))
        total += int(count)
        cutoff = fixed.decode()
        if not more:
            break
    return total


def _listed(reply: Sequence[Any], queue: str) -> list[Job]:
    """The jobs in list.lua's reply (after its more flag and position)."""
    return [
        job_from_record(reply[i].decode(), queue, reply[i + 1]) for i in range(3, len(reply), 2)
    ]


def _skips(flat: Sequence[bytes]) -> list[Skipped]:
    """A script's skipped jobs (id, reason, holder triples; holder '' for none)."""
    return [
        Skipped(
            job_id=flat[i].decode(),
            reason=SkipReason(flat[i + 1].decode()),
            holder=flat[i + 2].decode() or None,
        )
        for i in range(0, len(flat), 3)
    ]


def _is_dead(job: Job | None) -> bool:
    return job is not None and job.state is JobState.FAILED


def _not_dead(job_id: str, job: Job | None) -> Skipped | None:
    """Why a job named to a move is not moved (None when it is a dead letter)."""
    if job is None:
        return Skipped(job_id=job_id, reason=SkipReason.NOT_FOUND)
    if job.state is not JobState.FAILED:
        return Skipped(job_id=job_id, reason=SkipReason.NOT_DEAD)
    return None
