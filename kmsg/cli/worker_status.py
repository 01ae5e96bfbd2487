"""What ``kmsg worker`` tells people while it runs: a tally of job outcomes and a live status line.

:class:`Tally` counts worker events (completed, retried, dead, ...) and samples them to give a
rate over the last few seconds. :func:`status_line` draws ``rate, in flight, completed, retried,
dead`` on one line of stderr, redrawn twice a second, only on a terminal and not with ``--json``
(logs are printed above it through the same console). Several tallies add up (``-p N``: one line
and one total for all processes).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from rich.live import Live
from rich.text import Text

from kmsg.cli.output import err_console
from kmsg.worker import EventKind, WorkerEvent

__all__ = ["RATE_WINDOW", "Snapshot", "Tally", "describe", "status_line"]

RATE_WINDOW: Final = 5.0
"""Seconds over which the status line's rate is measured."""

_FINISHED: Final = ("completed", "retried", "dead")
Snapshot = Mapping[str, int]
"""Counts by outcome (``completed``, ``retried``, ``dead``, ``released``, ...) and ``in_flight``."""


class Tally:
    """Counts a worker's events; :meth:`snapshot` adds the jobs in flight."""

    def __init__(self, in_flight: Callable[[], int] = lambda: 0) -> None:
        self.counts: Counter[str] = Counter()
        self._in_flight = in_flight

    def __call__(self, event: WorkerEvent) -> None:
        """The worker event listener."""
        if event.kind is not EventKind.STARTED:
            self.counts[event.kind.value] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far, with ``in_flight``."""
        return {**self.counts, "in_flight": self._in_flight()}


class _Rate:
    """Jobs finished per second over the last :data:`RATE_WINDOW` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, finished: int) -> float:
        now = self._clock()
        self._samples.append((now, finished))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
            self._samples.popleft()
        (then, before) = self._samples[0]
        return (finished - before) / (now - then) if now > then else 0.0


def describe(snapshot: Snapshot, rate: float | None = None) -> str:
    """``"412.5 jobs/s, in flight 10, completed 5,000, retried 12, dead 3"`` (the rate and in
    flight when known, other outcomes when any)."""
    parts = [] if rate is None else [f"{rate:,.1f} jobs/s"]
    if "in_flight" in snapshot:
        parts.append(f"in flight {snapshot['in_flight']:,}")
    parts += [f"{kind} {snapshot.get(kind, 0):,}" for kind in _FINISHED]
    others = sorted(set(snapshot) - {"in_flight", *_FINISHED})
    parts += [f"{kind.replace('_', ' ')} {snapshot[kind]:,}" for kind in others if snapshot[kind]]
    return ", ".join(parts)


@contextmanager
def status_line(read: Callable[[], Snapshot], *, shown: bool, label: str) -> Iterator[None]:
    """Show ``label: <describe(read())>`` live on stderr for the block when ``shown``."""
    if not shown:
        yield
        return
    rate = _Rate()

    class _Line:
        def __rich__(self) -> Text:
            snapshot = read()
            finished = sum(snapshot.get(kind, 0) for kind in _FINISHED)
            return Text(f"{label}: {describe(snapshot, rate.update(finished))}")

    with Live(_Line(), console=err_console, refresh_per_second=2, transient=True):
        yield
