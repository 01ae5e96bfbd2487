"""``kmsg dlq``: list, inspect, retry and purge a queue's dead letters, with filters.

Filters (error type, age, task) are applied here while paging through ``list_failed``; the chosen
ids are then retried or purged in batches, so a filter never touches a dead letter it did not show.
``--all`` without a filter is one library call (``retry_failed`` / ``purge_failed`` of the whole
queue). Retry and purge ask first, naming how many dead letters they will touch, and show a
progress bar on a terminal (:mod:`kmsg.cli.progress`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import click

from kmsg.cli.app import CliState, ExitCode, run_with_queue
from kmsg.cli.known import warn_unknown
from kmsg.cli.output import (
    console,
    err_console,
    human_duration,
    job_to_builtins,
    jobs_table,
    print_job,
    print_json,
    safe,
    skip_lines,
    skips_to_builtins,
)
from kmsg.cli.params import DURATION, confirm_async, queue_option, yes_option
from kmsg.cli.progress import bar, track_by_counts
from kmsg.models import Job, JobState, RetryResult
from kmsg.queue import JobQueue

__all__ = ["dlq_group"]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R", int, RetryResult)
_PAGE = 500
_BATCH = 1000


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters a command acts on; an empty filter matches every one."""

    error_type: str | None = None
    task: str | None = None
    older_than: float | None = None

    @property
    def empty(self) -> bool:
        """True when no criterion is set."""
        return self.error_type is None and self.task is None and self.older_than is None

    def matches(self, job: Job, now: float) -> bool:
        """Whether ``job`` passes every criterion that is set."""
        last = job.last_error
        if self.error_type is not None and (last is None or last.type != self.error_type):
            return False
        if self.task is not None and job.task != self.task:
            return False
        ended = job.failed_at if job.failed_at is not None else job.created_at
        return self.older_than is None or now - ended >= self.older_than

    def describe(self) -> str:
        """The criteria for people: ``" (error type X, task Y, older than 7d)"``, or ``""``."""
        parts = []
        if self.error_type is not None:
            parts.append(f"error type {self.error_type}")
        if self.task is not None:
            parts.append(f"task {self.task}")
        if self.older_than is not None:
            parts.append(f"older than {human_duration(self.older_than)}")
        return f" ({', '.join(parts)})" if parts else ""


def filter_options(func: F) -> F:
    """Add ``--error-type``, ``--task`` and ``--older-than`` to a command."""
    func = click.option("--older-than", type=DURATION, help="Only dead letters older than this.")(
        func
    )
    func = click.option("--task", help="Only jobs of this task.")(func)
    return click.option("--error-type", help="Only jobs whose last error has this type.")(func)


async def find_dead(
    queue: JobQueue, name: str, chosen: DeadLetterFilter, limit: int | None
) -> list[Job]:
    """Dead letters of ``name`` matching ``chosen``, newest first, at most ``limit``."""
    now = time.time()
    found: list[Job] = []
    cursor: str | None = None
    while limit is None or len(found) < limit:
        page = await queue.list_failed(name, limit=_PAGE, cursor=cursor)
        found.extend(job for job in page.jobs if chosen.matches(job, now))
        cursor = page.next_cursor
        if cursor is None or not page.jobs:
            break
    return found if limit is None else found[:limit]


def _selection(job_ids: tuple[str, ...], chosen: DeadLetterFilter, every: bool) -> None:
    if job_ids and (every or not chosen.empty):
        raise click.UsageError("give job ids, or --all / filters, not both")
    if not job_ids and not every and chosen.empty:
        raise click.UsageError("name job ids, a filter (--error-type/--task/--older-than) or --all")


@dataclass(frozen=True)
class BulkAction(Generic[R]):
    """A bulk dead-letter command: its words, its zero result, and the two ways it acts (by ids,
    or on the whole queue)."""

    verb: str
    warning: str
    zero: R
    by_ids: Callable[[JobQueue, str, list[str]], Awaitable[R]]
    on_all: Callable[[JobQueue, str], Awaitable[R]]


async def _chosen_ids(
    queue: JobQueue, name: str, job_ids: tuple[str, ...], chosen: DeadLetterFilter
) -> list[str]:
    if job_ids:
        return list(job_ids)
    found = [job.id for job in await find_dead(queue, name, chosen, None)]
    return found[::-1]  # oldest first, as a whole-queue retry goes


async def run_bulk(
    state: CliState,
    queue: JobQueue,
    name: str,
    selection: tuple[tuple[str, ...], DeadLetterFilter, bool],
    action: BulkAction[R],
    yes: bool,
) -> R:
    """Choose the dead letters, ask (naming how many), then act in batches under a progress
    bar; ``--all`` without a filter is one call, its progress read from the failed count."""
    job_ids, chosen, every = selection
    await warn_unknown(queue, [name])
    described = f"dead letters of queue {name}{chosen.describe()}"
    whole_queue = every and chosen.empty
    ids = [] if whole_queue else await _chosen_ids(queue, name, job_ids, chosen)
    count = (await queue.stats(name)).failed if whole_queue else len(ids)
    if not count:
        return action.zero
    await confirm_async(yes, f"{action.verb} {count:,} {described}?{action.warning}")
    description = f"{action.verb.lower()} {described}"
    if whole_queue:
        return await track_by_counts(
            state, queue, name, [JobState.FAILED], description, lambda: action.on_all(queue, name)
        )
    result = action.zero
    with bar(state, description, count) as shown:
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            result += await action.by_ids(queue, name, batch)
            shown.advance(len(batch))
    return result


