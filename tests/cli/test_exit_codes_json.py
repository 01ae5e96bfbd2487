"""Exit codes and ``--json`` as documented; global options before or after the command; Redis
URLs checked by the library itself (issue 13, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from kmsg import ValidationError, open_queue
from tests.cli.conftest import Kmsg, redis_available, sqlite_url

BAD_URLS = {
    "redis://localhost:abc/0": "bad port",
    "redis://localhost:99999/0": "bad port",
    "redis://localhost:6379/x": "must be a number",
    "redis+cluster://localhost:6379/2": "only database 0",
}


@pytest.mark.parametrize("url", list(BAD_URLS))
def test_library_refuses_malformed_redis_urls_before_connecting(url: str) -> None:
    async def body() -> None:
        async with open_queue(url):
            pass

    with pytest.raises(ValidationError, match=BAD_URLS[url]):
        anyio.run(body)


@pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379")
def test_database_out_of_range_is_a_clear_validation_error(sqlite_kmsg: Kmsg) -> None:
    async def body() -> None:
        async with open_queue("redis://127.0.0.1:6379/99"):
            pass

    with pytest.raises(ValidationError, match="has no database 99"):
        anyio.run(body)
    done = sqlite_kmsg.run("queue", "stats", url="redis://127.0.0.1:6379/99")
    assert done.returncode == 2, done.stderr
    assert "has no database 99" in done.stderr
    assert "unexpected" not in done.stderr


@pytest.mark.parametrize("url", ["redis://localhost:abc/0", "redis://localhost:6379/x"])
def test_malformed_url_exits_2_with_one_line(sqlite_kmsg: Kmsg, url: str) -> None:
    done = sqlite_kmsg.run("info", url=url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "unexpected" not in done.stderr


def test_json_for_settings_and_worker_and_globals_after_the_command(
    sqlite_kmsg: Kmsg, tmp_path: Path
) -> None:
    sqlite_kmsg.ok("send", "--to", "010-1234-5678", "--text", "hi", "-q", "x")
    paused = sqlite_kmsg.json("queue", "pause", "-q", "x")
    assert paused == {"queue": "x", "paused": True, "rate_limit": None}
    limited = sqlite_kmsg.json("queue", "rate-limit", "5", "--per", "2s", "-q", "x")
    assert limited["rate_limit"] == {"max_jobs": 5, "per_seconds": 2.0}
    assert sqlite_kmsg.json("queue", "resume", "-q", "x")["paused"] is False
    worker = sqlite_kmsg.json("worker", "--burst", "-q", "x")
    assert worker["outcomes"]["completed"] == 1
    # global options after the subcommand (and after a group's subcommand)
    empty = sqlite_url(tmp_path, "empty.db")
    after = sqlite_kmsg.ok("queue", "stats", "--json", "--queue-url", empty, default_url=True)
    assert json.loads(after.stdout) == []
    moved = sqlite_kmsg.ok(
        "queue", "stats", "--queue-url", sqlite_kmsg.url, "--json", default_url=True
    )
    assert [row["queue"] for row in json.loads(moved.stdout)] == ["x"]
    verbose = sqlite_kmsg.run("queue", "inspect", "01HZZZZZZZZZZZZZZZZZZZZZZZ", "-q", "x", "-v")
    assert verbose.returncode == 3
    assert "Traceback" in verbose.stderr
    assert sqlite_kmsg.ok("worker", "-v", "--burst", "-q", "x").returncode == 0
