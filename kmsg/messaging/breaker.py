"""``CircuitBreaker``: stop sending to a provider that keeps failing, then try it again later.

One breaker guards one provider (:class:`~kmsg.messaging.routing.RoutingProvider` keeps one per
provider). Its states::

    closed ──(failure_threshold consecutive failures, each within window of the first)──> open
    open ──(cool_down elapsed)──> half-open ──(the one trial send succeeds)──> closed
                                      └──────(the trial fails)──> open (a new cool_down)

* **closed**: every send may go. A *failure* is a retryable one (network error, timeout, 5xx,
  rate limit) or the provider being unusable (bad credentials, no balance); a failure streak
  older than ``window`` starts again from one, so a provider failing now and then never opens.
  A send the gateway *answered* (success, or a refusal of the message itself such as an invalid
  recipient) ends the streak: the gateway is up.
* **open**: no traffic until ``cool_down`` has passed since it opened.
* **half-open**: exactly one trial send is let through; others are refused while it runs. Its
  success closes the breaker, its failure opens it again; a trial that ends without a verdict
  (cancelled) gives the trial back.

A rate-limit answer carrying ``retry_after`` also *holds* the provider until then (capped at
``max_hold``), whatever the state: sending again sooner would only be refused again.

The state is a handful of numbers (constant memory), changed without awaiting, so concurrent
sends on one event loop see it consistently. Time comes from ``clock`` (default
``time.monotonic``), injectable so tests move time instead of sleeping.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from kmsg.errors import ValidationError

__all__ = ["BreakerPolicy", "CircuitBreaker", "CircuitState"]


class CircuitState(enum.StrEnum):
    """Where a breaker is: ``closed`` (sending), ``open`` (resting), ``half_open`` (on trial)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long (seconds).

    ``failure_threshold`` consecutive failures within ``window`` seconds open it for
    ``cool_down`` seconds; a rate-limit hold lasts at most ``max_hold`` seconds.
    """

    failure_threshold: int = 5
    window: float = 60.0
    cool_down: float = 30.0
    max_hold: float = 300.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValidationError(f"failure_threshold must be 1 or more: {self.failure_threshold}")
        for name in ("window", "cool_down", "max_hold"):
            if not getattr(self, name) > 0:
                raise ValidationError(f"{name} must be more than 0 seconds")


class CircuitBreaker:
    """One provider's breaker (module docstring): ask :meth:`acquire` before a send, then report
    its outcome with :meth:`succeeded`, :meth:`failed` or :meth:`abandoned`."""

    def __init__(
        self, policy: BreakerPolicy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = BreakerPolicy() if policy is None else policy
        self._clock = clock
        self._streak = 0
        self._streak_started = 0.0
        self._open = False
        self._open_until = 0.0
        self._trial = False
        self._hold_until = 0.0

    @property
    def state(self) -> CircuitState:
        """The state now (an open breaker past its cool-down is half-open)."""
        if not self._open:
            return CircuitState.CLOSED
        if self._trial or self._clock() >= self._open_until:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def available_at(self) -> float:
        """The clock time from which :meth:`acquire` may say yes (now or earlier: it may now;
        a half-open breaker whose trial is running says when that trial could have started)."""
        return max(self._open_until if self._open else 0.0, self._hold_until)

    def acquire(self) -> bool:
        """Whether a send may go now; in half-open, the first caller takes the one trial."""
        now = self._clock()
        if now < self._hold_until:
            return False
        if not self._open:
            return True
        if self._trial or now < self._open_until:
            return False
        self._trial = True
        return True

    def succeeded(self) -> None:
        """The provider answered (accepted the send, or refused the message itself): close."""
        self._streak = 0
        self._open = False
        self._trial = False

    def failed(self, *, retry_after: float | None = None) -> None:
        """The send failed for the provider's sake (retryable, or the provider is unusable)."""
        now = self._clock()
        if retry_after is not None and retry_after > 0:
            hold = now + min(retry_after, self.policy.max_hold)
            self._hold_until = max(self._hold_until, hold)
        if self._open:
            if self._trial:  # the trial failed: rest again
                self._trial = False
                self._open_until = now + self.policy.cool_down
            return
        if self._streak == 0 or now - self._streak_started > self.policy.window:
            self._streak, self._streak_started = 0, now
        self._streak += 1
        if self._streak >= self.policy.failure_threshold:
            self._open, self._open_until, self._streak = True, now + self.policy.cool_down, 0

    def abandoned(self) -> None:
        """The send ended without a verdict (cancelled): give back a half-open trial."""
        self._trial = False
