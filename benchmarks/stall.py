"""W5 for kmsg: how long each bulk operation at a big queue stalls everyone else.

``python -m benchmarks.stall SYSTEM --jobs N`` prints JSON: for each operation, its duration and
the longest round trip a *separate process* saw meanwhile. On Redis that process PINGs the
server in a loop (a script that runs long holds the single-threaded server, and the PING waits
behind it), and the server's own latency monitor gives the longest command it ran during the
operation (``server_ms``: the stall itself, free of the probe's scheduling noise on a busy
machine); on SQLite the probe enqueues one job per call to another queue of the same file (a
long write transaction holds the write lock). The operations, each on a queue of N jobs:

* ``enqueue_many``: N jobs queued 10,000 per call (each call written in steps of 1,000 jobs);
* ``stats`` and ``list`` (100 pages of 1,000 pending jobs);
* ``clear`` of N pending jobs;
* ``purge_failed(all)`` of N dead letters, ``retry_failed(all)`` of N dead letters;
* ``cleanup`` of N completed jobs;
* ``enqueue_many`` of 100 jobs of 250 KB each (25 MB: split by bytes into 1 MiB steps).

Dead letters and completed jobs are written with ``import_jobs`` (a migration writes snapshots
as they are), which is far quicker than running N jobs through a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from benchmarks.systems._kmsg import Noop
from benchmarks.systems.base import PAD, QUEUE_NAME, Env

FILL_BATCH: Final = 10_000
PROBE_EVERY: Final = 0.001


class Big(msgspec.Struct, frozen=True):
    """A 250 KB payload."""

    data: str


def _snapshots(count: int, state: str, start: int) -> list[Any]:
    from kmsg import Backoff, Job, JobState

    now = time.time()
    ended = {"completed_at": now} if state == "completed" else {"failed_at": now}
    payload = msgspec.json.encode(Noop(now, PAD))
    return [
        Job(
            id=f"{state[0]}{start + n:09d}",
            queue=QUEUE_NAME,
            task="noop",
            payload=payload,
            state=JobState(state),
            priority=0,
            run_at=now,
            created_at=now,
            attempts=1,
            max_attempts=1,
            backoff=Backoff(),
            lease=30.0,
            **ended,
        )
        for n in range(count)
    ]


async def _import(queue: Any, jobs: int, state: str) -> None:
    for start in range(0, jobs, FILL_BATCH):
        await queue.import_jobs(_snapshots(min(FILL_BATCH, jobs - start), state, start))


async def _fill(queue: Any, jobs: int) -> None:
    from kmsg import NewJob

    for start in range(0, jobs, FILL_BATCH):
        batch = [NewJob(payload=Noop(time.time(), PAD), queue=QUEUE_NAME)] * min(
            FILL_BATCH, jobs - start
        )
        await queue.enqueue_many(batch)


async def _pages(queue: Any) -> None:
    from kmsg import JobState

    cursor = None
    for _ in range(100):
        page = await queue.list_jobs(QUEUE_NAME, JobState.PENDING, limit=1000, cursor=cursor)
        cursor = page.next_cursor
        if cursor is None:
            break


async def _stats(queue: Any) -> None:
    for _ in range(100):
        await queue.stats(QUEUE_NAME)


async def _big_batch(queue: Any) -> None:
    from kmsg import NewJob

    jobs = [NewJob(payload=Big("x" * 250_000), queue="big") for _ in range(100)]
    await queue.enqueue_many(jobs)


def _operations(jobs: int) -> list[tuple[str, Callable[[Any], Awaitable[Any]], str | None]]:
    """(name, operation, what to fill the queue with first: None, 'pending', 'failed', ...)."""
    from kmsg import JobState

    return [
        ("enqueue_many", lambda q: _fill(q, jobs), None),
        ("stats", _stats, None),
        ("list", _pages, None),
        ("clear", lambda q: q.clear(QUEUE_NAME), None),
        ("purge_failed(all)", lambda q: q.purge_failed(QUEUE_NAME), "failed"),
        ("retry_failed(all)", lambda q: q.retry_failed(QUEUE_NAME), "failed"),
        ("clear (after retry)", lambda q: q.clear(QUEUE_NAME), None),
        (
            "cleanup",
            lambda q: q.cleanup(QUEUE_NAME, [JobState.COMPLETED], older_than=0),
            "completed",
        ),
        ("enqueue_many 25 MB", _big_batch, None),
    ]


def _start_probe(url: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stall", "probe", "--url", url, "--out", str(out)],
        stdin=subprocess.PIPE,
    )


def _stop_probe(probe: subprocess.Popen[bytes], out: Path) -> list[tuple[float, float]]:
    assert probe.stdin is not None
    probe.stdin.close()
    if probe.wait(timeout=30) != 0:
        raise RuntimeError(f"the probe failed with exit status {probe.returncode}")
    samples: list[tuple[float, float]] = json.loads(out.read_text())
    return samples


def _during(samples: list[tuple[float, float]], start: float, end: float) -> dict[str, float]:
    """The round trips (ms) of the probes in flight during [start, end]: the longest, the
    99th percentile and how many passed 20 ms."""
    hits = sorted(rtt for sent, rtt in samples if sent <= end and sent + rtt / 1000 >= start)
    if not hits:
        return {"worst_ms": 0.0, "p99_ms": 0.0, "over_20ms": 0}
    return {
        "worst_ms": hits[-1],
        "p99_ms": hits[min(len(hits) - 1, int(len(hits) * 0.99))],
        "over_20ms": sum(rtt > 20 for rtt in hits),
    }


async def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from kmsg import open_queue

    out = Path(tempfile.mkdtemp(prefix="kmsg-stall-")) / "probe.json"
    probe = _start_probe(url, out)
    await asyncio.sleep(1.0)  # let the probe connect
    windows: list[tuple[str, float, float]] = []
    server: dict[str, int] = {}
    monitor = _LatencyMonitor(url) if url.startswith("redis") else None
    async with open_queue(url, max_payload_bytes=300_000) as queue:
        for name, operation, fill in _operations(args.jobs):
            if fill is not None:
                await _import(queue, args.jobs, fill)
            if monitor is not None:
                monitor.reset()
            start = time.time()
            await operation(queue)
            windows.append((name, start, time.time()))
            if monitor is not None:
                server[name] = monitor.longest()
            await asyncio.sleep(0.2)
    samples = _stop_probe(probe, out)
    return {
        "jobs": args.jobs,
        "probes": len(samples),
        "operations": [
            {
                "op": name,
                "seconds": round(end - start, 3),
                **_during(samples, start, end),
                **({"server_ms": server[name]} if name in server else {}),
            }
            for name, start, end in windows
        ],
    }


class _LatencyMonitor:
    """The Redis latency monitor (1 ms resolution): the longest command since a reset."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._client.config_set("latency-monitor-threshold", 1)

    def reset(self) -> None:
        self._client.execute_command("LATENCY", "RESET")

    def longest(self) -> int:
        """Milliseconds of the longest command seen since :meth:`reset` (0: none over 1 ms)."""
        events = self._client.execute_command("LATENCY", "LATEST")
        return max((int(event[3]) for event in events if event[0] == b"command"), default=0)


