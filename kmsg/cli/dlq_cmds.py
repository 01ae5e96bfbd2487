"""``kmsg dlq``: list, inspect, retry and purge a queue's dead letters, with filters.

Filters (error type, age, task) are applied here while paging through ``list_failed``; the chosen
ids are then retried or purged in batches, so a filter never touches a dead letter it did not show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from kmsg.cli.app import CliState, ExitCode, run_with_queue
from kmsg.cli.output import (
    console,
    job_to_builtins,
    jobs_table,
    print_job,
    print_json,
    skip_lines,
    skips_to_builtins,
)
from kmsg.cli.params import DURATION, confirm, queue_option, yes_option
from kmsg.models import Job, JobState, RetryResult
from kmsg.queue import JobQueue

__all__ = ["dlq_group"]

F = TypeVar("F", bound=Callable[..., Any])
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


async def _ids_to_act_on(
    queue: JobQueue, name: str, job_ids: tuple[str, ...], chosen: DeadLetterFilter
) -> list[str]:
    if job_ids:
        return list(job_ids)
    return [job.id for job in await find_dead(queue, name, chosen, None)]


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
    jobs = run_with_queue(state, lambda queue: find_dead(queue, queue_name, chosen, limit))
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
    job = run_with_queue(state, lambda queue: queue.get(queue_name, job_id))
    if job.state is not JobState.FAILED:
        click.echo(f"note: job {job_id} is {job.state.value}, not a dead letter", err=True)
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
    confirm(
        yes, f"Retry the selected dead letters of {queue_name}? Their messages will be re-sent."
    )

    async def body(queue: JobQueue) -> RetryResult:
        if every and chosen.empty:
            return await queue.retry_failed(queue_name, to_queue=to_queue)
        ids = await _ids_to_act_on(queue, queue_name, job_ids, chosen)
        result = RetryResult(moved=0)
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            result += await queue.retry_failed(queue_name, batch, to_queue=to_queue)
        return result

    result = run_with_queue(state, body)
    if state.json:
        print_json({"queue": queue_name, "retried": result.moved, **skips_to_builtins(result)})
    else:
        click.echo(f"retried {result.moved} dead letters of {queue_name}")
        for line in skip_lines(result):
            click.echo(line)
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
    confirm(yes, f"Delete the selected dead letters of {queue_name} for good?")

    async def body(queue: JobQueue) -> int:
        if every and chosen.empty:
            return await queue.purge_failed(queue_name)
        ids = await _ids_to_act_on(queue, queue_name, job_ids, chosen)
        deleted = 0
        for start in range(0, len(ids), _BATCH):
            deleted += await queue.purge_failed(queue_name, ids[start : start + _BATCH])
        return deleted

    deleted = run_with_queue(state, body)
    if state.json:
        print_json({"queue": queue_name, "purged": deleted})
    else:
        click.echo(f"purged {deleted} dead letters of {queue_name}")
