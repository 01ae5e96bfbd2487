"""``kmsg migrate SRC_URL DST_URL``: copy queues between backends, safely re-runnable.

Every job of every state is read with ``list_jobs`` and written with ``import_jobs``, which keeps
ids, state, run time, priority, attempts, dedupe keys, errors and results, and skips ids the
destination already holds: a re-run after an interruption neither loses nor duplicates a job.
Pause and rate-limit settings are copied first. Workers must be stopped: a job that is
``processing`` is imported as ``pending`` with its attempt refunded, and a job that changes state
while the source is read may be missed (the final check then reports it).

The source is never created: a ``sqlite://`` source is opened with ``create=false``, so a mistyped
path exits 4 ("no sqlite database at ...") instead of migrating an empty new file. A ``-q`` queue
the source has never seen is warned about. On a terminal a progress bar counts the jobs copied
(the total is read from the source's counts first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from rich.table import Table

from kmsg.cli.app import CliState, ExitCode, fail, run_async
from kmsg.cli.known import warn_unknown
from kmsg.cli.output import console, print_json, safe
from kmsg.cli.progress import Bar, bar
from kmsg.models import JobState
from kmsg.queue import JobQueue
from kmsg.urls import open_queue, redact_url

__all__ = ["QueueReport", "migrate_cmd", "migrate_queue"]

_PAGE = 1000


@dataclass(frozen=True)
class QueueReport:
    """What happened to one queue: jobs read, newly written, already present, and still missing."""

    queue: str
    source_jobs: int
    imported: int
    already_present: int
    missing: int


async def _all_ids(queue: JobQueue, name: str) -> set[str]:
    ids: set[str] = set()
    for state in JobState:
        cursor: str | None = None
        while True:
            page = await queue.list_jobs(name, state, limit=_PAGE, cursor=cursor)
            ids.update(job.id for job in page.jobs)
            cursor = page.next_cursor
            if cursor is None or not page.jobs:
                break
    return ids


async def _copy_settings(src: JobQueue, dst: JobQueue, name: str) -> None:
    stats = await src.stats(name)
    if stats.paused:
        await dst.pause(name)
    else:
        await dst.resume(name)
    limit = stats.rate_limit
    await dst.set_rate_limit(
        name, None if limit is None else limit.max_jobs, 1.0 if limit is None else limit.per_seconds
    )


async def migrate_queue(
    src: JobQueue, dst: JobQueue, name: str, progress: Bar | None = None
) -> QueueReport:
    """Copy one queue's settings and jobs from ``src`` to ``dst``, then check every id arrived;
    advance ``progress`` by each page of jobs read."""
    await _copy_settings(src, dst, name)
    source_ids: set[str] = set()
    imported = 0
    read = 0
    for state in JobState:
        cursor: str | None = None
        while True:
            page = await src.list_jobs(name, state, limit=_PAGE, cursor=cursor)
            fresh = [job for job in page.jobs if job.id not in source_ids]
            source_ids.update(job.id for job in fresh)
            if fresh:
                imported += await dst.import_jobs(fresh)
                read += len(fresh)
            if progress is not None:
                progress.advance(len(page.jobs))
            cursor = page.next_cursor
            if cursor is None or not page.jobs:
                break
    missing = source_ids - await _all_ids(dst, name)
    return QueueReport(name, read, imported, read - imported, len(missing))


def source_options(url: str) -> dict[str, Any]:
    """Options that open ``url`` as a source: never created (only SQLite would create one)."""
    return {"create": False} if urlsplit(url).scheme.lower() == "sqlite" else {}


async def _migrate(
    state: CliState, src_url: str, dst_url: str, names: Sequence[str]
) -> list[QueueReport]:
    async with open_queue(src_url, **source_options(src_url)) as src:
        await warn_unknown(src, names)
        chosen = list(names) or await src.queues()
        total = sum([(await src.stats(name)).total for name in chosen])
        async with open_queue(dst_url) as dst:
            with bar(state, f"migrating {len(chosen)} queues", total) as shown:
                return [await migrate_queue(src, dst, name, shown) for name in chosen]


def _render(reports: Sequence[QueueReport], src_url: str, dst_url: str) -> None:
    table = Table(title=safe(f"Migrated {redact_url(src_url)} -> {redact_url(dst_url)}"))
    for column in ("queue", "source jobs", "imported", "already present", "missing"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for report in reports:
        table.add_row(
            safe(report.queue),
            str(report.source_jobs),
            str(report.imported),
            str(report.already_present),
            str(report.missing),
        )
    console.print(table)


@click.command("migrate")
@click.argument("src_url")
@click.argument("dst_url")
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    help="Queue to move (repeatable; default: every queue of SRC_URL).",
)
@click.pass_obj
def migrate_cmd(state: CliState, src_url: str, dst_url: str, queues: tuple[str, ...]) -> None:
    """Copy every job of the chosen queues from SRC_URL to DST_URL (stop workers first).

    Keeps ids, states, run times, priorities, attempts, dedupe keys, error history and dead
    letters; copies pause and rate-limit settings; verifies every job arrived. Safe to re-run:
    jobs already in DST_URL are skipped. Processing jobs are imported as pending. Source jobs are
    left in place; clear them yourself once the copy is verified. SRC_URL must exist: a missing
    SQLite file exits 4 and is not created.
    """
    if src_url == dst_url:
        fail("SRC_URL and DST_URL are the same", ExitCode.USAGE)
    reports = run_async(lambda: _migrate(state, src_url, dst_url, queues))
    if state.json:
        print_json([report.__dict__ for report in reports])
    else:
        _render(reports, src_url, dst_url)
    missing = sum(report.missing for report in reports)
    if missing:
        fail(f"{missing} jobs did not arrive in the destination; re-run the migration")
