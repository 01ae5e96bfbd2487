"""A worker in its own process, for the fault scenarios.

``python -m tests.reliability.worker_main URL LEDGER_DIR [options]`` (cwd = the repository root)
opens the queue, runs a :class:`kmsg.worker.Worker` whose handler writes ``start`` / ``end`` to
the ledger, and stops gracefully on SIGTERM (SIGKILL and SIGSTOP do what they do). Modes:
``ok`` (sleep ``--work`` seconds, then return), ``raise`` (always raise ``Poison``) and
``suicide`` (SIGKILL its own process). ``--skew`` shifts ``time.time`` by that many seconds in
this process before kmsg is imported, to show that Redis leases use the server's clock.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

__all__ = ["Poison", "Work", "main"]


class Work(msgspec.Struct, frozen=True):
    """The payload of every scenario job."""

    n: int


class Poison(Exception):
    """What a poison handler raises every time."""


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="worker_main")
    parser.add_argument("url")
    parser.add_argument("ledger", type=Path)
    parser.add_argument("--options", default="{}", help="adapter options, JSON")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--work", type=float, default=0.0, help="seconds each handler sleeps")
    parser.add_argument("--mode", choices=("ok", "raise", "suicide"), default="ok")
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--skew", type=float, default=0.0, help="seconds added to time.time")
    parser.add_argument(
        "--gateway",
        default="",
        help="also send messages: send_message jobs go to this HTTP gateway (HttpProvider)",
    )
    parser.add_argument(
        "--die-after-sends",
        type=int,
        default=0,
        help="SIGKILL this process right after the gateway accepted this many sends",
    )
    return parser.parse_args()


def _skew_clock(seconds: float) -> None:
    real = time.time
    time.time = lambda: real() + seconds


async def main(args: argparse.Namespace) -> None:
    """Run the worker until SIGTERM (or death)."""
    from kmsg import open_queue
    from kmsg.worker import Worker, current_job
    from tests.reliability.ledger import Ledger, now
    from tests.reliability.recording import RecordingQueue

    ledger = Ledger(args.ledger, "worker")
    async with await open_queue(args.url, **json.loads(args.options)) as inner:
        recording = RecordingQueue(inner, ledger)
        worker = Worker(
            recording,
            queues=(args.queue,),
            concurrency=args.concurrency,
            lease=args.lease,
            shutdown_grace=args.grace,
            idle_wait=0.2,
        )

        @worker.task
        async def work(msg: Work) -> None:
            job = current_job().job
            token = recording.tokens.get(job.id, "")
            ledger.write("start", job=job.id, token=token, attempt=job.attempts)
            if args.mode == "suicide":
                ledger.write("fault", kind="kill", target=ledger.pid)
                os.kill(os.getpid(), signal.SIGKILL)
            if args.work:
                await anyio.sleep(args.work)
            if args.mode == "raise":
                ledger.write("end", job=job.id, token=token, outcome="raised")
                raise Poison(f"poison job {msg.n}")
            ledger.write("end", job=job.id, token=token, outcome="ok")

        if args.gateway:
            await _serve_messages(worker, args, ledger, worker.run)
            ledger.write("exit")
            return
        ledger.write("ready", skew=time.time() - now())
        await worker.run()
    ledger.write("exit")


async def _serve_messages(worker: Any, args: argparse.Namespace, ledger: Any, run: Any) -> None:
    """Register the message handlers, sending through the gateway; die after N sends if told."""
    from kmsg.messaging import MessageJobProcessor
    from kmsg.messaging.http import HttpProvider
    from tests.reliability.ledger import now

    async with HttpProvider(args.gateway) as gateway:
        provider = _DyingProvider(gateway, args.die_after_sends, ledger)
        MessageJobProcessor(provider).register(worker)
        ledger.write("ready", skew=time.time() - now())
        await run()


class _DyingProvider:
    """A provider that SIGKILLs its process right after its Nth accepted send (before the ack)."""

    def __init__(self, inner: Any, die_after: int, ledger: Any) -> None:
        self._inner = inner
        self._left = die_after
        self._ledger = ledger
        self.name = inner.name

    async def send(self, message: Any, *, idempotency_key: str | None = None) -> Any:
        result = await self._inner.send(message, idempotency_key=idempotency_key)
        self._ledger.write("sent", key=idempotency_key, to=message.to)
        if self._left:
            self._left -= 1
            if not self._left:
                self._ledger.write("fault", kind="kill", target=self._ledger.pid)
                os.kill(os.getpid(), signal.SIGKILL)
        return result


if __name__ == "__main__":
    arguments = _parse()
    if arguments.skew:
        _skew_clock(arguments.skew)
    anyio.run(main, arguments)
