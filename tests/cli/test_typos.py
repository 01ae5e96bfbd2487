"""Typos in names and URLs are said out loud (issue 13, point 5): an unknown queue is warned
about, a queue is not created by pausing it, and a migration never creates its source."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from kmsg import BackendUnavailable, open_queue
from tests.cli.conftest import Kmsg


def test_unknown_queue_is_warned_about_or_refused(kmsg: Kmsg) -> None:
    kmsg.ok("send", "--to", "010-1234-5678", "--text", "hi", "-q", kmsg.queue)
    typo = f"{kmsg.queue}x"
    for args in (("queue", "stats"), ("queue", "list"), ("dlq", "list")):
        done = kmsg.ok(*args, "-q", typo)
        assert f"warning: queue '{typo}' has never been seen" in done.stderr, args
        assert kmsg.queue in done.stderr  # names the queues that exist
    assert "warning" not in kmsg.ok("queue", "stats", "-q", kmsg.queue).stderr

    refused = kmsg.run("queue", "pause", "-q", typo)
    assert refused.returncode == 3, refused.stderr
    assert "--create" in refused.stderr
    assert typo not in kmsg.with_queue(lambda queue: queue.queues())
    kmsg.ok("queue", "pause", "-q", typo, "--create")
    assert typo in kmsg.with_queue(lambda queue: queue.queues())

    worker = kmsg.ok("worker", "--burst", "-q", f"{typo}y")
    assert "has never been seen" in worker.stderr


def test_migrate_never_creates_its_source(sqlite_kmsg: Kmsg, tmp_path: Path) -> None:
    missing = tmp_path / "doesnotexist.db"
    done = sqlite_kmsg.run("migrate", f"sqlite:///{missing}", sqlite_kmsg.url)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "no sqlite database" in done.stderr
    assert "Migrated" not in done.stdout
    assert not missing.exists()


def test_sqlite_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"

    async def body() -> None:
        async with open_queue(f"sqlite:///{missing}?create=false"):
            pass

    with pytest.raises(BackendUnavailable, match="no sqlite database"):
        anyio.run(body)
    assert not missing.exists()
