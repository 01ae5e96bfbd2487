"""``kmsg send``, ``test-send``, ``worker``, ``templates`` and ``demo`` with the mock provider."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Kmsg

_PHONE = "010-1234-5678"


def _stop(worker: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM the worker and return its exit code and stderr (it must stop gracefully)."""
    worker.send_signal(signal.SIGTERM)
    try:
        _, stderr = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise
    return worker.returncode, stderr


def test_send_is_delivered_by_a_running_worker(kmsg: Kmsg) -> None:
    worker = kmsg.spawn("worker", "-q", kmsg.queue, "--processes", "2")
    try:
        job = kmsg.json("send", "--to", _PHONE, "--text", "hello", "-q", kmsg.queue, "--wait")
        assert job["state"] == "completed"
        assert job["result"]["provider"] == "mock"
        assert job["result"]["to"] == "01012345678"
        assert job["payload"]["message"] == {
            "type": "SMS",
            "to": "01012345678",
            "text": "hello",
            "sender": None,
        }

        test = kmsg.json("test-send", "--to", _PHONE, "-q", kmsg.queue, "--wait")
        assert (test["state"], test["task"]) == ("completed", "send_message")
    finally:
        code, stderr = _stop(worker)
    assert code == 0, stderr
    assert "worker stopped" in stderr


def test_dead_letter_retried_after_fix_then_completed(kmsg: Kmsg) -> None:
    queued = kmsg.json(
        "send",
        "--type",
        "alimtalk",
        "--to",
        _PHONE,
        "--template",
        "WELCOME",
        "--var",
        "name=Kim",
        "--no-template-check",  # a missing template is refused at enqueue otherwise
        "-q",
        kmsg.queue,
    )
    kmsg.ok("worker", "--burst", "-q", kmsg.queue)
    [dead] = kmsg.json("dlq", "list", "-q", kmsg.queue)
    assert dead["id"] == queued["job_id"]
    assert "TEMPLATE_NOT_FOUND" in dead["errors"][-1]["message"]

    kmsg.ok("templates", "create", "WELCOME", "--name", "welcome", "--content", "Hi #{name}")
    assert kmsg.json("dlq", "retry", "--all", "--yes", "-q", kmsg.queue)["retried"] == 1
    kmsg.ok("worker", "--burst", "-q", kmsg.queue)
    job = kmsg.json("queue", "inspect", queued["job_id"], "-q", kmsg.queue)
    assert job["state"] == "completed"
    assert job["result"]["provider"] == "mock"
    assert len(job["errors"]) == 1  # the history of the dead attempt is kept


def test_templates_crud_persists_between_runs(sqlite_kmsg: Kmsg) -> None:
    sqlite_kmsg.ok("templates", "create", "OTP", "--name", "otp", "--content", "Code #{code}")
    [got] = sqlite_kmsg.json("templates", "get", "OTP")
    assert (got["content"], got["status"], got["variables"]) == (
        "Code #{code}",
        "approved",
        ["code"],
    )
    sqlite_kmsg.ok("templates", "update", "OTP", "--status", "rejected")
    [listed] = sqlite_kmsg.json("templates", "list", "--status", "rejected")
    assert (listed["code"], listed["created_at"]) == ("OTP", got["created_at"])
    assert sqlite_kmsg.json("templates", "delete", "OTP", "--yes") == {"deleted": "OTP"}
    missing = sqlite_kmsg.run("templates", "get", "OTP")
    assert missing.returncode == 3
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("phone", ["12345", "+1 415 555 0100", "02-123-4567"])
def test_invalid_phone_number_is_refused_before_enqueue(sqlite_kmsg: Kmsg, phone: str) -> None:
    done = sqlite_kmsg.run("send", "--to", phone, "--text", "hi")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "phone" in done.stderr.lower()
    assert sqlite_kmsg.json("queue", "stats") == []


def test_demo_small_batch_adds_up(sqlite_kmsg: Kmsg) -> None:
    report = sqlite_kmsg.json("demo", "--count", "120", default_url=True)
    total = report["total"]
    assert total["enqueued"] + total["refused_at_enqueue"] == 120
    assert total["sent"] + total["dead_lettered"] == total["enqueued"]
    assert total["refused_at_enqueue"] > 0  # invalid numbers are refused at enqueue
    assert total["dead_lettered"] > 0  # and unknown templates dead-lettered by the provider
    assert report["queue_url"] == "sqlite:///kmsg-demo.db"
    assert (Path(sqlite_kmsg.cwd) / "kmsg-demo.db").exists()
