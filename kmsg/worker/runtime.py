"""The worker: claims jobs from its queues and runs their handlers, at most ``concurrency`` at once.

The claim loop asks for as many jobs as it has free slots (one ``claim`` per queue per round,
queues taken round-robin so none starves), starts each job as a task, and when nothing is due
waits in the queue's ``wait_for_jobs`` (a wake-up signal on Redis, cheap polling on SQLite) for
at most ``idle_wait`` seconds before claiming again. A worker on one queue claims and waits in
one call (``claim(wait=...)``): on a backend with ``direct_handoff`` (Redis) an enqueue then
hands the new job straight to the idle worker.

Handlers run as tasks of a :class:`~kmsg.worker.detached.DetachedTaskGroup`, so the worker can
stop waiting for one that will not end. A plain ``def`` handler runs in a worker thread; a
watchdog (:mod:`kmsg.worker.watchdog`) reports an ``async def`` handler that blocks the loop.

Shutdown (``stop()``, SIGINT or SIGTERM): claiming stops at once, running jobs get
``shutdown_grace`` seconds to finish and be acknowledged, then the rest are cancelled and
``release``\\d (back to ``pending``, attempt refunded); completions already made are sent before
``run()`` returns (:mod:`kmsg.worker.acks` batches them). A second signal skips what is left of
the grace period. Cancelling ``run()`` itself from outside is a hard stop: running jobs are
cancelled, not acknowledged, and come back when their leases end.

Either way, ``run()`` returns within ``shutdown_grace`` (0 for a hard stop) plus
:data:`ABANDON_AFTER` seconds, even if a handler swallows its cancellation: what has not ended by
then is *abandoned* (logged with job id and task, listed in :attr:`Worker.abandoned`) and left to
its lease; such a handler may go on running in the background, and if it ends, its job is left
untouched. (The claim call in progress when ``stop()`` comes, on several queues, is not cut short.)
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from kmsg.codec import PayloadCodec
from kmsg.errors import ValidationError
from kmsg.models import ClaimedJob, Job
from kmsg.queue import JobQueue
from kmsg.validation import check_lease, check_limit, check_name, check_seconds
from kmsg.worker.detached import DetachedTaskGroup
from kmsg.worker.events import EventListener
from kmsg.worker.execution import JobRunner, RunnerConfig, job_on_stack
from kmsg.worker.log import logger, queue_extra
from kmsg.worker.registry import HandlerFunc, HandlerRegistry
from kmsg.worker.retry import RetryPolicy
from kmsg.worker.watchdog import LoopWatchdog, default_threshold

__all__ = ["Worker"]

ABANDON_AFTER: Final = 2.0
"""Seconds a stopping worker waits, after the grace period (or after cancelling its jobs on a hard
stop), for handlers to stop and acknowledgements to finish, before abandoning what is left."""

F = TypeVar("F", bound=HandlerFunc)
_JOB_TASK = "kmsg.worker job"  # named up front: anyio would otherwise derive it for every job


class Worker:
    """Runs the handlers of claimed jobs (see the module docstring for the life of a run).

    - ``queue``: the :class:`~kmsg.JobQueue` to work on; ``queues``: the queue names to claim from.
    - ``concurrency``: most handlers running at once.
    - ``lease``: seconds each claim holds a job; running jobs are extended once a third of it has
      passed, or earlier when heartbeat round trips are slow (:mod:`kmsg.worker.heartbeats`).
    - ``job_timeout``: seconds a handler may run (None: no limit); overrunning is a retryable
      failure of type ``JobTimeout``.
    - ``retry_policy``: delay before a failed job runs again. None (the default) uses each job's
      own ``backoff`` with equal jitter; a :class:`RetryPolicy` applies to every job.
    - ``shutdown_grace``: seconds running jobs may take to finish once stopping.
    - ``idle_wait``: most seconds per wait while idle (on one queue also at most a sixth of
      ``lease``: a job handed over at the end of a wait counts its lease from the wait's start).
    - ``codec``: decodes payloads (default: a new :class:`~kmsg.PayloadCodec`).
    - ``install_signal_handlers``: whether :meth:`run` stops gracefully on SIGINT / SIGTERM
      (needs the main thread); turn it off when embedding the worker in an app that owns signals.
    - ``loop_block_threshold``: seconds the event loop may go without running before the
      watchdog warns, naming the job whose handler blocks it (default: ``min(1 s, lease / 4)``).
    """

    def __init__(
        self,
        queue: JobQueue,
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int = 10,
        lease: float = 30.0,
        job_timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
        shutdown_grace: float = 10.0,
        idle_wait: float = 1.0,
        codec: PayloadCodec | None = None,
        install_signal_handlers: bool = True,
        loop_block_threshold: float | None = None,
    ) -> None:
        if isinstance(queues, str):
            queues = (queues,)
        self.queue = queue
        self.queues: tuple[str, ...] = tuple(dict.fromkeys(check_name("queue", q) for q in queues))
        if not self.queues:
            raise ValidationError("a worker needs at least one queue name")
        self.concurrency = check_limit(concurrency)
        self.lease = check_lease(lease)
        self.job_timeout = (
            None if job_timeout is None else check_seconds("job_timeout", job_timeout)
        )
        self.shutdown_grace = check_seconds("shutdown_grace", shutdown_grace)
        self.idle_wait = check_seconds("idle_wait", idle_wait)
        self.install_signal_handlers = install_signal_handlers
        if loop_block_threshold is None:
            loop_block_threshold = default_threshold(self.lease)
        self.loop_block_threshold = check_seconds("loop_block_threshold", loop_block_threshold)
        if not self.loop_block_threshold > 0:
            raise ValidationError("loop_block_threshold must be more than 0 seconds")
        self._registry = HandlerRegistry()
        self._listeners: list[EventListener] = []
        self._config = RunnerConfig(
            queue=queue,
            registry=self._registry,
            codec=codec if codec is not None else PayloadCodec(),
            lease=self.lease,
            job_timeout=self.job_timeout,
            retry_policy=retry_policy,
            listeners=self._listeners,
            concurrency=self.concurrency,
        )
        self._runner: JobRunner | None = None
        self._abandoned: tuple[Job, ...] = ()
        self._stopping = False
        self._wait_scope: anyio.CancelScope | None = None
        self._grace_scope: anyio.CancelScope | None = None
        self._changed: anyio.Event | None = None
        self._next_queue = 0

    def __repr__(self) -> str:
        return (
            f"Worker(queues={list(self.queues)}, concurrency={self.concurrency}, "
            f"tasks={self._registry.names()})"
        )

    # --- set-up --------------------------------------------------------------------------------

    def task(self, func: F) -> F:
        """Decorator: register ``func`` for its payload type's task (see :meth:`register`)."""
        self._registry.add(func)
        return func

    def register(self, handler: F, task: str | None = None) -> F:
        """Register ``handler`` for ``task`` (default: the task name of its payload type).

        The payload type is the msgspec Struct annotated on the handler's first parameter. An
        ``async def`` handler runs on the event loop and must not block it; a plain ``def``
        handler runs in a worker thread (at most ``concurrency`` at once). Raises
        ``RegistrationError`` for a generator, a handler lacking that annotation, or a task name
        that already has a handler.
        """
        self._registry.add(handler, task)
        return handler

    def add_listener(self, callback: EventListener) -> None:
        """Call ``callback(event)`` synchronously for every :class:`WorkerEvent`."""
        self._listeners.append(callback)

    @property
    def tasks(self) -> list[str]:
        """The task names with a registered handler, sorted."""
        return self._registry.names()

    @property
    def in_flight(self) -> int:
        """Jobs claimed by the current run and not yet acknowledged."""
        return 0 if self._runner is None else self._runner.active

    @property
    def abandoned(self) -> tuple[Job, ...]:
        """The jobs the last run gave up on when it stopped (see the module docstring): their
        handlers ignored cancellation, or their acknowledgements did not finish in time. Their
        leases will run out; a handler may still be running in the background."""
        return self._abandoned

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool | None = None) -> None:
        """Work until :meth:`stop` (or SIGINT / SIGTERM), then shut down gracefully.

        ``install_signal_handlers`` overrides the constructor's setting for this run.
        """
        signals = self.install_signal_handlers
        if install_signal_handlers is not None:
            signals = install_signal_handlers
        await self._serve(until_idle=False, signals=signals)

    async def run_until_idle(self) -> None:
        """Work until no job of the worker's queues is pending, delayed or processing; return.

        For tests and demos. Jobs another worker holds keep it waiting until they finish or
        their leases end; a paused queue with pending jobs keeps it waiting until resumed.
        """
        await self._serve(until_idle=True, signals=False)

    def stop(self) -> None:
        """Stop a running worker gracefully (as SIGTERM does). Call it from the worker's thread."""
        self._stopping = True
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def hurry(self) -> None:
        """Skip what is left of the grace period of a stopping worker: running jobs are released
        now (as a second SIGINT / SIGTERM does). Call it from the worker's thread."""
        if self._stopping and self._grace_scope is not None:
            self._grace_scope.cancel()

    async def _serve(self, *, until_idle: bool, signals: bool) -> None:
        if self._runner is not None:
            raise RuntimeError(f"{self!r} is already running")
        self._stopping = False
        self._abandoned = ()
        runner = self._runner = JobRunner(self._config, self._job_done)
        jobs = DetachedTaskGroup(f"{_JOB_TASK}s", on_end=self._jobs_ended)
        watchdog = LoopWatchdog(self.loop_block_threshold, job_on_stack, runner.loop_blocked)
        logger.info("worker started on queues %s", list(self.queues), extra=queue_extra())
        try:
            async with anyio.create_task_group() as services:
                if signals:
                    await services.start(self._watch_signals)
                services.start_soon(runner.heartbeat)
                services.start_soon(runner.flush_completions)
                services.start_soon(watchdog.run)
                try:
                    await jobs.open()
                    await self._claim_loop(jobs, runner, until_idle)
                    await self._drain(runner, jobs)
                except BaseException:  # cancelled from outside, or failed: a hard stop
                    with anyio.CancelScope(shield=True):
                        await self._cancel_jobs(runner, jobs)
                    raise
                services.cancel_scope.cancel()
        finally:
            self._runner = None
            logger.info("worker stopped", extra=queue_extra())
        if jobs.error is not None:
            raise jobs.error

    async def _drain(self, runner: JobRunner, jobs: DetachedTaskGroup) -> None:
        """Graceful: the grace period, then release what still runs, then abandon what is left
        after :data:`ABANDON_AFTER` seconds. Completions made meanwhile are sent."""
        if runner.active:
            logger.info(
                "stopping: waiting up to %gs for %d running jobs",
                self.shutdown_grace,
                runner.active,
                extra=queue_extra(),
            )
        with anyio.move_on_after(self.shutdown_grace) as scope:
            self._grace_scope = scope
            while runner.active:
                await self._wait_changed()
        self._grace_scope = None
        runner.release_all()
        jobs.close()
        with anyio.move_on_after(ABANDON_AFTER):
            while runner.active:
                await self._wait_changed()
        if runner.active:
            self._abandoned = tuple(runner.abandon())
            jobs.cancel()  # acknowledgements still in progress; a deaf handler ignores it

    async def _cancel_jobs(self, runner: JobRunner, jobs: DetachedTaskGroup) -> None:
        """Hard stop: cancel every job task (nothing more is acknowledged) and wait up to
        :data:`ABANDON_AFTER` seconds for them to end; abandon the rest."""
        jobs.cancel()
        with anyio.move_on_after(ABANDON_AFTER):
            await jobs.wait()
        if not jobs.ended:
            self._abandoned = tuple(runner.abandon())

    def _jobs_ended(self, error: BaseException | None) -> None:
        """The job task group ended: at shutdown, or because a task raised a BaseException."""
        if error is not None:
            self.stop()
        self._job_done()

    async def _watch_signals(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            task_status.started()
            async for signum in received:
                name = signal.Signals(signum).name
                if not self._stopping:
                    logger.info("%s received: stopping gracefully", name, extra=queue_extra())
                    self.stop()
                elif self._grace_scope is not None:
                    logger.info(
                        "%s received again: releasing running jobs now", name, extra=queue_extra()
                    )
                    self.hurry()

    # --- claiming ------------------------------------------------------------------------------

    async def _claim_loop(
        self, jobs: DetachedTaskGroup, runner: JobRunner, until_idle: bool
    ) -> None:
        waits_in_claim = len(self.queues) == 1 and not until_idle
        while not self._stopping:
            free = self.concurrency - runner.active
            if free <= 0:
                await self._interruptible(self._wait_changed)
                continue
            claimed_at = anyio.current_time()
            if waits_in_claim:
                claimed, ok = await self._claim_waiting(free)
            else:
                claimed, ok = await self._claim(free)
            for job in claimed:
                runner.admit(job)
                jobs.start_soon(runner.run, job, claimed_at, name=_JOB_TASK)
            if claimed:
                await anyio.lowlevel.checkpoint()  # let the new jobs start before claiming more
                continue
            if waits_in_claim:  # it has waited already
                if not ok:
                    await self._interruptible(self._pause)
                continue
            wait = self._wait_for_jobs if ok else self._pause
            if until_idle and ok:
                if not runner.active and await self._queues_idle():
                    return
                if runner.active:
                    wait = self._wait_changed_briefly
            await self._interruptible(wait)

    async def _claim(self, limit: int) -> tuple[list[ClaimedJob], bool]:
        """Up to ``limit`` jobs, fairly from the queues; and whether every claim call succeeded."""
        count = len(self.queues)
        start = self._next_queue
        self._next_queue = (start + 1) % count
        claimed: list[ClaimedJob] = []
        ok = True
        for offset in range(count):
            name = self.queues[(start + offset) % count]
            try:
                claimed += await self.queue.claim(
                    name, limit=limit - len(claimed), lease=self.lease
                )
            except Exception as exc:
                ok = False
                logger.warning("claim from %r failed: %s", name, exc, extra=queue_extra(name))
            if len(claimed) >= limit:
                break
        return claimed, ok

    async def _claim_waiting(self, limit: int) -> tuple[list[ClaimedJob], bool]:
        """Up to ``limit`` jobs of the one queue, waiting up to ``idle_wait`` when none is due
        (:meth:`stop` cuts the wait short); and whether the call succeeded."""
        name = self.queues[0]
        # A job handed over at the end of the wait has its lease counted from the wait's start
        # (the safe side): a sixth of the lease at most, so the first heartbeat stays ahead.
        wait = min(self.idle_wait, self.lease / 6.0)
        claimed: list[ClaimedJob] = []
        with anyio.CancelScope() as scope:
            self._wait_scope = scope
            try:
                if not self._stopping:
                    claimed = await self.queue.claim(name, limit=limit, lease=self.lease, wait=wait)
            except Exception as exc:
                logger.warning("claim from %r failed: %s", name, exc, extra=queue_extra(name))
                return [], False
            finally:
                self._wait_scope = None
        return claimed, True

    async def _wait_for_jobs(self) -> None:
        try:
            if len(self.queues) == 1:
                await self.queue.wait_for_jobs(self.queues[0], self.idle_wait)
                return
            async with anyio.create_task_group() as waiters:
                for name in self.queues:
                    waiters.start_soon(self._wait_one, name, waiters.cancel_scope)
        except Exception as exc:
            logger.warning("waiting for jobs failed: %s", exc, extra=queue_extra())
            await self._pause()

    async def _wait_one(self, name: str, group: anyio.CancelScope) -> None:
        await self.queue.wait_for_jobs(name, self.idle_wait)
        group.cancel()

    async def _pause(self) -> None:
        await anyio.sleep(self.idle_wait)

    async def _queues_idle(self) -> bool:
        for name in self.queues:
            stats = await self.queue.stats(name)
            if stats.pending or stats.delayed or stats.processing:
                return False
        return True

    # --- waking up -----------------------------------------------------------------------------

    async def _interruptible(self, wait: Callable[[], Awaitable[Any]]) -> None:
        """Run ``wait`` unless stopping; :meth:`stop` cuts it short."""
        with anyio.CancelScope() as scope:
            self._wait_scope = scope
            if not self._stopping:
                await wait()
        self._wait_scope = None

    async def _wait_changed(self) -> None:
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    async def _wait_changed_briefly(self) -> None:
        with anyio.move_on_after(self.idle_wait):
            await self._wait_changed()

    def _job_done(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
