"""A worker in its own process, for tests that kill it or signal it.

Usage: ``python -m tests.worker.worker_process URL OPTIONS_JSON QUEUE MARKER_DIR SECONDS``.
Each handler run writes ``MARKER_DIR/started-<attempt>``, sleeps SECONDS, then writes
``MARKER_DIR/finished-<attempt>``. The worker holds leases of one second and stops gracefully on
SIGINT / SIGTERM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from kmsg import open_queue
from kmsg.worker import Worker, current_job
from tests.worker.support import Ping

LEASE = 1.0


async def main(url: str, options: str, queue_name: str, marker_dir: Path, seconds: float) -> None:
    """Run one worker until it is signalled (or killed)."""
    async with await open_queue(url, **json.loads(options)) as queue:
        worker = Worker(queue, queues=(queue_name,), lease=LEASE, idle_wait=0.05, shutdown_grace=30)

        @worker.task
        async def ping(msg: Ping) -> None:
            attempt = current_job().attempt
            (marker_dir / f"started-{attempt}").touch()
            await anyio.sleep(seconds)
            (marker_dir / f"finished-{attempt}").touch()

        await worker.run()


if __name__ == "__main__":
    url, options, queue_name, marker_dir, seconds = sys.argv[1:]
    anyio.run(main, url, options, queue_name, Path(marker_dir), float(seconds))
