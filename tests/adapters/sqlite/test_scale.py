"""SQLite adapter at scale: stats() on a queue of up to 1,000,000 jobs (the million: ``-m scale``).

The rows are written straight into the file with one ``INSERT ... SELECT`` over a recursive
counter (a few seconds for a million, through the real count triggers), then a real queue
object times ``stats()``. The figures are printed, never asserted (run with ``-s`` to see them)::

    .venv/bin/python -m pytest -m "slow or scale" -s tests/adapters/sqlite/test_scale.py
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from kmsg import JobState, open_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLS = 20

# One job in twenty per state slot: 10 completed, 4 pending (over 5 priorities), 2 delayed,
# 1 processing, 2 failed, 1 cancelled.
_STATE = """CASE
    WHEN i % 20 < 10 THEN 'completed' WHEN i % 20 < 14 THEN 'pending'
    WHEN i % 20 < 16 THEN 'delayed' WHEN i % 20 < 17 THEN 'processing'
    WHEN i % 20 < 19 THEN 'failed' ELSE 'cancelled' END"""
_FILL = f"""
INSERT INTO jobs (queue, id, task, payload, state, priority, run_at, created_at, attempts,
    max_attempts, backoff_initial, backoff_factor, backoff_maximum, lease, lease_until, token,
    finished_at)
WITH RECURSIVE counter(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM counter WHERE i + 1 < :count)
SELECT 'big', printf('job-%08d', i), 'Ping', x'7b226e223a317d', state, i % 5 - 2,
    :base + i * 0.001, :base, 0, 3, 1.0, 2.0, 60.0, 30.0,
    CASE state WHEN 'processing' THEN :base + 1e6 END,
    CASE state WHEN 'processing' THEN 'token' END,
    CASE WHEN state IN ('completed', 'failed', 'cancelled') THEN :base + i * 0.001 END
FROM (SELECT i, {_STATE} AS state FROM counter)
"""


@pytest.fixture
def anyio_backend() -> str:
    """One event loop is enough for a timing: asyncio only."""
    return "asyncio"


def _fill(path: Path, count: int, base: float) -> None:
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(_FILL, {"count": count, "base": base})
        connection.execute("COMMIT")
    connection.close()


@pytest.mark.parametrize(
    "count", [10_000, 100_000, pytest.param(1_000_000, marks=pytest.mark.scale)]
)
async def test_stats_of_a_big_queue(tmp_path: Path, count: int) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    async with open_queue(url) as queue:
        await queue.stats("big")  # creates the schema
    base = time.time() - 3600.0
    started = time.perf_counter()
    _fill(tmp_path / "big.db", count, base)
    filled = time.perf_counter() - started
    async with open_queue(url) as queue:
        await queue.stats("big")
        timings = []
        for _ in range(CALLS):
            started = time.perf_counter()
            stats = await queue.stats("big")
            timings.append(time.perf_counter() - started)
    per_twenty = {JobState.COMPLETED: 10, JobState.PENDING: 4, JobState.DELAYED: 2}
    per_twenty |= {JobState.PROCESSING: 1, JobState.FAILED: 2, JobState.CANCELLED: 1}
    assert {s: stats.count(s) for s in JobState} == {
        s: count // 20 * n for s, n in per_twenty.items()
    }
    assert stats.oldest_pending_age is not None
    assert stats.oldest_pending_age >= 3600.0 - 0.010
    print(
        f"\nstats() at {count:,} jobs: median {statistics.median(timings) * 1e3:.3f} ms,"
        f" max {max(timings) * 1e3:.3f} ms over {CALLS} calls (filled in {filled:.1f} s)"
    )
