"""Running claimed jobs: decode, call the handler under a cancel scope, heartbeat, acknowledge.

One :class:`JobRunner` serves a worker's run. Each job is one task that

1. looks up the handler (unknown task: dead-lettered as ``UnknownTask``) and decodes the payload
   (``PayloadDecodeError``: dead-lettered), without ever calling the handler;
2. runs the handler inside its own cancel scope, whose deadline is the ``job_timeout``;
3. acknowledges: a success goes to the worker's :class:`~kmsg.worker.acks.CompletionBuffer`
   (group commit: one ``complete_many`` for every job finished meanwhile) with the JSON-encoded
   return value; a failure is sent at once with ``fail`` and the retry decision (``Retry``,
   ``NonRetryable``, or the retry policy's delay).

A single heartbeat loop serves every job in flight: it ``extend``\\s each lease once a third of it
has passed, checking every sixth of a lease, so a lease is renewed while at least half of it is
left. When ``extend`` raises ``LeaseLost`` (the lease expired and the job went to another worker,
or the job was cancelled or removed) the handler's scope is cancelled at once and nothing more is
done with the job: another holder may be running it. If heartbeats keep failing for other reasons
(the backend is unreachable) until the lease has run out by the local clock, the job is treated
as lost too, since another worker may by then have claimed it.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from kmsg.codec import PayloadCodec
from kmsg.errors import LeaseLost, PayloadDecodeError
from kmsg.models import ClaimedJob, Job, JobState, Lease
from kmsg.queue import JobQueue
from kmsg.validation import MAX_DELAY, MAX_RESULT_BYTES
from kmsg.worker.acks import Completion, CompletionBuffer, Outcome
from kmsg.worker.context import JobContext, _current
from kmsg.worker.errors import JobTimeout, NonRetryable, ResultError, Retry, UnknownTask
from kmsg.worker.events import EventKind, EventListener, WorkerEvent, emit
from kmsg.worker.log import job_extra, logger
from kmsg.worker.registry import Handler, HandlerRegistry
from kmsg.worker.retry import RetryPolicy

__all__ = ["JobRunner", "RunnerConfig"]

_RETRY_STATES = frozenset({JobState.DELAYED, JobState.PENDING})


class _Stop(enum.Enum):
    LEASE_LOST = "lease lost"
    RELEASE = "release"


class _InFlight:
    """A job whose handler is running: its lease, its cancel scope and its heartbeat schedule."""

    __slots__ = ("expires_at", "job", "lease", "lost_reason", "renew_at", "scope", "stop")

    def __init__(
        self, claimed: ClaimedJob, scope: anyio.CancelScope, claimed_at: float, lease: float
    ):
        self.job = claimed.job
        self.lease = claimed.lease
        self.scope = scope
        self.renew_at = claimed_at + lease / 3.0
        self.expires_at = claimed_at + lease
        self.stop: _Stop | None = None
        self.lost_reason = ""


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


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _log_unacknowledged(job: Job, error: BaseException | bool = True) -> None:
    logger.error(
        "could not acknowledge job %s; it will be redelivered when its lease ends",
        job.id,
        extra=job_extra(job),
        exc_info=error,
    )


class JobRunner:
    """Runs claimed jobs for one run of a worker, and heartbeats them while they run."""

    def __init__(self, config: RunnerConfig, on_done: Callable[[], None]) -> None:
        self._config = config
        self._on_done = on_done
        self._encoder = msgspec.json.Encoder()
        self._jitter = RetryPolicy()
        self._in_flight: dict[str, _InFlight] = {}
        self._releasing = False
        self._completions = CompletionBuffer(config.queue, self._acknowledged)
        self.active = 0
        """Jobs handed to :meth:`run` that have not finished (handler or acknowledgement)."""

    # --- one job -------------------------------------------------------------------------------

    async def run(self, claimed: ClaimedJob, claimed_at: float) -> None:
        """Run one claimed job to its acknowledgement; never raises an ``Exception``.

        ``claimed_at`` is the ``anyio.current_time()`` taken before the claim, so the local idea
        of the lease deadline is never later than the backend's. The caller has already counted
        the job in :attr:`active`; a job whose completion is buffered stays counted until the
        flusher reports its outcome.
        """
        buffered = False
        try:
            buffered = await self._run(claimed, claimed_at)
        except Exception:
            _log_unacknowledged(claimed.job)
        finally:
            if not buffered:
                self.active -= 1
                self._on_done()

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
        record = self._in_flight[claimed.token] = _InFlight(
            claimed, scope, claimed_at, self._config.lease
        )
        self._event(EventKind.STARTED, job)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("job %s started", job.id, extra=job_extra(job))
        token = _current.set(JobContext(job, self._config.queue))
        started = time.perf_counter()
        result: Any = None
        error: Exception | None = None
        try:
            with scope:
                try:
                    result = await handler.func(payload)
                except Exception as exc:
                    error = exc
        finally:
            duration = time.perf_counter() - started
            _current.reset(token)
            del self._in_flight[claimed.token]
        return await self._settle(record, result, error, duration)

    async def _settle(
        self, record: _InFlight, result: Any, error: Exception | None, duration: float
    ) -> bool:
        """Act on how the handler ended: lease lost, released, timed out, failed or done.

        True if the job's completion was buffered."""
        job, lease, timeout = record.job, record.lease, self._config.job_timeout
        cancelled = record.scope.cancelled_caught
        if record.stop is _Stop.LEASE_LOST:
            self._lease_lost(job, record.lost_reason, duration)
        elif cancelled and record.stop is _Stop.RELEASE:
            await self._release(lease, job)
        elif cancelled and timeout is not None:
            timed_out = JobTimeout(timeout)
            self._event(EventKind.TIMED_OUT, job, duration, _error_text(timed_out))
            logger.warning("job %s timed out", job.id, extra=job_extra(job))
            await self._fail(lease, job, timed_out, duration)
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
            self.active -= 1
            self._on_done()

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
        logger.warning("job %s: %s", job.id, reason, extra=job_extra(job))

    def _event(
        self, kind: EventKind, job: Job, duration: float | None = None, error: str | None = None
    ) -> None:
        if self._config.listeners:
            event = WorkerEvent(kind=kind, job=job, duration=duration, error=error, at=time.time())
            emit(self._config.listeners, event)

    # --- heartbeats and shutdown ---------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Extend every running job's lease once a third of it has passed; runs until cancelled."""
        lease = self._config.lease
        while True:
            await anyio.sleep(lease / 6.0)
            now = anyio.current_time()
            due = [r for r in self._in_flight.values() if r.renew_at <= now and r.stop is None]
            for record in due:
                if record.lease.token in self._in_flight and record.stop is None:
                    await self._extend(record)

    async def _extend(self, record: _InFlight) -> None:
        lease = self._config.lease
        sent_at = anyio.current_time()
        try:
            await self._config.queue.extend(record.lease, lease)
        except LeaseLost as exc:
            self._lose(record, str(exc))
        except Exception as exc:
            logger.warning(
                "heartbeat of job %s failed: %s", record.job.id, exc, extra=job_extra(record.job)
            )
            if anyio.current_time() >= record.expires_at:
                self._lose(record, f"lease ran out while heartbeats failed ({exc})")
        else:
            record.expires_at = sent_at + lease
            record.renew_at = anyio.current_time() + lease / 3.0

    def _lose(self, record: _InFlight, reason: str) -> None:
        record.stop = _Stop.LEASE_LOST
        record.lost_reason = reason
        record.scope.cancel()

    def release_all(self) -> None:
        """Stop every running handler and give its job back; jobs not yet started are given back
        without running."""
        self._releasing = True
        for record in self._in_flight.values():
            if record.stop is None:
                record.stop = _Stop.RELEASE
                record.scope.cancel()