def _probe(url: str, out: Path) -> None:
    """Time one tiny call after another until stdin closes; write (sent, ms) of each."""
    import threading

    with contextlib.suppress(OSError):
        os.nice(-10)  # answer as soon as the server does, on a machine the benchmark keeps busy
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    samples: list[tuple[float, float]] = []
    call = _redis_ping(url) if url.startswith("redis") else _sqlite_enqueue(url)
    while not stop.is_set():
        sent, began = time.time(), time.perf_counter()
        call()
        samples.append((sent, round((time.perf_counter() - began) * 1000, 3)))
        time.sleep(PROBE_EVERY)
    out.write_text(json.dumps(samples))


def _redis_ping(url: str) -> Callable[[], Any]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=60)
    return client.ping


def _sqlite_enqueue(url: str) -> Callable[[], Any]:
    import anyio

    from kmsg import open_queue

    async def opened() -> Any:
        return await open_queue(url)

    running = anyio.from_thread.start_blocking_portal()
    portal = running.__enter__()  # runs as long as the probe process
    queue = portal.call(opened)

    def enqueue() -> None:
        portal.call(functools.partial(queue.enqueue, Noop(time.time(), PAD), queue="probe"))

    enqueue.running = running  # type: ignore[attr-defined]  # keeps the portal alive
    return enqueue


def main() -> None:
    """Parse the command line, measure, print JSON (or run the probe)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stall")
    parser.add_argument("system", choices=["kmsg-sqlite", "kmsg-redis", "probe"])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--url", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.system == "probe":
        try:
            _probe(args.url, Path(args.out))
        finally:  # without waiting for the SQLite probe's portal thread
            sys.stdout.flush()
            os._exit(0 if Path(args.out).exists() else 1)
    env = Env.from_environ()
    backend = args.system.removeprefix("kmsg-")
    url = env.redis_url if backend == "redis" else f"sqlite:///{env.sqlite_path}"
    print(json.dumps(asyncio.run(_measure(url, args))), flush=True)


if __name__ == "__main__":
    main()
