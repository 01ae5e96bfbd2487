"""The loop watchdog: notices when something blocks the worker's event loop, and names the job.

Leases, heartbeats and every other job of a worker depend on its event loop running. An ``async
def`` handler that calls blocking code (``time.sleep``, a synchronous HTTP client, long CPU work)
stops all of them until it returns, and a block longer than what is left of a lease loses it. The
watchdog has two halves:

* a ticker task on the loop, which notes the time every quarter of the ``threshold``;
* a daemon thread, which checks as often whether the ticker is late by more than the threshold.
  If it is, the loop is blocked: the thread reads the loop thread's stack
  (``sys._current_frames()``), lets ``locate`` find the job whose handler is running there (the
  worker walks up to its runner's frame for that job), and logs **one warning per episode** naming
  the job and task, the time blocked so far, the code location and the remedy.

When the loop runs again, the ticker hands the episode and the whole time blocked to
``on_resumed`` (the worker emits a ``loop_blocked`` event, which :mod:`kmsg.metrics` counts). The
stack is read only when a block is found, so the watchdog costs nothing per job; a block that
ends within about a quarter of the threshold past it may go unreported. The thread ends when the
ticker task is cancelled (the worker stops).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import anyio

from kmsg.models import Job
from kmsg.worker.log import job_extra, logger, queue_extra

__all__ = ["LoopWatchdog", "default_threshold"]

_ADVICE = (
    "an async handler must not block the event loop (it delays heartbeats and can lose leases): "
    "make it a plain def handler, which runs in a thread, or call the blocking code through "
    "anyio.to_thread.run_sync"
)


def default_threshold(lease: float) -> float:
    """The default blocking threshold for a worker with this lease: ``min(1 s, lease / 4)``."""
    return min(1.0, lease / 4.0)


@dataclass(frozen=True, slots=True)
class _Episode:
    job: Job | None
    where: str


def _location(frame: FrameType | None) -> str:
    if frame is None:
        return "an unknown place"
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"


class LoopWatchdog:
    """Watches the event loop that :meth:`run` runs on (see the module docstring).

    ``locate(frame)`` gets the innermost frame of the loop thread and returns the job whose
    handler is running there, or None; it is called from the watchdog thread and must only read.
    ``on_resumed(job, seconds)`` is called on the loop when a reported block ends.
    """

    def __init__(
        self,
        threshold: float,
        locate: Callable[[FrameType | None], Job | None],
        on_resumed: Callable[[Job | None, float], None],
    ) -> None:
        self.threshold = threshold
        self._interval = threshold / 4.0
        self._locate = locate
        self._on_resumed = on_resumed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._last_tick = time.monotonic()
        self._reported_tick = -1.0
        self._episode: _Episode | None = None

    async def run(self) -> None:
        """Tick on the loop, with the watching thread running, until cancelled."""
        self._loop_thread = threading.get_ident()
        self._last_tick = time.monotonic()
        self._stop.clear()
        thread = threading.Thread(target=self._watch, name="kmsg loop watchdog", daemon=True)
        thread.start()
        try:
            while True:
                await anyio.sleep(self._interval)
                self._ticked()
        finally:
            self._stop.set()
            thread.join(timeout=1.0)

    def _ticked(self) -> None:
        now = time.monotonic()
        with self._lock:
            blocked = now - self._last_tick - self._interval
            self._last_tick = now
            episode, self._episode = self._episode, None
        if episode is not None:
            self._on_resumed(episode.job, max(blocked, 0.0))

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            last = self._last_tick
            blocked = time.monotonic() - last - self._interval
            if blocked <= self.threshold or last == self._reported_tick:
                continue
            episode = self._find_blocker()
            with self._lock:
                if self._last_tick != last:  # the loop ran again meanwhile
                    continue
                self._reported_tick = last
                self._episode = episode
                self._warn(episode, blocked)

    def _find_blocker(self) -> _Episode:
        frame = sys._current_frames().get(self._loop_thread)
        try:
            job = self._locate(frame)
        except Exception:  # a frame changing under us must never kill the watchdog
            job = None
        return _Episode(job, _location(frame))

    def _warn(self, episode: _Episode, blocked: float) -> None:
        job = episode.job
        if job is None:
            logger.warning(
                "event loop blocked for %.2fs so far, not by a job handler, at %s: %s",
                blocked,
                episode.where,
                _ADVICE,
                extra=queue_extra(),
            )
            return
        logger.warning(
            "event loop blocked for %.2fs so far by the handler of job %s (task %s), at %s: %s",
            blocked,
            job.id,
            job.task,
            episode.where,
            _ADVICE,
            extra=job_extra(job),
        )
