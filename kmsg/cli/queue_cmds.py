"""``kmsg queue``: stats, list, inspect, pause, resume, rate-limit and cleanup."""

from __future__ import annotations

from collections.abc import Sequence

import click

from kmsg.cli.app import CliState, run_with_queue
from kmsg.cli.output import (
    console,
    job_to_builtins,
    jobs_table,
    print_job,
    print_json,
    stats_table,
    stats_to_builtins,
)
from kmsg.cli.params import DURATION, STATE, confirm, queue_option, yes_option
from kmsg.models import Job, JobState, QueueStats
from kmsg.queue import JobQueue

__all__ = ["gather_stats", "queue_group"]

_PAGE: int = 500


async def gather_stats(queue: JobQueue, names: Sequence[str] = ()) -> list[QueueStats]:
    """Stats of the named queues, or of every queue the backend knows when none is named."""
    chosen = list(names) or await queue.queues()
    return [await queue.stats(name) for name in chosen]


async def collect_jobs(
    queue: JobQueue, name: str, states: Sequence[JobState], limit: int
) -> list[Job]:
    """Up to ``limit`` jobs of each state, paging through ``list_jobs``."""
    jobs: list[Job] = []
    for state in states:
        wanted = limit
        cursor: str | None = None
        while wanted > 0:
            page = await queue.list_jobs(name, state, limit=min(wanted, _PAGE), cursor=cursor)
            jobs.extend(page.jobs)
            wanted -= len(page.jobs)
            cursor = page.next_cursor
            if cursor is None or not page.jobs:
                break
    return jobs


@click.group("queue")
def queue_group() -> None:
    """Inspect and manage queues."""


@queue_group.command("stats")
@queue_option(multiple=True)
@click.pass_obj
def stats_cmd(state: CliState, queues: tuple[str, ...]) -> None:
    """Counts per state, oldest pending age and settings of each queue."""
    all_stats = run_with_queue(state, lambda queue: gather_stats(queue, queues))
    if state.json:
        print_json([stats_to_builtins(stats) for stats in all_stats])
    else:
        console.print(stats_table(all_stats))


@queue_group.command("list")
@queue_option()
@click.option("--state", "-s", "states", type=STATE, multiple=True, help="Repeatable; default all.")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="At most this many jobs per state.",
)
@click.pass_obj
def list_cmd(state: CliState, queue_name: str, states: tuple[str, ...], limit: int) -> None:
    """List the jobs of a queue, state by state."""
    chosen = [JobState(value) for value in states] or list(JobState)
    jobs = run_with_queue(state, lambda queue: collect_jobs(queue, queue_name, chosen, limit))
    if state.json:
        print_json([job_to_builtins(job) for job in jobs])
    else:
        console.print(jobs_table(jobs, title=f"Jobs in {queue_name}"))


@queue_group.command("inspect")
@click.argument("job_id")
@queue_option()
@click.pass_obj
def inspect_cmd(state: CliState, job_id: str, queue_name: str) -> None:
    """Show one job: fields, payload, result and error history (exit 3 if unknown)."""
    job = run_with_queue(state, lambda queue: queue.get(queue_name, job_id))
    if state.json:
        print_json(job_to_builtins(job))
    else:
        print_job(job)


@queue_group.command("pause")
@queue_option()
@click.pass_obj
def pause_cmd(state: CliState, queue_name: str) -> None:
    """Stop workers from claiming jobs of the queue (enqueue still works)."""
    run_with_queue(state, lambda queue: queue.pause(queue_name))
    click.echo(f"paused {queue_name}")


@queue_group.command("resume")
@queue_option()
@click.pass_obj
def resume_cmd(state: CliState, queue_name: str) -> None:
    """Let workers claim jobs of the queue again."""
    run_with_queue(state, lambda queue: queue.resume(queue_name))
    click.echo(f"resumed {queue_name}")


@queue_group.command("rate-limit")
@click.argument("max_jobs", type=click.IntRange(min=1), required=False)
@click.option(
    "--per",
    "per_seconds",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Refill time of a full bucket: MAX_JOBS tokens come back every PER.",
)
@click.option("--off", is_flag=True, help="Remove the rate limit.")
@queue_option()
@click.pass_obj
def rate_limit_cmd(
    state: CliState, max_jobs: int | None, per_seconds: float, off: bool, queue_name: str
) -> None:
    """Rate-limit claims across every worker with a token bucket (or --off).

    The bucket holds MAX_JOBS tokens and refills at MAX_JOBS per PER (evenly, not all at
    once); each claimed job takes a token. So a burst of up to MAX_JOBS claims can happen at
    once, and over any long stretch at most MAX_JOBS per PER on average (in any one window of
    length PER, up to twice MAX_JOBS: a full bucket plus its refill). A new or changed limit
    starts with a full bucket.
    """
    if (max_jobs is None) != off:
        raise click.UsageError("give MAX_JOBS or --off (not both)")
    run_with_queue(state, lambda queue: queue.set_rate_limit(queue_name, max_jobs, per_seconds))
    if max_jobs is None:
        click.echo(f"rate limit removed from {queue_name}")
    else:
        click.echo(
            f"rate limit of {queue_name}: a bucket of {max_jobs} tokens, refilled at"
            f" {max_jobs} per {per_seconds:g}s"
        )


@queue_group.command("cleanup")
@queue_option()
@click.option(
    "--state",
    "-s",
    "states",
    type=click.Choice(["completed", "failed", "cancelled"]),
    multiple=True,
    help="Terminal states to delete (default: completed, cancelled).",
)
@click.option(
    "--older-than",
    type=DURATION,
    default="7d",
    show_default=True,
    help="Delete jobs that ended longer ago than this.",
)
@yes_option()
@click.pass_obj
def cleanup_cmd(
    state: CliState, queue_name: str, states: tuple[str, ...], older_than: float, yes: bool
) -> None:
    """Delete terminal jobs that ended long ago (never pending work)."""
    chosen = [JobState(value) for value in states or ("completed", "cancelled")]
    names = ", ".join(s.value for s in chosen)
    confirm(yes, f"Delete {names} jobs of {queue_name} older than {older_than:g}s?")
    deleted = run_with_queue(state, lambda queue: queue.cleanup(queue_name, chosen, older_than))
    if state.json:
        print_json({"queue": queue_name, "deleted": deleted})
    else:
        click.echo(f"deleted {deleted} jobs from {queue_name}")
