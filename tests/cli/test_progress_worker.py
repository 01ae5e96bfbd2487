"""Long work shows progress, repeated errors are summarised, shutdown and confirmations say what
they do, worker options and the ``-p`` supervisor, ``send`` checks (issue 13, point 6)."""

from __future__ import annotations

import logging
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from kmsg import JobQueue, NewJob
from kmsg.cli.logs import RepeatLimiter
from kmsg.cli.output import human_duration
from kmsg.messaging.models import AlimTalk
from kmsg.messaging.processor import SendMessageJob
from tests.cli.conftest import Kmsg, Ping, sqlite_url

_PHONE = "010-1234-5678"


def _record(n: int) -> logging.LogRecord:
    return logging.LogRecord("kmsg.worker", logging.ERROR, "f", 1, "job %s dead", (n,), None)


def test_repeat_limiter_prints_a_few_then_a_summary_per_window() -> None:
    now = [0.0]
    limiter = RepeatLimiter(first=3, every=10.0, clock=lambda: now[0])
    records = [_record(n) for n in range(100)]
    printed = [r for r in records if limiter.filter(r)]
    assert [r.getMessage() for r in printed[:2]] == ["job 0 dead", "job 1 dead"]
    assert "one every 10s" in printed[2].getMessage()
    assert len(printed) == 3
    now[0] = 11.0
    late = _record(100)
    assert limiter.filter(late)
    assert "and 97 more like this in 11s" in late.getMessage()
    assert not limiter.filter(_record(101))
    assert limiter.flush() == ["1 more like 'job %s dead' (ERROR, kmsg.worker)"]
    info = logging.LogRecord("x", logging.INFO, "f", 1, "same", None, None)
    assert all(limiter.filter(info) for _ in range(10))  # INFO is never limited


def test_human_durations() -> None:
    assert [human_duration(s) for s in (0.5, 45, 90, 5400, 604800, 90000)] == [
        "0.5s",
        "45s",
        "1m30s",
        "1h30m",
        "7d",
        "1d1h",
    ]


def _dead_alimtalks(kmsg: Kmsg, count: int) -> None:
    async def body(queue: JobQueue) -> None:
        message = AlimTalk(to=_PHONE, template_code="GONE", variables={})
        for _ in range(count):
            await queue.enqueue(SendMessageJob(message=message), queue=kmsg.queue)

    kmsg.with_queue(body)


def test_repeated_dead_letters_are_summarised_and_confirmations_count(sqlite_kmsg: Kmsg) -> None:
    kmsg = sqlite_kmsg
    _dead_alimtalks(kmsg, 40)
    done = kmsg.ok("worker", "--burst", "-q", kmsg.queue, "-c", "20")
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) <= 7, done.stderr  # 5 in full, then one per 10 s, not 40
    assert "more like" in done.stderr
    assert "dead 40" in done.stderr

    declined = kmsg.run("dlq", "retry", "--all", "-q", kmsg.queue, input="n\n")
    assert declined.returncode == 1
    assert f"Retry 40 dead letters of queue {kmsg.queue}?" in declined.stderr
    filtered = kmsg.run(
        "dlq", "purge", "-q", kmsg.queue, "--older-than", "7d", "--task", "send_message"
    )
    assert filtered.returncode == 0
    assert "Delete" not in filtered.stderr  # none that old: nothing to ask
    cleanup = kmsg.run("queue", "cleanup", "-q", kmsg.queue, "-s", "failed", input="n\n")
    assert "Delete up to 40 failed jobs" in cleanup.stderr
    assert "more than 7d ago" in cleanup.stderr


def test_send_checks_options_and_templates(sqlite_kmsg: Kmsg) -> None:
    kmsg = sqlite_kmsg
    subject = kmsg.run("send", "--to", _PHONE, "--text", "hi", "--subject", "S")
    assert subject.returncode == 2
    assert "--subject is for lms, mms" in subject.stderr
    alim = ("send", "--type", "alimtalk", "--to", _PHONE, "--template")
    assert kmsg.run(*alim, "NOPE").returncode == 3
    kmsg.ok("templates", "create", "OTP", "--name", "otp", "--content", "Code #{code}")
    missing = kmsg.run(*alim, "OTP")
    assert missing.returncode == 2
    assert "#{code}" in missing.stderr
    kmsg.ok("templates", "update", "OTP", "--status", "pending")
    assert "not approved" in kmsg.run(*alim, "OTP", "--var", "code=1").stderr
    assert kmsg.json("queue", "stats") == []  # nothing was enqueued


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_shutdown_is_announced_and_children_die_with_the_supervisor(sqlite_kmsg: Kmsg) -> None:
    single = sqlite_kmsg.spawn("worker", "--grace", "2s")
    assert single.stderr is not None
    while "worker on" not in single.stderr.readline():  # printed once signals are handled
        pass
    single.send_signal(signal.SIGTERM)
    _, stderr = single.communicate(timeout=30)
    assert "SIGTERM: stopping" in stderr, stderr
    assert "up to 2s" in stderr

    supervisor = sqlite_kmsg.spawn("worker", "-p", "2")
    deadline = time.monotonic() + 20
    while len(children := _children_of(supervisor.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) == 2
    supervisor.kill()
    supervisor.communicate(timeout=10)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _run_on_a_tty(kmsg: Kmsg, *args: str) -> str:
    """Run ``kmsg ARGS`` with stderr on a pseudo-terminal; return what it drew there."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "kmsg", "--queue-url", kmsg.url, *args]
    process = subprocess.Popen(
        command, cwd=kmsg.cwd, env=kmsg.env, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    process.wait(timeout=30)
    os.close(leader)
    return drawn.decode(errors="replace")


def test_progress_and_status_line_on_a_terminal_only(sqlite_kmsg: Kmsg, tmp_path: Path) -> None:
    async def seed(queue: JobQueue) -> None:
        await queue.enqueue_many(
            [NewJob(payload=Ping(n), queue=sqlite_kmsg.queue) for n in range(3000)]
        )

    sqlite_kmsg.with_queue(seed)
    drawn = _run_on_a_tty(sqlite_kmsg, "migrate", sqlite_kmsg.url, sqlite_url(tmp_path, "b.db"))
    assert "migrating 1 queues" in drawn, drawn
    assert "3000/3000" in drawn
    piped = sqlite_kmsg.run("migrate", sqlite_kmsg.url, sqlite_url(tmp_path, "c.db"))
    assert "migrating" not in piped.stderr
    _dead_alimtalks(sqlite_kmsg, 5)
    drawn = _run_on_a_tty(sqlite_kmsg, "worker", "--burst", "-q", sqlite_kmsg.queue)
    assert "jobs/s" in drawn or "worker stopped" in drawn, drawn
