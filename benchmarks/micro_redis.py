"""Micro-benchmark of kmsg's Redis hot paths, on a private ``redis-server``.

Run: ``.venv/bin/python -m benchmarks.micro_redis [--reps 3] [--drain 10000] [--concurrency 50]``.

Starts ``redis-server`` on a free loopback port (``--save "" --appendonly no``, temp dir), runs
every measurement ``--reps`` times in this process and prints each figure as
``median (min-max)``:

* ``raw evalsha``: sequential redis-py asyncio ``EVALSHA`` of ``return 1`` (one bare round trip
  from Python through redis-py's client);
* ``raw enqueue script``: kmsg's own ``enqueue.lua`` for one job, sent by bare redis-py
  ``EVALSHA`` with ready-made arguments (no validation, no encoding): what ``enqueue`` would cost
  with no kmsg code around the script;
* ``enqueue``: sequential ``enqueue`` calls, one job each (jobs/s, and this process's CPU time
  per call: a steadier figure than the rate on a shared, loaded machine);
* ``enqueue_many``: batches of 100 jobs (jobs/s);
* ``drain``: ``--drain`` no-op jobs queued first, then one ``Worker`` (``--concurrency`` slots)
  runs them; jobs / (time from the first handler start to the worker's stop) (jobs/s), and CPU
  time per job;
* ``wake p50/p99``: an idle worker; time from just before ``enqueue`` to the handler's start (ms),
  over ``--wakes`` jobs, each enqueued after the worker has gone back to waiting.
* ``paced wake p50/p99``: the same time (ms), with the producer in another process offering
  ``--paced-rate`` jobs/s for ``--paced-seconds`` s (W3's shape): each job carries the producer's
  ``time.monotonic()`` just before ``enqueue`` (one system-wide clock on Linux).
* ``scripts/job``: EVALSHA calls the server ran during the drain / jobs (commands from
  the adapter, not counting those the scripts run).

``--only wake`` runs just the two wake-up measurements. Set ``--profile PATH`` to write a
pyinstrument HTML profile of one drain (or, with ``--profile-what enqueue``, of the sequential
enqueues) instead.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import anyio
import msgspec
import redis
from redis.asyncio import Redis

from kmsg import JobQueue, NewJob, open_queue
from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.scripts import script_source
from kmsg.ids import new_job_id
from kmsg.worker import Worker


class Noop(msgspec.Struct):
    """The benchmark's payload (about 100 bytes as JSON)."""

    n: int
    pad: str = "x" * 72
    sent: float = 0.0


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="kmsg-micro-")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", directory]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


async def raw_evalsha(url: str, n: int) -> float:
    """Sequential bare EVALSHA round trips per second."""
    client = Redis.from_url(url)
    sha = await client.script_load("return 1")
    for _ in range(100):
        await client.evalsha(sha, 0)
    start = time.perf_counter()
    for _ in range(n):
        await client.evalsha(sha, 0)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return n / elapsed


async def raw_enqueue_script(url: str, n: int) -> float:
    """Sequential bare redis-py EVALSHA of enqueue.lua, one new job each, per second."""
    client = Redis.from_url(url)
    keys = QueueKeys("kmsg-micro", uuid4().hex)
    sha = await client.script_load(script_source("enqueue"))
    payload = msgspec.json.encode(Noop(0))
    head: list[str | int] = [*keys.script_keys, keys.job_prefix, keys.channel, keys.queue, 1]
    options: list[bytes | str | float] = ["", "", "", "Noop", payload, 0, 3, 1.0, 2.0, 300.0, 30.0]
    start = time.perf_counter()
    for _ in range(n):
        await client.evalsha(sha, len(keys.script_keys), *head, new_job_id(), *options)
    elapsed = time.perf_counter() - start
    await client.aclose()
    return n / elapsed


async def enqueue_one(queue: JobQueue, n: int) -> tuple[float, float]:
    """(sequential single enqueues per second, this process's CPU microseconds per enqueue)."""
    name = uuid4().hex
    for i in range(100):
        await queue.enqueue(Noop(i), queue=name)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await queue.enqueue(Noop(i), queue=name)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await queue.clear(name)
    return n / elapsed, cpu / n * 1e6


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


async def fill(queue: JobQueue, name: str, n: int) -> None:
    """Queue ``n`` no-op jobs in batches of 1,000."""
    for start in range(0, n, 1000):
        await queue.enqueue_many(
            [NewJob(payload=Noop(i), queue=name) for i in range(start, start + 1000)]
        )


async def drain(queue: JobQueue, url: str, n: int, concurrency: int) -> tuple[float, float, float]:
    """(jobs per second, scripts per job, CPU microseconds per job) for one worker draining
    ``n`` queued jobs."""
    name = uuid4().hex
    await fill(queue, name, n)
    worker = Worker(queue, queues=(name,), concurrency=concurrency, install_signal_handlers=False)
    marks: list[float] = []

    @worker.task
    async def noop(msg: Noop) -> None:
        marks.append(time.perf_counter())
        if len(marks) == n:
            worker.stop()

    before, cpu = await commands(url), time.process_time()
    with anyio.fail_after(600):
        await worker.run()
    cpu = time.process_time() - cpu
    after = await commands(url)
    await queue.clear(name)
    return n / (time.perf_counter() - marks[0]), (after - before) / n, cpu / n * 1e6


