"""The queue's rules, written once: pure functions of numbers, that every backend follows.

The SQLite adapter calls these. The Redis adapter must decide inside its atomic Lua scripts, so
``lua/includes/common.lua`` keeps its own copies under the same names (``due_time``,
``backoff_delay``, ``retry_at``, ``refill``, ``claim_allowance``); ``tests/core/test_rules_lua.py``
runs both on the same inputs (Hypothesis, against a real Redis) and checks that they agree to the
last bit. The in-memory
reference model of the contract (``tests/model``) is built on them too.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "DEFAULT_MAX_SNOOZES",
    "LEASE_EXPIRED_MESSAGE",
    "MAX_ERRORS",
    "SNOOZED",
    "claim_allowance",
    "backoff_delay",
    "due_time",
    "refill",
    "retry_at",
]

MAX_ERRORS: Final = 50
"""How many failed attempts a job's error history keeps (the last ones)."""
LEASE_EXPIRED_MESSAGE: Final = "the lease ended before the job was acknowledged"
"""The message recorded (with type ``LeaseExpired``) for a lease that ended unacknowledged."""
SNOOZED: Final = "Snoozed"
"""The type of the history entry a snooze records; a job's snoozes are its entries of this type
(among the last ``MAX_ERRORS``), so a snooze past the allowed number counts as a failed attempt."""
DEFAULT_MAX_SNOOZES: Final = 20
"""How many snoozes a job gets, unless the caller says otherwise (1 to ``MAX_ERRORS``)."""


def due_time(at: float) -> float:
    """``at`` floored to a whole millisecond: how every due time (``run_at``) is stored.

    So the claim order (priority desc, run_at, enqueue order) is exactly (priority, due
    millisecond, enqueue order) on every backend.
    """
    return math.floor(at * 1000) / 1000


def backoff_delay(initial: float, factor: float, maximum: float, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based):
    ``min(maximum, initial * factor ** (attempt - 1))``; an overflow is ``maximum``.

    Computed in floats (C ``pow``, as Lua does), even for a whole-number ``factor``, which
    Python would otherwise raise to the power exactly."""
    try:
        raw = float(initial) * float(factor) ** max(attempt - 1, 0)
    except OverflowError:
        return maximum
    if math.isnan(raw) or raw > maximum:
        return maximum
    return raw


def retry_at(
    now: float,
    attempts: int,
    max_attempts: int,
    delay: float,
    *,
    retryable: bool = True,
) -> float | None:
    """When a job whose attempt number ``attempts`` just failed runs again, or None when it is
    dead-lettered (not retryable, or no attempt left). ``delay`` is the backoff or the caller's
    ``retry_in``."""
    if not retryable or attempts >= max_attempts:
        return None
    return due_time(now + delay)


def refill(
    tokens: float, refilled_at: float, now: float, max_jobs: int, per_seconds: float
) -> float:
    """The tokens of a rate bucket at ``now``: ``tokens`` at ``refilled_at``, refilled at
    ``max_jobs / per_seconds`` a second, holding at most ``max_jobs`` (a clock that went back
    refills nothing)."""
    elapsed = max(now - refilled_at, 0.0)
    return min(float(max_jobs), tokens + elapsed * max_jobs / per_seconds)


def claim_allowance(limit: int, *, paused: bool, tokens: float | None) -> int:
    """How many jobs one claim may take: none while paused, at most the whole tokens in the
    bucket when rate-limited (None: no limit), and at most ``limit``."""
    if paused:
        return 0
    if tokens is None:
        return limit
    return max(0, min(limit, math.floor(tokens + 1e-9)))
