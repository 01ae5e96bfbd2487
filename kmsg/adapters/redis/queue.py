"""RedisJobQueue: the JobQueue contract on Redis / Redis Cluster, one Lua script per call.

Key layout: :mod:`kmsg.adapters.redis.keys`. Scripts: ``lua/*.lua`` (each opens with its KEYS, ARGV
and return codes). Times come from the server's ``TIME`` inside the scripts, never from this host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final

import anyio

from kmsg.adapters.base import QueueBase, chunks
from kmsg.adapters.redis.connection import RedisSettings, backend_errors, translate_error
from kmsg.adapters.redis.deadletters import DeadLetters
from kmsg.adapters.redis.handoff import ClusterBlocker, Handoff, PoolBlocker
from kmsg.adapters.redis.keys import QueueKeys, queues_key
from kmsg.adapters.redis.mapping import (
    decode_cursor,
    encode_cursor,
    import_fields,
    job_from_flat,
    new_job_args,
)
from kmsg.adapters.redis.notify import Notifier
from kmsg.adapters.redis.pipe import CommandPipe
from kmsg.adapters.redis.scripts import ScriptRunner, ScriptTarget
from kmsg.codec import PayloadCodec
from kmsg.errors import JobNotFound, LeaseLost, ValidationError
from kmsg.models import (
    ClaimedJob,
    Job,
    JobPage,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
)
from kmsg.queue import Capabilities
from kmsg.validation import (
    MAX_LEASE,
    NewJob,
    PreparedJob,
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
    prepare_job,
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
_LOST_REASONS: Final = {
    b"lost": "lease token is stale",
    b"gone": "the job no longer exists",
    b"cancelled": "the job was cancelled",
}
_KEY_CACHE: Final = 4096
_TERMINAL: Final = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class RedisJobQueue(QueueBase):
    """A :class:`kmsg.JobQueue` on Redis; open it with :func:`kmsg.open_queue` (``redis://``).

    Beyond the contract: :meth:`check_connection` and ``dead_letters``. The underscored helpers
    (``_run``, ``_command``, ``_keys``, ...) serve the sibling modules of this package only.
    """

    def __init__(self, settings: RedisSettings, client: Any) -> None:
        self._settings = settings
        self._client = client
        self._pipe = (
            None
            if settings.cluster
            else CommandPipe(client.connection_pool, timeout=settings.socket_timeout)
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
        self._known_queues: set[str] = set()
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

    async def _run(self, name: str, queue: str, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on ``queue``; connection failures raise ``BackendUnavailable``."""
        target = self._target(queue)
        try:
            return await self._scripts.run(name, target, args)
        except Exception as exc:
            error = translate_error(self._settings, exc)
            if error is exc:
                raise
            raise error from exc

    async def _command(self, *args: Any) -> Any:
        """Run one plain Redis command (reads outside the scripts)."""
        with backend_errors(self._settings):
            return await self._client.execute_command(*args)

    async def _note_queue(self, queue: str) -> None:
        """Add ``queue`` to the global set of queue names (once per queue per adapter)."""
        if queue not in self._known_queues:
            await self._command("SADD", queues_key(self._settings.key_prefix), queue)
            self._known_queues.add(queue)

    async def check_connection(self) -> None:
        """Ping the server; ``BackendUnavailable`` if it does not answer."""
        await self._command("PING")

    # --- producing -----------------------------------------------------------------------------

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store a batch; one atomic script call per queue named in it."""
        check_batch(len(jobs))
        prepared = [prepare_job(job, self._codec) for job in jobs]
        by_queue: dict[str, list[int]] = {}
        for index, job in enumerate(prepared):
            by_queue.setdefault(job.queue, []).append(index)
        ids = [job.id for job in prepared]
        for queue, indexes in by_queue.items():
            await self._note_queue(queue)
            written = await self._enqueue_batch(queue, [prepared[i] for i in indexes])
            for index, job_id in zip(indexes, written, strict=True):
                ids[index] = job_id
        return ids

    async def _enqueue_batch(self, queue: str, jobs: list[PreparedJob]) -> list[str]:
        args: list[Any] = [queue, len(jobs)]
        for job in jobs:
            args += new_job_args(job)
        reply = await self._run("enqueue", queue, args)
        return [job_id.decode() for job_id in reply]

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
        return LeaseLost(lease.queue, lease.job_id, _LOST_REASONS.get(code, code.decode()))

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Mark the held job completed (see :meth:`kmsg.JobQueue.complete`)."""
        result = check_result(result)
        code = await self._fenced(
            "complete", lease, ["0" if result is None else "1", result or b""]
        )
        if code != b"ok":
            raise self._lost(lease, code)

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch of held jobs, one script per queue (see the contract's docstring)."""
        check_batch(len(completions))
        by_queue: dict[str, list[int]] = {}
        args: list[Any] = []
        for index, (lease, result) in enumerate(completions):
            check_lease_arg(lease)
            checked = check_result(result)
            self._target(lease.queue)  # validates the name before anything is written
            by_queue.setdefault(lease.queue, []).append(index)
            args += (lease.job_id, lease.token, "0" if checked is None else "1", checked or b"")
        done = [False] * len(completions)
        for queue, indexes in by_queue.items():
            queue_args: list[Any] = []
            for index in indexes:
                queue_args += args[4 * index : 4 * index + 4]
            codes = await self._run("complete_many", queue, queue_args)
            for index, code in zip(indexes, codes, strict=True):
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
        if reply[0] != b"ok":
            raise self._lost(lease, reply[0])
        return float(reply[1])

    async def extend_many(
        self, leases: Sequence[Lease], duration: float
    ) -> list[float | LeaseLost]:
        """Heartbeat a batch, one script per queue and step (see the contract's docstring)."""
        check_batch(len(leases))
        seconds = check_lease(duration)
        by_queue: dict[str, list[int]] = {}
        for index, lease in enumerate(leases):
            check_lease_arg(lease)
            self._target(lease.queue)  # validates the name before anything is written
            by_queue.setdefault(lease.queue, []).append(index)
        outcomes: list[float | LeaseLost] = [0.0] * len(leases)
        for queue, indexes in by_queue.items():
            for step in chunks(indexes):
                args: list[Any] = [seconds]
                for index in step:
                    args += (leases[index].job_id, leases[index].token)
                replies = await self._run("extend_many", queue, args)
                for index, reply in zip(step, replies, strict=True):
                    code = bytes(reply)
                    lost = code in _LOST_REASONS
                    outcomes[index] = self._lost(leases[index], code) if lost else float(code)
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
        flat = await self._command("HGETALL", self._keys(queue).job(check_name("job id", job_id)))
        if not flat:
            raise JobNotFound(queue, job_id)
        return job_from_flat(_flatten(flat))

    async def peek(self, queue: str, *, limit: int = 1) -> list[Job]:
        """Up to ``limit`` pending jobs in claim order."""
        return list((await self.list_jobs(queue, JobState.PENDING, limit=limit)).jobs)

    async def stats(self, queue: str) -> QueueStats:
        """Counts per state, oldest pending age and settings, read in one script."""
        reply = await self._run("stats", queue)
        counts = [int(count) for count in reply[:6]]
        age, paused, rate_max, rate_per = reply[6:10]
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
        )

    async def queues(self) -> list[str]:
        """Names of the queues that have held jobs or settings, sorted."""
        members = await self._command("SMEMBERS", queues_key(self._settings.key_prefix))
        return sorted(member.decode() for member in members)

    async def list_jobs(
        self, queue: str, state: JobState, *, limit: int = 100, cursor: str | None = None
    ) -> JobPage:
        """One page of the jobs in ``state`` (see :meth:`kmsg.JobQueue.list_jobs`)."""
        (state,) = check_states([state], allowed=JobState)
        check_limit(limit)
        score, after = ("", "") if cursor is None else decode_cursor(cursor, state)
        reply = await self._run("list", queue, [state.value, limit, score, after])
        rows = [reply[i : i + 3] for i in range(1, len(reply), 3)]
        jobs = tuple(job_from_flat(flat) for _, _, flat in rows)
        next_cursor = None
        if reply[0] == 1 and rows:
            next_cursor = encode_cursor(state, rows[-1][1], rows[-1][0])
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    async def _jobs_by_id(self, queue: str, job_ids: Sequence[str]) -> list[Job]:
        """The jobs of ``queue`` with these ids that exist, in one script call."""
        reply = await self._run("jobs", queue, list(job_ids))
        return [job_from_flat(flat) for flat in reply if flat]

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
        """Delete every job of the queue (settings kept); return how many."""
        return int(await self._run("clear", queue))

    async def cleanup(self, queue: str, states: Iterable[JobState], older_than: float) -> int:
        """Delete terminal jobs in ``states`` that ended more than ``older_than`` seconds ago."""
        chosen = check_states(states, allowed=_TERMINAL)
        seconds = check_seconds("older_than", older_than)
        return int(await self._run("cleanup", queue, [seconds, *sorted(chosen)]))

    async def pause(self, queue: str) -> None:
        """Stop claim from handing out jobs of the queue."""
        await self._note_queue(check_name("queue", queue))
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
        if limit is None:
            await self._run("rate_limit", queue, ["", ""])
            return
        await self._note_queue(queue)
        await self._run("rate_limit", queue, [limit, period])

    async def import_jobs(self, jobs: Sequence[Job]) -> int:
        """Write snapshots as they are; existing ids are skipped. One script per queue."""
        check_batch(len(jobs))
        by_queue: dict[str, list[Job]] = {}
        for job in jobs:
            if not isinstance(job, Job):
                raise ValidationError(f"expected a kmsg.Job, not {type(job).__name__}")
            check_name("job id", job.id)
            by_queue.setdefault(check_name("queue", job.queue), []).append(job)
        return sum(
            [await self._write_snapshots(q, batch, "import") for q, batch in by_queue.items()]
        )

    async def _write_snapshots(self, queue: str, jobs: Sequence[Job], mode: str) -> int:
        """Run import.lua on ``queue`` (``mode`` 'import' or 'retry'); return how many were new."""
        await self._note_queue(queue)
        args: list[Any] = [mode, len(jobs)]
        for job in jobs:
            args += import_fields(job, queue)
        return int(await self._run("import", queue, args))

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


def _flatten(reply: Any) -> list[bytes]:
    """HGETALL through execute_command is a dict with some parsers: make it flat."""
    if isinstance(reply, dict):
        return [item for pair in reply.items() for item in pair]
    return list(reply)
