"""Throughput per queue, measured by the dashboard from the ``completed`` counts it reads.

The contract has no throughput figure, so each read of ``stats()`` is kept as a sample, and the
rate is the change in ``completed`` over the samples of the last minute. It is an estimate: it
needs two reads at least a second apart, and a ``cleanup`` that deletes completed jobs would make
the count fall, which is shown as 0 rather than a negative rate.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Final

from kmsg.models import QueueStats

__all__ = ["ThroughputMeter"]

WINDOW: Final = 60.0
MIN_SPAN: Final = 1.0


class ThroughputMeter:
    """Completed jobs per minute for each queue, from successive ``QueueStats`` readings."""

    def __init__(self, window: float = WINDOW) -> None:
        self._window = window
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, stats: QueueStats, *, now: float | None = None) -> float | None:
        """Record a reading; return completed jobs a minute, or None until there is enough data."""
        moment = time.monotonic() if now is None else now
        samples = self._samples.setdefault(stats.queue, deque(maxlen=512))
        samples.append((moment, stats.completed))
        while len(samples) > 2 and moment - samples[1][0] >= self._window:
            samples.popleft()
        first_at, first_count = samples[0]
        span = moment - first_at
        if span < MIN_SPAN:
            return None
        return max(stats.completed - first_count, 0) * 60.0 / span
