"""Micro-benchmarks of kmsg's hot paths, SQLite and Redis side by side.

Run: ``.venv/bin/python benchmarks/micro.py [--reps 3] [--quick] [--only drain wake ...]
[--anyio-backend asyncio|trio]``

Run the file by path: it imports only ``kmsg``, the standard library, ``anyio`` and ``msgspec``, so
``PYTHONPATH`` picks which kmsg copy is measured (e.g. an unpacked ``git archive`` of an older
commit, for a before/after comparison). SQLite uses a file in a temporary folder; Redis a private
``redis-server`` this script starts on a free loopback port (``--save "" --appendonly no``) and
stops at the end. Each figure is the median of ``--reps`` runs with their min-max:

* ``enqueue``: sequential ``enqueue`` calls, one job each (jobs/s);
* ``sync``: the same through the blocking ``kmsg.sync`` queue, from a thread (jobs/s);
* ``many``: ``enqueue_many`` in batches of 100 (jobs/s);
* ``drain``: ``--drain`` no-op jobs queued first, then one ``Worker`` (``--concurrency`` slots)
  runs them; jobs / (first handler start to last completion) (jobs/s);
* ``messages``: the same with SMS messages sent through ``MessageJobProcessor`` and a
  ``MockProvider`` (jobs/s);
* ``wake``: an idle worker here, a producer in ANOTHER process offering ``--rate`` jobs/s for
  ``--seconds`` s; each job carries the producer's ``time.perf_counter()`` taken just before
  ``enqueue`` (one system-wide monotonic clock on Linux); p50 / p99 of the time to the handler's
  start (ms);
* ``idle``: this process's CPU while a worker waits on an empty queue for ``--idle-seconds`` s,
  in % of one core (the Redis server's own CPU is not counted).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from uuid import uuid4

import anyio
import msgspec

import kmsg
from kmsg import JobQueue, NewJob, open_queue
from kmsg.messaging import KMsg, MessageJobProcessor, MockProvider, SendMessageJob, Sms
from kmsg.worker import EventKind, Worker, WorkerEvent

SCRIPT = Path(__file__).resolve()
BATCH = 100
FILL_BATCH = 1000


class Noop(msgspec.Struct):
    """The benchmark's payload (about 100 bytes as JSON); ``sent`` is the producer's clock."""

    n: int
    sent: float = 0.0
    pad: str = "x" * 64


@dataclass(frozen=True)
class Backend:
    """One store under test: its name, URL and an open queue handle."""

    name: str
    url: str
    queue: JobQueue


Run = Callable[[Backend, argparse.Namespace], Awaitable[tuple[float, ...]]]


@dataclass(frozen=True)
class Measure:
    """A measurement: its ``--only`` key, one table row label per figure it returns, and how."""

    key: str
    rows: tuple[str, ...]
    run: Run
    digits: int = 0


# --- measurements -------------------------------------------------------------------------------


async def enqueue_one(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Sequential single enqueues per second (after 100 warm-up calls)."""
    queue, name, n = backend.queue, uuid4().hex, args.enqueue
    for i in range(100):
        await queue.enqueue(Noop(i), queue=name)
    start = time.perf_counter()
    for i in range(n):
        await queue.enqueue(Noop(i), queue=name)
    elapsed = time.perf_counter() - start
    await queue.clear(name)
    return (n / elapsed,)


