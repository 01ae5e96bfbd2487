"""RedisJobQueue: the JobQueue contract on Redis / Redis Cluster, one Lua script per step.

Key layout: :mod:`kmsg.adapters.redis.keys`. Scripts: ``lua/*.lua`` (each opens with its flags,
KEYS, ARGV and return codes). Times come from the server's ``TIME`` inside the scripts, never
from this host. What is checked about the server (version, eviction policy, lost data):
:mod:`kmsg.adapters.redis.server`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import anyio

from kmsg.adapters.base import QueueBase, batch_steps, chunks, write_in_steps
from kmsg.adapters.redis.connection import RedisSettings, backend_errors, translate_error
from kmsg.adapters.redis.deadletters import DeadLetters
from kmsg.adapters.redis.handoff import ClusterBlocker, Handoff, PoolBlocker
from kmsg.adapters.redis.keys import QueueKeys, marker_key, meta_pattern, queue_of
from kmsg.adapters.redis.notify import Notifier
from kmsg.adapters.redis.pipe import CommandPipe
from kmsg.adapters.redis.records import (
    decode_cursor,
    encode_cursor,
    import_args,
    job_from_record,
    new_job_args,
)
from kmsg.adapters.redis.runner import ScriptRunner
from kmsg.adapters.redis.scripts import ScriptTarget
from kmsg.adapters.redis.server import MarkerWatch, check_server, parse_info
from kmsg.codec import PayloadCodec
from kmsg.errors import BackendUnavailable, JobNotFound, LeaseLost, ValidationError
from kmsg.jobs import NewJob, PreparedJob, prepare_job
from kmsg.models import (
    ClaimedJob,
    Job,
    JobPage,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
)
from kmsg.outcomes import Lost, lease_lost
from kmsg.queue import Capabilities
from kmsg.validation import (
    MAX_LEASE,
    STEP_BYTES,
    STEP_JOBS,
    check_batch,
    check_lease,
    check_lease_arg,
    check_limit,
    check_name,
    check_rate_limit,
    check_result,
    check_seconds,
    check_states,
    describe_error,
)

__all__ = ["CAPABILITIES", "RedisJobQueue"]

CAPABILITIES: Final = Capabilities(
    backend="redis",
    anyio_backends=frozenset({"asyncio"}),
    multi_host=True,
    server_time=True,
    atomic_cross_queue_move=False,
    push_wakeup=True,
    direct_handoff=True,
)
_log = logging.getLogger("kmsg.adapters.redis")
_LOST: Final = {why.value.encode(): why for why in Lost}
_KEY_CACHE: Final = 4096
_TERMINAL: Final = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
_MAX_STEPS: Final = 10_000_000
"""A bound on the steps of one bulk call (each step moves up to STEP_JOBS jobs out of reach)."""
_SCAN_COUNT: Final = 1000


class RedisJobQueue(QueueBase):
    """A :class:`kmsg.JobQueue` on Redis; open it with :func:`kmsg.open_queue` (``redis://``).

    Beyond the contract: :meth:`check_connection`, :meth:`check_server`, ``dead_letters`` and
    :attr:`data_losses`. The underscored helpers (``_run``, ``_command``, ``_keys``, ...) serve
    the sibling modules of this package only.
    """

    def __init__(self, settings: RedisSettings, client: Any) -> None:
        self._settings = settings
        self._client = client
        self._marker = MarkerWatch(marker_key(settings.key_prefix), settings.redacted_url)
        self._pipe = (
            None
            if settings.cluster
            else CommandPipe(
                client.connection_pool,
                timeout=settings.socket_timeout,
                on_reconnect=self._marker_recheck,
            )
        )
        self._scripts = ScriptRunner(client, self._pipe)
        timeout = settings.socket_timeout
        self._handoff = Handoff(
            self._run,
            self._keys,
            ClusterBlocker(client, timeout=timeout)
            if settings.cluster
            else PoolBlocker(client.connection_pool, timeout=timeout),
        )
        self._targets: dict[str, ScriptTarget] = {}
        self._notifier = Notifier(client)
        self._codec = PayloadCodec(max_bytes=settings.max_payload_bytes)
        self._checking = False
        self._closed = False
        self.dead_letters = DeadLetters(self)

    def __repr__(self) -> str:
        return (
            f"RedisJobQueue({self._settings.redacted_url!r}, prefix={self._settings.key_prefix!r})"
        )

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""
        return CAPABILITIES

    @property
    def data_losses(self) -> int:
        """How often the server was found to have lost its data since this adapter opened."""
        return self._marker.data_losses

    # --- plumbing ------------------------------------------------------------------------------

    def _keys(self, queue: str) -> QueueKeys:
        """The keys of ``queue`` (validated) under this adapter's prefix."""
        return QueueKeys(self._settings.key_prefix, check_name("queue", queue))

    def _target(self, queue: str) -> ScriptTarget:
        """What the scripts of ``queue`` (validated here) run on; cached per queue name."""
        found = self._targets.get(queue)
        if found is None:
            if len(self._targets) >= _KEY_CACHE:
                self._targets.clear()
            found = self._targets[queue] = ScriptTarget(self._keys(queue))
        return found

    def _marker_recheck(self) -> None:
        self._marker.recheck = True

    async def _run(self, name: str, queue: str, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on ``queue``; failures become kmsg errors (connection.py)."""
        target = self._target(queue)
        if self._marker.due() and not self._checking:
            await self._check_marker()
        try:
            return await self._scripts.run(name, target, args)
        except Exception as exc:
            error = translate_error(self._settings, exc)
            if error is exc:
                raise
            if type(error) is BackendUnavailable:
                self._marker.recheck = True
            raise error from exc

    async def _command(self, *args: Any, **options: Any) -> Any:
        """Run one plain Redis command (reads and checks outside the scripts)."""
        with backend_errors(self._settings):
            return await self._client.execute_command(*args, **options)

    async def _each_primary(self, *args: Any) -> list[Any]:
        """Run one command on every primary (the one server, or each Cluster primary)."""
        if not self._settings.cluster:
            return [await self._command(*args)]
        return [
            await self._command(*args, target_nodes=node) for node in self._client.get_primaries()
        ]

    async def _check_marker(self) -> None:
        """Check the marker; a failure is left to the call that follows (and checked later)."""
        self._checking = True
        try:
            await self._marker.check(self._command)
        except BackendUnavailable as exc:
            self._marker.recheck = True
            _log.debug("could not check the marker of %s: %s", self._settings.redacted_url, exc)
        finally:
            self._checking = False

    async def check_connection(self) -> None:
        """Ping the server; ``BackendUnavailable`` if it does not answer."""
        await self._command("PING")

    async def check_server(self) -> None:
        """Refuse an old or evicting server (see :mod:`kmsg.adapters.redis.server`)."""
        try:
            infos = [parse_info(reply) for reply in await self._each_primary("INFO", "all")]
        except BackendUnavailable as exc:
            _log.warning("cannot read INFO to check the server's settings: %s", exc)
            return
        check_server(infos, self._settings.redacted_url, eviction=self._settings.eviction)
        await self._check_marker()

    # --- producing -----------------------------------------------------------------------------

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch, one atomic script call per step (see the contract's docstring)."""
        check_batch(len(jobs))
        prepared = [prepare_job(job, self._codec) for job in jobs]
        return await write_in_steps(
            prepared, batch_steps(prepared, per_queue=True), self._enqueue_step
        )

    async def _enqueue_step(self, jobs: list[PreparedJob]) -> list[str]:
        args: list[Any] = [len(jobs)]
        for job in jobs:
            args += new_job_args(job)
        reply = await self._run("enqueue", jobs[0].queue, args)
        return [job_id.decode() for job_id in reply[::2]]

    # --- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs (see :meth:`kmsg.JobQueue.claim`).

        With ``wait``, an enqueue hands a new job straight to the waiting claimer (already
        claimed for it; see :mod:`kmsg.adapters.redis.handoff`); cancelling the call while it
        waits releases a job handed over meanwhile.
        """
        wait = check_seconds("wait", wait, high=MAX_LEASE)
        if wait <= 0:
            return await self._handoff.claim(queue, limit=limit, lease=lease)
        with backend_errors(self._settings):
            return await self._claim_waiting(queue, limit, lease, wait)

    async def _claim_round(
        self, queue: str, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        """Claim, or wait up to ``wait`` seconds for a job handed over by an enqueue."""
        return await self._handoff.claim(queue, limit=limit, lease=lease, wait=wait)

    async def _fenced(self, name: str, lease: Lease, args: Sequence[Any] = ()) -> Any:
        check_lease_arg(lease)
        return await self._run(name, lease.queue, [lease.job_id, lease.token, *args])

    @staticmethod
    def _lost(lease: Lease, code: bytes) -> LeaseLost:
        return lease_lost(lease, _LOST[code])

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Mark the held job completed (see :meth:`kmsg.JobQueue.complete`)."""
        result = check_result(result)
        code = await self._fenced(
            "complete", lease, ["0" if result is None else "1", result or b""]
        )
        if code != b"ok":
            raise self._lost(lease, code)

    def _steps_by_queue(self, leases: Sequence[Lease]) -> list[tuple[str, Sequence[int]]]:
        """The leases' indexes grouped by queue and cut into steps (names validated here)."""
        by_queue: dict[str, list[int]] = {}
        for index, lease in enumerate(leases):
            check_lease_arg(lease)
            self._target(lease.queue)
            by_queue.setdefault(lease.queue, []).append(index)
        return [(queue, step) for queue, indexes in by_queue.items() for step in chunks(indexes)]

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch of held jobs, one script per queue and step (see the contract)."""
        check_batch(len(completions))
        results = [check_result(result) for _, result in completions]
        steps = self._steps_by_queue([lease for lease, _ in completions])
        done = [False] * len(completions)
        for queue, step in steps:
            args: list[Any] = []
            for index in step:
                lease, result = completions[index][0], results[index]
                args += (lease.job_id, lease.token, "0" if result is None else "1", result or b"")
            codes = await self._run("complete_many", queue, args)
            for index, code in zip(step, codes, strict=True):
                done[index] = code == b"ok"
        return done

    async def fail(
        self,
        lease: Lease,
        error: BaseException | str,
        *,
        retry_in: float | None = None,
        retryable: bool = True,
    ) -> JobState:
        """Record a failed attempt (see :meth:`kmsg.JobQueue.fail`); return the new state."""
        retry_arg: float | str = "" if retry_in is None else check_seconds("retry_in", retry_in)
        kind, message = describe_error(error)
        args = [kind, message, retry_arg, "1" if retryable else "0"]
        code = await self._fenced("fail", lease, args)
        if code not in (b"delayed", b"failed"):
            raise self._lost(lease, code)
        _log.info(
            "job %s of queue %s failed (%s); now %s",
            lease.job_id,
            lease.queue,
            kind,
            code.decode(),
            extra={"job_id": lease.job_id, "queue": lease.queue},
        )
        return JobState(code.decode())

    async def extend(self, lease: Lease, duration: float) -> float:
        """Heartbeat (see :meth:`kmsg.JobQueue.extend`); return the new deadline."""
        reply = await self._fenced("extend", lease, [check_lease(duration)])
        if reply in _LOST:
            raise self._lost(lease, reply)
        return float(reply)

    async def extend_many(
        self, leases: Sequence[Lease], duration: float
    ) -> list[float | LeaseLost]:
        """Heartbeat a batch, one script per queue and step (see the contract's docstring)."""
        check_batch(len(leases))
        seconds = check_lease(duration)
        outcomes: list[float | LeaseLost] = [0.0] * len(leases)
        for queue, step in self._steps_by_queue(leases):
            args: list[Any] = [seconds]
            for index in step:
                args += (leases[index].job_id, leases[index].token)
            replies = await self._run("extend_many", queue, args)
            for index, reply in zip(step, replies, strict=True):
                lost = reply in _LOST
                outcomes[index] = self._lost(leases[index], reply) if lost else float(reply)
        return outcomes

    async def release(self, lease: Lease) -> None:
        """Give back a held job unstarted (see :meth:`kmsg.JobQueue.release`)."""
        code = await self._fenced("release", lease)
        if code not in (b"ok", b"cancelled"):
            raise self._lost(lease, code)

    async def wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable (pub/sub push or the next due time) or at max_wait."""
        keys = self._keys(queue)
        max_wait = check_seconds("max_wait", max_wait, high=MAX_LEASE)
        with anyio.move_on_after(max_wait):
            with backend_errors(self._settings):
                event = await self._notifier.register(keys.channel)
            try:
                wait_ms = await self._run("wake", queue, [max_wait])
                if wait_ms == 0:
                    return
                with anyio.move_on_after(wait_ms / 1000 if wait_ms > 0 else None):
                    await event.wait()
            finally:
                self._notifier.unregister(keys.channel, event)

    # --- reading -------------------------------------------------------------------------------

    async def get(self, queue: str, job_id: str) -> Job:
        """The job's current snapshot; ``JobNotFound`` if there is none."""
        keys = self._keys(queue)
        blob = await self._command("HGET", keys.jobs, check_name("job id", job_id))
        if blob is None:
            raise JobNotFound(queue, job_id)
        return job_from_record(job_id, queue, blob)

    async def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Up to ``limit`` pending jobs in claim order."""
        return list((await self.list_jobs(queue, JobState.PENDING, limit=limit)).jobs)

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state, oldest pending age and settings, read in one script."""
        reply = await self._run("stats", queue)
        counts = [int(count) for count in reply[:6]]
        age, paused, rate_max, rate_per, missing = reply[6:11]
        rate = RateLimit(max_jobs=int(rate_max), per_seconds=float(rate_per)) if rate_max else None
        return QueueStats(
            queue=queue,
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

    async def queues(self) -> list[str]:
        """Names of the queues that have held jobs or settings, sorted (a ``SCAN`` of each
        primary for the queues' meta keys, so it is right for every client after a restart)."""
        prefix = self._settings.key_prefix
        pattern = meta_pattern(prefix)
        names: set[str] = set()
        for node in self._client.get_primaries() if self._settings.cluster else [None]:
            options = {} if node is None else {"target_nodes": node}
            cursor: Any = 0
            for _ in range(_MAX_STEPS):
                reply = await self._command(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT, **options
                )
                cursor, keys = reply
                if isinstance(cursor, dict):  # a Cluster client keys the cursor by node
                    (cursor,) = cursor.values()
                for key in keys:
                    name = queue_of(prefix, key.decode() if isinstance(key, bytes) else key)
                    if name is not None:
                        names.add(name)
                if int(cursor) == 0:
                    break
        return sorted(names)

    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the jobs in ``state`` (see :meth:`kmsg.JobQueue.list_jobs`), read in steps
        of at most ``STEP_JOBS`` jobs."""
        (state,) = check_states([state], allowed=JobState)
        check_limit(limit)
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError("cursor must be a string from a previous page")
        position = ("", "") if cursor is None else decode_cursor(cursor, state)
        jobs: list[Job] = []
        more = True
        for _ in range(limit // STEP_JOBS + 4):  # a few more steps for entries found missing
            want = min(limit - len(jobs), STEP_JOBS)
            reply = await self._run("list", queue, [state.value, want, *position])
            more = reply[0] == 1
            if reply[1]:
                position = (reply[1].decode(), reply[2].decode())
            jobs += [
                job_from_record(reply[i].decode(), queue, reply[i + 1])
                for i in range(3, len(reply), 2)
            ]
            if not more or len(jobs) >= limit:
                break
        next_cursor = None
        if more and position[0]:
            next_cursor = encode_cursor(state, position[0].encode(), position[1].encode())
        return JobPage(jobs=tuple(jobs), next_cursor=next_cursor)

    async def _jobs_by_id(self, queue: str, job_ids: Sequence[str]) -> list[Job]:
        """The jobs of ``queue`` with these ids that exist, one script call per step."""
        found: list[Job] = []
        for step in chunks(job_ids):
            blobs = await self._run("jobs", queue, list(step))
            found += [
                job_from_record(job_id, queue, blob)
                for job_id, blob in zip(step, blobs, strict=True)
                if blob is not None
            ]
        return found

    async def _repeat(
        self, name: str, queue: str, args: Callable[[str, list[str]], list[Any]]
    ) -> int:
        """Run a bounded-step script until it says nothing more is left; return the total.

        The script gets ``args(cutoff, position)`` ('' and [] the first time) and answers
        ``{count, cutoff, more, *position}``: the cut-off it fixed on the first step, and where
        it stopped (if it says), are passed to the next step."""
        total, cutoff = 0, ""
        position: list[str] = []
        for _ in range(_MAX_STEPS):
            count, fixed, more, *rest = await self._run(name, queue, args(cutoff, position))
            total += int(count)
            cutoff = fixed.decode()
            position = [part.decode() for part in rest]
            if not more:
                break
        return total

    # --- dead letters --------------------------------------------------------------------------

    async def retry_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        to_queue: str | None = None,
    ) -> int:
        """Send dead letters back to pending (see :meth:`kmsg.JobQueue.retry_failed`)."""
        return await self.dead_letters.retry(queue, job_ids, to_queue=to_queue)

    async def purge_failed(
        self,
        queue: str,
        job_ids: Iterable[str] | None = None,
        *,
        older_than: float | None = None,
    ) -> int:
        """Delete dead letters (see :meth:`kmsg.JobQueue.purge_failed`)."""
        return await self.dead_letters.purge(queue, job_ids, older_than=older_than)

    # --- housekeeping --------------------------------------------------------------------------

    async def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job; return its state afterwards (see :meth:`kmsg.JobQueue.cancel`)."""
        code = await self._run("cancel", queue, [check_name("job id", job_id)])
        if code == b"gone":
            raise JobNotFound(queue, job_id)
        return JobState(code.decode())

    async def remove(self, queue: str, job_id: str) -> bool:
        """Delete a job in any state; return whether it existed."""
        return bool(await self._run("remove", queue, [check_name("job id", job_id)]))

    async def clear(self, queue: str) -> int:
        """Delete every job of the queue (settings kept) in O(1); return how many."""
        return int(await self._run("clear", queue))

    async def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Delete terminal jobs in ``states`` that ended ``older_than`` seconds ago, in steps."""
        chosen = sorted(check_states(states, allowed=_TERMINAL))
        seconds = check_seconds("older_than", older_than)
        return await self._repeat("cleanup", queue, lambda cutoff, _: [cutoff, seconds, *chosen])

    async def pause(self, queue: str) -> None:
        """Stop claim from handing out jobs of the queue."""
        await self._run("pause", queue, ["1"])

    async def resume(self, queue: str) -> None:
        """Undo :meth:`pause` (and wake waiters)."""
        await self._run("pause", queue, ["0"])

    async def set_rate_limit(
        self, queue: str, max_jobs: int | None, per_seconds: float = 1.0
    ) -> None:
        """Token bucket of ``max_jobs`` per ``per_seconds``, enforced inside claim."""
        check_name("queue", queue)
        limit, period = check_rate_limit(max_jobs, per_seconds)
        await self._run("rate_limit", queue, ["", ""] if limit is None else [limit, period])

    async def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write snapshots as they are; existing ids are skipped. One script per step."""
        check_batch(len(jobs))
        by_queue: dict[str, list[Job]] = {}
        for job in jobs:
            if not isinstance(job, Job):
                raise ValidationError(f"expected a kmsg.Job, not {type(job).__name__}")
            check_name("job id", job.id)
            check_name("task", job.task)
            by_queue.setdefault(check_name("queue", job.queue), []).append(job)
        written = 0
        for queue, batch in by_queue.items():
            written += len(await self._write_snapshots(queue, batch, "import"))
        return written

    async def _write_snapshots(self, queue: str, jobs: Sequence[Job], mode: str) -> list[str]:
        """Run import.lua on ``queue`` in steps (``mode`` 'import' or 'retry'); return the ids
        that were new there (the others existed already and were left alone)."""
        written: list[str] = []
        step: list[Any] = []
        size = count = 0
        for job in [*jobs, None]:
            full = count >= STEP_JOBS or (job is not None and size + len(job.payload) > STEP_BYTES)
            if count and (job is None or full):
                reply = await self._run("import", queue, [mode, count, *step])
                written += [job_id.decode() for job_id in reply]
                step, size, count = [], 0, 0
            if job is not None:
                step += import_args(job)
                size += len(job.payload)
                count += 1
        return written

    async def aclose(self) -> None:
        """Close the pub/sub reader and the connection pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._notifier.aclose()
        await self._handoff.aclose()
        if self._pipe is not None:
            await self._pipe.aclose()
        await self._client.aclose()
