"""SQLite adapter: several OS processes writing and claiming on one file at once.

Writers enqueue in small batches while claimers claim and complete; a tiny ``busy_timeout`` makes
lock contention common, so the adapter's own retry path is what keeps "database is locked" from
reaching the user.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kmsg.adapters.sqlite.database import open_database
from kmsg.adapters.sqlite.options import SQLiteOptions

WRITERS = 2
CLAIMERS = 2
JOBS_PER_WRITER = 300

_WRITER = """
import sys, anyio, msgspec
from kmsg import NewJob, open_queue

class Ping(msgspec.Struct):
    n: int

async def main(url, name, count):
    async with open_queue(url, busy_timeout=0.001) as queue:
        for start in range(0, count, 3):
            await queue.enqueue_many(
                [NewJob(payload=Ping(n), queue="shared", job_id=f"{name}-{n}", lease=600.0)
                 for n in range(start, min(start + 3, count))]
            )

anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
"""

_CLAIMER = """
import sys, time, anyio
from kmsg import open_queue

async def main(url, total):
    deadline = time.monotonic() + 90
    async with open_queue(url, busy_timeout=0.001) as queue:
        while time.monotonic() < deadline:
            claimed = await queue.claim("shared", limit=4)
            for item in claimed:
                print(item.job.id, flush=True)
                await queue.complete(item.lease)
            if not claimed:
                if (await queue.stats("shared")).completed >= total:
                    return
                await queue.wait_for_jobs("shared", 0.05)

anyio.run(main, sys.argv[1], int(sys.argv[2]))
"""


@pytest.mark.slow
def test_processes_share_one_file_without_lock_errors_and_claim_each_job_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kmsg.db"
    open_database(SQLiteOptions(path=path)).close()
    url = f"sqlite:///{path}"
    total = WRITERS * JOBS_PER_WRITER
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, url, str(total)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(CLAIMERS)
    ]
    procs += [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, f"w{i}", str(JOBS_PER_WRITER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    try:
        outputs = [proc.communicate(timeout=110) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert "locked" not in err
        assert proc.returncode == 0, err
    claimed = Counter(line for out, _err in outputs[:CLAIMERS] for line in out.split())
    expected = {f"w{i}-{n}" for i in range(WRITERS) for n in range(JOBS_PER_WRITER)}
    assert set(claimed) == expected
    assert max(claimed.values()) == 1
