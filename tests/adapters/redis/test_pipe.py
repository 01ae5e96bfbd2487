"""Redis adapter: the auto-pipelined connection that carries every script call on plain Redis."""

from __future__ import annotations

import enum
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import redis
from redis.asyncio import Redis

from kmsg import open_queue
from kmsg.adapters.redis.pipe import CommandPipe
from kmsg.adapters.redis.resp import pack, pack_args
from tests.adapters.redis.conftest import Note
from tests.redis_servers import RedisServer, shared_redis_url

pytestmark = pytest.mark.anyio


class Colour(enum.StrEnum):
    """A str subclass, as JobState is."""

    RED = "red"


@pytest.fixture
async def pipe() -> AsyncIterator[CommandPipe]:
    """A pipe on the shared server (the tests send only ECHO and unknown commands)."""
    client = Redis.from_url(shared_redis_url())
    opened = CommandPipe(client.connection_pool, timeout=5.0)
    try:
        yield opened
    finally:
        await opened.aclose()
        await client.aclose()


def echo(text: str) -> bytes:
    """A packed ECHO command."""
    return pack(("ECHO", text))


def test_arguments_are_packed_as_redis_does() -> None:
    packed = pack_args(["é", b"\x00b", 7, 2.5, Colour.RED, 10**20])
    assert packed == (
        b"$2\r\n\xc3\xa9\r\n$2\r\n\x00b\r\n$1\r\n7\r\n$3\r\n2.5\r\n$3\r\nred\r\n"
        b"$21\r\n100000000000000000000\r\n"
    )
    assert pack(("PING",)) == b"*1\r\n$4\r\nPING\r\n"
    for bad in (True, None, object()):
        with pytest.raises(TypeError):
            pack_args([bad])


async def test_concurrent_callers_each_get_their_own_reply(pipe: CommandPipe) -> None:
    replies: dict[int, object] = {}

    async def call(index: int) -> None:
        replies[index] = await pipe.execute(echo(f"m{index}"))

    async with anyio.create_task_group() as group:
        for index in range(300):
            group.start_soon(call, index)
    assert replies == {index: f"m{index}".encode() for index in range(300)}


async def test_an_error_reply_fails_only_its_own_call(pipe: CommandPipe) -> None:
    replies: dict[int, object] = {}

    async def call(index: int) -> None:
        command = pack(("NOSUCHCOMMAND",)) if index == 5 else echo(f"m{index}")
        try:
            replies[index] = await pipe.execute(command)
        except redis.ResponseError as exc:
            replies[index] = exc

    async with anyio.create_task_group() as group:
        for index in range(10):
            group.start_soon(call, index)
    assert isinstance(replies.pop(5), redis.ResponseError)
    assert replies == {index: f"m{index}".encode() for index in range(10) if index != 5}


async def test_cancelled_callers_do_not_shift_later_replies(pipe: CommandPipe) -> None:
    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(pipe.execute, echo(f"gone{index}"))
        await anyio.lowlevel.checkpoint()
        group.cancel_scope.cancel()
    for index in range(20):
        assert await pipe.execute(echo(f"after{index}")) == f"after{index}".encode()


async def test_a_closed_pipe_refuses_calls_at_once(pipe: CommandPipe) -> None:
    await pipe.execute(echo("open"))
    await pipe.aclose()
    with anyio.fail_after(0.04), pytest.raises(redis.ConnectionError):  # less than one backoff
        await pipe.execute(echo("closed"))


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
async def test_a_killed_connection_is_replaced_and_the_call_retried(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        async with await open_queue(server.url) as queue:
            await queue.enqueue(Note("before"), queue="q")
            with redis.Redis.from_url(server.url) as admin:
                assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
            await queue.enqueue(Note("after"), queue="q")
            (claimed,) = await queue.claim("q", limit=1)
            await queue.complete(claimed.lease)
            stats = await queue.stats("q")
            assert (stats.pending, stats.completed) == (1, 1)
    finally:
        server.stop()
