"""Raw machine limits for reference: what Redis and SQLite do with no queue library on top.

* ``redis-benchmark`` LPUSH and RPOP against the private server, with and without ``-P 16``.
* A bare ``EVALSHA`` of ``return 1`` from redis-py (hiredis parser), one per round trip and
  pipelined 100 at a time, and one per round trip from redis-py's asyncio client (what kmsg's
  Redis adapter uses).
* SQLite (WAL, ``synchronous=NORMAL``): one INSERT per transaction, and one
  ``UPDATE ... RETURNING`` claim per ``BEGIN IMMEDIATE`` transaction on an indexed table.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable

import redis.asyncio

from benchmarks.harness import Bench, Row

SCRIPT = "return 1"


def raw_rows(bench: Bench, reps: int, n: int) -> list[Row]:
    """Every raw limit, ``reps`` times each (ops/s)."""
    rows: list[Row] = []
    for pipeline in (1, 16):
        for name, value in _redis_benchmark(bench, n * 10, pipeline, reps).items():
            rows.append(Row("raw", "raw", f"redis-benchmark {name} -P {pipeline}", "ops/s", value))
    measures: list[tuple[str, Callable[[], float]]] = [
        ("EVALSHA redis-py sequential", lambda: _evalsha(bench, n, 1)),
        ("EVALSHA redis-py pipelined x100", lambda: _evalsha(bench, n * 10, 100)),
        ("EVALSHA redis-py asyncio sequential", lambda: asyncio.run(_evalsha_async(bench, n))),
        ("SQLite INSERT, 1 per txn", lambda: _sqlite(bench, n, claim=False)),
        ("SQLite UPDATE..RETURNING claim, 1 per txn", lambda: _sqlite(bench, n, claim=True)),
    ]
    for metric, measure in measures:
        rows.append(Row("raw", "raw", metric, "ops/s", [measure() for _ in range(reps)]))
    return rows


def _redis_benchmark(bench: Bench, n: int, pipeline: int, reps: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"LPUSH": [], "RPOP": []}
    for _ in range(reps):
        bench.reset()
        out = subprocess.run(
            [
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-p",
                str(bench.port),
                "-t",
                "lpush,rpop",
                "-n",
                str(n),
                "-P",
                str(pipeline),
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for name in found:
            match = re.search(rf"{name}: ([\d.]+) requests per second", out)
            if match:
                found[name].append(float(match.group(1)))
    return found


def _evalsha(bench: Bench, n: int, pipeline: int) -> float:
    sha = bench.client.script_load(SCRIPT)
    start = time.perf_counter()
    if pipeline == 1:
        for _ in range(n):
            bench.client.evalsha(sha, 0)
    else:
        for _ in range(n // pipeline):
            pipe = bench.client.pipeline(transaction=False)
            for _ in range(pipeline):
                pipe.evalsha(sha, 0)
            pipe.execute()
    return n / (time.perf_counter() - start)


async def _evalsha_async(bench: Bench, n: int) -> float:
    client = redis.asyncio.Redis(host="127.0.0.1", port=bench.port)
    try:
        sha = await client.script_load(SCRIPT)
        start = time.perf_counter()
        for _ in range(n):
            await client.evalsha(sha, 0)
        return n / (time.perf_counter() - start)
    finally:
        await client.aclose()


def _sqlite(bench: Bench, n: int, *, claim: bool) -> float:
    bench.reset()
    conn = sqlite3.connect(bench.sqlite_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state INTEGER, payload BLOB)")
    conn.execute("CREATE INDEX jobs_state ON jobs (state, id)")
    payload = b"x" * 100
    if claim:
        conn.executemany("INSERT INTO jobs (state, payload) VALUES (0, ?)", [(payload,)] * n)
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        if claim:
            conn.execute(
                "UPDATE jobs SET state = 1 WHERE id = "
                "(SELECT id FROM jobs WHERE state = 0 ORDER BY id LIMIT 1) RETURNING id, payload"
            ).fetchall()
        else:
            conn.execute("INSERT INTO jobs (state, payload) VALUES (0, ?)", (payload,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed
