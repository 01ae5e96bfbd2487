"""Typos in queue names: say when a command names a queue the backend has never seen.

A queue is *known* when the backend lists it (``JobQueue.queues()``: it has held jobs or
settings). The rule, the same for every command:

- commands that read or act on existing jobs (``queue stats/list/inspect/cleanup``, ``dlq ...``,
  ``worker -q``, ``dlq retry --to-queue``, ``send -q``) go on, after a warning on stderr naming the
  queues the backend does know; their exit code is unchanged (an empty answer is a true answer);
- commands that would create a queue by writing its settings (``queue pause``, ``resume``,
  ``rate-limit``) refuse an unknown queue with exit 3 unless ``--create`` is given, so a typo never
  makes and pauses a new queue.
"""

from __future__ import annotations

from collections.abc import Iterable

from kmsg.cli.app import ExitCode, fail
from kmsg.cli.output import err_console, safe
from kmsg.queue import JobQueue
from kmsg.validation import check_name

__all__ = ["require_known", "warn_unknown"]

_SHOWN = 10


def _known_text(known: list[str]) -> str:
    if not known:
        return "the backend has no queues yet"
    listed = ", ".join(known[:_SHOWN]) + (
        f" and {len(known) - _SHOWN} more" if len(known) > _SHOWN else ""
    )
    return f"known: {listed}"


async def _unknown(queue: JobQueue, names: Iterable[str]) -> tuple[list[str], list[str]]:
    chosen = [check_name("queue", name) for name in names]
    known = await queue.queues()
    return [name for name in dict.fromkeys(chosen) if name not in known], known


async def warn_unknown(queue: JobQueue, names: Iterable[str], *, note: str = "") -> list[str]:
    """Warn on stderr about each of ``names`` the backend has never seen; return those names."""
    unknown, known = await _unknown(queue, names)
    for name in unknown:
        err_console.print(
            safe(f"warning: queue {name!r} has never been seen ({_known_text(known)}){note}")
        )
    return unknown


async def require_known(queue: JobQueue, name: str, *, create: bool) -> None:
    """Stop with exit 3 when ``name`` has never been seen, unless ``create``."""
    unknown, known = await _unknown(queue, [name])
    if unknown and not create:
        fail(
            f"queue {name!r} has never been seen ({_known_text(known)}); give --create to"
            " set up a new queue",
            ExitCode.NOT_FOUND,
        )
