"""W4 for kmsg: claim+complete cost and stats() cost at one backlog size, and bytes per job.

``python -m benchmarks.scale SYSTEM --jobs N --ops K --reps R`` prints JSON. On an empty store it
queues ``N + K * R`` jobs with ``enqueue_many`` (10,000 a call), then times ``K`` sequential
claim(limit=1)+complete pairs, ``R`` times, so the backlog stays at least ``N``, and the median of
``K`` ``stats()`` calls. Bytes per job: the
growth of Redis ``used_memory`` over the fill divided by the jobs (a ``MEMORY USAGE`` scan of a
million keys would take longer than the fill), or the SQLite file size after a WAL checkpoint
divided by the jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import time
from typing import Any

import redis

from benchmarks.systems._kmsg import Noop
from benchmarks.systems.base import PAD, QUEUE_NAME, Env

FILL_BATCH = 10_000


async def _fill(queue: Any, n: int) -> None:
    from kmsg import NewJob

    for offset in range(0, n, FILL_BATCH):
        now = time.time()
        count = min(FILL_BATCH, n - offset)
        await queue.enqueue_many([NewJob(payload=Noop(now, PAD), queue=QUEUE_NAME)] * count)


async def _stats_cost(queue: Any, ops: int) -> float:
    """Median microseconds of one stats() call."""
    times = []
    for _ in range(ops):
        start = time.perf_counter()
        await queue.stats(QUEUE_NAME)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


async def _cost(queue: Any, ops: int) -> float:
    """Microseconds per claim+complete pair."""
    start = time.perf_counter()
    for _ in range(ops):
        (claimed,) = await queue.claim(QUEUE_NAME, limit=1)
        await queue.complete(claimed.lease)
    return (time.perf_counter() - start) / ops * 1e6


def _storage_bytes(env: Env, backend: str) -> int:
    if backend == "redis":
        info = redis.Redis.from_url(env.redis_url).info("memory")
        return int(info["used_memory"])
    if not os.path.exists(env.sqlite_path):
        return 0
    with sqlite3.connect(env.sqlite_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(env.sqlite_path)


async def _measure(url: str, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from kmsg import open_queue

    env = Env.from_environ()
    total = args.jobs + args.ops * args.reps
    before = _storage_bytes(env, backend)
    async with open_queue(url) as queue:
        start = time.perf_counter()
        await _fill(queue, total)
        fill_rate = total / (time.perf_counter() - start)
        stored = _storage_bytes(env, backend) - before
        costs = [await _cost(queue, args.ops) for _ in range(args.reps)]
        stats_costs = [await _stats_cost(queue, args.ops) for _ in range(args.reps)]
    return {
        "bytes_per_job": stored / total,
        "fill_rate": fill_rate,
        "cost_us": costs,
        "stats_us": stats_costs,
    }


def main() -> None:
    """Parse the command line, measure, print JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    parser.add_argument("system", choices=["kmsg-sqlite", "kmsg-redis"])
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    env = Env.from_environ()
    backend = args.system.removeprefix("kmsg-")
    url = env.redis_url if backend == "redis" else f"sqlite:///{env.sqlite_path}"
    print(json.dumps(asyncio.run(_measure(url, backend, args))), flush=True)


if __name__ == "__main__":
    main()
