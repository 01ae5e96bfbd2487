"""SQLite under crashes and contention.

* A writer SIGKILLed mid-transaction, many times: every committed (acknowledged) job is there and
  ``PRAGMA integrity_check`` says ok.
* Several writer processes, a worker and a long reader at once: no "database is locked" reaches a
  caller, and the WAL file stays bounded.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from uuid import uuid4

import anyio
import pytest

from kmsg import open_queue
from tests.reliability.ledger import read_ledger
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.support import drain, final_states

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

PRODUCER = "tests.reliability.producer_main"
WAL_BOUND = 64 * 1024 * 1024


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        (verdict,) = db.execute("PRAGMA integrity_check").fetchone()
    return str(verdict)


async def test_a_writer_killed_mid_transaction_loses_no_committed_job(
    tmp_path: Path, ledger_dir: Path, fleet_factory: list[Fleet], scale: float, results: Results
) -> None:
    rng = random.Random(8)
    path, qname, kills = tmp_path / "crash.db", f"crash-{uuid4().hex[:8]}", max(5, int(15 * scale))
    fleet = Fleet(f"sqlite:///{path}", ledger_dir, args=["--queue", qname], module=PRODUCER)
    fleet_factory.append(fleet)
    for _ in range(kills):
        process = fleet.spawn()
        await fleet.wait_ready(process)
        await _written(ledger_dir / f"producer-{process.pid}.jsonl", rng.randrange(2, 60) * 1024)
        fleet.kill(process)
    records = list(read_ledger(ledger_dir))
    mid_call = sum(
        _last_record(records, r["target"]) == "batch" for r in records if r["e"] == "fault"
    )
    committed = {r["job"] for r in records if r["e"] == "enq"}
    async with open_queue(f"sqlite:///{path}") as queue:
        stored = await final_states(queue, qname)
    missing = committed - set(stored)
    verdict = await anyio.to_thread.run_sync(_integrity, path)
    results.write(
        "sqlite-writer-sigkill",
        "sqlite",
        size=len(committed),
        faults=f"{kills} SIGKILL of a writer ({mid_call} inside enqueue_many)",
        lost=len(missing),
        stored_but_unacknowledged=len(set(stored) - committed),
        integrity_check=verdict,
    )
    assert missing == set()
    assert verdict == "ok"
    assert mid_call > 0, "no kill landed inside a write: the scenario proved nothing"


async def _written(path: Path, size: int) -> None:
    """Wait (at most 10 s) until the producer's ledger holds ``size`` bytes.

    Killing at a ledger size rather than after a time bounds the jobs written on any machine.
    """
    for _ in range(5000):  # 2 ms apart: at most 10 s
        if os.stat(path).st_size >= size:  # a thread hop would let thousands of jobs through
            return
        await anyio.sleep(0.002)


def _last_record(records: list[dict[str, object]], pid: object) -> object:
    mine = [r["e"] for r in records if r["pid"] == pid]
    return mine[-1] if mine else None


def _count_in_logs(directory: Path, word: str) -> int:
    """How often ``word`` appears in the worker and producer logs (stderr)."""
    return sum(p.read_text().count(word) for p in directory.glob("stderr-*.log"))


def _hold_a_read(path: Path, seconds: float) -> int:
    """One long read transaction (it pins the WAL: no checkpoint can pass it)."""
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("BEGIN")
        (count,) = db.execute("SELECT count(*) FROM jobs").fetchone()
        time.sleep(seconds)
        db.execute("COMMIT")
    return int(count)


async def test_many_writers_and_a_long_reader_never_see_a_locked_database(
    tmp_path: Path, ledger_dir: Path, fleet_factory: list[Fleet], scale: float, results: Results
) -> None:
    path, qname = tmp_path / "busy.db", f"busy-{uuid4().hex[:8]}"
    url, batches, writers = f"sqlite:///{path}", int(20 * scale), 3
    args = ["--queue", qname, "--batches", str(batches), "--batch", "50"]
    producers = Fleet(url, ledger_dir, args=args, module=PRODUCER)
    workers = Fleet(url, ledger_dir, args=["--queue", qname, "--concurrency", "8"])
    fleet_factory += [producers, workers]
    async with open_queue(url) as queue:
        await queue.stats(qname)  # create the schema before the crowd arrives
        spawned = [producers.spawn() for _ in range(writers)] + [workers.spawn()]
        wal, peak = path.with_name(path.name + "-wal"), 0
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, _hold_a_read, path, 3.0)
            deadline = time.monotonic() + 60 + 60 * scale
            while any(p.poll() is None for p in spawned[:writers]) and time.monotonic() < deadline:
                peak = max(peak, wal.stat().st_size if wal.exists() else 0)
                await anyio.sleep(0.05)
        total = writers * batches * 50
        await drain(queue, qname, total, within=40 + 40 * scale)
    records = list(read_ledger(ledger_dir))
    errors = [r for r in records if r["e"] == "error"]
    logged = await anyio.to_thread.run_sync(_count_in_logs, ledger_dir, "locked")
    results.write(
        "sqlite-contention",
        "sqlite",
        size=total,
        faults=f"{writers} writer processes + 1 worker + a 3s read transaction",
        lost=0,
        locked_errors=len(errors) + logged,
        wal_peak_mib=round(peak / 2**20, 2),
        integrity_check=_integrity(path),
    )
    assert errors == []
    assert logged == 0
    assert sum(r["e"] == "enq" for r in records) == total
    assert peak < WAL_BOUND
