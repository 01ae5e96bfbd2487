"""Retry backoff: exponential, capped, with jitter. Pure arithmetic; randomness is injectable.

``delay(n) = jitter(min(maximum, initial * factor ** (n - 1)))`` for failed attempt ``n`` (1-based).

Jitter spreads retries of jobs that failed together (a provider outage) so they do not return
together:

* ``"full"``: uniform in ``[0, d]`` -- the widest spread, the lowest mean;
* ``"equal"``: uniform in ``[d/2, d]`` -- spread, but never much sooner than planned;
* ``"none"``: exactly ``d``.
"""

from __future__ import annotations

import math
import random
from typing import Literal

from kmsg.errors import ValidationError
from kmsg.validation import check_seconds

__all__ = ["Jitter", "RetryPolicy"]

Jitter = Literal["full", "equal", "none"]
_JITTERS: frozenset[str] = frozenset({"full", "equal", "none"})


class RetryPolicy:
    """Exponential backoff with a cap and jitter.

    ``rng`` is the source of jitter; pass a seeded ``random.Random`` for repeatable delays.
    """

    __slots__ = ("factor", "initial", "jitter", "maximum", "rng")

    def __init__(
        self,
        *,
        initial: float = 1.0,
        factor: float = 2.0,
        maximum: float = 300.0,
        jitter: Jitter = "equal",
        rng: random.Random | None = None,
    ) -> None:
        self.initial = check_seconds("initial", initial)
        self.maximum = check_seconds("maximum", maximum)
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ValidationError(f"factor must be a number, not {factor!r}")
        if not (math.isfinite(factor) and factor >= 1.0):
            raise ValidationError(f"factor must be a finite number of at least 1, not {factor!r}")
        if jitter not in _JITTERS:
            raise ValidationError(f"jitter must be one of {sorted(_JITTERS)}, not {jitter!r}")
        self.factor = float(factor)
        self.jitter: Jitter = jitter
        self.rng = rng if rng is not None else random.Random()

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(initial={self.initial:g}, factor={self.factor:g}, "
            f"maximum={self.maximum:g}, jitter={self.jitter!r})"
        )

    def base_delay(self, attempt: int) -> float:
        """The capped exponential delay after failed attempt ``attempt``, before jitter."""
        exponent = max(attempt - 1, 0)
        try:
            raw = self.initial * self.factor**exponent
        except OverflowError:
            return self.maximum
        return min(self.maximum, raw)

    def apply_jitter(self, seconds: float) -> float:
        """``seconds`` spread by this policy's jitter (never negative, never more than given)."""
        seconds = max(seconds, 0.0)
        if self.jitter == "full":
            return self.rng.uniform(0.0, seconds)
        if self.jitter == "equal":
            half = seconds / 2.0
            return half + self.rng.uniform(0.0, half)
        return seconds

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), jitter included."""
        return self.apply_jitter(self.base_delay(attempt))
