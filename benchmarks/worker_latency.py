"""Worker wake-up latency and drain rate, per backend.

Run: ``.venv/bin/python -m benchmarks.worker_latency [--backends sqlite redis] [--jobs 200]
[--drain 10000] [--concurrency 50]``.

* **Wake-up latency**: one job at a time is enqueued into an idle worker's queue; the figure is the
  time from just before ``enqueue`` to the start of the handler (p50 / p99 / max). Between jobs the
  worker is left idle for ``--gap`` seconds so it is back in ``wait_for_jobs``. Measured with the
  producer on the worker's own handle and on a second handle (as another process would be): on
  SQLite the first wakes the waiter at once and the second is seen within the adapter's
  ``poll_interval``; on Redis both go through the wake-up signal.
* **Drain rate**: ``--drain`` no-op jobs are enqueued first, then one worker with
  ``--concurrency`` slots runs them all; the figure is jobs per second from the worker's start to
  the last completion.

Redis uses ``--redis-url`` (default ``redis://127.0.0.1:6379/0``) under a fresh key prefix and
deletes only the keys under that prefix afterwards. SQLite uses a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import msgspec

import kmsg
from kmsg import JobQueue, NewJob, open_queue
from kmsg.worker import EventKind, Worker, WorkerEvent


class Noop(msgspec.Struct):
    """The benchmark's payload."""

    n: int


@dataclass
class Figures:
    """One backend's results."""

    backend: str
    same_handle: list[float]
    other_handle: list[float]
    drain_rate: float


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at ``fraction`` (0-1) of the sorted samples (nearest rank)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def wake_latency(
    queue: JobQueue, producer: JobQueue, qname: str, jobs: int, gap: float
) -> list[float]:
    """Seconds from enqueue to handler start, for ``jobs`` jobs offered one at a time."""
    worker = Worker(queue, queues=(qname,), install_signal_handlers=False, idle_wait=1.0)
    started = anyio.Event()
    starts: list[float] = []

    @worker.task
    async def noop(msg: Noop) -> None:
        starts.append(time.perf_counter())
        started.set()

    samples: list[float] = []
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(gap)
        for n in range(jobs):
            started = anyio.Event()
            sent = time.perf_counter()
            await producer.enqueue(Noop(n=n), queue=qname)
            with anyio.fail_after(30):
                await started.wait()
            samples.append(starts[-1] - sent)
            await anyio.sleep(gap)
        worker.stop()
    return samples


async def drain_rate(queue: JobQueue, qname: str, jobs: int, concurrency: int) -> float:
    """Jobs per second for one worker draining ``jobs`` queued no-op jobs."""
    for first in range(0, jobs, 5_000):
        batch = range(first, min(first + 5_000, jobs))
        await queue.enqueue_many([NewJob(payload=Noop(n=n), queue=qname) for n in batch])
    worker = Worker(
        queue,
        queues=(qname,),
        concurrency=concurrency,
        install_signal_handlers=False,
        idle_wait=0.1,
    )
    done = anyio.Event()
    completed = 0

    @worker.task
    async def noop(msg: Noop) -> None:
        """No-op."""

    def count(event: WorkerEvent) -> None:
        nonlocal completed
        if event.kind is EventKind.COMPLETED:
            completed += 1
            if completed == jobs:
                done.set()

    worker.add_listener(count)
    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        with anyio.fail_after(600):
            await done.wait()
        elapsed = time.perf_counter() - began
        worker.stop()
    return jobs / elapsed


async def measure(backend: str, url: str, options: dict[str, Any], args: Any) -> Figures:
    """Every figure for one backend."""
    qname = f"bench-{uuid4().hex[:12]}"
    async with await open_queue(url, **options) as queue, await open_queue(url, **options) as other:
        same = await wake_latency(queue, queue, qname + "-a", args.jobs, args.gap)
        across = await wake_latency(queue, other, qname + "-b", args.jobs, args.gap)
        rate = await drain_rate(queue, qname + "-c", args.drain, args.concurrency)
        for suffix in ("-a", "-b", "-c"):
            await queue.clear(qname + suffix)
    return Figures(backend, same, across, rate)


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete the Redis keys under ``prefix:`` and nothing else."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def run_backend(backend: str, args: Any) -> Figures:
    """Open a fresh store of ``backend`` and measure it."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            return await measure(backend, url, {}, args)
    prefix = f"kmsg-bench-{uuid4().hex}"
    try:
        return await measure(backend, args.redis_url, {"key_prefix": prefix}, args)
    finally:
        await delete_prefix(args.redis_url, prefix)


def report(figures: Figures, args: Any) -> None:
    """Print one backend's figures."""

    def ms(samples: list[float]) -> str:
        p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
        return f"p50 {p50 * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms  max {max(samples) * 1e3:7.2f} ms"

    print(f"{figures.backend}:")
    print(f"  wake-up, producer on the worker's handle : {ms(figures.same_handle)}")
    print(f"  wake-up, producer on another handle      : {ms(figures.other_handle)}")
    mean = statistics.fmean(figures.other_handle) * 1e3
    print(f"  (another handle, mean {mean:.2f} ms over {len(figures.other_handle)} jobs)")
    print(
        f"  drain: {args.drain} no-op jobs, concurrency {args.concurrency}: "
        f"{figures.drain_rate:,.0f} jobs/s"
    )


def main() -> None:
    """Parse the arguments, measure each backend and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "redis"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--jobs", type=int, default=200, help="jobs for the wake-up latency")
    parser.add_argument("--gap", type=float, default=0.02, help="idle seconds between them")
    parser.add_argument("--drain", type=int, default=10_000, help="jobs for the drain rate")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(
        f"kmsg {kmsg.__version__}, Python {platform.python_version()}, anyio asyncio, "
        f"{platform.machine()} {platform.system()}, {platform.processor() or 'cpu ?'}"
    )
    for backend in args.backends:
        report(anyio.run(run_backend, backend, args), args)


if __name__ == "__main__":
    main()
