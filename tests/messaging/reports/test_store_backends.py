"""Backend-only checks of the delivery store: where it keeps its data on SQLite and Redis."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmsg import open_queue
from kmsg.adapters.redis.delivery_store import RedisDeliveryStore, script_source
from kmsg.adapters.sqlite.statements import migrations
from kmsg.messaging import DeliveryState, Sms
from kmsg.messaging.processor import SendMessageJob
from kmsg.messaging.reports import DeliveryRecord, open_delivery_store
from tests.redis_servers import delete_prefix, shared_redis_url

pytestmark = pytest.mark.anyio

RECORD = DeliveryRecord(
    provider="nhn", message_id="m-1", state=DeliveryState.SENT, reported_at=1.0, job_id="job-1"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_sqlite_keeps_reports_in_the_queue_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kmsg.db'}"
    async with open_delivery_store(url, queue="sms") as store:  # the store opens a new file first
        await store.upsert(RECORD)
    async with open_queue(url) as queue:
        await queue.enqueue(SendMessageJob(message=Sms(to="010-1234-5678", text="hi")), queue="sms")
    with sqlite3.connect(tmp_path / "kmsg.db") as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
        rows = raw.execute("SELECT queue, provider, message_id, state FROM delivery_reports")
        assert rows.fetchall() == [("sms", "nhn", "m-1", "sent")]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_refuses_a_file_that_is_not_kmsgs(tmp_path: Path) -> None:
    from kmsg import BackendUnavailable

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE mine (x)")
    with pytest.raises(BackendUnavailable):
        await open_delivery_store(f"sqlite:///{path}")


async def test_redis_keys_share_the_queues_hash_tag() -> None:
    import redis.asyncio

    url = shared_redis_url()
    prefix = "kmsg-test-dlr-layout"
    try:
        async with open_delivery_store(url, queue="sms", key_prefix=prefix) as store:
            assert isinstance(store, RedisDeliveryStore)
            await store.upsert(RECORD)
            client = redis.asyncio.Redis.from_url(url)
            try:
                keys = sorted([key.decode() async for key in client.scan_iter(match=f"{prefix}:*")])
            finally:
                await client.aclose()
        assert keys == [
            f"{prefix}:{{sms}}:delivery",
            f"{prefix}:{{sms}}:delivery:age",
            f"{prefix}:{{sms}}:delivery:jobs",
            f"{prefix}:{{sms}}:delivery:messages",
        ]
    finally:
        delete_prefix(url, prefix)


def test_scripts_open_with_their_flags_line() -> None:
    assert script_source("upsert").startswith("#!lua\n")
    assert script_source("cleanup").startswith("#!lua flags=allow-oom\n")
    assert "local function drop(field)" in script_source("cleanup")
