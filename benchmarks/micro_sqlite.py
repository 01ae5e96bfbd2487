"""Micro-benchmark of kmsg's SQLite hot paths, on a file in a temporary folder.

Run: ``.venv/bin/python benchmarks/micro_sqlite.py [--reps 3] [--backend asyncio|trio]``
(run the file by path: it imports only ``kmsg``, so ``PYTHONPATH`` picks which copy is measured,
e.g. an unpacked ``git archive HEAD`` for a before/after comparison).

``--what`` picks the measurements (default: all). Every measurement runs ``--reps`` times; each
figure is printed as ``median (min-max)``:

* ``enqueue``: sequential ``enqueue`` calls, one job each (jobs/s);
* ``enqueue_many``: batches of 100 jobs (jobs/s);
* ``drain``: ``--drain`` no-op jobs queued first, then one ``Worker`` (``--concurrency`` slots)
  runs them; jobs / (time from the first handler start to the last) (jobs/s);
* ``wake p50/p99``: an idle worker in this process, a producer in ANOTHER process offering
  ``--rate`` jobs/s for ``--seconds`` s; time from just before the producer's ``enqueue`` to the
  handler's start (ms; ``time.perf_counter`` is the system-wide monotonic clock on Linux);
* ``idle CPU``: this process's CPU time while a worker waits on an empty queue for
  ``--idle-seconds`` s, as a percentage of one core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import msgspec

import kmsg
from kmsg import JobQueue, NewJob, open_queue
from kmsg.worker import Worker


class Noop(msgspec.Struct):
    """The benchmark's payload (about 100 bytes as JSON); ``sent`` is the producer's clock."""

    n: int
    sent: float = 0.0
    pad: str = "x" * 64


async def enqueue_one(queue: JobQueue, n: int) -> float:
    """Sequential single enqueues per second."""
    name = uuid4().hex
    for i in range(100):
        await queue.enqueue(Noop(i), queue=name)
    start = time.perf_counter()
    for i in range(n):
        await queue.enqueue(Noop(i), queue=name)
    elapsed = time.perf_counter() - start
    await queue.clear(name)
    return n / elapsed


async def enqueue_batches(queue: JobQueue, n: int, size: int = 100) -> float:
    """Jobs per second through ``enqueue_many`` in batches of ``size``."""
    name = uuid4().hex
    batches = [[NewJob(payload=Noop(i), queue=name) for i in range(size)] for _ in range(n // size)]
    start = time.perf_counter()
    for batch in batches:
        await queue.enqueue_many(batch)
    elapsed = time.perf_counter() - start
    await queue.clear(name)
    return n / elapsed


async def drain(queue: JobQueue, n: int, concurrency: int) -> float:
    """Jobs per second for one worker draining ``n`` queued no-op jobs."""
    name = uuid4().hex
    for start in range(0, n, 1000):
        await queue.enqueue_many(
            [NewJob(payload=Noop(i), queue=name) for i in range(start, start + 1000)]
        )
    worker = Worker(queue, queues=(name,), concurrency=concurrency, install_signal_handlers=False)
    marks: list[float] = []

    @worker.task
    async def noop(msg: Noop) -> None:
        marks.append(time.perf_counter())
        if len(marks) == n:
            worker.stop()

    with anyio.fail_after(600):
        await worker.run()
    await queue.clear(name)
    return n / (marks[-1] - marks[0])


async def wake_latency(queue: JobQueue, url: str, args: argparse.Namespace) -> tuple[float, float]:
    """(p50, p99) ms from the other process's enqueue to the handler's start."""
    name = uuid4().hex
    worker = Worker(queue, queues=(name,), concurrency=10, install_signal_handlers=False)
    latencies: list[float] = []
    expected = int(args.rate * args.seconds)
    all_started = anyio.Event()

    @worker.task
    async def noop(msg: Noop) -> None:
        latencies.append((time.perf_counter() - msg.sent) * 1000)
        if len(latencies) == expected:
            all_started.set()

    command = [sys.executable, __file__, "--produce", url, name, str(args.rate), str(args.seconds)]
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.5)
        with anyio.fail_after(args.seconds + 60):
            await anyio.run_process(command, stdout=None, stderr=None)
            await all_started.wait()
        worker.stop()
    await queue.clear(name)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def idle_cpu(queue: JobQueue, seconds: float) -> float:
    """Percent of one core this process uses while a worker waits on an empty queue."""
    worker = Worker(queue, queues=(uuid4().hex,), concurrency=10, install_signal_handlers=False)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(1.0)
        wall, cpu = time.perf_counter(), time.process_time()
        await anyio.sleep(seconds)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        worker.stop()
    return cpu / wall * 100


async def produce(url: str, name: str, rate: float, seconds: float) -> None:
    """The producer process: ``rate`` jobs per second on a fixed schedule for ``seconds``."""
    async with await open_queue(url) as queue:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await anyio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            await queue.enqueue(Noop(i, sent=time.perf_counter()), queue=name)


def shown(values: list[float], digits: int = 0) -> str:
    """``median (min-max)``."""
    fmt = f"{{:,.{digits}f}}"
    median = statistics.median(values)
    return f"{fmt.format(median)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


async def repeat_on(
    reps: int, measure: Callable[[JobQueue, str], Awaitable[Any]], queue: JobQueue, url: str
) -> list[Any]:
    """Run ``measure(queue, url)`` ``reps`` times."""
    return [await measure(queue, url) for _ in range(reps)]


async def main(args: argparse.Namespace) -> None:
    """Run every measurement and print the table."""
    print(f"kmsg from {Path(kmsg.__file__).parent}, anyio backend {args.backend}")
    measures: dict[str, tuple[str, Callable[[JobQueue, str], Awaitable[Any]]]] = {
        "enqueue": ("enqueue (jobs/s)", lambda q, _: enqueue_one(q, args.enqueue)),
        "many": ("enqueue_many x100 (jobs/s)", lambda q, _: enqueue_batches(q, args.batch_jobs)),
        "drain": (
            f"drain {args.drain} c={args.concurrency} (jobs/s)",
            lambda q, _: drain(q, args.drain, args.concurrency),
        ),
        "wake": ("wake p50/p99, other process (ms)", lambda q, url: wake_latency(q, url, args)),
        "idle": ("idle worker CPU (% of a core)", lambda q, _: idle_cpu(q, args.idle_seconds)),
    }
    with tempfile.TemporaryDirectory(prefix="kmsg-micro-") as directory:
        url = f"sqlite:///{directory}/micro.db"
        async with await open_queue(url) as queue:
            for what in args.what:
                label, measure = measures[what]
                values = await repeat_on(args.reps, measure, queue, url)
                if what == "wake":
                    print(f"{'wake p50, other process (ms)':34}{shown([v[0] for v in values], 2)}")
                    print(f"{'wake p99, other process (ms)':34}{shown([v[1] for v in values], 2)}")
                else:
                    print(f"{label:34}{shown(values, 0 if what != 'idle' else 2)}")


def parse() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--what",
        nargs="+",
        choices=("enqueue", "many", "drain", "wake", "idle"),
        default=["enqueue", "many", "drain", "wake", "idle"],
    )
    parser.add_argument("--enqueue", type=int, default=5000)
    parser.add_argument("--batch-jobs", type=int, default=20000)
    parser.add_argument("--drain", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--produce", nargs=4, metavar=("URL", "QUEUE", "RATE", "SECONDS"))
    return parser.parse_args()


if __name__ == "__main__":
    options = parse()
    if options.produce:
        url, name, rate, seconds = options.produce
        anyio.run(produce, url, name, float(rate), float(seconds))
    else:
        anyio.run(main, options, backend=options.backend)
