"""Redis adapter: URLs and options, TLS config, hidden passwords, trio, errors, push wake-up."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection

from kmsg import (
    BackendUnavailable,
    ValidationError,
    open_queue,
)
from kmsg.adapters.redis.connection import parse_settings
from kmsg.adapters.redis.keys import QueueKeys
from tests.adapters.redis.conftest import Note
from tests.backends import Store
from tests.redis_servers import RedisServer, free_port

pytestmark = pytest.mark.anyio

PASSWORD = "Sup3r-s3cret-pw"


@pytest.fixture
def anyio_backend() -> str:
    """redis-py is asyncio-only (the trio test asks for trio itself)."""
    return "asyncio"


@pytest.fixture
def password_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server that requires a password."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    started = RedisServer(tmp_path, config=["--requirepass", PASSWORD]).start()
    yield started
    started.stop()


def test_rediss_url_builds_a_tls_connection() -> None:
    client = parse_settings("rediss://user:pw@example.invalid:6380/2", {}).client()
    assert isinstance(client, Redis)
    assert client.connection_pool.connection_class is SSLConnection
    assert client.connection_pool.connection_kwargs["db"] == 2
    plain = parse_settings("redis://example.invalid:6379/0", {}).client()
    assert isinstance(plain, Redis)
    assert plain.connection_pool.connection_class is Connection


def test_cluster_urls_build_cluster_clients() -> None:
    client = parse_settings("rediss+cluster://example.invalid:7000", {}).client()
    assert isinstance(client, RedisCluster)
    assert client.connection_kwargs["connection_class"] is SSLConnection
    with pytest.raises(ValidationError, match="database 0"):
        parse_settings("redis+cluster://example.invalid:7000/3", {})


def test_options_from_query_and_keywords() -> None:
    settings = parse_settings("redis://h:1/0?key_prefix=app1&socket_timeout=2.5", {})
    assert (settings.key_prefix, settings.socket_timeout) == ("app1", 2.5)
    settings = parse_settings("redis://h:1/0?key_prefix=app1", {"key_prefix": "app2"})
    assert settings.key_prefix == "app2"
    assert parse_settings("redis://h:1/0", {"max_payload_bytes": 10}).max_payload_bytes == 10


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("redis://h:1/0?nosuch=1", {}),
        ("redis://h:1/0", {"nosuch": 1}),
        ("redis://h:1/0", {"key_prefix": "bad{tag}"}),
        ("redis://h:1/0", {"socket_timeout": "soon"}),
        ("redis://h:1/0", {"max_payload_bytes": 0}),
    ],
)
def test_bad_options_are_refused(url: str, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_settings(url, options)


async def test_password_never_shown(
    password_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{password_server.port}/0"
    caplog.set_level(logging.DEBUG)
    async with await open_queue(url) as queue:
        await queue.enqueue(Note("x"), queue="q")
        (claimed,) = await queue.claim("q")
        await queue.fail(claimed.lease, "boom")
        shown = [repr(queue), str(queue)]
    with pytest.raises(BackendUnavailable) as refused:
        await open_queue(f"redis://:wrong-{PASSWORD}@127.0.0.1:{password_server.port}/0")
    shown += [str(refused.value), caplog.text]
    assert "***" in shown[0]
    for text in shown:
        assert PASSWORD not in text


async def test_unreachable_server_is_backend_unavailable() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with anyio.fail_after(30), pytest.raises(BackendUnavailable) as refused:
        await open_queue(url, socket_connect_timeout=0.5)
    assert PASSWORD not in str(refused.value)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_is_refused_at_once() -> None:
    with anyio.fail_after(5), pytest.raises(BackendUnavailable, match="asyncio"):
        await open_queue("redis://127.0.0.1:6379/0")


def test_missing_redis_package_names_the_extra() -> None:
    # In a process of its own: emptying sys.modules here would race other threads' imports.
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "import anyio\n"
        "from kmsg import MissingDependencyError, open_queue\n"
        "try:\n"
        "    anyio.run(open_queue, 'redis://127.0.0.1:6379/0')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "kmsg[redis]"' in done.stdout


async def test_enqueue_wakes_an_idle_waiter_quickly(store: Store) -> None:
    queue = await store.open()
    producer = await store.open()
    woke_after: list[float] = []

    async def wait() -> None:
        started = time.monotonic()
        await queue.wait_for_jobs("idle", 30.0)
        woke_after.append(time.monotonic() - started)

    idle_key = QueueKeys(store.options["key_prefix"], "idle").base + "idle"
    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        with anyio.fail_after(5.0):  # the waiter marks the queue idle once it is subscribed
            for _ in range(500):
                if await producer._command("EXISTS", idle_key):  # type: ignore[attr-defined]
                    break
                await anyio.sleep(0.01)
        assert woke_after == []
        sent = time.monotonic()
        await producer.enqueue(Note("go"), queue="idle")
    latency = time.monotonic() - sent
    assert woke_after
    assert latency < 5.0  # generous: typically a few milliseconds
    assert await queue.claim("idle")


async def test_wait_returns_when_a_delayed_job_is_due(store: Store) -> None:
    queue = await store.open()
    await queue.enqueue(Note("later"), queue="timed", delay=0.5)
    started = time.monotonic()
    await queue.wait_for_jobs("timed", 30.0)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 10.0
    assert await queue.claim("timed")


async def test_enqueue_publishes_only_while_a_waiter_may_be_idle(store: Store) -> None:
    queue = await store.open()
    channel = QueueKeys(store.options["key_prefix"], "quiet").channel
    client = Redis.from_url(store.url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=5.0))["type"] == "subscribe"
        await queue.enqueue(Note("nobody waits"), queue="quiet")
        assert await pubsub.get_message(timeout=0.3) is None
        await queue.wait_for_jobs("quiet", 30.0)  # returns at once (a job is due), marks idle
        await queue.enqueue(Note("someone may wait"), queue="quiet")
        message = await pubsub.get_message(timeout=5.0)
        assert message is not None
        assert message["type"] == "message"
    finally:
        await pubsub.aclose()
        await client.aclose()
