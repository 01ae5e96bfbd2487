"""Every command and flag combination the README's command-line section shows, end to end.

Each test runs the real ``kmsg`` in subprocesses (issue 13, point 1: ``kmsg test-send`` without
``--wait`` failed with a TypeError and nothing covered it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kmsg import JobQueue
from tests.cli.conftest import Kmsg, Ping, sqlite_url

_PHONE = "010-1234-5678"


def test_test_send_without_wait_queues_a_test_sms(kmsg: Kmsg) -> None:
    done = kmsg.ok("test-send", "--to", _PHONE, "-q", kmsg.queue)
    assert done.stdout.startswith("queued "), done.stdout
    assert "Traceback" not in done.stderr
    queued = kmsg.json("test-send", "--to", _PHONE, "-q", kmsg.queue, "--priority", "high")
    assert (queued["queue"], queued["to"]) == (kmsg.queue, "01012345678")
    delayed = kmsg.json("test-send", "--to", _PHONE, "-q", kmsg.queue, "--delay", "1h")
    [pending, later] = [
        kmsg.json("queue", "list", "-q", kmsg.queue, "-s", state)
        for state in ("pending", "delayed")
    ]
    assert len(pending) == 2
    assert [job["id"] for job in later] == [delayed["job_id"]]
    assert later[0]["payload"]["message"]["text"].startswith("[kmsg] test message")
    assert later[0]["task"] == "send_scheduled_message"


def test_send_every_type_and_option_then_burst_worker(kmsg: Kmsg) -> None:
    kmsg.ok("templates", "create", "WELCOME", "--name", "welcome", "--content", "Hi #{name}")
    q = ("-q", kmsg.queue)
    sends = [
        ("send", "--to", _PHONE, "--text", "인증번호 123456"),
        ("send", "--type", "lms", "--to", _PHONE, "--text", "long", "--subject", "S"),
        ("send", "--type", "mms", "--to", _PHONE, "--text", "pic", "--image", "IMG1"),
        (
            "send",
            "--type",
            "friendtalk",
            "--to",
            _PHONE,
            "--text",
            "ft",
            "--image-url",
            "https://x",
        ),
        (
            "send",
            "--type",
            "alimtalk",
            "--to",
            _PHONE,
            "--template",
            "WELCOME",
            "--var",
            "name=Kim",
        ),
        ("send", "--to", _PHONE, "--text", "low", "--priority", "low", "--sender", "0212345678"),
    ]
    ids = [kmsg.json(*args, *q)["job_id"] for args in sends]
    outcome = kmsg.json("worker", "--burst", "-c", "4", "--lease", "10s", "--grace", "1s", *q)
    assert (outcome["outcomes"]["completed"], outcome["outcomes"].get("dead", 0)) == (6, 0)
    for job_id in ids:
        assert kmsg.json("queue", "inspect", job_id, *q)["state"] == "completed"
    # --wait --timeout without a worker: still pending when the wait ends, exit 1 and a hint
    waited = kmsg.run("send", "--to", _PHONE, "--text", "x", "--wait", "--timeout", "0.3s", *q)
    assert waited.returncode == 1
    assert "is a worker running" in waited.stderr


def test_worker_processes_and_job_timeout_options(kmsg: Kmsg) -> None:
    for n in range(4):
        kmsg.ok("send", "--to", _PHONE, "--text", f"m{n}", "-q", kmsg.queue)
    done = kmsg.run(
        "--json",
        "worker",
        "-q",
        kmsg.queue,
        "-p",
        "2",
        "-c",
        "2",
        "--job-timeout",
        "30s",
        "--burst",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["processes"] == 2
    assert report["outcomes"]["completed"] == 4
    assert "job timeout 30s" in done.stderr


def test_info_health_queue_and_dlq_commands_as_documented(kmsg: Kmsg) -> None:
    q = ("-q", kmsg.queue)
    kmsg.ok("send", "--to", _PHONE, "--text", "a", *q)
    kmsg.ok(
        "send",
        "--type",
        "alimtalk",
        "--to",
        _PHONE,
        "--template",
        "GONE",
        "--no-template-check",
        *q,
    )
    kmsg.ok("worker", "--burst", *q)
    assert kmsg.queue in kmsg.ok("info").stdout
    assert kmsg.json("health")["ok"] is True
    assert kmsg.queue in kmsg.ok("queue", "stats", *q).stdout
    assert "completed" in kmsg.ok("queue", "list", *q, "-s", "completed", "-n", "5").stdout
    kmsg.ok("queue", "pause", *q)
    kmsg.ok("queue", "resume", *q)
    kmsg.ok("queue", "rate-limit", "10", "--per", "1s", *q)
    kmsg.ok("queue", "rate-limit", "--off", *q)
    [dead] = kmsg.json("dlq", "list", *q, "--error-type", "NonRetryable", "-n", "10")
    assert "TEMPLATE_NOT_FOUND" in kmsg.ok("dlq", "inspect", dead["id"], *q).stdout
    assert kmsg.json("dlq", "list", *q, "--task", "send_message", "--older-than", "1h") == []
    other = f"{kmsg.queue}-2"
    moved = kmsg.json("dlq", "retry", dead["id"], *q, "--to-queue", other, "--yes")
    assert moved["retried"] == 1
    assert kmsg.json("queue", "stats", "-q", other)[0]["pending"] == 1
    assert kmsg.json("dlq", "purge", "--all", *q, "--yes")["purged"] == 0
    deleted = kmsg.json("queue", "cleanup", *q, "-s", "completed", "--older-than", "0", "--yes")
    assert deleted["deleted"] == 1


def test_migrate_with_queue_option(sqlite_kmsg: Kmsg, tmp_path: Path) -> None:
    async def seed(queue: JobQueue) -> None:
        for n in range(3):
            await queue.enqueue(Ping(n), queue="a")
        await queue.enqueue(Ping(9), queue="b")

    sqlite_kmsg.with_queue(seed)
    target = sqlite_url(tmp_path, "copy.db")
    started = time.perf_counter()
    [report] = sqlite_kmsg.json("migrate", sqlite_kmsg.url, target, "-q", "a")
    assert (report["queue"], report["imported"], report["missing"]) == ("a", 3, 0)
    assert time.perf_counter() - started < 30
