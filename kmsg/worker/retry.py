"""Retry backoff: exponential, capped, with jitter. Pure arithmetic; randomness is injectable.

``delay(n) = jitter(min(maximum, initial * factor ** (n - 1)))`` for failed attempt ``n`` (1-based).

Jitter spreads retries of jobs that failed together (a provider outage) so they do not return
together:

* ``"full"``: uniform in ``[0, d]`` -- the widest spread, the lowest mean;
* ``"equal"``: uniform in ``[d/2, d]`` -- spread, but never much sooner than planned;
* ``"none"``: exactly ``d``.
"""

from __future__ import annotations

import random
from typing import Literal

from kmsg.errors import ValidationError
from kmsg.models import Backoff
from kmsg.validation import check_backoff

__all__ = ["Jitter", "RetryPolicy"]

Jitter = Literal["full", "equal", "none"]
_JITTERS: frozenset[str] = frozenset({"full", "equal", "none"})


class RetryPolicy:
    """Exponential backoff with a cap and jitter: a :class:`kmsg.Backoff` plus jitter.

    ``rng`` is the source of jitter; pass a seeded ``random.Random`` for repeatable delays.
    """

    __slots__ = ("backoff", "jitter", "rng")

    def __init__(
        self,
        *,
        initial: float = 1.0,
        factor: float = 2.0,
        maximum: float = 300.0,
        jitter: Jitter = "equal",
        rng: random.Random | None = None,
    ) -> None:
        self.backoff = check_backoff(Backoff(initial=initial, factor=factor, maximum=maximum))
        """The delay before jitter (the same arithmetic the queue applies)."""
        if jitter not in _JITTERS:
            raise ValidationError(f"jitter must be one of {sorted(_JITTERS)}, not {jitter!r}")
        self.jitter: Jitter = jitter
        self.rng = rng if rng is not None else random.Random()

    @property
    def initial(self) -> float:
        """Seconds after the first failed attempt, before jitter."""
        return float(self.backoff.initial)

    @property
    def factor(self) -> float:
        """How much each further failed attempt multiplies the delay."""
        return float(self.backoff.factor)

    @property
    def maximum(self) -> float:
        """The cap on the delay, before jitter."""
        return float(self.backoff.maximum)

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(initial={self.initial:g}, factor={self.factor:g}, "
            f"maximum={self.maximum:g}, jitter={self.jitter!r})"
        )

    def base_delay(self, attempt: int) -> float:
        """The capped exponential delay after failed attempt ``attempt``, before jitter."""
        return self.backoff.delay(attempt)

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
