"""Redis adapter: a least-privilege ACL user can run the whole job cycle; the rest is refused."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import anyio
import pytest
import redis

from kmsg import BackendUnavailable, ClaimedJob, JobState, open_queue
from kmsg.adapters.redis import RedisJobQueue
from tests.adapters.redis.conftest import Note
from tests.redis_servers import RedisCluster3, RedisServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

# What docs/redis.md tells operators to grant: the adapter's own commands, then those its Lua
# scripts call (ACL rules apply inside scripts too).
CLIENT_COMMANDS = ["ping", "info", "evalsha", "script|load", "hget", "get", "set", "scan"]
CLIENT_COMMANDS += ["subscribe", "blpop"]
SCRIPT_COMMANDS = ["del", "get", "hdel", "hexists", "hget", "hincrby", "hlen", "hmget", "hset"]
SCRIPT_COMMANDS += ["hsetnx", "lrange", "pexpire", "publish", "rpush", "set", "time", "unlink"]
SCRIPT_COMMANDS += ["zadd", "zcard", "zcount", "zrange", "zrem", "zremrangebyscore", "zrevrange"]
# A cluster client also discovers the slots and reads the command table (to find keys).
CLUSTER_COMMANDS = ["cluster|slots", "command"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private server (ACL changes never touch the shared one)."""
    started = RedisServer(tmp_path).start()
    yield started
    started.stop()


def set_user(server: RedisServer, commands: list[str]) -> str:
    rules = ["on", ">s3cret", "resetkeys", "~kmsg:*", "resetchannels", "&kmsg:*", "-@all"]
    rules += [f"+{command}" for command in commands]
    with redis.Redis(port=server.port) as client:
        client.execute_command("ACL", "SETUSER", "worker", *rules)
    return f"redis://worker:s3cret@127.0.0.1:{server.port}/0"


async def full_cycle(url: str, queues: list[str]) -> None:
    async with await open_queue(url) as queue:
        for name in queues:
            job_id = await queue.enqueue(Note("hi"), queue=name)
            await queue.wait_for_jobs(name, 1.0)
            (claimed,) = await queue.claim(name)
            await queue.extend(claimed.lease, 30)
            await queue.complete(claimed.lease, result=b"sent")
            assert (await queue.get(name, job_id)).state is JobState.COMPLETED
            assert (await queue.stats(name)).completed == 1
            await handoff_cycle(queue, name)
        assert await queue.queues() == sorted(queues)


async def handoff_cycle(queue: object, name: str) -> None:
    """A wait that times out (unwait), then a job handed to a waiting claimer (BLPOP, RPUSH)."""
    assert isinstance(queue, RedisJobQueue)
    assert await queue.claim(name, wait=0.05) == []
    handed: list[ClaimedJob] = []

    async def wait() -> None:
        handed.extend(await queue.claim(name, wait=10.0))

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.3)
        await queue.enqueue(Note("handed"), queue=name)
    (claimed,) = handed
    await queue.complete(claimed.lease)


def test_the_granted_script_commands_are_those_the_scripts_call() -> None:
    lua = resources.files("kmsg.adapters.redis").joinpath("lua")
    called: set[str] = set()
    for path in [*lua.iterdir(), *lua.joinpath("includes").iterdir()]:
        if path.name.endswith(".lua"):
            called |= {
                name.lower() for name in re.findall(r"redis\.call\('(\w+)'", path.read_text())
            }
    assert called == set(SCRIPT_COMMANDS)


async def test_least_privilege_user_runs_a_full_cycle(server: RedisServer) -> None:
    await full_cycle(set_user(server, CLIENT_COMMANDS + SCRIPT_COMMANDS), ["mail"])


@pytest.mark.cluster
@pytest.mark.slow
async def test_least_privilege_user_on_a_cluster(tmp_path: Path) -> None:
    cluster = RedisCluster3(tmp_path).start()
    try:
        for node in cluster.nodes:
            set_user(node, CLIENT_COMMANDS + SCRIPT_COMMANDS + CLUSTER_COMMANDS)
        url = cluster.url.replace("://", "://worker:s3cret@", 1)
        await full_cycle(url, ["a", "b", "c", "d"])
    finally:
        cluster.stop()


async def test_missing_permission_is_backend_unavailable(server: RedisServer) -> None:
    url = set_user(server, [c for c in CLIENT_COMMANDS + SCRIPT_COMMANDS if c != "zadd"])
    async with await open_queue(url) as queue:
        with pytest.raises(BackendUnavailable, match=r"NoPermission|permission"):
            await queue.enqueue(Note("hi"), queue="mail")


async def test_keys_outside_the_prefix_are_refused(server: RedisServer) -> None:
    url = set_user(server, CLIENT_COMMANDS + SCRIPT_COMMANDS)
    async with await open_queue(url, key_prefix="other") as queue:
        with pytest.raises(BackendUnavailable):
            await queue.enqueue(Note("hi"), queue="mail")
