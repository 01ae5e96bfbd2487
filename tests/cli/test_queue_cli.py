"""``kmsg`` global behaviour, info, health, ``queue`` and ``dlq``, run as a real subprocess."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmsg import JobQueue, JobState, __version__
from tests.cli.conftest import Kmsg, Ping


def seed(kmsg: Kmsg, *, pending: int = 0, dead: int = 0, completed: int = 0) -> list[str]:
    """Put jobs in the test's queue; return the dead letters' ids, oldest first."""

    async def body(queue: JobQueue) -> list[str]:
        name = kmsg.queue
        for n in range(pending):
            await queue.enqueue(Ping(n), queue=name)
        dead_ids: list[str] = []
        for n in range(dead + completed):
            job_id = await queue.enqueue(Ping(1000 + n), queue=name, priority=1000)
            [claimed] = await queue.claim(name)
            assert claimed.job.id == job_id
            if n < dead:
                await queue.fail(claimed.lease, ValueError(f"bad {n}"), retryable=False)
                dead_ids.append(job_id)
            else:
                await queue.complete(claimed.lease)
        return dead_ids

    ids: list[str] = kmsg.with_queue(body)
    return ids


def stats_of(kmsg: Kmsg) -> dict[str, Any]:
    """The ``queue stats --json`` record of the test's queue."""
    [record] = kmsg.json("queue", "stats", "-q", kmsg.queue)
    assert record["queue"] == kmsg.queue
    return dict(record)


def test_help_version_and_exit_codes_epilog(sqlite_kmsg: Kmsg) -> None:
    done = sqlite_kmsg.ok("--help")
    assert "Exit codes" in done.stdout
    assert "K_MSG_QUEUE_URL" in done.stdout
    for command in ("queue", "dlq", "migrate", "info", "health"):
        assert command in done.stdout
    assert sqlite_kmsg.ok("--version").stdout.strip().endswith(__version__)
    assert "rate-limit" in sqlite_kmsg.ok("queue", "--help").stdout


def test_info_and_health(kmsg: Kmsg) -> None:
    seed(kmsg, pending=3, dead=1)
    info = kmsg.json("info")
    assert info["version"] == __version__
    assert info["backend"] in ("sqlite", "redis")
    [record] = [q for q in info["queues"] if q["queue"] == kmsg.queue]
    assert (record["pending"], record["failed"], record["total"]) == (3, 1, 4)
    assert kmsg.queue in kmsg.ok("info").stdout
    health = kmsg.json("health")
    assert health["ok"] is True
    assert [check["name"] for check in health["checks"]] == ["backend", "provider"]


def test_queue_list_inspect_pause_rate_limit(kmsg: Kmsg) -> None:
    seed(kmsg, pending=3)
    jobs = kmsg.json("queue", "list", "-q", kmsg.queue, "--state", "pending")
    assert [job["payload"] for job in jobs] == [{"n": 0}, {"n": 1}, {"n": 2}]
    job = kmsg.json("queue", "inspect", jobs[0]["id"], "-q", kmsg.queue)
    assert (job["id"], job["state"], job["task"]) == (jobs[0]["id"], "pending", "Ping")

    kmsg.ok("queue", "pause", "-q", kmsg.queue)
    kmsg.ok("queue", "rate-limit", "5", "--per", "2s", "-q", kmsg.queue)
    stats = stats_of(kmsg)
    assert stats["paused"] is True
    assert stats["rate_limit"] == {"max_jobs": 5, "per_seconds": 2.0}
    assert kmsg.with_queue(lambda q: q.claim(kmsg.queue)) == []

    kmsg.ok("queue", "resume", "-q", kmsg.queue)
    kmsg.ok("queue", "rate-limit", "--off", "-q", kmsg.queue)
    stats = stats_of(kmsg)
    assert (stats["paused"], stats["rate_limit"], stats["pending"]) == (False, None, 3)


def test_queue_cleanup_asks_first_and_keeps_pending_work(kmsg: Kmsg) -> None:
    seed(kmsg, pending=2, completed=2)
    declined = kmsg.run("queue", "cleanup", "-q", kmsg.queue, "--older-than", "0", input="n\n")
    assert declined.returncode == 1
    assert stats_of(kmsg)["completed"] == 2
    result = kmsg.json("queue", "cleanup", "-q", kmsg.queue, "--older-than", "0", "--yes")
    assert result["deleted"] == 2
    stats = stats_of(kmsg)
    assert (stats["completed"], stats["pending"]) == (0, 2)


