"""``kmsg status``: the real command in a subprocess, on SQLite and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from kmsg import open_queue
from kmsg.messaging import DeliveryState, SendMessageJob, SendResult, Sms
from kmsg.messaging.reports import DeliveryRecord, open_delivery_store
from tests.cli.conftest import BACKEND_PARAMS, private_redis_url

QUEUE = "sms"


@pytest.fixture(params=BACKEND_PARAMS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kmsg.db'}"
        return
    with private_redis_url() as redis_url:
        yield redis_url


def kmsg(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("K_MSG_")}
    env["COLUMNS"] = "200"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[3]), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "kmsg", "--queue-url", url, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def seed(url: str, *, error: str | None = None, record: DeliveryRecord | None = None) -> str:
    """A send job of queue ``sms`` (completed with a SendResult, or failed with ``error``)."""

    async def body() -> str:
        async with open_queue(url) as queue:
            job_id = await queue.enqueue(
                SendMessageJob(message=Sms(to="010-1234-5678", text="hi")), queue=QUEUE
            )
            [claimed] = await queue.claim(QUEUE)
            if error is not None:
                await queue.fail(claimed.lease, error, retryable=False)
            else:
                sent = SendResult(
                    message_id="req-1", provider="nhn", to="01012345678", accepted_at=1.0
                )
                await queue.complete(claimed.lease, result=msgspec.json.encode(sent))
        if record is not None:
            async with open_delivery_store(url, queue=QUEUE) as store:
                await store.upsert(record)
        return job_id

    return anyio.run(body)


def delivered(**fields: Any) -> DeliveryRecord:
    return DeliveryRecord(
        **{
            "provider": "nhn",
            "message_id": "req-1",
            "state": DeliveryState.DELIVERED,
            "reported_at": 1_700_000_000.0,
            **fields,
        }
    )


def test_status_by_job_id_shows_the_report(url: str, tmp_path: Path) -> None:
    job_id = seed(url, record=delivered())
    done = kmsg(url, "status", job_id, "-q", QUEUE, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["state"] == "delivered"
    assert (data["job"]["id"], data["job"]["state"]) == (job_id, "completed")
    assert data["delivery"]["message_id"] == "req-1"
    assert data["result"]["provider"] == "nhn"

    text = kmsg(url, "status", job_id, "-q", QUEUE, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "delivered" in text.stdout
    assert "req-1" in text.stdout


def test_status_by_message_id(url: str, tmp_path: Path) -> None:
    seed(url, record=delivered(state=DeliveryState.FAILED, error_code="3015", job_id="send-9"))
    for extra in ((), ("--provider", "nhn")):
        done = kmsg(url, "--json", "status", "req-1", "-q", QUEUE, *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert (data["state"], data["job"]) == ("failed", None)
        assert data["delivery"]["error_code"] == "3015"
    text = kmsg(url, "status", "req-1", "-q", QUEUE, cwd=tmp_path).stdout
    assert "3015" in text
    assert "send-9" in text


def test_a_job_without_a_report_shows_the_state_it_implies(url: str, tmp_path: Path) -> None:
    job_id = seed(url)
    data = json.loads(kmsg(url, "status", job_id, "-q", QUEUE, "--json", cwd=tmp_path).stdout)
    assert (data["state"], data["delivery"]) == ("sent", None)
    assert "none yet" in kmsg(url, "status", job_id, "-q", QUEUE, cwd=tmp_path).stdout


def test_stored_text_is_shown_escaped(url: str, tmp_path: Path) -> None:
    job_id = seed(url, error="gateway said \x1b[31mred\x1b[0m\r")
    done = kmsg(url, "status", job_id, "-q", QUEUE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "\r" not in done.stdout
    assert "\\x1b[31mred" in done.stdout
    assert "failed" in done.stdout


def test_an_unknown_id_exits_3(url: str, tmp_path: Path) -> None:
    for some_id in ("no-such-job", "has spaces/and slashes", f"x{uuid.uuid4().hex}"):
        done = kmsg(url, "status", some_id, "-q", QUEUE, cwd=tmp_path)
        assert done.returncode == 3, (done.stdout, done.stderr)
        assert "no job or delivery report" in done.stderr