async def commands(url: str) -> int:
    """Script calls the server has run (each is one command sent by a client)."""
    client = Redis.from_url(url)
    info = await client.info("commandstats")
    await client.aclose()
    return sum(int(info.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


async def wake_latency(queue: JobQueue, samples: int) -> tuple[float, float]:
    """(p50, p99) ms from just before ``enqueue`` to the handler's start, on an idle worker."""
    name = uuid4().hex
    worker = Worker(queue, queues=(name,), concurrency=10, install_signal_handlers=False)
    started: list[float] = []
    arrived = anyio.Event()

    @worker.task
    async def noop(msg: Noop) -> None:
        started.append(time.perf_counter())
        arrived.set()

    latencies = []
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.2)
        for i in range(samples):
            arrived = anyio.Event()
            sent = time.perf_counter()
            await queue.enqueue(Noop(i), queue=name)
            with anyio.fail_after(10):
                await arrived.wait()
            latencies.append((started[-1] - sent) * 1000)
            await anyio.sleep(0.02)
        worker.stop()
    await queue.clear(name)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def paced_producer(url: str, name: str, rate: float, seconds: float) -> None:
    """Enqueue ``rate`` jobs/s into ``name`` for ``seconds`` (run in its own process)."""
    async with await open_queue(url) as queue:
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            await anyio.sleep(max(start + i / rate - time.monotonic(), 0))
            await queue.enqueue(Noop(i, sent=time.monotonic()), queue=name)


async def paced_wake(queue: JobQueue, url: str, rate: float, seconds: float) -> tuple[float, float]:
    """(p50, p99) ms from enqueue in another process to the handler's start, at ``rate`` jobs/s."""
    name = uuid4().hex
    n = int(rate * seconds)
    worker = Worker(queue, queues=(name,), concurrency=10, install_signal_handlers=False)
    latencies: list[float] = []
    finished = anyio.Event()

    @worker.task
    async def noop(msg: Noop) -> None:
        latencies.append((time.monotonic() - msg.sent) * 1000)
        if len(latencies) == n:
            finished.set()
            worker.stop()

    command = [sys.executable, "-m", "benchmarks.micro_redis", "--producer", url, name]
    command += [str(rate), str(seconds)]
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.3)
        with anyio.fail_after(seconds + 60):
            await anyio.run_process(command)
            await finished.wait()
    await queue.clear(name)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


def shown(values: list[float], digits: int = 0) -> str:
    """``median (min-max)``."""
    fmt = f"{{:,.{digits}f}}"
    median = statistics.median(values)
    return f"{fmt.format(median)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


async def repeat(reps: int, measure: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run ``measure`` ``reps`` times."""
    return [await measure() for _ in range(reps)]


async def main(args: argparse.Namespace) -> None:
    """Run every measurement and print the table."""
    with private_redis() as url:
        queue = await open_queue(url)
        try:
            if args.profile:
                await profile(queue, url, args)
                return
            wakes = await repeat(args.reps, lambda: wake_latency(queue, args.wakes))
            paced = await repeat(
                args.reps,
                lambda: paced_wake(queue, url, args.paced_rate, args.paced_seconds),
            )
            if args.only == "wake":
                print_wakes(wakes, paced)
                return
            raw = await repeat(args.reps, lambda: raw_evalsha(url, 5000))
            raw_enqueue = await repeat(args.reps, lambda: raw_enqueue_script(url, args.enqueue))
            one = await repeat(args.reps, lambda: enqueue_one(queue, args.enqueue))
            many = await repeat(args.reps, lambda: enqueue_batches(queue, args.batch_jobs))
            drains = await repeat(
                args.reps, lambda: drain(queue, url, args.drain, args.concurrency)
            )
        finally:
            await queue.aclose()
    print(f"raw evalsha (1/s)       {shown(raw)}")
    print(f"raw enqueue script (1/s) {shown(raw_enqueue)}")
    print(f"enqueue (jobs/s)        {shown([o[0] for o in one])}")
    print(f"enqueue CPU (us/job)    {shown([o[1] for o in one], 1)}")
    print(f"enqueue_many x100 (j/s) {shown(many)}")
    print(f"drain {args.drain} c={args.concurrency} (j/s) {shown([d[0] for d in drains])}")
    print(f"drain CPU (us/job)      {shown([d[2] for d in drains], 1)}")
    print(f"scripts/job (drain)     {shown([d[1] for d in drains], 2)}")
    print_wakes(wakes, paced)


def print_wakes(wakes: list[tuple[float, float]], paced: list[tuple[float, float]]) -> None:
    """Print the wake-up figures."""
    print(f"wake p50 (ms)           {shown([w[0] for w in wakes], 2)}")
    print(f"wake p99 (ms)           {shown([w[1] for w in wakes], 2)}")
    print(f"paced wake p50 (ms)     {shown([w[0] for w in paced], 2)}")
    print(f"paced wake p99 (ms)     {shown([w[1] for w in paced], 2)}")


async def profile(queue: JobQueue, url: str, args: argparse.Namespace) -> None:
    """Write a pyinstrument profile of the chosen path to ``args.profile``."""
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    if args.profile_what == "enqueue":
        await enqueue_one(queue, args.enqueue)
    else:
        await drain(queue, url, args.drain, args.concurrency)
    profiler.stop()
    await anyio.Path(args.profile).write_text(profiler.output_html(), encoding="utf-8")
    print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])


def parse() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--enqueue", type=int, default=5000)
    parser.add_argument("--batch-jobs", type=int, default=20000)
    parser.add_argument("--drain", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--wakes", type=int, default=200)
    parser.add_argument("--paced-rate", type=float, default=200.0)
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=("all", "wake"), default="all")
    parser.add_argument("--producer", nargs=4, metavar=("URL", "QUEUE", "RATE", "SECONDS"))
    parser.add_argument("--profile", default="")
    parser.add_argument("--profile-what", choices=("enqueue", "drain"), default="drain")
    return parser.parse_args()


if __name__ == "__main__":
    options = parse()
    if options.producer:
        url, name, rate, seconds = options.producer
        anyio.run(paced_producer, url, name, float(rate), float(seconds))
    else:
        anyio.run(main, options)
