"""Running claimed jobs: decode, call the handler under a cancel scope, heartbeat, acknowledge.

One :class:`JobRunner` serves a worker's run. Each job is one task that

1. looks up the handler (unknown task: dead-lettered as ``UnknownTask``) and decodes the payload
   (``PayloadDecodeError``: dead-lettered), without ever calling the handler;
2. runs the handler inside its own cancel scope, whose deadline is the ``job_timeout``: an
   ``async def`` handler on the event loop, a plain ``def`` handler in a worker thread (through
   ``anyio.to_thread.run_sync`` with ``abandon_on_cancel=True`` and a thread limiter of the
   worker's concurrency), so a blocking handler cannot starve heartbeats, and a timeout, a lost
   lease or shutdown returns at once while the abandoned thread finishes in the background (its
   result is discarded);
3. acknowledges: a success goes to the worker's :class:`~kmsg.worker.acks.CompletionBuffer`
   (group commit: one ``complete_many`` for every job finished meanwhile) with the JSON-encoded
   return value; a failure is sent at once with ``fail`` and the retry decision (``Retry``,
   ``NonRetryable``, or the retry policy's delay).

A handler whose timeout cancelled it counts as timed out however it ended: one that swallows the
cancellation and returns normally, or that blocked past its deadline without ever yielding, is a
``JobTimeout`` failure, never a completion.

One heartbeat loop (:mod:`kmsg.worker.heartbeats`) renews every running job's lease in one
``extend_many`` call per tick. When a lease is lost (the lease expired and the job went to another
worker, the job was cancelled or removed, or heartbeats failed until the lease ran out by the
local clock) the handler's scope is cancelled at once, the reason is logged, and nothing more is
done with the job: another holder may be running it.

The runner counts every job from its claim to its acknowledgement (:attr:`JobRunner.active`), so
the worker can drain gracefully; at shutdown it may :meth:`~JobRunner.abandon` the jobs that will
not end, after which a late-finishing handler's job is left to its lease, untouched.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

import anyio
import anyio.to_thread
import msgspec

from kmsg.codec import PayloadCodec
from kmsg.errors import LeaseLost, PayloadDecodeError
from kmsg.models import ClaimedJob, Job, JobState, Lease
from kmsg.queue import JobQueue
from kmsg.tracing import handler_span, mark_failed
from kmsg.validation import MAX_DELAY, MAX_RESULT_BYTES
from kmsg.worker.acks import Completion, CompletionBuffer, Outcome
from kmsg.worker.context import JobContext, _current
from kmsg.worker.events import EventKind, EventListener, WorkerEvent, emit
from kmsg.worker.handler_errors import (
    JobTimeout,
    NonRetryable,
    ResultError,
    Retry,
    Snooze,
    UnknownTask,
)
from kmsg.worker.heartbeats import Heartbeats
from kmsg.worker.inflight import InFlight, Stop
from kmsg.worker.log import job_extra, logger
from kmsg.worker.registry import Handler, HandlerRegistry
from kmsg.worker.retry import RetryPolicy

__all__ = ["JobRunner", "RunnerConfig", "job_on_stack"]

_RETRY_STATES = frozenset({JobState.DELAYED, JobState.PENDING})


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """The settings a runner takes from its worker (see :class:`~kmsg.worker.Worker`)."""

    queue: JobQueue
    registry: HandlerRegistry
    codec: PayloadCodec
    lease: float
    job_timeout: float | None
    retry_policy: RetryPolicy | None
    listeners: list[EventListener]
    concurrency: int = 10


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _log_unacknowledged(job: Job, error: BaseException | bool = True) -> None:
    logger.error(
        "could not acknowledge job %s; it will be redelivered when its lease ends",
        job.id,
        extra=job_extra(job),
        exc_info=error,
    )


async def _run_async_handler(
    record: InFlight, func: Callable[[Any], Awaitable[Any]], payload: msgspec.Struct
) -> Any:
    """Await an async handler. ``record`` is unused here: :func:`job_on_stack` reads it from this
    frame to name the job whose handler blocks the event loop."""
    return await func(payload)


_ASYNC_HANDLER_CODE = _run_async_handler.__code__


def job_on_stack(frame: FrameType | None) -> Job | None:
    """The job whose async handler runs in ``frame`` or a frame below it on the stack, if any.

    For the loop watchdog: called from its thread with the loop thread's innermost frame, only
    when the loop is blocked, so it costs nothing per job.
    """
    while frame is not None:
        if frame.f_code is _ASYNC_HANDLER_CODE:
            record = frame.f_locals.get("record")
            return record.job if isinstance(record, InFlight) else None
        frame = frame.f_back
    return None


def _call_in_thread(func: Callable[[Any], Any], payload: msgspec.Struct) -> Any:
    result = func(payload)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise NonRetryable(
            f"handler {getattr(func, '__qualname__', func)!r} is a plain def but returned an "
            "awaitable; declare it async def"
        )
    return result


class JobRunner:
    """Runs claimed jobs for one run of a worker, and heartbeats them while they run."""

    def __init__(self, config: RunnerConfig, on_done: Callable[[], None]) -> None:
        self._config = config
        self._on_done = on_done
        self._encoder = msgspec.json.Encoder()
        self._jitter = RetryPolicy()
        self._in_flight: dict[str, InFlight] = {}
        self._live: dict[str, Job] = {}
        self._releasing = False
        self._closed = False
        self._threads = anyio.CapacityLimiter(config.concurrency)
        self._completions = CompletionBuffer(config.queue, self._acknowledged)
        self._heartbeats = Heartbeats(config.queue, config.lease, self._in_flight, self._lose)

    @property
    def active(self) -> int:
        """Jobs admitted that have not finished (handler or acknowledgement)."""
        return len(self._live)

    def admit(self, claimed: ClaimedJob) -> None:
        """Count ``claimed`` in :attr:`active` before its task starts."""
        self._live[claimed.token] = claimed.job

    def _finished(self, token: str) -> None:
        if self._live.pop(token, None) is not None:
            self._on_done()

    # --- one job -------------------------------------------------------------------------------

    async def run(self, claimed: ClaimedJob, claimed_at: float) -> None:
        """Run one admitted job to its acknowledgement; never raises an ``Exception``.

        ``claimed_at`` is the ``anyio.current_time()`` taken before the claim, so the local idea
        of the lease deadline is never later than the backend's. A job whose completion is
        buffered stays counted until the flusher reports its outcome.
        """
        buffered = False
        try:
            buffered = await self._run(claimed, claimed_at)
        except Exception:
            if not self._closed:
                _log_unacknowledged(claimed.job)
        finally:
            if not buffered:
                self._finished(claimed.token)

    async def _run(self, claimed: ClaimedJob, claimed_at: float) -> bool:
        """Run the job; True if its completion was buffered (acknowledged later)."""
        job = claimed.job
        handler = self._config.registry.get(job.task)
        if handler is None:
            error = UnknownTask(job.task, self._config.registry.names())
            await self._fail(claimed.lease, job, error, None)
            return False
        try:
            payload = self._config.codec.decode(handler.payload_type, job.payload)
        except PayloadDecodeError as exc:
            await self._fail(claimed.lease, job, exc, None)
            return False
        if self._releasing:
            await self._release(claimed.lease, job)
            return False
        return await self._call(claimed, claimed_at, handler, payload)

    async def _call(
        self, claimed: ClaimedJob, claimed_at: float, handler: Handler, payload: msgspec.Struct
    ) -> bool:
        job, timeout = claimed.job, self._config.job_timeout
        scope = anyio.CancelScope()
        if timeout is not None:
            scope.deadline = anyio.current_time() + timeout
        record = self._in_flight[claimed.token] = InFlight(
            claimed, scope, claimed_at, self._config.lease
        )
        self._event(EventKind.STARTED, job)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("job %s started", job.id, extra=job_extra(job))
        token = _current.set(JobContext(job, self._config.queue, record.report))
        started = time.perf_counter()
        result: Any = None
        error: Exception | None = None
        try:
            with handler_span(job) as span, scope:
                try:
                    if handler.in_thread:
                        result = await anyio.to_thread.run_sync(
                            _call_in_thread,
                            handler.func,
                            payload,
                            abandon_on_cancel=True,
                            limiter=self._threads,
                        )
                    else:
                        func = cast(Callable[[Any], Awaitable[Any]], handler.func)
                        result = await _run_async_handler(record, func, payload)
                except Exception as exc:
                    error = exc
                    mark_failed(span, exc)
        finally:
            ended_at = anyio.current_time()
            duration = time.perf_counter() - started
            _current.reset(token)
            del self._in_flight[claimed.token]
        return await self._settle(record, result, error, duration, ended_at)

    async def _settle(
        self,
        record: InFlight,
        result: Any,
        error: Exception | None,
        duration: float,
        ended_at: float,
    ) -> bool:
        """Act on how the handler ended: lease lost, released, timed out, failed or done.

        True if the job's completion was buffered."""
        job, lease, scope = record.job, record.lease, record.scope
        if self._closed:
            logger.info(
                "job %s (task %s) ended after the worker gave up on it; nothing acknowledged",
                job.id,
                job.task,
                extra=job_extra(job),
            )
        elif record.stop is Stop.LEASE_LOST:
            self._event(EventKind.LEASE_LOST, job, duration, record.lost_reason)
        elif record.stop is Stop.RELEASE and scope.cancelled_caught:
            await self._release(lease, job)
        elif record.stop is None and (scope.cancel_called or ended_at >= scope.deadline):
            timed_out = JobTimeout(cast(float, self._config.job_timeout))
            self._event(EventKind.TIMED_OUT, job, duration, _error_text(timed_out))
            logger.warning("job %s timed out", job.id, extra=job_extra(job))
            await self._fail(lease, job, timed_out, duration)
        elif isinstance(error, Snooze):
            await self._snooze(lease, job, error, duration)
        elif error is not None:
            await self._fail(lease, job, error, duration)
        else:
            return await self._complete(lease, job, result, duration)
        return False

    # --- acknowledgements ----------------------------------------------------------------------

    async def _complete(self, lease: Lease, job: Job, result: Any, duration: float) -> bool:
        try:
            data = self._encode_result(result)
        except ResultError as exc:
            await self._fail(lease, job, exc, duration)
            return False
        self._completions.add(Completion(lease, data, job, duration))
        return True

    async def flush_completions(self) -> None:
        """The group-commit flusher (see :mod:`kmsg.worker.acks`); runs until cancelled."""
        await self._completions.flush_forever()

    def _acknowledged(self, done: Completion, outcome: Outcome) -> None:
        job = done.job
        try:
            if outcome is True:
                self._event(EventKind.COMPLETED, job, done.duration)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "job %s completed in %.6fs", job.id, done.duration, extra=job_extra(job)
                    )
            elif outcome is False:
                lost = LeaseLost(job.queue, job.id, "the job is no longer held under this lease")
                self._lease_lost(job, str(lost), done.duration)
            else:
                _log_unacknowledged(job, outcome)
        finally:
            self._finished(done.lease.token)

    def _encode_result(self, result: Any) -> bytes | None:
        if result is None:
            return None
        try:
            data = self._encoder.encode(result)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ResultError(
                f"handler result of type {type(result).__name__} cannot be encoded: {exc}"
            ) from None
        if len(data) > MAX_RESULT_BYTES:
            raise ResultError(
                f"handler result is {len(data)} bytes encoded; the limit is {MAX_RESULT_BYTES}"
            )
        return data

    async def _snooze(self, lease: Lease, job: Job, snooze: Snooze, duration: float) -> None:
        try:
            state = await self._config.queue.snooze(
                lease,
                min(snooze.after, MAX_DELAY),
                reason=snooze.reason,
                max_snoozes=snooze.max_snoozes,
            )
        except LeaseLost as exc:
            self._lease_lost(job, str(exc), duration)
            return
        text = _error_text(snooze)
        kind = EventKind.DEAD if state is JobState.FAILED else EventKind.RETRIED
        self._event(kind, job, duration, text)
        logger.info("job %s snoozed (now %s): %s", job.id, state.value, text, extra=job_extra(job))

    async def _fail(self, lease: Lease, job: Job, error: Exception, duration: float | None) -> None:
        retryable, retry_in = self._retry_decision(job, error)
        try:
            state = await self._config.queue.fail(
                lease, error, retry_in=retry_in, retryable=retryable
            )
        except LeaseLost as exc:
            self._lease_lost(job, str(exc), duration)
            return
        text = _error_text(error)
        if state is JobState.FAILED:
            self._event(EventKind.DEAD, job, duration, text)
            logger.error("job %s dead-lettered: %s", job.id, text, extra=job_extra(job))
        elif state in _RETRY_STATES:
            self._event(EventKind.RETRIED, job, duration, text)
            logger.warning(
                "job %s failed, will retry in about %.3gs: %s",
                job.id,
                retry_in,
                text,
                extra=job_extra(job),
                exc_info=None if isinstance(error, Retry) else error,
            )
        else:
            logger.warning("job %s is now %s: %s", job.id, state.value, text, extra=job_extra(job))

    def _retry_decision(self, job: Job, error: Exception) -> tuple[bool, float | None]:
        """Whether to retry, and after how long (seconds, capped at the queue's maximum delay)."""
        if isinstance(error, NonRetryable | UnknownTask | PayloadDecodeError | ResultError):
            return False, None
        if isinstance(error, Retry) and error.after is not None:
            return True, min(error.after, MAX_DELAY)
        policy = self._config.retry_policy
        if policy is None:
            delay = self._jitter.apply_jitter(job.backoff.delay(job.attempts))
        else:
            delay = policy.delay(job.attempts)
        return True, min(delay, MAX_DELAY)

    async def _release(self, lease: Lease, job: Job) -> None:
        try:
            await self._config.queue.release(lease)
        except LeaseLost as exc:
            self._lease_lost(job, str(exc), None)
            return
        self._event(EventKind.RELEASED, job)
        logger.info("job %s released unfinished at shutdown", job.id, extra=job_extra(job))

    def _lease_lost(self, job: Job, reason: str, duration: float | None) -> None:
        self._event(EventKind.LEASE_LOST, job, duration, reason)
        logger.warning("job %s (task %s): %s", job.id, job.task, reason, extra=job_extra(job))

    def _event(
        self, kind: EventKind, job: Job, duration: float | None = None, error: str | None = None
    ) -> None:
        if self._config.listeners:
            event = WorkerEvent(kind=kind, job=job, duration=duration, error=error, at=time.time())
            emit(self._config.listeners, event)

    # --- heartbeats, the loop watchdog and shutdown --------------------------------------------

    async def heartbeat(self) -> None:
        """Renew running jobs' leases (see :mod:`kmsg.worker.heartbeats`); runs until cancelled."""
        await self._heartbeats.run()

    def _lose(self, record: InFlight, reason: str) -> None:
        job = record.job
        record.stop = Stop.LEASE_LOST
        record.lost_reason = reason
        record.scope.cancel()
        logger.warning(
            "job %s (task %s): %s; its handler is cancelled",
            job.id,
            job.task,
            reason,
            extra=job_extra(job),
        )

    def loop_blocked(self, job: Job | None, seconds: float) -> None:
        """Report a block of the event loop that has ended (see :mod:`kmsg.worker.watchdog`):
        a ``loop_blocked`` event when a job's handler was blocking it."""
        if job is not None:
            self._event(EventKind.LOOP_BLOCKED, job, seconds)

    def release_all(self) -> None:
        """Stop every running handler and give its job back; jobs not yet started are given back
        without running."""
        self._releasing = True
        for record in self._in_flight.values():
            if record.stop is None:
                record.stop = Stop.RELEASE
                record.scope.cancel()

    def abandon(self) -> list[Job]:
        """Give up on every job still counted in :attr:`active`, logging each; return them.

        For shutdown, once the worker has waited long enough: a handler that ignored its
        cancellation may still be running, and an acknowledgement may still be on its way. The
        runner does nothing more with these jobs (their leases will run out), even if a handler
        ends later.
        """
        self._closed = True
        abandoned = list(self._live.values())
        for token, job in self._live.items():
            if token in self._in_flight:
                logger.warning(
                    "job %s (task %s) did not stop when cancelled: abandoned, left to its lease "
                    "(its handler may still be running)",
                    job.id,
                    job.task,
                    extra=job_extra(job),
                )
            else:
                logger.warning(
                    "job %s (task %s) was not acknowledged before the worker stopped: abandoned, "
                    "left to its lease",
                    job.id,
                    job.task,
                    extra=job_extra(job),
                )
        self._live.clear()
        return abandoned
