"""``kmsg worker``: run message workers, in this process or in several OS processes.

One process runs a :class:`~kmsg.worker.Worker` with the
:class:`~kmsg.messaging.processor.MessageJobProcessor` handlers. The first SIGINT or SIGTERM
stops it gracefully, and says so: claiming stops, running jobs get ``--grace`` seconds to finish,
then the rest are released; a second signal releases them at once (:meth:`Worker.hurry`). On a
terminal a live status line shows the rate, jobs in flight, completed, retried and dead
(:mod:`kmsg.cli.worker_status`); at the end one summary line (or, with ``--json``, one JSON
document on stdout). Repeated errors are logged in full only a few times, then summarised
(:mod:`kmsg.cli.logs`). A queue never seen before is warned about at start (:mod:`kmsg.cli.known`).

With ``--processes N`` this process supervises N children (:mod:`kmsg.cli.supervisor`): one
status line and one total for all of them, and if the supervisor dies its children stop too.

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
import sys
import threading
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.abc
import click

from kmsg.cli.app import CliState, run_with_queue
from kmsg.cli.known import warn_unknown
from kmsg.cli.logs import configure_logging
from kmsg.cli.output import err_console, human_duration, print_json, safe
from kmsg.cli.params import DURATION
from kmsg.cli.progress import shows_progress
from kmsg.cli.provider import build_provider
from kmsg.cli.worker_status import Snapshot, Tally, describe, status_line
from kmsg.messaging.processor import MessageJobProcessor
from kmsg.messaging.provider import Provider, close_provider
from kmsg.queue import JobQueue
from kmsg.worker import Worker

__all__ = [
    "EXIT_AFTER",
    "REPORT_EVERY",
    "WorkerSettings",
    "exit_soon",
    "report",
    "run_worker",
    "serve",
    "worker_cmd",
]

EXIT_AFTER: Final = 3.0
"""Seconds a worker process has to exit normally, once its worker has stopped, before it exits
hard."""
REPORT_EVERY: Final = 0.5
"""Seconds between two progress reports of a supervised child (``--child``) on its stdout."""


@dataclass(frozen=True)
class WorkerSettings:
    """The worker options of one ``kmsg worker`` command, passed on to ``-p`` children."""

    queues: tuple[str, ...]
    concurrency: int
    lease: float
    job_timeout: float | None
    grace: float
    burst: bool

    def argv(self) -> list[str]:
        """These settings as ``kmsg worker`` options."""
        argv = [f"--queue={name}" for name in self.queues]
        argv += [f"--concurrency={self.concurrency}", f"--lease={self.lease!r}"]
        argv += [f"--grace={self.grace!r}"]
        argv += [] if self.job_timeout is None else [f"--job-timeout={self.job_timeout!r}"]
        return argv + (["--burst"] if self.burst else [])

    def describe(self) -> str:
        """``"concurrency 10, lease 30s, grace 10s"`` (and the job timeout, burst)."""
        text = f"concurrency {self.concurrency}, lease {human_duration(self.lease)}"
        if self.job_timeout is not None:
            text += f", job timeout {human_duration(self.job_timeout)}"
        text += f", grace {human_duration(self.grace)}"
        return text + (" (burst: exits when idle)" if self.burst else "")


async def _watch_signals(
    worker: Worker,
    announce: bool,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """First SIGINT/SIGTERM: stop gracefully (saying so); the next: release running jobs now."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        task_status.started()
        stopping = False
        async for signum in received:
            name = signal.Signals(signum).name
            if not stopping:
                stopping = True
                if announce:
                    err_console.print(
                        f"{name}: stopping. No new jobs; {worker.in_flight} running get up to"
                        f" {human_duration(worker.shutdown_grace)} to finish (signal again to"
                        " release them now)."
                    )
                worker.stop()
            else:
                if announce:
                    err_console.print(f"{name}: releasing {worker.in_flight} running jobs now.")
                worker.hurry()


def _stop_with_parent() -> None:
    """A supervised child: SIGTERM this process once stdin (a pipe from the supervisor) closes,
    which happens when the supervisor exits, however it dies."""

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):  # unbuffered: no lock held at interpreter shutdown
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_for_eof, name="kmsg parent watch", daemon=True).start()


async def _report_progress(tally: Tally) -> None:
    """A supervised child: a JSON snapshot on stdout every :data:`REPORT_EVERY` seconds."""
    while True:
        print_json(tally.snapshot())
        sys.stdout.flush()
        await anyio.sleep(REPORT_EVERY)


