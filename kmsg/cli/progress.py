"""Progress bars for long CLI work (``migrate``, bulk ``dlq retry/purge``, ``queue cleanup``).

Bars are drawn on stderr, and only when stderr is a terminal and ``--json`` is not given, so
scripts and pipes see exactly what they saw before. Work the CLI does in batches advances its bar
per batch; work that is one library call (``retry_failed`` or ``purge_failed`` of a whole queue,
``cleanup``; each runs in bounded steps inside the adapter) is followed by polling the queue's
counts, which cost O(1) (:func:`track_by_counts`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

import anyio
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kmsg.cli.app import CliState
from kmsg.cli.output import err_console, safe
from kmsg.models import JobState
from kmsg.queue import JobQueue

__all__ = ["POLL_SECONDS", "Bar", "bar", "shows_progress", "track_by_counts"]

T = TypeVar("T")

POLL_SECONDS: Final = 0.25
"""How often :func:`track_by_counts` reads the counts."""


def shows_progress(state: CliState) -> bool:
    """Whether progress is drawn: stderr is a terminal and ``--json`` is off."""
    return err_console.is_terminal and not state.json


class Bar:
    """One progress bar: a total and how much of it is done (a no-op when not drawn)."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def set_total(self, total: int) -> None:
        """Set how many units the work has."""
        self._progress.update(self._task, total=total)

    def advance(self, done: int) -> None:
        """Count ``done`` more units as finished."""
        self._progress.advance(self._task, done)

    def set_done(self, done: int) -> None:
        """Set the units finished so far."""
        self._progress.update(self._task, completed=done)

    def finish(self) -> None:
        """Show the bar full (the work ended, whatever the estimate was)."""
        total = self._progress.tasks[self._task].total
        self._progress.update(self._task, completed=total if total is not None else 0)


@contextmanager
def bar(state: CliState, description: str, total: int | None = None) -> Iterator[Bar]:
    """A progress bar on stderr for the duration of the block (drawn only if
    :func:`shows_progress`)."""
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=err_console, disable=not shows_progress(state))
    with progress:
        yield Bar(progress, progress.add_task(safe(description), total=total))


async def _count(queue: JobQueue, name: str, states: Sequence[JobState]) -> int:
    stats = await queue.stats(name)
    return sum(getattr(stats, state.value) for state in states)


async def track_by_counts(
    state: CliState,
    queue: JobQueue,
    name: str,
    states: Sequence[JobState],
    description: str,
    work: Callable[[], Awaitable[T]],
) -> T:
    """Run ``work`` (one call that empties some of ``states`` in queue ``name``) under a bar whose
    progress is how far the count of ``states`` fell; the count at the start is the total."""
    if not shows_progress(state):
        return await work()
    start = await _count(queue, name, states)
    result: list[T] = []
    with bar(state, description, start) as shown:

        async def run() -> None:
            result.append(await work())
            group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            while True:
                await anyio.sleep(POLL_SECONDS)
                shown.set_done(max(0, start - await _count(queue, name, states)))
        shown.finish()
    return result[0]
