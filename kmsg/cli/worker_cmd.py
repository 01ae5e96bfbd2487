"""``kmsg worker``: run message workers, in this process or in several OS processes.

One process runs a :class:`~kmsg.worker.Worker` with the
:class:`~kmsg.messaging.processor.MessageJobProcessor` handlers and stops gracefully on SIGINT or
SIGTERM (a second signal releases running jobs at once). With ``--processes N`` this process
starts N such children in their own process group and forwards SIGINT / SIGTERM to each, then
waits for them all; the exit status is the worst of theirs.

Once the worker has stopped, the process gets :data:`EXIT_AFTER` seconds to exit normally, then
exits at once (status 0: the stop was asked for). That only matters when the worker left work
behind that would keep the event loop or the interpreter from shutting down: a job abandoned at
shutdown (its handler ignored cancellation, see :class:`~kmsg.worker.Worker`; it comes back when
its lease ends) or a plain ``def`` handler's thread still blocked after its job was released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from types import FrameType
from typing import Final

import click

from kmsg.cli.app import CliState, run_with_queue
from kmsg.cli.output import err_console
from kmsg.cli.params import DURATION
from kmsg.cli.provider import build_provider
from kmsg.messaging.processor import MessageJobProcessor
from kmsg.queue import JobQueue
from kmsg.worker import Worker, WorkerEvent

__all__ = ["EXIT_AFTER", "exit_soon", "serve", "worker_cmd"]

EXIT_AFTER: Final = 3.0
"""Seconds a worker process has to exit normally, once its worker has stopped, before it exits
hard."""


async def run_worker(
    state: CliState,
    queue: JobQueue,
    *,
    queues: tuple[str, ...],
    concurrency: int,
    lease: float,
    burst: bool,
) -> Counter[str]:
    """Run one worker until stopped (or, with ``burst``, until its queues are idle)."""
    provider = await build_provider(state)
    worker = Worker(queue, queues=queues or ("default",), concurrency=concurrency, lease=lease)
    MessageJobProcessor(provider).register(worker)
    outcomes: Counter[str] = Counter()

    def count(event: WorkerEvent) -> None:
        outcomes[event.kind.value] += 1

    worker.add_listener(count)
    err_console.print(
        f"worker on {state.shown_url} queues {list(worker.queues)}: "
        f"concurrency {concurrency}, provider {provider.name}"
        + (" (burst: exits when idle)" if burst else "")
    )
    await serve(worker, burst=burst)
    return outcomes


async def serve(worker: Worker, *, burst: bool = False) -> None:
    """Run ``worker`` until stopped (or, with ``burst``, until its queues are idle), then make
    sure the process exits within :data:`EXIT_AFTER` seconds (:func:`exit_soon`), whatever
    abandoned handlers still do; say so if it abandoned jobs.

    For a process that exists to run the worker, as ``kmsg worker``'s does: it ends the process.
    """
    if burst:
        await worker.run_until_idle()
    else:
        await worker.run()
    if worker.abandoned:
        err_console.print(
            f"{len(worker.abandoned)} abandoned jobs may still be running; they come back when "
            f"their leases end. Exiting within {EXIT_AFTER:g}s."
        )
    exit_soon(EXIT_AFTER)


def exit_soon(seconds: float, status: int = 0) -> threading.Timer:
    """Exit the process with ``status`` in ``seconds`` unless it has exited by then.

    For a process whose abandoned handlers (tasks that ignore cancellation, threads still
    blocked) would keep the event loop or the interpreter from shutting down. Output and logs
    are flushed first.
    """

    def exit_now() -> None:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()
    return timer


def _child_command(state: CliState, argv: list[str]) -> list[str]:
    head = [sys.executable, "-m", "kmsg", "--queue-url", state.queue_url]
    if state.verbose:
        head.append("--verbose")
    return [*head, "worker", *argv]


def run_processes(state: CliState, count: int, argv: list[str]) -> int:
    """Start ``count`` worker processes, forward SIGINT/SIGTERM to them, wait; worst exit code."""
    children = [
        subprocess.Popen(_child_command(state, argv), start_new_session=True) for _ in range(count)
    ]

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes, key=abs)


@click.command("worker")
@click.option("--queue", "-q", "queues", multiple=True, help="Queue to work (repeatable).")
@click.option("--concurrency", "-c", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option(
    "--processes",
    "-p",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Run this many worker processes.",
)
@click.option(
    "--lease",
    type=DURATION,
    default="30s",
    show_default=True,
    help="How long a claim lasts before heartbeats extend it.",
)
@click.option("--burst", is_flag=True, help="Exit once the queues have no pending/delayed work.")
@click.pass_obj
def worker_cmd(
    state: CliState,
    queues: tuple[str, ...],
    concurrency: int,
    processes: int,
    lease: float,
    burst: bool,
) -> None:
    """Send queued messages (graceful on SIGTERM: running jobs finish, the rest are released)."""
    if processes > 1:
        argv = [f"--queue={name}" for name in queues]
        argv += [f"--concurrency={concurrency}", f"--lease={lease}"]
        argv += ["--burst"] if burst else []
        sys.exit(run_processes(state, processes, argv))
    outcomes = run_with_queue(
        state,
        lambda queue: run_worker(
            state, queue, queues=queues, concurrency=concurrency, lease=lease, burst=burst
        ),
    )
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(outcomes.items())) or "no jobs"
    err_console.print(f"worker stopped: {summary}")