async def enqueue_sync(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Sequential single enqueues per second through the blocking ``kmsg.sync`` queue, from a
    plain thread (as a Django view would); NaN for a kmsg without it."""
    try:
        from kmsg.sync import open_queue as open_sync_queue
    except ImportError:
        return (math.nan,)

    def run() -> float:
        name = uuid4().hex
        with open_sync_queue(backend.url) as queue:
            for i in range(100):
                queue.enqueue(Noop(i), queue=name)
            start = time.perf_counter()
            for i in range(args.enqueue):
                queue.enqueue(Noop(i), queue=name)
            elapsed = time.perf_counter() - start
            queue.clear(name)
        return args.enqueue / elapsed

    return (await anyio.to_thread.run_sync(run),)


async def enqueue_batches(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Jobs per second through ``enqueue_many`` in batches of ``BATCH``."""
    queue, name = backend.queue, uuid4().hex
    batches = [
        [NewJob(payload=Noop(i), queue=name) for i in range(BATCH)]
        for _ in range(args.batch_jobs // BATCH)
    ]
    start = time.perf_counter()
    for batch in batches:
        await queue.enqueue_many(batch)
    elapsed = time.perf_counter() - start
    await queue.clear(name)
    return (len(batches) * BATCH / elapsed,)


async def run_to_completion(worker: Worker, n: int) -> float:
    """Run ``worker`` until it has completed ``n`` jobs; jobs per second from first start."""
    first: list[float] = []
    last = 0.0
    completed = 0

    def count(event: WorkerEvent) -> None:
        nonlocal completed, last
        if event.kind is EventKind.STARTED and not first:
            first.append(time.perf_counter())
        elif event.kind is EventKind.COMPLETED:
            completed += 1
            if completed == n:
                last = time.perf_counter()
                worker.stop()

    worker.add_listener(count)
    with anyio.fail_after(600):
        await worker.run()
    return n / (last - first[0])


async def drain_noop(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Jobs per second for one worker draining ``args.drain`` queued no-op jobs."""
    queue, name, n = backend.queue, uuid4().hex, args.drain
    for start in range(0, n, FILL_BATCH):
        jobs = range(start, min(start + FILL_BATCH, n))
        await queue.enqueue_many([NewJob(payload=Noop(i), queue=name) for i in jobs])
    worker = new_worker(queue, name, args.concurrency)

    @worker.task
    async def noop(msg: Noop) -> None:
        """Does nothing."""

    rate = await run_to_completion(worker, n)
    await queue.clear(name)
    return (rate,)


async def drain_messages(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Jobs per second for one worker sending ``args.drain`` queued SMS through a mock provider."""
    name, n = uuid4().hex, args.drain
    sender = KMsg(MockProvider(), backend.queue, queue_name=name)
    sms = Sms(to="010-1234-5678", text="인증번호 123456")
    for start in range(0, n, FILL_BATCH):
        size = min(FILL_BATCH, n - start)
        job = NewJob(
            payload=SendMessageJob(message=sms),
            queue=sender.queue_name,
            max_attempts=sender.max_attempts,
        )
        await backend.queue.enqueue_many([job] * size)
    worker = new_worker(backend.queue, name, args.concurrency)
    MessageJobProcessor(sender).register(worker)
    rate = await run_to_completion(worker, n)
    await backend.queue.clear(name)
    return (rate,)


async def wake_latency(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """(p50, p99) ms from another process's enqueue to the handler's start, on an idle worker."""
    queue, name = backend.queue, uuid4().hex
    expected = int(args.rate * args.seconds)
    worker = new_worker(queue, name, 10)
    latencies: list[float] = []
    all_started = anyio.Event()

    @worker.task
    async def noop(msg: Noop) -> None:
        latencies.append((time.perf_counter() - msg.sent) * 1000)
        if len(latencies) == expected:
            all_started.set()

    producer = [sys.executable, str(SCRIPT), "--produce", backend.url, name]
    producer += [str(args.rate), str(args.seconds)]
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.5)
        with anyio.fail_after(args.seconds + 60):
            await anyio.run_process(producer, stdout=None, stderr=None)
            await all_started.wait()
        worker.stop()
    await queue.clear(name)
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def idle_cpu(backend: Backend, args: argparse.Namespace) -> tuple[float, ...]:
    """Percent of one core this process uses while a worker waits on an empty queue."""
    worker = new_worker(backend.queue, uuid4().hex, 10)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(1.0)
        wall, cpu = time.perf_counter(), time.process_time()
        await anyio.sleep(args.idle_seconds)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        worker.stop()
    return (cpu / wall * 100,)


def new_worker(queue: JobQueue, name: str, concurrency: int) -> Worker:
    """A worker on the one queue ``name``, without signal handlers."""
    return Worker(queue, queues=(name,), concurrency=concurrency, install_signal_handlers=False)


async def produce(url: str, name: str, rate: float, seconds: float) -> None:
    """The producer process: ``rate`` jobs per second on a fixed schedule for ``seconds``."""
    async with await open_queue(url) as queue:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await anyio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            await queue.enqueue(Noop(i, sent=time.perf_counter()), queue=name)


def measures(args: argparse.Namespace) -> list[Measure]:
    """Every measurement, in run order, labelled with the sizes in ``args``."""
    drain = f"{args.drain:,} jobs, c={args.concurrency}"
    wake = f"{args.rate:g} jobs/s for {args.seconds:g} s, other process"
    return [
        Measure("enqueue", ("enqueue, one per call (jobs/s)",), enqueue_one),
        Measure("sync", ("kmsg.sync enqueue, one per call, a thread (jobs/s)",), enqueue_sync),
        Measure("many", (f"enqueue_many x{BATCH} (jobs/s)",), enqueue_batches),
        Measure("drain", (f"worker drain, no-op, {drain} (jobs/s)",), drain_noop),
        Measure("messages", (f"worker drain, mock SMS, {drain} (jobs/s)",), drain_messages),
        Measure("wake", (f"wake p50, {wake} (ms)", f"wake p99, {wake} (ms)"), wake_latency, 2),
        Measure("idle", (f"idle worker CPU, {args.idle_seconds:g} s (% of a core)",), idle_cpu, 2),
    ]


# --- stores -------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers(port: int) -> bool:
    """Whether a Redis server on ``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port in a temp dir; yields its URL."""
    directory, port = tempfile.mkdtemp(prefix="kmsg-micro-"), free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", directory, "--loglevel", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if redis_answers(port):
                break
            time.sleep(0.025)
        else:
            raise RuntimeError("the private redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def backends(redis_url: str) -> AsyncIterator[list[Backend]]:
    """Open SQLite (a file in a temp dir) and the Redis at ``redis_url``."""
    with tempfile.TemporaryDirectory(prefix="kmsg-micro-") as directory:
        sqlite_url = f"sqlite:///{directory}/micro.db"
        async with (
            await open_queue(sqlite_url) as sqlite_queue,
            await open_queue(redis_url) as redis_queue,
        ):
            yield [
                Backend("sqlite", sqlite_url, sqlite_queue),
                Backend("redis", redis_url, redis_queue),
            ]


# --- report -------------------------------------------------------------------------------------


def cell(values: list[float], digits: int) -> str:
    """``median (min-max)``."""
    low, mid, high = (
        f"{v:,.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )
    return f"{mid} ({low}-{high})"


def table(names: list[str], rows: list[tuple[str, dict[str, list[float]], int]]) -> str:
    """A markdown table: one row per figure, one column per backend."""
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, values, digits in rows:
        lines.append(f"| {label} | " + " | ".join(cell(values[n], digits) for n in names) + " |")
    return "\n".join(lines)


def version(dist: str) -> str:
    """The installed version of ``dist``, or ``?``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def machine(anyio_backend: str) -> str:
    """One line: CPU, cores, Python, kmsg (and where from), anyio, msgspec, SQLite, redis-server."""
    cpu = platform.processor() or "cpu ?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu
        )
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    redis_version = next((w[2:] for w in server.split() if w.startswith("v=")), "?")
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}; "
        f"kmsg {kmsg.__version__} from {Path(kmsg.__file__).parent}; "
        f"anyio {version('anyio')} ({anyio_backend}); msgspec {version('msgspec')}; "
        f"SQLite {sqlite3.sqlite_version}; redis-server {redis_version}"
    )


# --- main ---------------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace, redis_url: str) -> str:
    """Run the chosen measurements, each rep on both backends in turn; return the table."""
    rows: list[tuple[str, dict[str, list[float]], int]] = []
    async with backends(redis_url) as stores:
        for measure in measures(args):
            if measure.key not in args.only:
                continue
            runs: dict[str, list[tuple[float, ...]]] = {b.name: [] for b in stores}
            for _ in range(args.reps):
                for backend in stores:
                    runs[backend.name].append(await measure.run(backend, args))
            for i, label in enumerate(measure.rows):
                values = {name: [figures[i] for figures in done] for name, done in runs.items()}
                rows.append((label, values, measure.digits))
    return table([b.name for b in stores], rows)


QUICK = {"enqueue": 500, "batch_jobs": 2000, "drain": 1000, "seconds": 1.0, "idle_seconds": 1.0}
KEYS = ("enqueue", "sync", "many", "drain", "messages", "wake", "idle")


def parse() -> argparse.Namespace:
    """Command-line options (``--quick`` shrinks every size)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--anyio-backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--only", nargs="+", choices=KEYS, default=list(KEYS))
    parser.add_argument("--enqueue", type=int, default=5000, help="single enqueues per rep")
    parser.add_argument("--batch-jobs", type=int, default=20000, help="jobs via enqueue_many")
    parser.add_argument("--drain", type=int, default=10000, help="jobs per worker drain")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="wake: producer jobs/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="wake: producer seconds")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--produce", nargs=4, metavar=("URL", "QUEUE", "RATE", "SECONDS"))
    args = parser.parse_args()
    if args.quick:
        for name, size in QUICK.items():
            setattr(args, name, size)
    return args


def main() -> None:
    """Measure both backends and print the machine line and the table (or be the producer)."""
    args = parse()
    if args.produce:
        url, name, rate, seconds = args.produce
        anyio.run(produce, url, name, float(rate), float(seconds))
        return
    with private_redis() as redis_url:
        report = anyio.run(run_all, args, redis_url, backend=args.anyio_backend)
    print(machine(args.anyio_backend))
    print(f"median (min-max) of {args.reps} reps; {' '.join(sys.argv)}\n")
    print(report)


if __name__ == "__main__":
    main()
