"""How the model-based test drives a real backend from synchronous code, and keeps time.

Hypothesis state machines are synchronous, so :class:`Driver` runs each call of the async
:class:`kmsg.JobQueue` through an anyio blocking portal (an event loop in a helper thread).

Time is what makes a model-based test of a queue hard; it is made exact, not tolerant:

* :class:`DrivenTime` (an adapter without ``server_time``: SQLite). The adapter reads the
  model's :class:`~tests.model.reference.ManualClock` (its ``clock`` option), which moves
  ``STEP`` (10 ms) before every operation, so every operation has its own millisecond, and by
  chosen jumps when the state machine lets time pass (to a lease's very end, past it, or hours
  on, where delays and backoffs fall due). Every instant is the same float on both sides, so
  whole snapshots, deadlines and ages are compared exactly.
* :class:`ServerTime` (an adapter with ``server_time``: Redis reads the server's ``TIME`` and
  cannot be driven). The test only uses times whose outcome is certain whatever the real
  timing: leases of 0.05 s (the minimum) or 300 s, delays, backoffs and ``retry_in`` of 0 or of
  hours, rate limits that are surely spent or surely not. The model moves ``GAP`` (2 ms) before
  each operation and the test sleeps ``GAP`` after it, so two operations never share a server
  millisecond (their order on the server's clock is their order in the model) and the model's
  clock never runs ahead of the real one. A short lease, the one time that could end between
  two operations or not, is made certain: right after an operation leaves one running, the
  test sleeps past its end and moves the model as far, so at the next operation it has ended
  on both sides (and is still usable until a claim reclaims it, as the contract says). So the
  only times compared are those whose order is fixed; the others are checked for presence.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Protocol, TypeVar

from anyio.from_thread import BlockingPortal

from kmsg import Capabilities, JobQueue
from tests.model.reference import ManualClock

__all__ = ["Driver", "DrivenTime", "ServerTime", "Timekeeping"]

T = TypeVar("T")

HOUR: Final = 3600.0
SHORT_LEASE: Final = 0.05
"""The shortest lease (``kmsg.validation.MIN_LEASE``): one that ends within the test."""
LONG_LEASE: Final = 300.0
"""A lease no test outlives."""


class Timekeeping(Protocol):
    """How the model's clock and the backend's clock are kept in step."""

    clock: ManualClock
    """The model's clock."""
    exact: bool
    """Whether both sides see the same instants (times may be compared exactly)."""
    jumps: tuple[float, ...]
    """How far the "time passes" rule may move time (seconds)."""
    rate_limits: tuple[tuple[int, float], ...]
    """``(max_jobs, per_seconds)`` limits whose effect is certain under this timekeeping."""
    ages: tuple[float, ...]
    """``older_than`` values (seconds) whose effect is certain under this timekeeping."""

    def before(self) -> None:
        """Called before each operation."""

    def after(self, deadlines: Sequence[float]) -> None:
        """Called after each operation with the model's lease deadlines, soonest first."""

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass on both sides."""


_CERTAIN_RATES: Final = ((1, HOUR), (2, HOUR), (1_000_000, 1.0))
"""Rate limits whose outcome over a test's few seconds does not depend on exact timing."""


@dataclass
class DrivenTime:
    """The adapter reads the model's clock: every instant is shared exactly."""

    clock: ManualClock
    exact: bool = True
    jumps: tuple[float, ...] = (0.12, SHORT_LEASE, 1.5 * HOUR, 4 * HOUR)
    rate_limits: tuple[tuple[int, float], ...] = (*_CERTAIN_RATES, (1, 0.1), (2, 0.05))
    ages: tuple[float, ...] = (0.0, 0.05, HOUR)

    STEP: ClassVar[float] = 0.01
    """Seconds the clock moves before each operation."""

    def before(self) -> None:
        """Move 10 ms: every operation gets its own millisecond."""
        self.clock.advance(self.STEP)

    def after(self, deadlines: Sequence[float]) -> None:
        """Nothing: the clock only moves when told."""

    def pass_time(self, seconds: float) -> None:
        """Jump the shared clock."""
        self.clock.advance(seconds)


@dataclass
class ServerTime:
    """The backend reads its own clock: only outcomes certain whatever the timing are used."""

    clock: ManualClock
    exact: bool = False
    jumps: tuple[float, ...] = (0.12,)
    rate_limits: tuple[tuple[int, float], ...] = _CERTAIN_RATES
    ages: tuple[float, ...] = (0.0, HOUR)

    GAP: ClassVar[float] = 0.002
    """Seconds between two operations (the model's step, and the least real sleep)."""
    SETTLE: ClassVar[float] = 0.03
    """Extra real seconds slept past a short lease's end, so it has surely ended."""

    def before(self) -> None:
        """Move the model ``GAP`` (the real clock moves at least as far: see :meth:`after`)."""
        self.clock.advance(self.GAP)

    def after(self, deadlines: Sequence[float]) -> None:
        """Sleep ``GAP``; then, if a lease would end within a second, sleep (and move the
        model) past its end."""
        time.sleep(self.GAP)
        now = self.clock()
        running = [deadline - now for deadline in deadlines if now < deadline <= now + 1.0]
        if running:
            self.pass_time(max(running) + self.SETTLE)

    def pass_time(self, seconds: float) -> None:
        """Sleep ``seconds`` and move the model as far."""
        time.sleep(seconds)
        self.clock.advance(seconds)


@dataclass
class Driver:
    """One open backend handle, the portal that runs its calls, and its timekeeping."""

    portal: BlockingPortal
    queue: JobQueue
    capabilities: Capabilities
    time: Timekeeping

    def call(self, operation: Callable[[JobQueue], Awaitable[T]]) -> T:
        """Run ``operation(queue)`` on the portal's event loop and return its result."""
        return self.portal.call(operation, self.queue)