async def run_worker(
    state: CliState, queue: JobQueue, settings: WorkerSettings, child: int | None = None
) -> Snapshot:
    """Run one worker until stopped (or, with ``burst``, until its queues are idle); return the
    tally of its jobs. ``child`` is the index of a supervised child (``--child``), else None."""
    provider = await build_provider(state)
    try:
        return await _run_with_provider(state, queue, settings, child, provider)
    finally:
        await close_provider(provider)


async def _run_with_provider(
    state: CliState,
    queue: JobQueue,
    settings: WorkerSettings,
    child: int | None,
    provider: Provider,
) -> Snapshot:
    worker = Worker(
        queue,
        queues=settings.queues,
        concurrency=settings.concurrency,
        lease=settings.lease,
        job_timeout=settings.job_timeout,
        shutdown_grace=settings.grace,
        install_signal_handlers=False,
    )
    MessageJobProcessor(provider).register(worker)
    tally = Tally(lambda: worker.in_flight)
    worker.add_listener(tally)
    if child in (None, 0):
        await warn_unknown(queue, worker.queues, note="; the worker waits for its first job")
    live = child is None and shows_progress(state)
    async with anyio.create_task_group() as services:
        await services.start(_watch_signals, worker, child is None)
        if child is None:
            err_console.print(
                safe(
                    f"worker on {state.shown_url} queues {list(worker.queues)}:"
                    f" {settings.describe()}, provider {provider.name}"
                )
            )
        if child is not None:
            _stop_with_parent()
            services.start_soon(_report_progress, tally)
        with status_line(tally.snapshot, shown=live, label="worker"):
            await serve(worker, burst=settings.burst)
        services.cancel_scope.cancel()
    return tally.snapshot()


async def serve(worker: Worker, *, burst: bool = False) -> None:
    """Run ``worker`` until stopped (or, with ``burst``, until its queues are idle), then make
    sure the process exits within :data:`EXIT_AFTER` seconds (:func:`exit_soon`), whatever
    abandoned handlers still do; say so if it abandoned jobs.

    For a process that exists to run the worker, as ``kmsg worker``'s does: it ends the process.
    Signals are the caller's to watch (``kmsg worker`` stops the worker on the first SIGINT or
    SIGTERM and hurries it on the second); ``serve`` installs no handlers of its own.
    """
    if burst:
        await worker.run_until_idle()
    else:
        await worker.run(install_signal_handlers=False)
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


def report(state: CliState, settings: WorkerSettings, total: Snapshot, processes: int = 1) -> None:
    """The end of a run: the outcome counts (JSON on stdout with ``--json``, else one line on
    stderr), after what repeated errors were held back."""
    for line in configure_logging(state.verbose).flush():
        err_console.print(safe(f"also logged: {line}"))
    outcomes = {kind: count for kind, count in sorted(total.items()) if kind != "in_flight"}
    if state.json:
        print_json({"queues": list(settings.queues), "processes": processes, "outcomes": outcomes})
        return
    where = f" (total of {processes} processes)" if processes > 1 else ""
    err_console.print(f"worker stopped{where}: {describe(outcomes) if outcomes else 'no jobs'}")


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
@click.option(
    "--job-timeout", type=DURATION, help="Fail (and retry) a send running longer than this."
)
@click.option(
    "--grace",
    type=DURATION,
    default="10s",
    show_default=True,
    help="At shutdown, how long running jobs may take to finish before they are released.",
)
@click.option("--burst", is_flag=True, help="Exit once the queues have no pending/delayed work.")
@click.option("--child", type=int, hidden=True, help="Run as child N of a -p supervisor.")
@click.pass_obj
def worker_cmd(
    state: CliState,
    queues: tuple[str, ...],
    concurrency: int,
    processes: int,
    lease: float,
    job_timeout: float | None,
    grace: float,
    burst: bool,
    child: int | None,
) -> None:
    """Send queued messages (graceful on SIGTERM: running jobs finish, the rest are released)."""
    settings = WorkerSettings(queues or ("default",), concurrency, lease, job_timeout, grace, burst)
    if processes > 1:
        from kmsg.cli.supervisor import supervise

        sys.exit(supervise(state, processes, settings))
    total = run_with_queue(state, lambda queue: run_worker(state, queue, settings, child))
    if child is not None:
        print_json({"final": True, **total})
    else:
        report(state, settings, total)
