"""Subprocess entry points: ``python -m benchmarks.agent produce|work SYSTEM ...``.

Every measurement runs its producer and its workers in fresh processes, so one library's imports,
globals and event loop never touch another's. ``produce`` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from benchmarks.systems import load
from benchmarks.systems.base import Env, NoBatch, System

BATCH_SIZE = 1000
WARMUP = 100


async def _timed_one(system: System, n: int) -> float:
    for _ in range(WARMUP):
        await system.enqueue_one(time.time())
    start = time.perf_counter()
    for _ in range(n):
        await system.enqueue_one(time.time())
    return time.perf_counter() - start


async def _timed_batch(system: System, n: int, warmup: int = WARMUP) -> float:
    if warmup:
        await system.enqueue_batch([time.time()] * warmup)
    start = time.perf_counter()
    for offset in range(0, n, BATCH_SIZE):
        await system.enqueue_batch([time.time()] * min(BATCH_SIZE, n - offset))
    return time.perf_counter() - start


async def _fill(system: System, n: int) -> float:
    """Queue ``n`` jobs as fast as the system allows (its batch API when it has one)."""
    try:
        return await _timed_batch(system, n, warmup=0)
    except NoBatch:
        start = time.perf_counter()
        for _ in range(n):
            await system.enqueue_one(time.time())
        return time.perf_counter() - start


async def _paced(system: System, rate: float, seconds: float) -> float:
    """Offer ``rate`` jobs/s for ``seconds``; each payload carries its own enqueue time."""
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await system.enqueue_one(time.time())
    return time.perf_counter() - start


async def _produce(name: str, mode: str, n: int, rate: float, seconds: float) -> dict[str, object]:
    system = load(name)
    await system.open(Env.from_environ())
    try:
        if mode == "one":
            elapsed = await _timed_one(system, n)
        elif mode == "batch":
            try:
                elapsed = await _timed_batch(system, n)
            except NoBatch:
                return {"status": "n/a"}
        elif mode == "fill":
            elapsed = await _fill(system, n)
        else:
            elapsed = await _paced(system, rate, seconds)
    finally:
        await system.close()
    return {"status": "ok", "seconds": elapsed}


def main() -> None:
    """Parse the command line and run the producer or a worker."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent")
    parser.add_argument("role", choices=["produce", "work"])
    parser.add_argument("system")
    parser.add_argument("--mode", choices=["one", "batch", "fill", "paced"], default="one")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.role == "work":
        load(args.system).run_worker(Env.from_environ())
        return
    result = asyncio.run(_produce(args.system, args.mode, args.n, args.rate, args.seconds))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