@click.group("dlq")
def dlq_group() -> None:
    """Inspect, retry and purge dead letters (jobs in the failed state)."""


@dlq_group.command("list")
@queue_option()
@filter_options
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.pass_obj
def list_cmd(
    state: CliState,
    queue_name: str,
    error_type: str | None,
    task: str | None,
    older_than: float | None,
    limit: int,
) -> None:
    """List dead letters, newest first."""
    chosen = DeadLetterFilter(error_type, task, older_than)

    async def body(queue: JobQueue) -> list[Job]:
        await warn_unknown(queue, [queue_name])
        return await find_dead(queue, queue_name, chosen, limit)

    jobs = run_with_queue(state, body)
    if state.json:
        print_json([job_to_builtins(job) for job in jobs])
    else:
        console.print(jobs_table(jobs, title=f"Dead letters in {queue_name}"))


@dlq_group.command("inspect")
@click.argument("job_id")
@queue_option()
@click.pass_obj
def inspect_cmd(state: CliState, job_id: str, queue_name: str) -> None:
    """Show one dead letter with its whole error history (exit 3 if unknown)."""

    async def body(queue: JobQueue) -> Job:
        await warn_unknown(queue, [queue_name])
        return await queue.get(queue_name, job_id)

    job = run_with_queue(state, body)
    if job.state is not JobState.FAILED:
        err_console.print(safe(f"note: job {job_id} is {job.state.value}, not a dead letter"))
    if state.json:
        print_json(job_to_builtins(job))
    else:
        print_job(job)


@dlq_group.command("retry")
@click.argument("job_ids", nargs=-1)
@queue_option()
@filter_options
@click.option("--all", "every", is_flag=True, help="Every dead letter of the queue.")
@click.option("--to-queue", help="Move the jobs to this queue (they keep their ids).")
@yes_option()
@click.pass_obj
def retry_cmd(
    state: CliState,
    job_ids: tuple[str, ...],
    queue_name: str,
    error_type: str | None,
    task: str | None,
    older_than: float | None,
    every: bool,
    to_queue: str | None,
    yes: bool,
) -> None:
    """Send dead letters back to pending (attempts reset, error history kept).

    A dead letter whose dedupe key a live job holds stays dead (never two live jobs with one
    key); it is listed with the holder's id, and so is every other job not retried, with the
    reason. Exits 1 when any was skipped.
    """
    chosen = DeadLetterFilter(error_type, task, older_than)
    _selection(job_ids, chosen, every)
    action = BulkAction(
        verb="Retry",
        warning=" Their messages will be re-sent.",
        zero=RetryResult(moved=0),
        by_ids=lambda queue, name, ids: queue.retry_failed(name, ids, to_queue=to_queue),
        on_all=lambda queue, name: queue.retry_failed(name, to_queue=to_queue),
    )

    async def body(queue: JobQueue) -> RetryResult:
        if to_queue is not None:
            await warn_unknown(queue, [to_queue], note="; the jobs go there all the same")
        return await run_bulk(state, queue, queue_name, (job_ids, chosen, every), action, yes)

    result = run_with_queue(state, body)
    if state.json:
        print_json({"queue": queue_name, "retried": result.moved, **skips_to_builtins(result)})
    else:
        console.print(safe(f"retried {result.moved:,} dead letters of {queue_name}"))
        for line in skip_lines(result):
            console.print(line)
    if result.skipped_count:
        click.get_current_context().exit(int(ExitCode.FAILURE))


@dlq_group.command("purge")
@click.argument("job_ids", nargs=-1)
@queue_option()
@filter_options
@click.option("--all", "every", is_flag=True, help="Every dead letter of the queue.")
@yes_option()
@click.pass_obj
def purge_cmd(
    state: CliState,
    job_ids: tuple[str, ...],
    queue_name: str,
    error_type: str | None,
    task: str | None,
    older_than: float | None,
    every: bool,
    yes: bool,
) -> None:
    """Delete dead letters for good."""
    chosen = DeadLetterFilter(error_type, task, older_than)
    _selection(job_ids, chosen, every)
    action = BulkAction(
        verb="Delete",
        warning=" They are gone for good.",
        zero=0,
        by_ids=lambda queue, name, ids: queue.purge_failed(name, ids),
        on_all=lambda queue, name: queue.purge_failed(name),
    )
    deleted = run_with_queue(
        state,
        lambda queue: run_bulk(state, queue, queue_name, (job_ids, chosen, every), action, yes),
    )
    if state.json:
        print_json({"queue": queue_name, "purged": deleted})
    else:
        console.print(safe(f"purged {deleted:,} dead letters of {queue_name}"))
