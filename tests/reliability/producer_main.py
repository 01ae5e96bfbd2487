"""A producer in its own process: enqueues batches and writes each acknowledged id to the ledger.

``python -m tests.reliability.producer_main URL LEDGER_DIR --queue Q [--batches N] [--batch B]``.
Before each ``enqueue_many`` it writes a ``batch`` record, after it one ``enq`` per id, so a
SIGKILL between the two landed inside the call (most likely inside its transaction). Without
``--batches`` it runs until killed. Errors that reach it are written as ``error`` records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import anyio

from kmsg import KmsgError, NewJob, open_queue
from tests.reliability.ledger import Ledger
from tests.reliability.support import FAST_BACKOFF
from tests.reliability.worker_main import Work

__all__ = ["main"]


async def main(args: argparse.Namespace) -> None:
    """Enqueue until done (or killed)."""
    ledger = Ledger(args.ledger, "producer")
    async with await open_queue(args.url, **json.loads(args.options)) as queue:
        ledger.write("ready")
        n = 0
        for _ in range(args.batches):
            jobs = [
                NewJob(payload=Work(n + i), queue=args.queue, backoff=FAST_BACKOFF, lease=1.0)
                for i in range(args.batch)
            ]
            n += args.batch
            ledger.write("batch", size=len(jobs))
            try:
                ids = await queue.enqueue_many(jobs)
            except KmsgError as exc:
                ledger.write(
                    "error", where="enqueue_many", type=type(exc).__name__, message=str(exc)
                )
                continue
            for job_id in ids:
                ledger.write("enq", job=job_id)
    ledger.write("exit")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="producer_main")
    parser.add_argument("url")
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--options", default="{}")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--batches", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=200)
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, _parse())
