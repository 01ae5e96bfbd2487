"""``kmsg worker -p N``: start N worker processes, show one status line and one total for all.

Each child is ``kmsg worker --child I`` in its own process group (so a terminal's Ctrl-C reaches
only the supervisor, which forwards SIGINT / SIGTERM to every child, and says that shutdown has
started). A child writes a JSON snapshot of its counts on stdout twice a second and a final one
when it stops; the supervisor adds them up for the status line (on a terminal) and the total.

If the supervisor dies, even by SIGKILL, its children stop too: each child's stdin is a pipe
from the supervisor, and a child stops gracefully when that pipe closes (the kernel closes it
when the supervisor exits). The exit status is the worst of the children's.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from types import FrameType
from typing import IO

from kmsg.cli.app import CliState
from kmsg.cli.output import err_console, human_duration, safe
from kmsg.cli.progress import shows_progress
from kmsg.cli.worker_cmd import WorkerSettings, report
from kmsg.cli.worker_status import Snapshot, status_line

__all__ = ["child_command", "supervise"]


def child_command(state: CliState, settings: WorkerSettings, index: int) -> list[str]:
    """The command line of child ``index``."""
    head = [sys.executable, "-m", "kmsg", "--queue-url", state.queue_url]
    if state.verbose:
        head.append("--verbose")
    return [*head, "worker", *settings.argv(), f"--child={index}"]


def _read_snapshots(stream: IO[str], latest: list[Snapshot], index: int) -> None:
    """Keep the newest snapshot child ``index`` wrote (one JSON object a line)."""
    for line in stream:
        try:
            snapshot = json.loads(line)
        except ValueError:
            continue
        if isinstance(snapshot, dict):
            latest[index] = {k: v for k, v in snapshot.items() if type(v) is int and k != "final"}


def _sum(latest: list[Snapshot]) -> Snapshot:
    total: Counter[str] = Counter()
    for snapshot in latest:
        total.update(snapshot)
    return dict(total)


def supervise(state: CliState, count: int, settings: WorkerSettings) -> int:
    """Run ``count`` worker processes until they stop; report their total; worst exit code."""
    err_console.print(
        safe(
            f"{count} worker processes on {state.shown_url} queues {list(settings.queues)}:"
            f" {settings.describe()} each"
        )
    )
    children = [
        subprocess.Popen(
            child_command(state, settings, index),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for index in range(count)
    ]
    latest: list[Snapshot] = [{} for _ in children]
    readers = [
        threading.Thread(target=_read_snapshots, args=(child.stdout, latest, index), daemon=True)
        for index, child in enumerate(children)
    ]
    for reader in readers:
        reader.start()
    signals_seen = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        name = signal.Signals(signum).name
        if signals_seen == 1:
            err_console.print(
                f"{name}: stopping {count} worker processes. No new jobs; running ones get up"
                f" to {human_duration(settings.grace)} to finish (signal again to release them"
                " now)."
            )
        elif signals_seen == 2:
            err_console.print(f"{name}: releasing running jobs now.")
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with status_line(
            lambda: _sum(latest), shown=shows_progress(state), label=f"{count} workers"
        ):
            codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for reader in readers:
        reader.join(timeout=5)
    for child in children:
        if child.stdin is not None:
            child.stdin.close()
    report(state, settings, _sum(latest), processes=count)
    return max(codes, key=abs)