def test_dlq_list_filter_inspect_retry_purge(kmsg: Kmsg) -> None:
    dead = seed(kmsg, dead=3)
    listed = kmsg.json("dlq", "list", "-q", kmsg.queue)
    assert sorted(job["id"] for job in listed) == sorted(dead)
    assert kmsg.json("dlq", "list", "-q", kmsg.queue, "--error-type", "KeyError") == []
    assert len(kmsg.json("dlq", "list", "-q", kmsg.queue, "--error-type", "ValueError")) == 3

    job = kmsg.json("dlq", "inspect", dead[0], "-q", kmsg.queue)
    assert job["errors"][0]["type"] == "ValueError"

    assert kmsg.json("dlq", "retry", dead[0], "-q", kmsg.queue, "--yes")["retried"] == 1
    retried = kmsg.with_queue(lambda q: q.get(kmsg.queue, dead[0]))
    assert (retried.state, retried.attempts) == (JobState.PENDING, 0)

    declined = kmsg.run("dlq", "purge", "--all", "-q", kmsg.queue, input="n\n")
    assert declined.returncode == 1
    assert kmsg.json("dlq", "purge", "--all", "-q", kmsg.queue, "--yes")["purged"] == 2
    stats = stats_of(kmsg)
    assert (stats["failed"], stats["pending"]) == (0, 1)


def test_dlq_retry_says_what_it_skipped_and_exits_1(kmsg: Kmsg) -> None:
    [dead] = seed(kmsg, dead=1)
    missing = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    done = kmsg.run("dlq", "retry", dead, missing, "-q", kmsg.queue, "--yes")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "retried 1" in done.stdout
    assert f"{missing}: no such job" in done.stdout
    again = kmsg.run("--json", "dlq", "retry", dead, "-q", kmsg.queue, "--yes")
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert (report["retried"], report["skipped"]) == (0, 1)
    assert report["skips"] == [{"job_id": dead, "reason": "not_dead", "holder": None}]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("dlq", "retry", "-q", "x", "--yes"), 2),  # nothing selected
        (("queue", "inspect", "01HZZZZZZZZZZZZZZZZZZZZZZZ"), 3),  # unknown job id
        (("queue", "stats", "-q", "bad queue name!"), 2),  # invalid name
        (("queue", "cleanup", "--older-than", "soon", "--yes"), 2),  # bad duration
        (("no-such-command",), 2),
    ],
)
def test_user_mistakes_exit_non_zero_without_traceback(
    sqlite_kmsg: Kmsg, args: tuple[str, ...], code: int
) -> None:
    done = sqlite_kmsg.run(*args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("postgres://localhost/db", 2),  # unsupported scheme
        ("redis://127.0.0.1:1/0", 4),  # nothing listens on port 1
    ],
)
def test_bad_queue_url_is_one_line(sqlite_kmsg: Kmsg, url: str, code: int) -> None:
    done = sqlite_kmsg.run("info", url=url)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    health = sqlite_kmsg.run("health", url=url)
    assert health.returncode == code


def test_verbose_shows_the_traceback(sqlite_kmsg: Kmsg) -> None:
    done = sqlite_kmsg.run("--verbose", "queue", "inspect", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert done.returncode == 3
    assert "Traceback" in done.stderr


def test_inspect_shows_a_jobs_progress(kmsg: Kmsg) -> None:
    async def body(queue: JobQueue) -> str:
        job_id = await queue.enqueue(Ping(1), queue=kmsg.queue)
        [claimed] = await queue.claim(kmsg.queue)
        await queue.extend(claimed.lease, 30.0, progress=b'{"sent": 3, "total": 7}')
        return job_id

    job_id = kmsg.with_queue(body)
    assert kmsg.json("queue", "inspect", job_id, "-q", kmsg.queue)["progress"] == {
        "sent": 3,
        "total": 7,
    }
    shown = kmsg.ok("queue", "inspect", job_id, "-q", kmsg.queue).stdout
    assert "progress" in shown
    assert '"sent": 3' in shown or '"sent":3' in shown
