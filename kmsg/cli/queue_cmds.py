"""``kmsg queue``: stats, list, inspect, pause, resume, rate-limit and cleanup.

A queue the backend has never seen is warned about, or, for the commands that would create it by
writing its settings, refused without ``--create`` (:mod:`kmsg.cli.known`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import click
import msgspec

from kmsg.cli.app import CliState, run_with_queue
from kmsg.cli.known import require_known, warn_unknown
from kmsg.cli.output import (
    console,
    human_duration,
    job_to_builtins,
    jobs_table,
    print_job,
    print_json,
    safe,
    stats_table,
    stats_to_builtins,
)
from kmsg.cli.params import (
    DURATION,
    STATE,
    confirm_async,
    create_option,
    queue_option,
    yes_option,
)
from kmsg.cli.progress import track_by_counts
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

    async def body(queue: JobQueue) -> list[QueueStats]:
        await warn_unknown(queue, queues)
        return await gather_stats(queue, queues)

    all_stats = run_with_queue(state, body)
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

    async def body(queue: JobQueue) -> list[Job]:
        await warn_unknown(queue, [queue_name])
        return await collect_jobs(queue, queue_name, chosen, limit)

    jobs = run_with_queue(state, body)
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

    async def body(queue: JobQueue) -> Job:
        await warn_unknown(queue, [queue_name])
        return await queue.get(queue_name, job_id)

    job = run_with_queue(state, body)
    if state.json:
        print_json(job_to_builtins(job))
    else:
        print_job(job)


def _change_setting(
    state: CliState,
    queue_name: str,
    create: bool,
    change: Callable[[JobQueue], Awaitable[None]],
) -> QueueStats:
    """Apply ``change`` to a known queue (or a new one with ``create``); return its stats."""

    async def body(queue: JobQueue) -> QueueStats:
        await require_known(queue, queue_name, create=create)
        await change(queue)
        return await queue.stats(queue_name)

    return run_with_queue(state, body)


def _report_setting(state: CliState, stats: QueueStats, text: str) -> None:
    if state.json:
        limit = stats.rate_limit
        print_json(
            {
                "queue": stats.queue,
                "paused": stats.paused,
                "rate_limit": None if limit is None else msgspec.to_builtins(limit),
            }
        )
    else:
        console.print(safe(text))


@queue_group.command("pause")
@queue_option()
@create_option()
@click.pass_obj
def pause_cmd(state: CliState, queue_name: str, create: bool) -> None:
    """Stop workers from claiming jobs of the queue (enqueue still works)."""
    stats = _change_setting(state, queue_name, create, lambda queue: queue.pause(queue_name))
    _report_setting(state, stats, f"paused {queue_name}")


@queue_group.command("resume")
@queue_option()
@create_option()
@click.pass_obj
def resume_cmd(state: CliState, queue_name: str, create: bool) -> None:
    """Let workers claim jobs of the queue again."""
    stats = _change_setting(state, queue_name, create, lambda queue: queue.resume(queue_name))
    _report_setting(state, stats, f"resumed {queue_name}")


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
@create_option()
@click.pass_obj
def rate_limit_cmd(
    state: CliState,
    max_jobs: int | None,
    per_seconds: float,
    off: bool,
    queue_name: str,
    create: bool,
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
    stats = _change_setting(
        state,
        queue_name,
        create,
        lambda queue: queue.set_rate_limit(queue_name, max_jobs, per_seconds),
    )
    if max_jobs is None:
        text = f"rate limit removed from {queue_name}"
    else:
        text = (
            f"rate limit of {queue_name}: a bucket of {max_jobs:,} tokens, refilled at"
            f" {max_jobs:,} per {human_duration(per_seconds)}"
        )
    _report_setting(state, stats, text)


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
    """Delete terminal jobs that ended long ago (never pending work).

    Asks first, naming how many jobs are in those states (an upper bound: only those that ended
    more than --older-than ago go); nothing is asked when there are none.
    """
    chosen = [JobState(value) for value in states or ("completed", "cancelled")]
    names = ", ".join(s.value for s in chosen)
    age = human_duration(older_than)

    async def body(queue: JobQueue) -> int:
        await warn_unknown(queue, [queue_name])
        stats = await queue.stats(queue_name)
        candidates = sum(getattr(stats, s.value) for s in chosen)
        if not candidates:
            return 0
        await confirm_async(
            yes,
            f"Delete up to {candidates:,} {names} jobs of queue {queue_name} that ended more"
            f" than {age} ago?",
        )
        return await track_by_counts(
            state,
            queue,
            queue_name,
            chosen,
            f"deleting {names} jobs older than {age}",
            lambda: queue.cleanup(queue_name, chosen, older_than),
        )

    deleted = run_with_queue(state, body)
    if state.json:
        print_json({"queue": queue_name, "deleted": deleted})
    else:
        console.print(
            safe(f"deleted {deleted:,} jobs from {queue_name} (ended more than {age} ago)")
        )
