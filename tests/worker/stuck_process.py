"""A worker process whose handler will not stop, run as ``kmsg worker`` runs one.

Usage: ``python -m tests.worker.stuck_process URL OPTIONS_JSON QUEUE MARKER_DIR MODE``.
The handler touches ``MARKER_DIR/started``, then either swallows every cancellation forever
(MODE ``deaf``: the worker abandons the job) or blocks its worker thread for a minute (MODE
``thread``: a plain def handler, released at shutdown while its thread still runs). The worker
stops on SIGTERM after a short grace period; :func:`kmsg.cli.worker_cmd.serve` must end the
process soon after.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path

import anyio

from kmsg import open_queue
from kmsg.cli.worker_cmd import serve
from kmsg.worker import Worker
from tests.worker.support import Ping


async def main(url: str, options: str, queue_name: str, marker_dir: Path, mode: str) -> None:
    """Run the worker until it is signalled, then exit as ``kmsg worker`` does."""
    async with await open_queue(url, **json.loads(options)) as queue:
        worker = Worker(queue, queues=(queue_name,), lease=5.0, idle_wait=0.05, shutdown_grace=0.5)

        async def deaf(msg: Ping) -> None:
            (marker_dir / "started").touch()
            while True:
                with contextlib.suppress(BaseException):
                    await anyio.sleep(1)

        def blocked(msg: Ping) -> None:
            (marker_dir / "started").touch()
            time.sleep(60)

        worker.register(deaf if mode == "deaf" else blocked)
        async with anyio.create_task_group() as group:
            group.start_soon(stop_on_sigterm, worker)
            await serve(worker)
            group.cancel_scope.cancel()


async def stop_on_sigterm(worker: Worker) -> None:
    """Stop the worker gracefully on SIGTERM, as ``kmsg worker``'s signal watcher does."""
    with anyio.open_signal_receiver(signal.SIGTERM) as received:
        async for _ in received:
            worker.stop()


if __name__ == "__main__":
    url, options, queue_name, marker_dir, mode = sys.argv[1:]
    anyio.run(main, url, options, queue_name, Path(marker_dir), mode)
