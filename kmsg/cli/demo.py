"""``kmsg demo``: a realistic mixed batch through the whole pipeline, in seconds.

It builds ``--count`` messages (about 60% SMS, 25% LMS, 15% AlimTalk), a few of them scheduled a
few seconds ahead, and shows both ways a bad message ends:

* **refused at enqueue**: about 2% have an invalid phone number; building the message validates
  it, so they never reach the queue;
* **dead-lettered by the provider**: a few AlimTalk messages name a template the provider does not
  have (``TEMPLATE_NOT_FOUND``, not retryable).

The mock provider also fails a few percent of sends with a retryable ``PROVIDER_ERROR``; jobs use
a short backoff, so their retries happen within the run. An in-process worker sends everything
under a live progress bar, then a summary table is printed.

Without ``--queue-url`` the demo uses ``kmsg-demo.db`` in the current directory, recreated on
every run.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from kmsg.cli.app import CliState, run_async
from kmsg.cli.output import console, print_json, safe
from kmsg.cli.params import confirm, yes_option
from kmsg.errors import ValidationError
from kmsg.jobs import NewJob
from kmsg.messaging.mock import MockProvider
from kmsg.messaging.models import AlimTalk, Lms, Message, Sms
from kmsg.messaging.processor import MessageJobProcessor, SendMessageJob, SendScheduledMessageJob
from kmsg.models import Backoff
from kmsg.queue import JobQueue
from kmsg.urls import open_queue, redact_url
from kmsg.worker import EventKind, EventListener, Worker, WorkerEvent

__all__ = ["DEMO_DB", "DemoTally", "build_batch", "demo_cmd"]

DEMO_DB: Final = "kmsg-demo.db"
TEMPLATE: Final = "DEMO_OTP"
_MISSING_TEMPLATE: Final = "DEMO_RETIRED"
_BACKOFF: Final = Backoff(initial=0.2, factor=2.0, maximum=1.0)
_BATCH: Final = 500


@dataclass
class DemoTally:
    """What happened to the batch, per message type."""

    enqueued: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    scheduled: int = 0
    kinds: dict[str, str] = field(default_factory=dict)


def _phone(rng: random.Random, invalid: bool) -> str:
    if invalid:
        return rng.choice(("010-123", "+1 415 555 0100", "02-1234-5678", "0101234567890"))
    return f"010-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    return "SMS" if roll < 0.60 else "LMS" if roll < 0.85 else "AlimTalk"


def _message(rng: random.Random, kind: str, index: int) -> Message:
    to = _phone(rng, invalid=rng.random() < 0.02)
    if kind == "SMS":
        return Sms(to=to, text=f"[kmsg] 인증번호 {rng.randrange(1_000_000):06d}")
    if kind == "LMS":
        return Lms(to=to, subject="주문 안내", text=f"주문 #{index} 이 접수되었습니다. " * 4)
    code = _MISSING_TEMPLATE if rng.random() < 0.1 else TEMPLATE
    return AlimTalk(to=to, template_code=code, variables={"code": f"{index:06d}"})


def build_batch(
    count: int, queue_name: str, seed: int, tally: DemoTally
) -> list[tuple[str, NewJob]]:
    """The demo's jobs with their message type; refused messages are counted in ``tally.refused``.

    About 5% are ``send_scheduled_message`` jobs due 1-3 seconds from now.
    """
    rng = random.Random(seed)
    jobs: list[tuple[str, NewJob]] = []
    now = time.time()
    for index in range(count):
        kind = _kind(rng)
        try:
            message = _message(rng, kind, index)
        except ValidationError:
            tally.refused[kind] += 1
            continue
        payload: SendMessageJob | SendScheduledMessageJob = SendMessageJob(message=message)
        run_at = None
        if rng.random() < 0.05:
            run_at = now + rng.uniform(1.0, 3.0)
            payload = SendScheduledMessageJob(message=message, scheduled_at=run_at)
            tally.scheduled += 1
        job = NewJob(payload=payload, queue=queue_name, run_at=run_at, backoff=_BACKOFF, lease=10.0)
        jobs.append((kind, job))
    return jobs


async def _enqueue(queue: JobQueue, jobs: list[tuple[str, NewJob]], tally: DemoTally) -> None:
    for start in range(0, len(jobs), _BATCH):
        batch = jobs[start : start + _BATCH]
        ids = await queue.enqueue_many([job for _, job in batch])
        for job_id, (kind, _) in zip(ids, batch, strict=True):
            tally.kinds[job_id] = kind
            tally.enqueued[kind] += 1


def _listener(tally: DemoTally, progress: Progress, task: TaskID) -> EventListener:
    def on_event(event: WorkerEvent) -> None:
        kind = tally.kinds.get(event.job.id, "?")
        if event.kind is EventKind.COMPLETED:
            tally.sent[kind] += 1
            progress.advance(task)
        elif event.kind is EventKind.DEAD:
            tally.dead[kind] += 1
            progress.advance(task)
        elif event.kind is EventKind.RETRIED:
            tally.retried[kind] += 1

    return on_event


async def _run(queue: JobQueue, options: DemoOptions, tally: DemoTally) -> float:
    """Enqueue the batch, work it off under a progress bar; return the seconds it took."""
    provider = MockProvider(failure_rate=options.failure_rate, seed=options.seed)
    await provider.templates.create(TEMPLATE, name="Demo OTP", content="인증번호는 #{code} 입니다.")
    worker = Worker(
        queue,
        queues=(options.queue_name,),
        concurrency=options.concurrency,
        lease=10.0,
        idle_wait=0.2,
        install_signal_handlers=False,
    )
    MessageJobProcessor(provider).register(worker)
    started = time.perf_counter()
    jobs = build_batch(options.count, options.queue_name, options.seed, tally)
    await _enqueue(queue, jobs, tally)
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=options.quiet) as progress:
        task = progress.add_task("sending", total=len(jobs))
        worker.add_listener(_listener(tally, progress, task))
        await worker.run_until_idle()
    return time.perf_counter() - started


@dataclass(frozen=True)
class DemoOptions:
    """The demo's knobs."""

    count: int
    queue_name: str
    concurrency: int
    failure_rate: float
    seed: int
    quiet: bool


