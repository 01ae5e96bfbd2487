"""Logging for the ``kmsg`` command: one line per record on stderr, hostile text made visible, and
repeated errors summarised instead of flooding the terminal.

A worker draining a bad batch would otherwise log one ERROR line per dead letter (20,000 lines for
20,000 jobs). :class:`RepeatLimiter` lets the first :data:`FIRST` records of a kind through (a kind
is the logger, level and message template, e.g. ``"job %s dead-lettered: %s"``), then at most one
record of that kind per :data:`EVERY` seconds, carrying the count of those it held back; whatever it
still holds back is reported by :meth:`RepeatLimiter.flush` (``kmsg worker`` calls it when it
stops). Records below WARNING are never limited.

Records are printed through the Rich console (so a live status line or progress bar is redrawn
below them, not torn), with control characters shown as escapes (:func:`~kmsg.cli.output.safe`);
tracebacks keep their line breaks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kmsg.cli.output import err_console, human_duration, safe

__all__ = ["EVERY", "FIRST", "ConsoleHandler", "RepeatLimiter", "configure_logging"]

FIRST: Final = 5
"""Records of one kind printed in full before the rest are summarised."""
EVERY: Final = 10.0
"""Seconds between two printed records of a kind once it is summarised."""

_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class _Tally:
    seen: int = 0
    held: int = 0
    since: float = 0.0


class RepeatLimiter(logging.Filter):
    """Limits repeated WARNING-or-worse records of one kind (module docstring)."""

    def __init__(
        self, first: int = FIRST, every: float = EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.first = first
        self.every = every
        self._clock = clock
        self._tallies: dict[tuple[str, int, str], _Tally] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is printed; a printed record may gain a note about held ones."""
        if record.levelno < logging.WARNING:
            return True
        tally = self._tallies.setdefault((record.name, record.levelno, str(record.msg)), _Tally())
        tally.seen += 1
        now = self._clock()
        if tally.seen < self.first:
            return True
        if tally.seen == self.first:
            tally.since = now
            _annotate(record, f"further ones like this: one every {human_duration(self.every)}")
            return True
        if now - tally.since < self.every:
            tally.held += 1
            return False
        _annotate(
            record, f"and {tally.held:,} more like this in {human_duration(now - tally.since)}"
        )
        tally.held, tally.since = 0, now
        return True

    def flush(self) -> list[str]:
        """One line per kind with records still held back (and forget them)."""
        lines = [
            f"{tally.held:,} more like {template!r} ({logging.getLevelName(level)}, {name})"
            for (name, level, template), tally in self._tallies.items()
            if tally.held
        ]
        for tally in self._tallies.values():
            tally.held = 0
        return lines


def _annotate(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} [{note}]"
    record.args = None


class ConsoleHandler(logging.Handler):
    """Prints each record through the Rich stderr console, control characters made visible."""

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` and print it (its traceback, if any, line by line)."""
        try:
            shown = logging.makeLogRecord(record.__dict__)
            shown.msg, shown.args = safe(record.getMessage()), None  # no line break left in it
            lines = self.format(shown).split("\n")  # the traceback's lines, if any
            err_console.print("\n".join(safe(line) for line in lines))
        except Exception:
            self.handleError(record)


def configure_logging(verbose: bool) -> RepeatLimiter:
    """Log to stderr at INFO with ``verbose`` (else WARNING), repeats limited; idempotent."""
    root = logging.getLogger()
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for handler in root.handlers:
        if isinstance(handler, ConsoleHandler):
            return next(f for f in handler.filters if isinstance(f, RepeatLimiter))
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    limiter = RepeatLimiter()
    handler.addFilter(limiter)
    root.addHandler(handler)
    return limiter
