"""Redis adapter: the key layout keys.py documents, one hash slot per queue, and the scripts."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from kmsg import open_queue
from kmsg.adapters.redis import RedisJobQueue
from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.scripts import SCRIPT_NAMES, script_sha, shared_source
from kmsg.validation import STEP_BYTES, STEP_JOBS
from tests.adapters.redis.conftest import Note
from tests.backends import Store
from tests.redis_servers import RedisServer, redis_cluster_store

pytestmark = pytest.mark.anyio

DOCUMENTED = {"pending", "delayed", "processing", "completed", "failed", "cancelled"}
DOCUMENTED |= {"jobs", "dedupe", "meta"}


async def exercise(queue: RedisJobQueue, qname: str) -> None:
    """Touch every kind of key: each state, dedupe, meta."""
    await queue.enqueue(Note("a"), queue=qname, dedupe_key="k")
    await queue.enqueue(Note("b"), queue=qname, delay=3600)
    await queue.enqueue(Note("c"), queue=qname)
    await queue.enqueue(Note("d"), queue=qname, max_attempts=1)
    cancelled = await queue.enqueue(Note("e"), queue=qname)
    await queue.enqueue(Note("f"), queue=qname, dedupe_key="stays")
    first, second, _ = await queue.claim(qname, limit=3)
    await queue.complete(first.lease)
    await queue.fail(second.lease, "boom", retryable=False)
    await queue.cancel(qname, cancelled)
    await queue.set_rate_limit(qname, 100, 1.0)
    await queue.pause(qname)


def all_keys(url: str, prefix: str) -> list[str]:
    with redis.Redis.from_url(url) as client:
        return [key.decode() for key in client.scan_iter(match=f"{prefix}:*")]


@pytest.mark.parametrize("qname", ["mail", "a.b:c-d_e"])
async def test_every_key_of_a_queue_is_documented_and_in_one_slot(store: Store, qname: str) -> None:
    queue = await store.open()
    assert isinstance(queue, RedisJobQueue)
    await exercise(queue, qname)
    prefix = store.options["key_prefix"]
    keys = all_keys(store.url, prefix)
    assert f"{prefix}:marker" in keys
    queue_keys = [key for key in keys if key != f"{prefix}:marker"]
    layout = QueueKeys(prefix, qname)
    pattern = re.compile(re.escape(layout.base) + r"(?P<name>[a-z]+)")
    names = set()
    for key in queue_keys:
        match = pattern.fullmatch(key)
        assert match, key
        names.add(match["name"])
    assert names == DOCUMENTED
    assert {key_slot(key.encode()) for key in queue_keys} == {key_slot(qname.encode())}
    # The queue keeps one key per state, not one per job.
    assert len(queue_keys) == len(DOCUMENTED)


@pytest.mark.cluster
async def test_queues_spread_over_cluster_nodes(tmp_path: Path) -> None:
    async with redis_cluster_store(tmp_path) as store:
        queue = await store.open()
        names = [f"spread{i}" for i in range(12)]
        for name in names:
            await queue.enqueue(Note(name), queue=name)
        for name in names:
            (claimed,) = await queue.claim(name)
            await queue.complete(claimed.lease)
        assert set(names) <= set(await queue.queues())
        prefix = store.options["key_prefix"]
        holders = []
        for client in primaries(store.url):
            with client:
                found = {key.decode() for key in client.scan_iter(match=f"{prefix}:{{*")}
            holders.append({key.split("{")[1].split("}")[0] for key in found})
        assert sum(1 for held in holders if held) > 1
        assert sorted(name for held in holders for name in held) == sorted(names)


def primaries(url: str) -> list[redis.Redis]:
    """A plain client on each primary of the cluster at ``url``."""
    with redis.cluster.RedisCluster.from_url(url.replace("+cluster", "", 1)) as cluster:
        return [redis.Redis(host=node.host, port=node.port) for node in cluster.get_primaries()]


def test_every_script_opens_with_keys_argv_and_returns() -> None:
    lua = resources.files("kmsg.adapters.redis").joinpath("lua")
    files = sorted(p.name for p in lua.iterdir() if p.name.endswith(".lua"))
    assert files == sorted(f"{name}.lua" for name in SCRIPT_NAMES)
    for name in files:
        flags, _, text = lua.joinpath(name).read_text().partition("\n")
        assert re.fullmatch(r"#!lua( flags=(allow-oom|no-writes))?", flags), (name, flags)
        header = text.split("\n\n")[0]
        assert header.startswith(f"-- {name[:-4]}:"), name
        for word in ("KEYS", "ARGV", "Returns"):
            assert word in header, (name, word)


async def test_script_flush_is_recovered(tmp_path: Path) -> None:
    """After SCRIPT FLUSH (as after a restart) EVALSHA gets NOSCRIPT and the script is reloaded."""
    server = RedisServer(tmp_path).start()
    try:
        queue = await open_queue(server.url)
        async with queue:
            await queue.enqueue(Note("x"), queue="q")
            sha = script_sha("claim")
            with redis.Redis.from_url(server.url) as client:
                client.script_flush()
                assert client.script_exists(sha) == [False]
            (claimed,) = await queue.claim("q")
            await queue.complete(claimed.lease)
            assert (await queue.stats("q")).completed == 1
            with redis.Redis.from_url(server.url) as client:
                assert client.script_exists(sha) == [True]
    finally:
        server.stop()


@pytest.mark.cluster
async def test_cluster_script_flush_is_recovered(tmp_path: Path) -> None:
    async with redis_cluster_store(tmp_path) as store:
        queue = await store.open()
        await queue.enqueue(Note("x"), queue="flushme")
        sha = script_sha("claim")
        for client in primaries(store.url):
            with client:
                client.script_flush()
                assert client.script_exists(sha) == [False]
        (claimed,) = await queue.claim("flushme")
        await queue.complete(claimed.lease)
        assert (await queue.stats("flushme")).completed == 1


def test_the_scripts_bounds_are_the_contracts() -> None:
    """common.lua's STEP_JOBS and STEP_BYTES are kmsg.validation's."""
    source = shared_source()
    assert re.search(rf"^local STEP_JOBS = {STEP_JOBS}$", source, re.MULTILINE)
    assert re.search(rf"^local STEP_BYTES = {STEP_BYTES}$", source, re.MULTILINE)