def _summary(tally: DemoTally, elapsed: float) -> dict[str, Any]:
    kinds = sorted(set(tally.enqueued) | set(tally.refused))
    rows = {
        kind: {
            "refused_at_enqueue": tally.refused[kind],
            "enqueued": tally.enqueued[kind],
            "sent": tally.sent[kind],
            "retried": tally.retried[kind],
            "dead_lettered": tally.dead[kind],
        }
        for kind in kinds
    }
    totals = {key: sum(row[key] for row in rows.values()) for key in next(iter(rows.values()), {})}
    sent = totals.get("sent", 0)
    return {
        "per_type": rows,
        "total": totals,
        "scheduled": tally.scheduled,
        "elapsed_seconds": round(elapsed, 3),
        "throughput_per_second": round(sent / elapsed, 1) if elapsed > 0 else None,
    }


def _render(summary: dict[str, Any], url: str, queue_name: str) -> None:
    table = Table(title="kmsg demo")
    columns = ("refused_at_enqueue", "enqueued", "sent", "retried", "dead_lettered")
    table.add_column("type")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for kind, row in [*summary["per_type"].items(), ("total", summary["total"])]:
        table.add_row(kind, *(str(row.get(column, 0)) for column in columns), end_section=False)
    console.print(table)
    console.print(
        f"{summary['total'].get('sent', 0)} sent in {summary['elapsed_seconds']:.2f}s "
        f"({summary['throughput_per_second']} msg/s); {summary['scheduled']} were scheduled ahead."
    )
    console.print(
        "Refused messages never reached the queue (invalid phone number). Inspect the dead "
        f"letters with:\n  kmsg --queue-url {safe(redact_url(url))} dlq list --queue {queue_name}"
    )


def _fresh_demo_db() -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(DEMO_DB + suffix).unlink(missing_ok=True)
    return f"sqlite:///{DEMO_DB}"


async def _prepare(url: str, queue_name: str, yes: bool) -> None:
    async with open_queue(url) as queue:
        stats = await queue.stats(queue_name)
        if stats.total:
            confirm(yes, f"Queue {queue_name} holds {stats.total} jobs; delete them for the demo?")
            await queue.clear(queue_name)


@click.command("demo")
@click.option("--count", "-n", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--queue", "-q", "queue_name", default="demo", show_default=True)
@click.option("--concurrency", "-c", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0.0, 0.5),
    default=0.05,
    show_default=True,
    help="Share of sends the mock provider fails (retryable).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Makes the batch repeatable.")
@yes_option()
@click.pass_obj
def demo_cmd(
    state: CliState,
    count: int,
    queue_name: str,
    concurrency: int,
    failure_rate: float,
    seed: int,
    yes: bool,
) -> None:
    """Send a mixed batch through the mock provider with a live progress bar, then summarise.

    Uses ./kmsg-demo.db (recreated) unless --queue-url is given; then the demo queue is cleared
    first (after asking).
    """
    url = state.queue_url if state.url_given else _fresh_demo_db()
    if not state.verbose:
        logging.getLogger("kmsg.worker").setLevel(logging.CRITICAL)
    options = DemoOptions(count, queue_name, concurrency, failure_rate, seed, quiet=state.json)
    tally = DemoTally()

    async def body() -> float:
        await _prepare(url, queue_name, yes)
        async with open_queue(url) as queue:
            return await _run(queue, options, tally)

    summary = _summary(tally, run_async(body))
    if state.json:
        print_json({"queue_url": redact_url(url), "queue": queue_name, **summary})
    else:
        _render(summary, url, queue_name)
