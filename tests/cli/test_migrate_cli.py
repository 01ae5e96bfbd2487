"""``kmsg migrate``: SQLite to Redis and back, keeping states, settings and ids; re-runnable."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from kmsg import JobQueue, JobState
from tests.cli.conftest import Kmsg, Ping, sqlite_url


async def _seed(queue: JobQueue, name: str) -> None:
    for n in range(5):
        await queue.enqueue(Ping(n), queue=name, priority=n, dedupe_key=f"k{n}")
    await queue.enqueue(Ping(99), queue=name, delay=3600)
    for n, outcome in enumerate(("dead", "done", "retry")):
        await queue.enqueue(Ping(100 + n), queue=name, priority=1000, max_attempts=2)
        [claimed] = await queue.claim(name)
        if outcome == "dead":
            await queue.fail(claimed.lease, ValueError("boom"), retryable=False)
        elif outcome == "done":
            await queue.complete(claimed.lease, result=b'{"ok":true}')
        else:
            await queue.fail(claimed.lease, ValueError("later"), retry_in=3600)
    await queue.pause(name)
    await queue.set_rate_limit(name, 7, 3.0)


def _snapshot(runner: Kmsg, url: str) -> dict[str, Any]:
    async def body(queue: JobQueue) -> dict[str, Any]:
        jobs = {}
        for state in JobState:
            page = await queue.list_jobs(runner.queue, state, limit=1000)
            for job in page.jobs:
                jobs[job.id] = (job.state, job.priority, job.attempts, job.dedupe_key, job.errors)
        stats = await queue.stats(runner.queue)
        return {"jobs": jobs, "paused": stats.paused, "rate": stats.rate_limit}

    snapshot: dict[str, Any] = Kmsg(url, runner.queue, runner.cwd, runner.env).with_queue(body)
    return snapshot


def test_migrate_sqlite_to_redis_and_back(
    sqlite_kmsg: Kmsg, redis_url: str, tmp_path: Path
) -> None:
    runner = Kmsg(sqlite_kmsg.url, f"cli-{uuid.uuid4().hex}", sqlite_kmsg.cwd, sqlite_kmsg.env)
    runner.with_queue(lambda q: _seed(q, runner.queue))
    source = _snapshot(runner, runner.url)
    assert len(source["jobs"]) == 9
    back_url = sqlite_url(tmp_path, "back.db")
    [report] = runner.json("migrate", runner.url, redis_url)
    assert (report["source_jobs"], report["imported"], report["missing"]) == (9, 9, 0)
    assert _snapshot(runner, redis_url) == source

    [again] = runner.json("migrate", runner.url, redis_url, "-q", runner.queue)
    assert (again["imported"], again["already_present"]) == (0, 9)
    assert _snapshot(runner, redis_url) == source

    [back] = runner.json("migrate", redis_url, back_url)
    assert (back["source_jobs"], back["imported"], back["missing"]) == (9, 9, 0)
    assert _snapshot(runner, back_url) == source


def test_migrate_to_the_same_url_is_refused(sqlite_kmsg: Kmsg) -> None:
    done = sqlite_kmsg.run("migrate", sqlite_kmsg.url, sqlite_kmsg.url)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
